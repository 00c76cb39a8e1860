"""Metrics of the helpdesk tasks, referenced from the YAML as `!function utils.process_results`.

contains          the normalized reference answer appears in the normalized output (for an out-of-scope
                  question: the output is the hand-off)
exact_match       normalized output == normalized reference
handoff_accuracy  the model handed off exactly when it should (out-of-scope) and answered otherwise
"""

from __future__ import annotations

import re
import string
import unicodedata

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = "".join(c for c in string.punctuation if c not in ":.@-") + "，。！？；：、“”‘’（）《》【】"
_TABLE = str.maketrans(_PUNCT, " " * len(_PUNCT))
_HANDOFF_MARKS = ("help@lumenharbor.example", "i don't know", "i do not know", "不知道")


def normalize(text: str) -> str:
    """NFKC, lower-case, punctuation to spaces (keeping ':' '.' '@' '-' inside times, amounts, emails, names),
    English articles dropped, spaces squeezed. Chinese text passes through apart from its punctuation."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TABLE)
    text = re.sub(r"(?<![\w@])[.:]|[.:](?![\w])", " ", text)  # sentence punctuation, not 7:00 or 0.30
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def handed_off(output: str) -> bool:
    low = unicodedata.normalize("NFKC", output).lower().replace("’", "'")
    return any(mark in low for mark in _HANDOFF_MARKS)


def contains(output: str, answer: str) -> bool:
    out, ans = normalize(output), normalize(answer)
    if not ans:
        return False
    # No letter/digit may touch the answer's edges: "4357" is not in "43570", "3天" is not in "13天".
    return re.search(rf"(?<![0-9a-z]){re.escape(ans)}(?![0-9a-z])", out) is not None


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    output = results[0]
    refused = handed_off(output)
    if doc["in_scope"]:
        hit = contains(output, doc["answer"]) and not refused
    else:
        hit = refused
    return {
        "contains": float(hit),
        "exact_match": float(normalize(output) == normalize(doc["answer"])),
        "handoff_accuracy": float(refused != doc["in_scope"]),
    }
