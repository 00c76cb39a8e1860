"""Write tasks/general_replay/data/{en,zh}/train.jsonl: general-domain replay data, deterministically.

    python tasks/general_replay/generate.py

Mixing general examples into fine-tuning data ("replay") is the usual remedy for forgetting. This set is what
`finetune.replay.task=general_replay_en` mixes in. It trains general skills (number sense, units, calendar,
word knowledge, sequences) with its own templates, so it is never the forgetting suite's own items: replaying
`general`'s test questions would hide forgetting instead of preventing it: the generator drops any question
that is a near-duplicate of a `general` test question, and tests/unit/test_tasks.py checks it again.
There is one split: replay data is only ever trained on (its YAML scores the same file if asked to).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.tasks.datagen import NoLeakFilter, generator_main, rng  # noqa: E402

GENERAL_TEST = HERE.parent / "general" / "data"

SEED = 20261122
SIZE = 600
DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "zh": ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"],
}
OPPOSITES = [  # (en, en opposite, zh, zh opposite)
    ("hot", "cold", "热", "冷"), ("big", "small", "大", "小"), ("fast", "slow", "快", "慢"),
    ("early", "late", "早", "晚"), ("light", "dark", "亮", "暗"), ("open", "closed", "开", "关"),
    ("full", "empty", "满", "空"), ("high", "low", "高", "低"), ("strong", "weak", "强", "弱"),
    ("young", "old", "年轻", "年老"), ("wet", "dry", "湿", "干"), ("long", "short", "长", "短"),
    ("rich", "poor", "富", "穷"), ("hard", "soft", "硬", "软"), ("near", "far", "近", "远"),
    ("up", "down", "上", "下"), ("win", "lose", "赢", "输"), ("buy", "sell", "买", "卖"),
]  # fmt: skip
UNITS = [  # (en big, en small, zh big, zh small, factor)
    ("hours", "minutes", "小时", "分钟", 60), ("minutes", "seconds", "分钟", "秒", 60),
    ("kilometres", "metres", "千米", "米", 1000), ("kilograms", "grams", "千克", "克", 1000),
    ("days", "hours", "天", "小时", 24), ("weeks", "days", "周", "天", 7), ("litres", "millilitres", "升", "毫升", 1000),
]  # fmt: skip


def mc(r, answer: str, wrong: list[str]) -> tuple[list[str], int]:
    choices = [answer, *wrong[:3]]
    r.shuffle(choices)
    return choices, choices.index(answer)


def largest(r, zh: bool):
    nums = r.sample(range(100, 999), 4)
    q = (
        f"在 {'、'.join(map(str, nums))} 中，哪个数最大？"
        if zh
        else f"Among {', '.join(map(str, nums))}, which number is the largest?"
    )
    ans = max(nums)
    return q, str(ans), [str(n) for n in nums if n != ans]


def weekday(r, zh: bool):
    d, k = r.randrange(7), r.randint(1, 40)
    days = DAYS["zh" if zh else "en"]
    q = (
        f"如果今天是{days[d]}，{k}天后是星期几？"
        if zh
        else f"If today is {days[d]}, what day will it be in {k} days?"
    )
    ans = days[(d + k) % 7]
    return q, ans, r.sample([x for x in days if x != ans], 3)


def opposite(r, zh: bool):
    o = r.choice(OPPOSITES)
    word, ans = (o[2], o[3]) if zh else (o[0], o[1])
    pool = [x[3] if zh else x[1] for x in OPPOSITES if x is not o]
    q = (
        f"“{word}”的反义词是什么？（第{r.randint(1, 99)}题）"
        if zh
        else f"Word quiz {r.randint(1, 99)}: what is the opposite of '{word}'?"
    )
    return q, ans, r.sample(pool, 3)


def units(r, zh: bool):
    u, n = r.choice(UNITS), r.randint(2, 60)
    q = f"{n}{u[2]}等于多少{u[3]}？" if zh else f"How many {u[1]} are there in {n} {u[0]}?"
    ans = n * u[4]
    return q, str(ans), [str(ans + d) for d in r.sample([-u[4], u[4], 2 * u[4], -1, 1], 3)]


def sequence(r, zh: bool):
    start, step = r.randint(1, 30), r.randint(2, 9)
    seq = [start + i * step for i in range(4)]
    q = (
        f"数列 {', '.join(map(str, seq))} 的下一个数是多少？"
        if zh
        else f"What number comes next in the sequence {', '.join(map(str, seq))}?"
    )
    ans = seq[-1] + step
    return q, str(ans), [str(ans + d) for d in r.sample([-step, step, 1, -1, 2], 3)]


MAKERS = (largest, weekday, opposite, units, sequence)


def build(lang: str) -> dict[str, list[dict]]:
    import json

    zh = lang == "zh"
    keep = NoLeakFilter()  # no exact repeats within the set
    forgetting_suite = NoLeakFilter()  # no near-duplicates of the general suite's test questions
    with (GENERAL_TEST / lang / "test.jsonl").open(encoding="utf-8") as f:
        for line in f:
            forgetting_suite(json.loads(line)["question"], "train")
    r = rng(SEED, lang, "train")
    rows: list[dict] = []
    for _ in range(SIZE * 20):  # bounded: a template with too few distinct questions stops here, not forever
        if len(rows) == SIZE:
            break
        make = MAKERS[len(rows) % len(MAKERS)]
        q, ans, wrong = make(r, zh)
        if not forgetting_suite(q, "held-out") or not keep(q, "train"):
            continue
        choices, label = mc(r, ans, wrong)
        rows.append({"id": f"{lang}-train-{len(rows):04d}", "lang": lang, "category": make.__name__,
                     "question": q, "choices": choices, "label": label})  # fmt: skip
    assert len(rows) == SIZE, f"only {len(rows)} distinct questions for {lang}"
    return {"train": rows}


if __name__ == "__main__":
    generator_main(build, HERE)
