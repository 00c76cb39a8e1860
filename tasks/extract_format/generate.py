"""Write tasks/extract_format/data/{en,zh}/{train,validation,test}.jsonl, deterministically.

    python tasks/extract_format/generate.py

Business text (support tickets, emails, order notes, invoice notes) written from templates here, with the
record it states. The reference is that record as JSON, valid against schema.json (checked by the generator
and by `harness task check`). Priority follows the words: urgent/ASAP -> high, "no rush" -> low, else normal.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import jsonschema  # noqa: E402

from harness.tasks.datagen import MONTHS_EN, NoLeakFilter, generator_main, rng  # noqa: E402

SEED = 20261124
SIZES = {"train": 1200, "validation": 150, "test": 350}
SCHEMA = json.loads((HERE / "schema.json").read_text(encoding="utf-8"))
NAMES = {
    "en": [
        "Anna Weber",
        "Luca Rossi",
        "Maria Santos",
        "Jonas Berg",
        "Chloe Martin",
        "Omar Haddad",
        "Emma Novak",
        "Lars Jensen",
        "Sofia Costa",
        "Daniel Kim",
        "Nora Quinn",
        "Felix Braun",
    ],
    "zh": ["王芳", "李强", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴昊", "徐丽", "孙杰"],
}
CURRENCY_WORDS = {
    "en": {"EUR": ["euros", "EUR", "€"], "USD": ["US dollars", "USD", "$"], "CNY": ["yuan", "CNY", "RMB"]},
    "zh": {"EUR": ["欧元", "EUR"], "USD": ["美元", "USD"], "CNY": ["元", "人民币", "CNY"]},
}
PRIORITY_WORDS = {
    "en": {
        "high": ["This is urgent.", "Please handle ASAP.", "Urgent:"],
        "low": ["No rush.", "Whenever convenient.", "Low priority, no hurry."],
        "normal": [""],
    },
    "zh": {
        "high": ["紧急！", "请尽快处理。", "急："],
        "low": ["不急。", "方便时处理即可。", "不着急，慢慢来。"],
        "normal": [""],
    },
}

# {name} {oid} {amount} {cur} {date} {prio}; a template without {amount}/{date} leaves that field null.
TEMPLATES = {
    "en": {
        "ticket": [
            "{prio} Ticket from {name}: my order {oid} arrived damaged on {date}. Please advise.",
            "Support request ({name}). Order {oid} is missing one item. {prio}",
            "{name} reports that the tracking for {oid} has not updated since {date}. {prio}",
        ],
        "email": [
            "Dear team, this is {name}. Could you confirm the refund of {amount} {cur} for order {oid}? {prio}",
            "Hi, {name} here about {oid}: I was charged {amount} {cur} on {date} but expected less. {prio}",
            "Hello, {name} writing. Please update the delivery address for {oid}. {prio}",
        ],
        "order": [
            "Order note: {name} ordered {oid} on {date}, total {amount} {cur}. {prio}",
            "New order {oid} for {name}, value {amount} {cur}. {prio}",
            "{prio} Order {oid} placed by {name} on {date}.",
        ],
        "invoice": [
            "Invoice for order {oid}: {amount} {cur}, billed to {name}, dated {date}. {prio}",
            "Billing note - {name} owes {amount} {cur} for {oid}, issued {date}. {prio}",
            "{prio} Please send {name} the invoice for {oid} ({amount} {cur}).",
        ],
    },
    "zh": {
        "ticket": [
            "{prio}工单：{name}反映订单{oid}于{date}到货时已损坏，请处理。",
            "客服请求（{name}）：订单{oid}少了一件商品。{prio}",
            "{name}反馈订单{oid}的物流自{date}起没有更新。{prio}",
        ],
        "email": [
            "你好，我是{name}。请确认订单{oid}的{amount}{cur}退款。{prio}",
            "您好，关于{oid}：我在{date}被扣了{amount}{cur}，金额不对。{name}。{prio}",
            "你好，{name}来信，请修改订单{oid}的收货地址。{prio}",
        ],
        "order": [
            "订单备注：{name}于{date}下单{oid}，合计{amount}{cur}。{prio}",
            "新订单{oid}，客户{name}，金额{amount}{cur}。{prio}",
            "{prio}{name}在{date}下了订单{oid}。",
        ],
        "invoice": [
            "订单{oid}的发票：{amount}{cur}，抬头{name}，开票日期{date}。{prio}",
            "账单备注：{name}应付{oid}的款项{amount}{cur}，{date}开具。{prio}",
            "{prio}请给{name}开具{oid}的发票（{amount}{cur}）。",
        ],
    },
}


def say_date(d: dt.date, lang: str, r) -> str:
    if lang == "zh":
        return r.choice(
            [
                f"{d.year}年{d.month}月{d.day}日",
                f"{d.year}-{d.month:02d}-{d.day:02d}",
                f"{d.year}/{d.month}/{d.day}",
            ]
        )
    return r.choice(
        [
            f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}",
            f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}",
            d.isoformat(),
        ]
    )


def make_item(lang: str, r) -> tuple[str, dict]:
    doc_type = r.choice(sorted(TEMPLATES[lang]))
    template = r.choice(TEMPLATES[lang][doc_type])
    name = r.choice(NAMES[lang])
    oid = f"LH-{r.randrange(10000, 100000)}"
    currency = r.choice(["EUR", "USD", "CNY"])
    amount = round(r.uniform(5, 2500), r.choice([0, 2]))
    date = dt.date(2026, 1, 1) + dt.timedelta(days=r.randrange(330))
    priority = r.choice(["high", "low", "normal", "normal"])
    has_amount, has_date = "{amount}" in template, "{date}" in template
    amount_text = f"{amount:.2f}" if amount != int(amount) else str(int(amount))
    text = template.format(
        name=name,
        oid=oid,
        amount=amount_text,
        cur=r.choice(CURRENCY_WORDS[lang][currency]),
        date=say_date(date, lang, r),
        prio=r.choice(PRIORITY_WORDS[lang][priority]),
    )
    record = {
        "amount": (int(amount) if amount == int(amount) else amount) if has_amount else None,
        "currency": currency if has_amount else None,
        "customer": name,
        "date": date.isoformat() if has_date else None,
        "doc_type": doc_type,
        "order_id": oid,
        "priority": priority,
    }
    jsonschema.validate(record, SCHEMA)  # a reference that breaks the schema is a generator bug
    return " ".join(text.split()), record


def build(lang: str) -> dict[str, list[dict]]:
    keep = NoLeakFilter()
    splits = {}
    for split in ("train", "validation", "test"):
        r = rng(SEED, lang, split)
        rows: list[dict] = []
        while len(rows) < SIZES[split]:
            text, record = make_item(lang, r)
            if keep(text, split):
                rows.append(
                    {
                        "id": f"{lang}-{split}-{len(rows):04d}",
                        "lang": lang,
                        "text": text,
                        "answer": json.dumps(record, ensure_ascii=False, sort_keys=True),
                    }
                )
        splits[split] = rows
    return splits


if __name__ == "__main__":
    generator_main(build, HERE)
