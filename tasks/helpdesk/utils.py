"""Metrics of the helpdesk task, referenced from helpdesk.yaml as `!function utils.process_results`."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation.replace(":", "").replace(".", ""))


def normalize(text: str) -> str:
    """Lower-case, drop articles and punctuation (keeping ':' and '.' inside times and amounts), squeeze spaces."""
    text = text.lower().translate(_PUNCT)
    text = re.sub(r"(?<!\d)[.:]|[.:](?!\d)", " ", text)  # a '.' or ':' not between digits is punctuation
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """contains: the normalized answer appears in the normalized output; exact_match: they are equal."""
    output, answer = normalize(results[0]), normalize(doc["answer"])
    contained = bool(answer) and re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", output) is not None
    return {"contains": float(contained), "exact_match": float(output == answer)}
