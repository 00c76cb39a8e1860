"""Read a report page's compact leaderboard as its script draws it, without a browser: the rows are data in the
page (<script id="leaderboard-data">, harness/report/compact.py) and the notes one list under the table."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

_DATA = re.compile(r'<script type="application/json" id="leaderboard-data">(.*?)</script>', re.S)
_NOTE = re.compile(r'<li id="note-(\d+)" value="\d+">(.*?)</li>', re.S)


def notes(page: str) -> dict[int, str]:
    """Footnote number -> its text (links and markup stripped)."""
    return {int(n): htmllib.unescape(re.sub(r"<[^>]+>", "", t)) for n, t in _NOTE.findall(page)}


def leaderboard(page: str) -> list[dict[str, Any]]:
    """Each row as {column key: cell text, "notes": {column key: [note texts]}, "filters": {key: value}}."""
    data = json.loads(_DATA.search(page)[1])
    texts = notes(page)
    out = []
    for r in data["rows"]:
        row: dict[str, Any] = {"notes": {}, "filters": dict(zip(data["filters"], r["f"], strict=True))}
        for key, c in zip(data["columns"], r["c"], strict=True):  # text or [text, value, notes, class, title]
            row[key] = c if isinstance(c, str) else c[0]
            if not isinstance(c, str) and len(c) > 2 and c[2]:
                row["notes"][key] = [texts[n] for n in c[2]]
        out.append(row)
    return out
