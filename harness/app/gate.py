"""The regression gate: `harness gate --against <run id | leaderboard.json | report folder | previous>`, and
`report.gate=...` at the end of a sweep (gate_run). Exit 0: nothing regressed; 1: a row regressed; 2: bad input.

Two sides, "now" and "before", each a run (the stored records of its manifest's computed or reused cells:
<results>/runs/<run_id>.json) or an earlier report's leaderboard.json. Rows are the report's leaderboard rows
(harness.report.table.leaderboard, with the report's cost assumptions) and are matched as the report's diff
matches them (harness.report.diff._key: task, model, variant (method, training data, k), item count); the same
cell id on both sides is the same measurement: "unchanged", not tested.

A matched row's primary metric is tested for "no change" (two-sided):
  * paired, when both cells' per-item scores are in this store and cover the same items: exact McNemar test for
    0/1 scores, sign-flip permutation test otherwise (the ranking's tests, harness.compare.ranking); the change's
    interval is the paired bootstrap 95 % interval (harness.compare.stats.compare);
  * unpaired otherwise (an earlier report from another store): the Newcombe interval of the difference built
    from both rows' own intervals (harness.report.diff.newcombe), as the report's diff does, inverted to a
    p-value (the level at which that interval just reaches 0; at 0.05 it agrees with the diff's 95 % verdict).
Holm's step-down procedure over ALL tested rows holds the chance of any false "regressed" or "improved" at
`alpha` (the ranking's rule, harness.compare.ranking.holm). A row regresses when Holm rejects and the new score is
lower. Its cost per 1,000 queries or p95 latency regresses when new > old x (1 + threshold), where both sides
measured it (otherwise "not compared"). Rows only one side has are listed, never failures.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.compare.ranking import ALPHA, MIN_PAIRED_ITEMS, holm
from harness.compare.stats import Z95, wilson
from harness.config.schema import ReportConfig
from harness.errors import HarnessError
from harness.paths import resolve
from harness.store import runs as store_runs

if TYPE_CHECKING:
    from harness.store import Store

log = logging.getLogger(__name__)
MEASURED = ("computed", "reused")  # cell statuses of a run manifest whose stored records are the run's rows
PREVIOUS = "previous"  # --against previous: the newest finished run that started before the gated one
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
LISTED = 10  # row names listed in the summary per group (new, missing...), then "and N more"
_DEFAULTS = ReportConfig()


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its name in the summary, leaderboard rows, and the link to its report."""

    name: str
    rows: list[dict[str, Any]]
    report: str | None = None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GateResult:
    exit_code: int  # 0 passed, 1 something regressed
    markdown: str  # the summary for a CI comment
    regressions: list[dict[str, Any]]  # {row, what (score | cost | p95), before, now, ...}
    rows: list[dict[str, Any]]  # every matched row: {row, status, delta, ci, p, p_adj, basis, cost, p95}
    new: list[str]  # rows only the new side has
    missing: list[str]  # rows only the earlier side has
    ambiguous: list[str]  # rows whose identity appears twice on one side (not compared)


# -- run manifests (harness.store.runs) -------------------------------------------------------------------------------
def _manifests(store: Store) -> dict[str, dict[str, Any]]:
    """Every readable manifest by run id (an unreadable one is skipped with a warning naming it)."""
    return {m["run_id"]: m for m in store_runs.manifests(store.root)}


def _order(doc: dict[str, Any]) -> tuple[str, str]:
    return str(doc.get("started_at") or ""), str(doc.get("run_id") or "")


def _manifest(store: Store, run_id: str) -> dict[str, Any]:
    try:
        return store_runs.find_run(store.root, run_id)
    except HarnessError as e:
        raise HarnessError(f"{e} Or give an earlier leaderboard.json or report folder, or `previous`.") from None


