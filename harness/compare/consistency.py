"""Format consistency: how often k answers sampled for the same item agree.

A fixed-format task (JSON extraction, intent labels) is only usable if the model answers the same way each time.
With `eval.samples=k` (k > 1) every item gets k answers at `eval.sample_temperature`; two answers count as the
same after `canonical` (JSON compared as data, other text with case and spacing ignored). docs/metrics.md states
the two rates in words.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any


def canonical(answer: Any) -> str:
    """The form two answers are compared in: a JSON value re-serialised with sorted keys (so key order and
    spacing do not count), otherwise the text with surrounding space dropped, runs of space collapsed, casefolded."""
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, flags=re.S)
    body = fenced.group(1) if fenced else stripped
    try:
        return "json:" + json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError):
        return "text:" + re.sub(r"\s+", " ", stripped).casefold()


def item_agreement(answers: list[Any]) -> tuple[bool, float]:
    """(all k answers the same, share of the k answers equal to the most common one)."""
    counts = Counter(canonical(a) for a in answers)
    top = counts.most_common(1)[0][1]
    return len(counts) == 1, top / len(answers)


def agreement(samples: list[dict[str, Any]], temperature: float) -> dict[str, Any] | None:
    """Over the items that have k > 1 answers (`answers` in their per-sample rows): the share whose answers all
    agree, and the mean modal share. None when no item has more than one answer."""
    per_item = [item_agreement(s["answers"]) for s in samples if len(s.get("answers") or []) > 1]
    if not per_item:
        return None
    k = max(len(s["answers"]) for s in samples if s.get("answers"))
    return {
        "k": k,
        "temperature": temperature,
        "n": len(per_item),
        "all_agree": sum(a for a, _ in per_item) / len(per_item),
        "modal_share": sum(m for _, m in per_item) / len(per_item),
        "compared_as": "JSON as data (key order and spacing ignored); other text casefolded, spacing collapsed",
    }
