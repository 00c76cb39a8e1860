"""What a fine-tuned row was trained on, read from its record's `finetune.train_data`: the task's own data, a
synthetic set a teacher model wrote, or a mix; the share of training answers deliberately corrupted (label noise);
and what the data cost (`cost.training_data`, part of `cost.training`). Records written before train_data existed
were trained on their task's own clean data, and say so by lacking the section.

The label-noise lines (one per model, variant and data at several noise levels) are built here too, for the
noise chart (charts.py) and its findings (summary.py), so both read the same points.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.i18n import _, integer, money
from harness.report.labels import data_text, row_label, split_variant, variant_text, with_data


def train_data(f: dict[str, Any]) -> dict[str, Any]:
    """A tuned record's finetune.train_data with the defaults of a record that lacks it (its task's own data,
    clean, free)."""
    td = f.get("train_data") or {}
    task = f.get("train_task")
    return {
        "label": td.get("label") or task,
        "sources": td.get("sources") or [{"source": "task", "task": task, "share": 1.0}],
        "label_noise": float(td.get("label_noise") or 0.0),
        "n_corrupted": td.get("n_corrupted"),
    }


def key_suffix(f: dict[str, Any]) -> str:
    """The English ending of table.method_label (the row's key) when the data is not the task's own clean data:
    ` [data: synthetic 3f9a1c2e; noise 20%]`; "" otherwise, so older rows keep their keys. Two runs that differ
    only in their data are two rows in comparisons and history, never one."""
    td = train_data(f)
    parts = [] if td["label"] == f.get("train_task") else [f"data: {td['label']}"]
    if td["label_noise"]:
        parts.append(f"noise {td['label_noise'] * 100:g}%")
    return f" [{'; '.join(parts)}]" if parts else ""


def data_cost(r: dict[str, Any]) -> tuple[float | None, bool]:
    """(the money of generating the training data, whether it is unknown). Unknown: a synthetic source and no
    price for it (cost.training_data null); never shown as zero. The task's own data costs nothing."""
    f = r.get("finetune") or {}
    if f.get("method", "none") == "none" or r.get("api"):
        return None, False
    cost = (r.get("cost") or {}).get("training_data")
    if cost is None:  # a record from before cost.training_data: the data section's own total
        cost = ((f.get("train_data") or {}).get("cost") or {}).get("total")
    synthetic = any(s.get("source") == "synthetic" for s in train_data(f)["sources"])
    return (None, True) if cost is None and synthetic else (cost, False)


def data_cost_note(cost: float | None, unknown: bool, currency: str, training: float | None) -> str | None:
    """Under a training cost: how much of it is the data, or that the data's cost is unknown. `training`: the
    training cost shown (None: unknown, e.g. an unpriced device, so the data's money is not "of" a total)."""
    if unknown:
        return _("training data unpriced: its cost is unknown and not included")
    if cost and training is None:
        return _("training data %(cost)s; the training device is unpriced", cost=money(cost, currency, 4))
    if cost:
        return _("of which training data %(cost)s", cost=money(cost, currency, 4))
    return None


def _teacher(s: dict[str, Any]) -> str:
    name = s.get("teacher") or s.get("teacher_display") or "?"
    if s.get("stand_in"):
        return _("teacher: %(teacher)s (a stand-in: %(stand_in)s)", teacher=name, stand_in=s["stand_in"])
    return _("teacher: %(teacher)s", teacher=name)


def _joined(parts: list[str]) -> str | None:
    """Clauses in the language's list punctuation (as table.clauses, which imports this module)."""
    out = None
    for p in parts:
        out = _("%(first)s; %(then)s", first=out, then=p) if out else p
    return out


def columns(r: dict[str, Any]) -> dict[str, Any]:
    """A leaderboard row's training-data columns. `train_data` (English label) and `label_noise` are what the
    filters and exports hold; `train_data_note` what the page writes under the row's fine-tuning: the teachers
    and how many answers were corrupted, when there is more to say than the task's own clean data."""
    f = r["finetune"]
    cost, unknown = data_cost(r)
    if f["method"] == "none" or r.get("api"):
        return {
            "train_task": None,
            "train_data": None,
            "train_data_label": None,
            "label_noise": None,
            "n_corrupted": None,
            "train_data_note": None,
            "data_cost": None,
            "data_cost_unknown": False,
            "data_cost_note": None,
        }
    td = train_data(f)
    c = r.get("cost") or {}
    notes = [_teacher(s) for s in td["sources"] if s.get("source") == "synthetic"]
    if td["label_noise"] and td["n_corrupted"] is not None:
        notes.append(_("%(k)s training answers corrupted on purpose", k=integer(td["n_corrupted"])))
    return {
        "train_task": f.get("train_task"),
        "train_data": td["label"],
        "train_data_label": data_text(td["label"]),
        "label_noise": td["label_noise"],
        "n_corrupted": td["n_corrupted"],
        "train_data_note": _joined(notes),
        "data_cost": cost,
        "data_cost_unknown": unknown,
        "data_cost_note": data_cost_note(cost, unknown, c.get("currency", "USD"), c.get("training")),
    }


def noise_lines(df: pd.DataFrame) -> list[dict[str, Any]]:
    """One line per tuned row's kind, scored on the task it was trained on, at two or more label-noise levels:
    same task, model and variant (method, data size, replay, k) and data, only the noise differs. Points are in
    noise order; where one level has two rows (e.g. two learning rates) the line takes the first in table order
    (the better ranked), which the table shows beside the other."""
    if df.empty or "label_noise" not in df:
        return []
    # the evaluation task's name (task_label writes `helpdesk [validation]` off the test split)
    cand = df[df["label_noise"].notna() & df["score"].notna()]  # first: the split below is per row
    task = cand["task"].str.split(" [", regex=False).str[0]
    rows = cand[task == cand["train_task"]]
    groups: dict[tuple, dict[float, dict[str, Any]]] = {}
    names: dict[tuple, str] = {}
    for r in rows.to_dict("records"):
        rest, data, _noise = split_variant(r["variant"])
        key = (r["task"], r["model_key"], rest, data)
        groups.setdefault(key, {}).setdefault(float(r["label_noise"]), r)
        names[key] = row_label(r["model"], with_data(variant_text(rest), data, None))
    out = []
    for key, by_noise in sorted(groups.items(), key=lambda kv: (kv[0][0], names[kv[0]])):
        if len(by_noise) < 2:
            continue
        points = [
            {
                "noise": n,
                "score": float(p["score"]),
                "ci_low": _num(p.get("ci_low")),
                "ci_high": _num(p.get("ci_high")),
                "cell_id": p["cell_id"],
            }
            for n, p in sorted(by_noise.items())
        ]
        out.append({"task": key[0], "name": names[key], "points": points, **trend(points)})
    return out


def _num(v: Any) -> float | None:
    return None if v is None or v != v else float(v)


def trend(points: list[dict[str, Any]]) -> dict[str, Any]:
    """How a line's score moves as noise grows: `monotone` (never rises from one level to the next), `explained`
    (it rises somewhere, but each rise is between overlapping 95 % intervals: sampling noise can explain it),
    `flagged` (some rise is between intervals that do not overlap: more noise scored better beyond chance) or
    `untested` (a rise where an interval is missing). `rises`: the (from, to) noise levels of each rise; `apart`:
    those beyond chance."""
    rises = [(a, b) for a, b in zip(points, points[1:], strict=False) if b["score"] > a["score"]]
    if not rises:
        return {"trend": "monotone", "rises": [], "apart": []}
    spans = [(a["noise"], b["noise"]) for a, b in rises]
    if any(None in (a["ci_high"], b["ci_low"]) for a, b in rises):
        return {"trend": "untested", "rises": spans, "apart": []}
    # a rise beyond chance: the higher score's interval wholly above the lower one's
    apart = [(a["noise"], b["noise"]) for a, b in rises if b["ci_low"] > a["ci_high"]]
    return {"trend": "flagged" if apart else "explained", "rises": spans, "apart": apart}