def _run_cell_ids(store: Store, run_id: str) -> list[str]:
    """The cells of a run whose records are its rows (status computed or reused), in manifest order, once each."""
    out: list[str] = []
    for c in _manifest(store, run_id)["cells"]:
        if isinstance(c, dict) and c.get("status") in MEASURED and isinstance(c.get("cell_id"), str):
            if c["cell_id"] and c["cell_id"] not in out:
                out.append(c["cell_id"])
    return out


def newest_finished(store: Store, *, before: str | None = None, exclude: str | None = None) -> str:
    """The newest run with status `finished` (by start time, then id); `before`: that started before this run."""
    runs = _manifests(store)
    limit = _order(runs[before]) if before in runs else None
    done = [
        (_order(d), r)
        for r, d in runs.items()
        if d.get("status") == "finished" and r not in (exclude, before) and (limit is None or _order(d) < limit)
    ]
    if not done:
        what = f" that started before run {before}" if before else ""
        raise HarnessError(
            f"no finished run{what} in {store_runs.runs_dir(store.root)}; name one with --run / --against (a run id, or an "
            "earlier leaderboard.json), or run a sweep first."
        )
    return max(done)[1]


# -- the two sides ---------------------------------------------------------------------------------------------------
def _cached(store: Store) -> Callable[[str], list[dict[str, Any]]]:
    seen: dict[str, list[dict[str, Any]]] = {}

    def samples(cell_id: str) -> list[dict[str, Any]]:
        if cell_id not in seen:
            seen[cell_id] = store.samples_or_none(cell_id)
        return seen[cell_id]

    return samples


def run_side(store: Store, run_id: str, settings: ReportConfig | Mapping[str, Any] | None = None, samples=None) -> Side:
    """A run's rows: the leaderboard of its computed or reused cells' stored records, as its report shows them."""
    from harness.report.analysis import assumptions_of, records_of
    from harness.report.table import leaderboard, loads_as_of, with_capacity

    doc = _manifest(store, run_id)
    ids = _run_cell_ids(store, run_id)
    stored = [c for c in ids if store.has(c)]
    if not stored:
        raise HarnessError(
            f"run {run_id} has no stored cells (computed or reused) in {store.root}/records: nothing to compare. "
            f"Is --results the store that run wrote to?"
        )
    notes = [f"{len(ids) - len(stored)} of its cells are not in the store"] if len(stored) < len(ids) else []
    if doc.get("status") != "finished":
        notes.append(f"status {doc.get('status')!r}")
    a = assumptions_of(settings)
    # the load records as of the run's end: two runs sharing a store are not both priced by the newest one
    records = with_capacity([store.load(c) for c in stored], loads_as_of(store.loads(), doc.get("ended_at")))
    df = leaderboard(records, samples or _cached(store), a["deployment"], a["monthly_queries"])
    report = doc.get("report") if isinstance(doc.get("report"), str) else None
    return Side(f"run {run_id}", records_of(df), report, run_id, notes)


def board_side(path: str | Path, flag: str) -> Side:
    """An earlier report's leaderboard.json (or the report folder holding it)."""
    from harness.report.diff import load_export

    p = resolve(path)
    try:
        doc = load_export(p)
    except HarnessError as e:
        raise HarnessError(str(e).replace("--compare-to", flag, 1)) from None
    file = p / "leaderboard.json" if p.is_dir() else p
    return Side(str(path), doc["rows"], str(file.parent / "index.html"))


def _against_side(store: Store, against: str | Path, now_run: str | None, settings, samples) -> Side:
    text = str(against)
    if text == PREVIOUS:
        if now_run is None:
            raise HarnessError("--against previous needs a run on the new side (--run), not --board.")
        return run_side(store, newest_finished(store, before=now_run), settings, samples)
    if RUN_ID.fullmatch(text) and store_runs.manifest_path(store.root, text).is_file():
        if text == now_run:
            raise HarnessError(f"--against {text} is the run being gated: name an earlier run or `previous`.")
        return run_side(store, text, settings, samples)
    if isinstance(against, Path) or resolve(text).exists() or text.endswith(".json") or "/" in text:
        return board_side(against, "--against")
    _manifest(store, text)  # raises: unknown run id, with the known ones
    raise AssertionError("unreachable")


