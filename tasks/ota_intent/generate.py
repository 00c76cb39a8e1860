"""Write tasks/ota_intent/data/{en,zh}/{train,validation,test}.jsonl, deterministically.

    python tasks/ota_intent/generate.py

An online travel agency's customer writes one message carrying one to three intents, and often corrects
themselves mid-message ("from March 10 ... actually, make it the 11th"). The reference is a fixed JSON object:
the sorted intents and six slots (null when not given; the corrected value when the customer corrects one).
Templates, cities, hotels and phrasings are written here; several phrasings per intent and per correction.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.tasks.datagen import MONTHS_EN, NoLeakFilter, generator_main, rng  # noqa: E402

SEED = 20261123
YEAR = 2026
SIZES = {"train": 1200, "validation": 150, "test": 350}
INTENTS = [
    "add_breakfast",
    "airport_transfer",
    "ask_price",
    "book_hotel",
    "cancel_booking",
    "change_dates",
    "request_invoice",
]
CITIES = {
    "en": [
        "Paris",
        "Lyon",
        "Berlin",
        "Munich",
        "Rome",
        "Milan",
        "Madrid",
        "Barcelona",
        "Vienna",
        "Prague",
        "Amsterdam",
        "Lisbon",
        "Zurich",
        "Copenhagen",
    ],
    "zh": [
        "北京",
        "上海",
        "杭州",
        "成都",
        "西安",
        "广州",
        "深圳",
        "南京",
        "厦门",
        "重庆",
        "青岛",
        "苏州",
        "昆明",
        "大连",
    ],
}
HOTELS = {
    "en": [
        "Harbor Inn",
        "Grand Meridian",
        "Blue Lantern Hotel",
        "Parkside Suites",
        "Riverside Lodge",
        "Old Town Hotel",
        "Skyline Residence",
        "Garden Court",
    ],
    "zh": [
        "海港酒店",
        "子午线大酒店",
        "蓝灯酒店",
        "公园套房酒店",
        "江畔客栈",
        "老城宾馆",
        "天际公寓酒店",
        "花园庭院酒店",
    ],
}

# Clause templates: {city} {hotel} {ci} {co} {nights} {guests} {budget}. Several phrasings per intent.
CLAUSES = {
    "en": {
        "book_hotel": [
            "I'd like to book a hotel in {city} {stay} for {guests} guests",
            "can you reserve a room in {city} {stay}? We are {guests} people",
            "please find me accommodation in {city} {stay} for {guests} adults",
            "looking for a place to stay in {city} {stay}, {guests} of us",
        ],
        "change_dates": [
            "I need to move my booking at {hotel}, new dates {stay}",
            "please change my {hotel} reservation, I'll now stay {stay}",
            "can my stay at {hotel} be shifted? New plan: {stay}",
        ],
        "cancel_booking": [
            "please cancel my reservation at {hotel}",
            "I want to cancel the {hotel} booking",
            "cancel my room at {hotel}, plans changed",
        ],
        "ask_price": [
            "how much is a night at {hotel}?",
            "what does a room at {hotel} cost?",
            "could you tell me the price at {hotel}?",
        ],
        "airport_transfer": [
            "can you arrange an airport pickup in {city}?",
            "I also need a transfer from the airport in {city}",
            "please book a taxi from {city} airport",
        ],
        "add_breakfast": [
            "add breakfast to my booking",
            "please include breakfast",
            "can we get breakfast too?",
        ],
        "request_invoice": [
            "I need an invoice for my last stay",
            "please send me the invoice",
            "could I get a receipt for the company?",
        ],
    },
    "zh": {
        "book_hotel": [
            "我想在{city}订酒店，{stay}，{guests}位客人",
            "帮我在{city}订个房间，{stay}，我们{guests}个人",
            "请帮我找{city}的住处，{stay}，{guests}位成人",
            "要在{city}住几天，{stay}，一共{guests}人",
        ],
        "change_dates": [
            "我要把{hotel}的预订改到{stay}",
            "请把我在{hotel}的订单日期改成{stay}",
            "{hotel}的入住能不能改到{stay}？",
        ],
        "cancel_booking": [
            "请取消我在{hotel}的预订",
            "我想退掉{hotel}的订单",
            "{hotel}的房间帮我取消，行程变了",
        ],
        "ask_price": ["{hotel}一晚多少钱？", "{hotel}的房价是多少？", "能告诉我{hotel}的价格吗？"],
        "airport_transfer": [
            "能安排{city}的接机吗？",
            "我还需要{city}机场接送",
            "请帮我订{city}机场的出租车",
        ],
        "add_breakfast": ["帮我加上早餐", "请包含早餐", "可以加早餐吗？"],
        "request_invoice": ["我需要上次住宿的发票", "请把发票发给我", "能开一张公司抬头的发票吗？"],
    },
}
BUDGET = {
    "en": [
        ", budget under {budget} euros a night",
        ", max {budget} per night",
        ", no more than {budget} euros per night",
    ],
    "zh": ["，预算每晚{budget}元以内", "，每晚不超过{budget}元", "，房价最多{budget}元一晚"],
}
HOTEL_PREF = {
    "en": [", ideally at the {hotel}", ", preferably {hotel}"],
    "zh": ["，最好是{hotel}", "，想住{hotel}"],
}
FIX = {  # a correction of one slot, said after the first value
    "en": {
        "date": [
            "... actually, check in on {new} instead",
            " — sorry, I meant arriving {new}",
            ". Wait, no: arrival is {new}",
        ],
        "city": [" — no, sorry, {new}, not {old}", ". Actually I meant {new}"],
        "guests": [". Oh, and we are {new} now, not {old}", " — make that {new} guests"],
    },
    "zh": {
        "date": ["……不对，改成{new}入住", "，抱歉，应该是{new}到", "。等一下，是{new}入住"],
        "city": ["，不对，是{new}不是{old}", "。其实我是说{new}"],
        "guests": ["。对了，现在是{new}个人，不是{old}个", "，改成{new}位客人"],
    },
}
JOINERS = {
    "en": ["Also, ", "And ", "One more thing: ", "Besides, "],
    "zh": ["另外，", "还有，", "顺便", "再问一下，"],
}
GREET = {"en": ["", "Hi, ", "Hello, ", "Good evening. "], "zh": ["", "你好，", "您好，", "在吗？"]}


def say_date(d: dt.date, lang: str, r) -> str:
    if lang == "zh":
        return r.choice([f"{d.month}月{d.day}日", f"{d.month}月{d.day}号"])
    m = MONTHS_EN[d.month - 1]
    return r.choice(
        [
            f"{m} {d.day}",
            f"{d.day} {m}",
            f"the {d.day}{'th' if 10 <= d.day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d.day % 10, 'th')} of {m}",
        ]
    )


def say_stay(ci: dt.date, co: dt.date, lang: str, r) -> str:
    nights = (co - ci).days
    if lang == "zh":
        return r.choice(
            [
                f"{say_date(ci, lang, r)}入住，{say_date(co, lang, r)}退房",
                f"从{say_date(ci, lang, r)}起住{nights}晚",
            ]
        )
    return r.choice(
        [
            f"from {say_date(ci, lang, r)} to {say_date(co, lang, r)}",
            f"for {nights} nights from {say_date(ci, lang, r)}",
        ]
    )


def make_item(lang: str, r) -> tuple[str, dict]:
    intents = sorted(r.sample(INTENTS, r.choice([1, 2, 2, 3, 3])))
    if (
        "book_hotel" in intents and "change_dates" in intents
    ):  # one stay per message keeps the slots unambiguous
        intents.remove("change_dates")
    slots = {"budget": None, "check_in": None, "check_out": None, "city": None, "guests": None, "hotel": None}
    city, hotel = r.choice(CITIES[lang]), r.choice(HOTELS[lang])
    ci = dt.date(YEAR, 1, 1) + dt.timedelta(days=r.randrange(360))
    co = ci + dt.timedelta(days=r.randint(1, 6))
    guests = r.randint(1, 5)
    fixable = []
    clauses = []
    for intent in intents:
        text = r.choice(CLAUSES[lang][intent])
        stay = ""
        if "{stay}" in text:
            stay = say_stay(ci, co, lang, r)
            slots["check_in"], slots["check_out"] = ci.isoformat(), co.isoformat()
            fixable.append("date")
        if "{city}" in text:
            slots["city"] = city
            fixable.append("city")
        if "{hotel}" in text:
            slots["hotel"] = hotel
        if "{guests}" in text:
            slots["guests"] = guests
            fixable.append("guests")
        clause = text.format(city=city, hotel=hotel, stay=stay, guests=guests)
        if intent == "book_hotel" and r.random() < 0.4:
            budget = (
                r.choice([80, 100, 120, 150, 200, 250])
                if lang == "en"
                else r.choice([300, 400, 500, 600, 800, 1000])
            )
            clause += r.choice(BUDGET[lang]).format(budget=budget)
            slots["budget"] = budget
        if intent == "book_hotel" and r.random() < 0.3:
            clause += r.choice(HOTEL_PREF[lang]).format(hotel=hotel)
            slots["hotel"] = hotel
        clauses.append(clause)
    # A mid-message switch on one slot that was mentioned: the later value wins.
    if fixable and r.random() < 0.5:
        kind = r.choice(sorted(set(fixable)))
        if kind == "date":
            # The correction moves the arrival only (still before check-out), so the reference is unambiguous.
            new_ci = ci + dt.timedelta(
                days=r.choice([d for d in (-2, -1, 1, 2) if ci + dt.timedelta(days=d) < co])
            )
            tail = r.choice(FIX[lang]["date"]).format(new=say_date(new_ci, lang, r))
            slots["check_in"] = new_ci.isoformat()
        elif kind == "city":
            new = r.choice([c for c in CITIES[lang] if c != city])
            tail = r.choice(FIX[lang]["city"]).format(new=new, old=city)
            slots["city"] = new
        else:
            new = r.choice([g for g in range(1, 7) if g != guests])
            tail = r.choice(FIX[lang]["guests"]).format(new=new, old=guests)
            slots["guests"] = new
        owner = max(i for i, intent in enumerate(intents) if kind_in(intent, kind, lang))
        clauses[owner] += tail
    text = r.choice(GREET[lang])
    for i, c in enumerate(clauses):
        if i:
            c = r.choice(JOINERS[lang]) + c
        if lang == "en":
            c = c if text.endswith(", ") else c[0].upper() + c[1:]  # "Hi, can you" but "Hello. Can you"
            text += c + ("" if c[-1] in "?." else ".") + " "
        else:
            text += c + ("" if c[-1] in "？。" else "。")
    return text.strip(), {"intents": intents, "slots": slots}


def kind_in(intent: str, kind: str, lang: str) -> bool:
    mark = {"date": "{stay}", "city": "{city}", "guests": "{guests}"}[kind]
    return intent in ("book_hotel", "change_dates", "airport_transfer") and any(
        mark in t for t in CLAUSES[lang][intent]
    )


def build(lang: str) -> dict[str, list[dict]]:
    splits: dict[str, list[dict]] = {}
    keep = NoLeakFilter()
    for split in ("train", "validation", "test"):
        r = rng(SEED, lang, split)
        rows: list[dict] = []
        while len(rows) < SIZES[split]:
            message, ref = make_item(lang, r)
            if not keep(message, split):
                continue
            rows.append(
                {
                    "id": f"{lang}-{split}-{len(rows):04d}",
                    "lang": lang,
                    "message": message,
                    "answer": json.dumps(ref, ensure_ascii=False, sort_keys=True),
                    "n_intents": len(ref["intents"]),
                }
            )
        splits[split] = rows
    return splits


if __name__ == "__main__":
    generator_main(build, HERE)
