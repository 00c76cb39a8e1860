"""Metrics of ota_intent: the output is parsed as JSON and compared with the reference object.

json_valid         the output holds a JSON object with a list `intents` and an object `slots`
intent_f1          F1 between predicted and reference intent sets (1.0 when both are empty)
slot_f1            F1 between predicted and reference (slot, value) pairs, null slots left out
joint_exact_match  same intent set and every one of the six slots equal (nulls included)
"""

from __future__ import annotations

import json
import re

SLOTS = ("budget", "check_in", "check_out", "city", "guests", "hotel")


def parse_object(text: str) -> dict | None:
    """The first {...} span of the output (models often add prose or code fences around it)."""
    text = re.sub(r"```(?:json)?", "", text)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _value(v):
    if isinstance(v, str):
        v = v.strip().lower()
        return int(v) if v.isdigit() else (v or None)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def f1(pred: set, gold: set) -> float:
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    return 0.0 if tp == 0 else 2 * tp / (len(pred) + len(gold))


def score(output: str, reference: str) -> dict[str, float]:
    gold = json.loads(reference)
    obj = parse_object(output)
    valid = obj is not None and isinstance(obj.get("intents"), list) and isinstance(obj.get("slots"), dict)
    if not valid:
        return {"json_valid": 0.0, "intent_f1": 0.0, "slot_f1": 0.0, "joint_exact_match": 0.0}
    intents = {str(i).strip().lower() for i in obj["intents"]}
    pred_slots = {k: _value(obj["slots"].get(k)) for k in SLOTS}
    gold_slots = {k: _value(gold["slots"][k]) for k in SLOTS}
    pairs = lambda s: {(k, json.dumps(v)) for k, v in s.items() if v is not None}  # noqa: E731
    joint = intents == set(gold["intents"]) and pred_slots == gold_slots
    return {
        "json_valid": 1.0,
        "intent_f1": f1(intents, set(gold["intents"])),
        "slot_f1": f1(pairs(pred_slots), pairs(gold_slots)),
        "joint_exact_match": float(joint),
    }


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    return score(results[0], doc["answer"])