# -- tests -----------------------------------------------------------------------------------------------------------
def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _wilson_z(k: int, n: int, z: float) -> tuple[float, float]:
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _interval_at(score: float, ci: tuple[float, float], n: int | None, z: float) -> tuple[float, float]:
    """The row's own interval at level z: Wilson's when its 95 % interval is the Wilson interval of k of n (0/1
    scores), else score +- z x SE with SE read from the 95 % interval's wider side, clipped to [0, 1]."""
    if n:
        k = score * n
        if abs(k - round(k)) < 1e-6 and all(
            math.isclose(x, y, abs_tol=1e-9) for x, y in zip(ci, wilson(round(k), n), strict=True)
        ):
            return _wilson_z(round(k), n, z)
    se = max(score - ci[0], ci[1] - score) / Z95
    return max(0.0, score - z * se), min(1.0, score + z * se)


def unpaired_p(now: dict[str, Any], before: dict[str, Any]) -> float:
    """Two-sided p-value of the Newcombe interval: 2 x (1 - Phi(z*)), z* the level at which the interval of
    now - before, from both rows' intervals at level z*, has its bound nearest 0 exactly at 0."""
    from scipy.stats import norm

    d = now["score"] - before["score"]
    if d == 0:
        return 1.0

    def bound(z: float) -> float:  # the bound on the side of 0; grows towards 0 with z
        l1, u1 = _interval_at(now["score"], (now["ci_low"], now["ci_high"]), now.get("n"), z)
        l2, u2 = _interval_at(before["score"], (before["ci_low"], before["ci_high"]), before.get("n"), z)
        if d > 0:
            return -(d - math.hypot(now["score"] - l1, u2 - before["score"]))
        return d + math.hypot(u1 - now["score"], before["score"] - l2)

    lo, hi = 0.0, 40.0
    if bound(hi) < 0:
        return float(2 * norm.sf(hi))
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if bound(mid) < 0 else (lo, mid)
    return float(min(1.0, 2 * norm.sf((lo + hi) / 2)))


def _test(now: dict[str, Any], before: dict[str, Any], samples: Callable | None) -> dict[str, Any]:
    """{delta, ci, p, basis} of now - before on the primary metric; p None (with `why`) when not testable."""
    from harness.report.table import item_scores

    metric = now.get("metric")
    if metric != before.get("metric"):
        return {"p": None, "why": f"primary metric changed ({before.get('metric')} -> {metric})"}
    if samples is not None and metric and now.get("cell_id") and before.get("cell_id"):
        a = item_scores(samples(before["cell_id"]), metric)
        b = item_scores(samples(now["cell_id"]), metric)
        if a and set(a) == set(b) and all(math.isfinite(v) for v in [*a.values(), *b.values()]):
            from harness.compare.stats import compare

            c = compare(a, b)
            if c.p_mcnemar is not None:
                p, how = c.p_mcnemar, f"paired on {c.n} items, McNemar exact"
            elif c.n >= MIN_PAIRED_ITEMS:
                import numpy as np

                from harness.compare.ranking import sign_flip_pvalues

                keys = sorted(a)
                diff = np.array([b[k] - a[k] for k in keys])
                p, how = float(sign_flip_pvalues(diff[None, :])[0]), f"paired on {c.n} items, sign-flip"
            else:
                return {
                    "p": None,
                    "why": f"only {c.n} paired items (a partial-credit metric needs {MIN_PAIRED_ITEMS})",
                }
            return {"delta": c.delta, "ci": (c.ci_low, c.ci_high), "p": p, "basis": how}
    vals = [_num(r.get(k)) for r in (now, before) for k in ("score", "ci_low", "ci_high")]
    if None in vals:
        return {"p": None, "why": "no score or interval on one side"}
    from harness.report.diff import newcombe

    if vals[1] == vals[2] and vals[4] == vals[5]:
        return {"p": None, "why": "neither row has an interval of any width"}
    lo, hi = newcombe(vals[0], (vals[1], vals[2]), vals[3], (vals[4], vals[5]))
    return {
        "delta": vals[0] - vals[3],
        "ci": (lo, hi),
        "p": unpaired_p(now, before),
        "basis": "unpaired (Newcombe, from both rows' intervals)",
    }


