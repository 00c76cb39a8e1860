"""Helpers for the task data generators under tasks/*/generate.py (deterministic, byte-for-byte output)."""

from __future__ import annotations

import json
import random
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def rng(seed: int, *salt: str) -> random.Random:
    """A private RNG per (seed, purpose): adding one generator step never shifts another step's draws."""
    return random.Random(f"{seed}:{':'.join(salt)}")


def sample(r: random.Random, items: Sequence[T], k: int) -> list[T]:
    return r.sample(list(items), min(k, len(items)))


# English month names, fixed here rather than taken from `calendar`, whose names follow the process locale.
MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

NEAR_DUPLICATE = 0.8  # Jaccard similarity of character 3-gram sets at or above which two texts count as one


# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt; unicodedata has no such property):
# characters a reader does not see, beside the Cf and Cc categories (the Hangul fillers, variation selectors...)
IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _visible(ch: str) -> bool:
    if unicodedata.category(ch) in ("Cf", "Cc"):
        return False
    code = ord(ch)
    return not any(lo <= code <= hi for lo, hi in IGNORABLE)


def comparable(text: str) -> str:
    """The text as leakage checks compare it: NFKC-normalised (full-width and compatibility forms folded), with
    invisible characters removed (format and control characters, and every default-ignorable one: zero-width
    spaces and joiners, soft hyphens, bidi marks, variation selectors, Hangul fillers: enough to slip a copied
    question past a character n-gram comparison), case-folded, whitespace collapsed."""
    t = unicodedata.normalize("NFKC", str(text))
    t = "".join(" " if ch.isspace() else ch for ch in t if ch.isspace() or _visible(ch))
    return " ".join(t.casefold().split())


def shingles(text: str, n: int = 3) -> frozenset[str]:
    """Character n-grams of the lower-cased, space-squeezed text (works the same for Chinese and English)."""
    t = " ".join(text.lower().split())
    return frozenset(t[i : i + n] for i in range(max(1, len(t) - n + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class NoLeakFilter:
    """Accepts a generated text unless it repeats one already accepted (any split) or, outside train, is a
    near-duplicate of a train text. Generators use it so `harness task check` finds nothing to report."""

    def __init__(self, threshold: float = NEAR_DUPLICATE):
        self.threshold = threshold
        self.exact: set[str] = set()
        self.train: list[frozenset[str]] = []

    def __call__(self, text: str, split: str) -> bool:
        key = " ".join(text.lower().split())
        if key in self.exact:
            return False
        sh = shingles(text)
        if split != "train" and any(jaccard(sh, t) >= self.threshold for t in self.train):
            return False
        self.exact.add(key)
        if split == "train":
            self.train.append(sh)
        return True


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def write_splits(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    for split, rows in splits.items():
        n = write_jsonl(folder / f"{split}.jsonl", rows)
        print(f"wrote {folder / f'{split}.jsonl'} ({n} rows)")


def generator_main(build: Callable[[str], dict[str, list[dict[str, Any]]]], task_dir: Path) -> None:
    """`python generate.py [OUT_DIR]`: write every language's splits under OUT_DIR (default: the task's data/)."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else task_dir / "data"
    for lang in ("en", "zh"):
        write_splits(out / lang, build(lang))
