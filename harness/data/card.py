"""The data card of a generated set (card.md beside its rows): who wrote it, from what, what was removed and why,
what it cost, and what `harness task check` says of it. Written from the set's record alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def _money(value: float | None, currency: str) -> str:
    return "unpriced (no list price for this endpoint)" if value is None else f"{value:.6f} {currency}"


def card_text(rec: dict[str, Any], reasons: Counter[tuple[str, str]] | None = None) -> str:
    i, c, t = rec["identity"], rec["counts"], rec["teacher"]
    cost = rec["cost"]
    lines = [
        f"# Data set {rec['dataset_id']}",
        "",
        f"Synthetic training examples for task `{rec['task']['name']}` (version {rec['task']['version']}), "
        f"written by a teacher model and filtered by the harness (`harness data synth`, {rec['created_at']}).",
        "",
        "| | |",
        "|---|---|",
        f"| Teacher | {t['display_name']} (`{t['name']}`, provider {t['provider'] or '-'}, model {t['model'] or '-'}) |",
        f"| Prompt | `{i['prompt']['version']}` (sha256 {i['prompt']['sha256'][:12]}) |",
        f"| Seed examples | {i['seeds']['n']} from the train split (seed {i['seeds']['seed']}), "
        + (
            f"{i['shots']} shown per request (mode new: whole new examples) |"
            if i.get("mode", "new") == "new"
            else "one per request, its input reworded, its answer kept (mode rewrite) |"
        ),
        f"| Requests | {i['n']} at temperature {i['temperature']}, at most {i['max_tokens']} tokens each |",
        f"| Kept | **{c['kept']} of {c['requested']}** |",
        f"| Cost | {_money(cost['total'], cost['currency'])} (teacher "
        f"{_money(_part(cost['teacher']), cost['currency'])}"
        + (f", judge {_money(_part(cost['judge']), cost['currency'])}" if cost.get("judge") else "")
        + ") |",
        f"| Use it | `finetune.train_data={rec['dataset_id'][:8]}` (or mixed: "
        f"`finetune.train_data=task:0.5,{rec['dataset_id'][:8]}:0.5`) |",
        "",
    ]
    if t.get("stand_in"):
        lines += [f"Teacher note: {t['stand_in']}", ""]
    lines += [
        "## Where the requested examples went",
        "",
        "| Step | Removed | Params |",
        "|---|---:|---|",
        f"| request failed | {c['failed']} | |",
        f"| reply not a usable JSON row | {c['unparsed']} | |",
    ]
    for f in rec["filters"]:
        params = ", ".join(f"{k}: {v}" for k, v in f["params"].items())
        lines.append(f"| filter `{f['name']}` | {f['removed']} | {params} |")
    total = c["failed"] + c["unparsed"] + sum(c["removed"].values()) + c["kept"]
    lines += [
        f"| **kept** | **{c['kept']}** | |",
        "",
        f"{c['failed']} + {c['unparsed']} + {sum(c['removed'].values())} + {c['kept']} = {total} "
        f"of {c['requested']} requested.",
        "",
    ]
    if reasons:
        lines += ["Most common reasons:", ""]
        lines += [f"- {step}: {why} ({n})" for (step, why), n in reasons.most_common(8)]
        lines.append("")
    check = rec["task_check"]
    lines += ["## `harness task check` of this set", "", "```", check["text"], "```", ""]
    lines += [
        "Leakage filter: always on. No kept example repeats a validation or test item exactly or nearly "
        "(character 3-gram Jaccard below the threshold above); the check above confirms it independently.",
        "",
    ]
    return "\n".join(lines)


def _part(aggregate: dict[str, Any] | None) -> float | None:
    if not aggregate:
        return 0.0
    return aggregate["cost"]["total"] if aggregate["cost"]["priced"] else None


def write_card(folder: Path, rec: dict[str, Any]) -> Path:
    import json

    reasons: Counter[tuple[str, str]] = Counter()
    for line in (folder / "generated.jsonl").read_text(encoding="utf-8").splitlines():
        s = json.loads(line)
        if s["status"] in ("unparsed", "failed", "removed"):
            reasons[(s.get("filter") or s["status"], _generic(s.get("reason") or ""))] += 1
    path = folder / "card.md"
    path.write_text(card_text(rec, reasons), encoding="utf-8")
    return path


def _generic(reason: str) -> str:
    """A reason without its per-example numbers, so the same reason counts once ("near-duplicate (0.84)...")."""
    import re

    return re.sub(r"\(\d\.\d+\)", "", reason).replace("  ", " ").strip()