def holm_adjusted(pvalues: list[float]) -> list[float]:
    """Holm's adjusted p-values: sorted ascending, max over j <= k of min(1, (m - j + 1) p_(j)). A row is
    rejected at `alpha` exactly when its adjusted p < alpha (the same decision as ranking.holm)."""
    m = len(pvalues)
    out = [1.0] * m
    running = 0.0
    for k, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - k) * pvalues[i]))
        out[i] = running
    return out


def _growth(before: Any, now: Any, limit: float) -> dict[str, Any] | None:
    """{before, now, change (share), regressed}; None when one side did not measure it."""
    b, n = _num(before), _num(now)
    if b is None or n is None:
        return None
    change = (n - b) / b if b > 0 else (0.0 if n == b else math.inf)
    return {"before": b, "now": n, "change": change, "regressed": n > b * (1 + limit)}


def _drop(before: Any, now: Any, limit: float) -> dict[str, Any] | None:
    """{before, now, change (share, negative when it fell), regressed}: a throughput may fall by `limit`."""
    b, n = _num(before), _num(now)
    if b is None or n is None or b <= 0:
        return None
    return {"before": b, "now": n, "change": (n - b) / b, "regressed": n < b * (1 - limit)}


# -- matching and the verdict ----------------------------------------------------------------------------------------
def _name(r: dict[str, Any]) -> str:
    from harness.report.labels import row_label

    return f"{r.get('task')}: {row_label(str(r.get('model')), str(r.get('variant')))}"


def _match(now: list[dict], before: list[dict]) -> tuple[list[tuple[dict, dict]], list[dict], list[dict], list[dict]]:
    """(pairs, new, missing, ambiguous): the same cell id first, then the diff's identity key where it is unique
    on both sides; an identity twice on one side (e.g. two learning rates) is not guessed at."""
    from harness.report.diff import _key

    by_cell = {r.get("cell_id"): r for r in before if r.get("cell_id")}
    pairs, rest_now = [], []
    for r in now:
        e = by_cell.pop(r.get("cell_id"), None) if r.get("cell_id") else None
        (pairs.append((r, e)) if e is not None else rest_now.append(r))
    rest_before = [e for e in before if not e.get("cell_id") or e.get("cell_id") in by_cell]
    count: dict[Any, list[int]] = {}
    for r in rest_now:
        count.setdefault(_key(r), [0, 0])[0] += 1
    for e in rest_before:
        count.setdefault(_key(e), [0, 0])[1] += 1
    earlier = {_key(e): e for e in rest_before}
    new, ambiguous = [], []
    for r in rest_now:
        k = _key(r)
        if count[k] == [1, 1]:
            pairs.append((r, earlier.pop(k)))
        elif count[k][1] == 0:
            new.append(r)
        else:
            ambiguous.append(r)
    missing = [e for e in rest_before if count[_key(e)][0] == 0]
    return pairs, new, missing, ambiguous


