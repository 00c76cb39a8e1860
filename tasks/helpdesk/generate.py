"""Write tasks/helpdesk/data/{en,zh}/{train,validation,test}.jsonl from facts.py, deterministically.

    python tasks/helpdesk/generate.py [OUT_DIR]   # a second run writes the same bytes

How paraphrases are kept apart: train questions use each fact's *train topic* wording with the train question
frames, greetings and sign-offs; validation and test use the *test topic* wording with frames, greetings and
sign-offs that never occur in train. Out-of-scope topics are split the same way. Each item's context holds the
policy sentences a retrieval step would return: the right one plus two distractors (three distractors, none
answering, for out-of-scope questions).
"""

from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from facts import FACTS, OUT_OF_SCOPE  # noqa: E402

from harness.tasks.datagen import generator_main, rng, sample  # noqa: E402

SEED = 20261122
HANDOFF = {
    "en": "I don't know. Please contact the People Desk at help@lumenharbor.example.",
    "zh": "我不知道，请联系员工服务台 help@lumenharbor.example。",
}
FRAMES = {
    "en": {
        "train": [
            "Can you tell me {t}?",
            "I'd like to know {t}.",
            "Do you know {t}?",
            "I need to find out {t}.",
            "Could you check {t} for me?",
        ],
        "validation": ["Help me understand {t}.", "Would you clarify {t}?"],
        "test": ["Please let me know {t}.", "I'm trying to figure out {t}.", "Could you look up {t}?"],
    },
    "zh": {
        "train": [
            "能告诉我{t}吗？",
            "我想了解一下{t}。",
            "你知道{t}吗？",
            "麻烦查一下{t}。",
            "想确认一下{t}。",
        ],
        "validation": ["问一下，{t}？", "请说明{t}。"],
        "test": ["请帮我看看{t}。", "我不太清楚{t}，能说一下吗？", "咨询一下{t}。"],
    },
}
GREETINGS = {
    "en": {
        "train": ["", "Hi, ", "Hello! ", "Quick question: ", "Sorry to bother you. ", "Hey there. "],
        "validation": ["", "Hi all, "],
        "test": ["", "Good morning. ", "I'm new here. ", "Hi team, "],
    },
    "zh": {
        "train": ["", "你好，", "您好！", "打扰一下，", "同事你好，", "嗨，"],
        "validation": ["", "大家好，"],
        "test": ["", "早上好，", "我是新来的，", "HR你好，"],
    },
}
SIGNOFFS = {
    "en": {
        "train": ["", " Thanks!", " Thank you.", " I need it for my planning."],
        "validation": ["", " Appreciated."],
        "test": ["", " Many thanks.", " Cheers."],
    },
    "zh": {
        "train": ["", "谢谢！", "多谢。", "我要安排一下计划。"],
        "validation": ["", "麻烦了。"],
        "test": ["", "辛苦了。", "感谢！"],
    },
}
PER_FACT = {"train": 16, "validation": 2, "test": 5}
PER_OOS = {"train": 8, "validation": 2, "test": 5}
WH = ("how ", "who ", "where ", "when ", "whether ", "what ", "which ")


def topic_en(t: str) -> str:
    return t if t.startswith(WH) else f"the {t}"


def fact_view(fact: tuple, lang: str) -> dict:
    fid, cat, en_s, en_a, en_tt, en_te, zh_s, zh_a, zh_tt, zh_te = fact
    assert en_a in en_s and zh_a in zh_s, f"{fid}: the answer must appear verbatim in its policy sentence"
    if lang == "en":
        return {
            "id": fid,
            "category": cat,
            "sentence": en_s,
            "answer": en_a,
            "topics": {"train": topic_en(en_tt), "test": topic_en(en_te)},
        }
    return {
        "id": fid,
        "category": cat,
        "sentence": zh_s,
        "answer": zh_a,
        "topics": {"train": zh_tt, "test": zh_te},
    }


def questions(lang: str, split: str, topic: str, k: int, key: str) -> list[str]:
    combos = list(product(FRAMES[lang][split], GREETINGS[lang][split], SIGNOFFS[lang][split]))
    chosen = sample(rng(SEED, lang, split, key), combos, k)
    return [g + f.format(t=topic) + s for f, g, s in chosen]


def context(lang: str, key: str, split: str, facts: list[dict], answer_fact: dict | None) -> str:
    r = rng(SEED, lang, split, key, "context")
    others = [f["sentence"] for f in facts if answer_fact is None or f["id"] != answer_fact["id"]]
    passages = sample(r, others, 3 if answer_fact is None else 2)
    if answer_fact is not None:
        passages.insert(r.randrange(len(passages) + 1), answer_fact["sentence"])
    return "\n".join(f"{i}. {p}" for i, p in enumerate(passages, 1))


def build(lang: str) -> dict[str, list[dict]]:
    facts = [fact_view(f, lang) for f in FACTS]
    oos_topics = {"train": OUT_OF_SCOPE[:12], "validation": OUT_OF_SCOPE[12:], "test": OUT_OF_SCOPE[12:]}
    splits = {}
    for split in ("train", "validation", "test"):
        wording = "train" if split == "train" else "test"
        rows = []
        for f in facts:
            for i, q in enumerate(questions(lang, split, f["topics"][wording], PER_FACT[split], f["id"])):
                rows.append(
                    {
                        "id": f"{lang}-{split}-{f['id']}-{i}",
                        "lang": lang,
                        "category": f["category"],
                        "fact_id": f["id"],
                        "in_scope": True,
                        "question": q,
                        "answer": f["answer"],
                        "context": context(lang, f"{f['id']}-{i}", split, facts, f),
                    }
                )
        for oid, en_t, zh_t in oos_topics[split]:
            topic = topic_en(en_t) if lang == "en" else zh_t
            for i, q in enumerate(questions(lang, split, topic, PER_OOS[split], oid)):
                rows.append(
                    {
                        "id": f"{lang}-{split}-{oid}-{i}",
                        "lang": lang,
                        "category": "out_of_scope",
                        "fact_id": None,
                        "in_scope": False,
                        "question": q,
                        "answer": HANDOFF[lang],
                        "context": context(lang, f"{oid}-{i}", split, facts, None),
                    }
                )
        rng(SEED, lang, split, "order").shuffle(rows)  # categories interleave, so `limit=N` covers all kinds
        splits[split] = rows
    return splits


if __name__ == "__main__":
    generator_main(build, HERE)
