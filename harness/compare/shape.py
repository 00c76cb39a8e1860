"""Answers in the wrong shape (issue 36): a generative task's answers that cannot be what the task asks for,
counted per cell so a row whose low score comes from the format, not the knowledge, says so.

An answer is off shape when the task's metric compares whole answers (exact_match) and it is far longer than
any reference answer of the task's items (longer than twice the longest one and at least SLACK characters
longer), or when the task states an answer pattern (metadata.harness.answer_pattern) and the answer does not
match it in full. A metric that looks for the reference inside the answer (`contains`) takes a sentence as it
comes, so length alone flags nothing there. The classic case: a completion-style
prompt ("City:") sent inside a chat turn, answered with a sentence ("The shipment goes to Dublin.").
Failed API requests (empty answers) are left out; with k sampled answers per item, the first (the scored one)
is judged. A cell is flagged when more than FLAG_SHARE of its answers are off shape; the report and the run's summary point
to `harness task preview`, which shows the prompts as the model received them.
"""

from __future__ import annotations

import re
from typing import Any

FLAG_SHARE = 0.25
SLACK = 20  # characters: a short reference ("Dublin") leaves room for a few words around it
EXAMPLES = 2  # off-shape answers kept in the record, for the report to show
WHOLE_ANSWER_METRICS = ("exact_match",)  # metrics that score the whole answer against the reference


def _texts(value: Any) -> list[str]:
    """A reference or an answer as text: one string, each of a list, a number as it is written."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return [value if isinstance(value, str) else str(value)]


def answer_shape(
    samples: list[dict[str, Any]], output_type: str, pattern: str | None, metric: str = "exact_match"
) -> dict[str, Any] | None:
    """None for a task that is not generative, has no answers, or has no rule that applies (a `contains` metric
    without a pattern); else the counts, the rule and a few examples. `metric`: the task's primary metric."""
    # a request that got no answer (an API failure, scored as empty) says nothing about the prompt's format
    samples = [row for row in samples if not (row.get("api") or {}).get("error")]
    by_length = metric.split("[")[0] in WHOLE_ANSWER_METRICS
    if output_type != "generate_until" or not samples or not (by_length or pattern):
        return None
    longest = max((len(t.strip()) for row in samples for t in _texts(row.get("reference"))), default=0)
    limit = max(2 * longest, longest + SLACK) if by_length else None
    compiled = re.compile(pattern) if pattern else None
    too_long = unmatched = off = 0
    examples = []
    for row in samples:
        answer = (_texts(row.get("output")) or [""])[0].strip()
        long_ = limit is not None and len(answer) > limit
        missed = compiled is not None and compiled.fullmatch(answer) is None
        too_long += long_
        unmatched += missed
        off += long_ or missed
        if (long_ or missed) and len(examples) < EXAMPLES:
            examples.append({"doc_id": row.get("doc_id"), "answer": answer[:160]})
    n = len(samples)
    return {
        "n": n,
        "off_shape": off,
        "share": round(off / n, 4),
        "too_long": too_long,
        "pattern_failed": unmatched if compiled is not None else None,
        "longest_reference_chars": longest,
        "max_chars": limit,
        "pattern": pattern,
        "flagged": off / n > FLAG_SHARE,
        "threshold": FLAG_SHARE,
        "examples": examples,
    }


def preview_command(task: str, model: str, baseline: bool = False) -> str:
    return f"harness task preview {task} {'baseline' if baseline else 'model'}={model}"


def describe(shape: dict[str, Any], command: str = "harness task preview TASK model=MODEL") -> str:
    """One line for the run's summary and the report."""
    rules = [f"longer than {shape['max_chars']} characters"] if shape.get("max_chars") is not None else []
    if shape.get("pattern"):
        rules.append(f"not matching the task's answer_pattern {shape['pattern']!r}")
    rule = " or ".join(rules)
    return (
        f"{shape['off_shape']} of {shape['n']} answers ({shape['share']:.0%}) are not in the task's answer shape "
        f"({rule}): the score may measure the prompt's format, not the model; see `{command}`"
    )