def compare_sides(
    now: Side,
    before: Side,
    samples: Callable | None,
    *,
    max_cost_increase: float,
    max_p95_increase: float,
    alpha: float = ALPHA,
    report_url: str | None = None,
    max_throughput_drop: float = _DEFAULTS.gate_max_throughput_drop,
) -> GateResult:
    pairs, new, missing, ambiguous = _match(now.rows, before.rows)
    if not pairs:
        raise HarnessError(
            f"no rows in common between {now.name} and {before.name} (rows match on task, model, variant and item "
            "count): compare runs of the same sweep, or an earlier report of it."
        )
    rows = []
    for r, e in pairs:
        row = {
            "row": _name(r),
            "task": r.get("task"),
            "metric": r.get("metric"),
            "before": e.get("score"),
            "now": r.get("score"),
            "cost": None,
            "p95": None,
            "throughput": None,
        }
        if r.get("cell_id") and r.get("cell_id") == e.get("cell_id"):
            rows.append({**row, "status": "unchanged", "p": None})
            continue
        row.update(_test(r, e, samples))
        same_currency = (r.get("currency") or "USD") == (e.get("currency") or "USD")
        row["cost"] = _growth(e.get("cost_per_1k"), r.get("cost_per_1k"), max_cost_increase) if same_currency else None
        row["currency"] = r.get("currency") or "USD"
        # p95 per request at one user where both runs measured it, else the batch time (like with like; an export
        # from before the two were separate columns held a local row's batch time in p95_s)
        earlier_batch = (
            e.get("batch_p95_s") if "batch_p95_s" in e else (e.get("p95_s") if e.get("source") != "api" else None)
        )
        checks = [
            g
            for g in (
                _growth(e.get("p95_s"), r.get("p95_s"), max_p95_increase) if "batch_p95_s" in e else None,
                _growth(earlier_batch, r.get("batch_p95_s"), max_p95_increase),
            )
            if g
        ]
        row["p95"] = next((g for g in checks if g["regressed"]), checks[0] if checks else None)
        # whatever the deployment: under `dedicated` a row costs the same while one replica suffices, so a model
        # that became half as fast passed the cost check
        # like with like: capacity at the target where both sides measured one, else the batch throughput (an
        # export from before batch_qph held it in throughput_qph when it had no capacity)
        if e.get("capacity_qph") is not None and r.get("capacity_qph") is not None:
            row["throughput"] = _drop(e["capacity_qph"], r["capacity_qph"], max_throughput_drop)
        else:
            earlier_qph = (
                e.get("batch_qph")
                if "batch_qph" in e
                else (e.get("throughput_qph") if e.get("capacity_qph") is None else None)
            )
            row["throughput"] = _drop(earlier_qph, r.get("batch_qph"), max_throughput_drop)
        rows.append(row)
    tested = [x for x in rows if x.get("p") is not None]
    for x, adj, rejected in zip(
        tested, holm_adjusted([x["p"] for x in tested]), holm([x["p"] for x in tested], alpha), strict=True
    ):
        x["p_adj"] = adj
        x["status"] = (
            ("regressed" if x["delta"] < 0 else "improved" if x["delta"] > 0 else "within noise")
            if rejected
            else "within noise"
        )
    for x in rows:
        x.setdefault("status", "not tested")
    regressions = []
    for x in rows:
        if x["status"] == "regressed":
            regressions.append({**x, "what": "score"})
        for what in ("cost", "p95", "throughput"):
            if x.get(what) and x[what]["regressed"]:
                regressions.append({**x, "what": what})
    names = {
        "new": [_name(r) for r in new],
        "missing": [_name(e) for e in missing],
        "ambiguous": sorted({_name(r) for r in ambiguous}),
    }
    result = GateResult(
        1 if regressions else 0, "", regressions, rows, names["new"], names["missing"], names["ambiguous"]
    )
    md = summary_markdown(
        result,
        now,
        before,
        max_cost_increase=max_cost_increase,
        max_p95_increase=max_p95_increase,
        alpha=alpha,
        report_url=report_url,
        max_throughput_drop=max_throughput_drop,
    )
    return GateResult(result.exit_code, md, regressions, rows, *names.values())


# -- the summary -----------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _signed(v: float, digits: int = 3) -> str:
    return f"{v:+.{digits}f}".replace("-", "−")


