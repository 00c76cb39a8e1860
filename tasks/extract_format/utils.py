"""Metrics of extract_format: the output's JSON against the task's JSON Schema and the reference record.

schema_valid        the output holds a JSON object that validates against schema.json
field_accuracy      share of the schema's fields whose value equals the reference (0 for no JSON object)
record_exact_match  every field equal (and, so, a valid record)
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema


@cache
def schema() -> dict:
    return json.loads((Path(__file__).parent / "schema.json").read_text(encoding="utf-8"))


def parse_object(text: str) -> dict | None:
    text = re.sub(r"```(?:json)?", "", text)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def score(output: str, reference: str) -> dict[str, float]:
    gold = json.loads(reference)
    obj = parse_object(output)
    if obj is None:
        return {"schema_valid": 0.0, "field_accuracy": 0.0, "record_exact_match": 0.0}
    valid = jsonschema.Draft202012Validator(schema()).is_valid(obj)
    fields = schema()["required"]
    same = [
        obj.get(k) == gold[k] and type(obj.get(k)) is type(gold[k]) or _num_eq(obj.get(k), gold[k])
        for k in fields
    ]
    return {
        "schema_valid": float(valid),
        "field_accuracy": sum(same) / len(fields),
        "record_exact_match": float(valid and all(same)),
    }


def _num_eq(a, b) -> bool:
    """12 and 12.0 are the same amount; True is not 1."""
    nums = (int, float)
    return (
        isinstance(a, nums)
        and isinstance(b, nums)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    return score(results[0], doc["answer"])