def _p(v: float) -> str:
    return f"{v:.2g}" if v >= 0.001 else f"{v:.1e}"


def _pct(share: float) -> str:
    return "new (was 0)" if math.isinf(share) else _signed(100 * share, 1) + " %"


def _listing(names: list[str]) -> str:
    shown = ", ".join(_cell(n) for n in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def summary_markdown(
    r: GateResult,
    now: Side,
    before: Side,
    *,
    max_cost_increase: float,
    max_p95_increase: float,
    alpha: float,
    report_url: str | None,
    max_throughput_drop: float = _DEFAULTS.gate_max_throughput_drop,
) -> str:
    failed_rows = len({x["row"] for x in r.regressions})
    verdict = "FAIL" if r.exit_code else "PASS"
    what = (
        f"{len(r.regressions)} regression(s) in {failed_rows} of {len(r.rows)} compared rows"
        if r.exit_code
        else f"no regression in {len(r.rows)} compared rows"
    )
    lines = [f"### Regression gate: **{verdict}**, {what}", "", f"{now.name} against {before.name}."]
    notes = [f"{s.name}: {'; '.join(s.notes)}" for s in (now, before) if s.notes]
    if notes:
        lines += ["", "Note: " + ". ".join(notes) + "."]
    if r.regressions:
        lines += [
            "",
            "| Row | Metric | Before → now | Change (95 % interval) | Holm-adjusted p (test) |",
            "|---|---|---|---|---|",
        ]
        for x in r.regressions:
            if x["what"] == "score":
                lo, hi = x["ci"]
                cells = [
                    x["metric"],
                    f"{x['before']:.3f} → {x['now']:.3f}",
                    f"{_signed(x['delta'])} [{_signed(lo)}, {_signed(hi)}]",
                    f"{_p(x['p_adj'])} ({x['basis']})",
                ]
            else:
                g = x[x["what"]]
                limit = max_cost_increase if x["what"] == "cost" else max_p95_increase
                if x["what"] == "cost":
                    cells = [
                        f"cost per 1,000 queries ({x['currency']})",
                        f"{g['before']:.4g} → {g['now']:.4g}",
                    ]
                elif x["what"] == "throughput":
                    limit = -max_throughput_drop
                    cells = ["throughput (queries/h)", f"{g['before']:,.0f} → {g['now']:,.0f}"]
                else:
                    cells = ["p95 latency", f"{g['before']:.3g} s → {g['now']:.3g} s"]
                cells += [f"{_pct(g['change'])} (limit {_signed(100 * limit, 0)} %)", "—"]
            lines.append("| " + " | ".join(_cell(c) for c in [x["row"], *cells]) + " |")
    count = {s: sum(x["status"] == s for x in r.rows) for s in ("improved", "within noise", "unchanged", "not tested")}
    lines += [
        "",
        f"Improved: {count['improved']} · within noise: {count['within noise']} · unchanged (the same "
        f"cell on both sides): {count['unchanged']} · not tested: {count['not tested']}",
    ]
    why = sorted({x["why"] for x in r.rows if x["status"] == "not tested" and x.get("why")})
    if why:
        lines[-1] += f" ({'; '.join(why)})"
    measured = [x for x in r.rows if x["status"] != "unchanged"]
    gaps = [
        f"{what} for {k}"
        for what, key in (("cost per 1,000 queries", "cost"), ("p95 latency", "p95"))
        if (k := sum(x[key] is None for x in measured))
    ]
    if gaps:
        lines += [
            "",
            f"Not compared (not measured on both sides): {' and '.join(gaps)} of {len(measured)} row(s).",
        ]
    if r.new:
        lines += ["", f"New rows (only in {now.name}; not failures): {_listing(r.new)}"]
    if r.missing:
        lines += ["", f"Missing rows (only in {before.name}; not failures): {_listing(r.missing)}"]
    if r.ambiguous:
        lines += [
            "",
            f"Not compared (the same task, model, variant and item count twice on one side): {_listing(r.ambiguous)}",
        ]
    n_tested = sum(x.get("p") is not None for x in r.rows)
    lines += [
        "",
        f'Rule: a score regresses when Holm\'s procedure over the {n_tested} tested row(s) rejects "no change" at '
        f"α = {alpha:g} and the score fell; cost per 1,000 queries when it grew by more than "
        f"{100 * max_cost_increase:g} %; p95 latency by more than {100 * max_p95_increase:g} %; a self-hosted "
        f"row's throughput (queries per hour at the latency target, else batch) when it fell by more than "
        f"{100 * max_throughput_drop:g} %, whatever the deployment.",
        "Test: paired on the same items where both cells' per-item scores are in the store (McNemar exact for 0/1 "
        "scores, sign-flip permutation otherwise; paired bootstrap interval), else unpaired (Newcombe interval "
        "from both rows' intervals). Intervals are per row, not adjusted.",
    ]
    link = report_url or now.report
    if link:
        lines += ["", f"Report: {link}"]
    return "\n".join(lines) + "\n"


# -- entry points ----------------------------------------------------------------------------------------------------
def gate_run(
    store: Store,
    run_id: str,
    against: str | Path,
    *,
    max_cost_increase: float = _DEFAULTS.gate_max_cost_increase,
    max_p95_increase: float = _DEFAULTS.gate_max_p95_increase,
    report_url: str | None = None,
    alpha: float = ALPHA,
    settings: ReportConfig | Mapping[str, Any] | None = None,
    max_throughput_drop: float = _DEFAULTS.gate_max_throughput_drop,
) -> GateResult:
    """Gate run `run_id` of `store` against `against`: a run id, `previous` (the newest finished run that started
    before it), or an earlier leaderboard.json / report folder. `settings`: the report's cost assumptions
    (report.*; default: ReportConfig's), so that the costs compared are the ones the report shows."""
    check_gate_settings(None, max_cost_increase, max_p95_increase, max_throughput_drop)  # `against`: below
    samples = _cached(store)
    now = run_side(store, run_id, settings, samples)
    before = _against_side(store, against, run_id, settings, samples)
    return compare_sides(
        now,
        before,
        samples,
        max_cost_increase=max_cost_increase,
        max_p95_increase=max_p95_increase,
        alpha=alpha,
        report_url=report_url,
        max_throughput_drop=max_throughput_drop,
    )


def check_gate_settings(
    gate: str | None,
    max_cost_increase: float,
    max_p95_increase: float,
    max_throughput_drop: float = _DEFAULTS.gate_max_throughput_drop,
) -> None:
    """report.gate / report.gate_max_cost_increase / report.gate_max_p95_increase of a sweep, before it runs: a
    run id, `previous` or an existing earlier leaderboard.json (read and checked); shares >= 0."""
    for name, v in (
        ("gate_max_cost_increase", max_cost_increase),
        ("gate_max_p95_increase", max_p95_increase),
    ):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise HarnessError(f"report.{name}={v!r}: give the share it may grow by, a number >= 0 (0.10 = +10 %).")
    v = max_throughput_drop
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1:
        raise HarnessError(
            f"report.gate_max_throughput_drop={v!r}: give the share it may fall by, from 0 to below 1 (0.20 = -20 %)."
        )
    if gate is None:
        return
    if not isinstance(gate, str) or not gate.strip():
        raise HarnessError(f"report.gate={gate!r}: give a run id, `previous`, or an earlier leaderboard.json.")
    if gate.endswith(".json") or "/" in gate or resolve(gate).exists():
        board_side(gate, "report.gate")
    elif not RUN_ID.fullmatch(gate):
        raise HarnessError(
            f"report.gate={gate!r} is neither a run id (results/runs/<run_id>.json), `previous`, nor a path to "
            "an earlier leaderboard.json."
        )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2 (cli.main), not argparse's usage block
        raise HarnessError(f"harness gate: {message}. See `harness gate --help`.")


def main(argv: list[str]) -> None:
    p = _Parser(
        prog="harness gate",
        description="Exit 1 when a row regressed against an earlier run or report: "
        "its score (paired test, Holm), its cost per 1,000 queries or its p95 latency. 0: passed; "
        "2: bad input. Prints a Markdown summary.",
    )
    p.add_argument(
        "--against", required=True, help="an earlier run id, `previous`, or an earlier leaderboard.json / report folder"
    )
    now = p.add_mutually_exclusive_group()
    now.add_argument("--run", help="the run to gate (default, or `latest`: the newest finished run)")
    now.add_argument("--board", help="gate this leaderboard.json (or report folder) instead of a run")
    p.add_argument("--results", default="results", help="store folder (default: results)")
    p.add_argument(
        "--max-cost-increase",
        type=float,
        default=_DEFAULTS.gate_max_cost_increase,
        help="share a row's cost per 1,000 queries may grow by (default 0.10)",
    )
    p.add_argument(
        "--max-p95-increase",
        type=float,
        default=_DEFAULTS.gate_max_p95_increase,
        help="share a row's p95 latency may grow by (default 0.20)",
    )
    p.add_argument(
        "--max-throughput-drop",
        type=float,
        default=_DEFAULTS.gate_max_throughput_drop,
        help="share a self-hosted row's queries per hour may fall by (default 0.20)",
    )
    p.add_argument("--alpha", type=float, default=ALPHA, help="family-wise error over all rows (default 0.05)")
    p.add_argument(
        "--deployment",
        default="dedicated",
        help="how self-hosted rows are priced for the cost check "
        "(conf/deployment/: dedicated, per_second, ...); the throughput and p95 checks do not depend on "
        "it",
    )
    p.add_argument("--report-url", help="link to the report in the summary (default: the run's report path)")
    p.add_argument("--markdown", help="also write the summary to this file")
    a = p.parse_args(argv)
    if not 0 < a.alpha < 1:
        raise HarnessError(f"--alpha {a.alpha:g}: give a level between 0 and 1 (e.g. 0.05).")
    for flag, v in (("--max-cost-increase", a.max_cost_increase), ("--max-p95-increase", a.max_p95_increase)):
        if not math.isfinite(v) or v < 0:
            raise HarnessError(f"{flag} {v:g}: give the share it may grow by, a number >= 0 (0.10 = +10 %).")
    from dataclasses import asdict

    from harness.config.options import load_option
    from harness.config.schema import DeploymentConfig
    from harness.store import Store

    settings = {"deployment": asdict(load_option("deployment", a.deployment, DeploymentConfig))}
    store = Store(resolve(a.results))
    check_gate_settings(None, a.max_cost_increase, a.max_p95_increase, a.max_throughput_drop)
    limits = {
        "max_cost_increase": a.max_cost_increase,
        "max_p95_increase": a.max_p95_increase,
        "max_throughput_drop": a.max_throughput_drop,
    }
    if a.board:
        samples = _cached(store)
        before = _against_side(store, a.against, None, settings, samples)
        result = compare_sides(
            board_side(a.board, "--board"), before, samples, **limits, alpha=a.alpha, report_url=a.report_url
        )
    else:
        against_run = a.against if store_runs.manifest_path(store.root, a.against).is_file() else None
        run = a.run if a.run not in (None, "latest") else newest_finished(store, exclude=against_run)
        result = gate_run(store, run, a.against, **limits, report_url=a.report_url, alpha=a.alpha, settings=settings)
    print(result.markdown, end="")
    if a.markdown:
        from harness.store.store import atomic_write_text

        atomic_write_text(resolve(a.markdown), result.markdown)
    if result.exit_code:
        raise SystemExit(result.exit_code)
