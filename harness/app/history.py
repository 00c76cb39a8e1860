"""`harness history`: the runs of a store (results/runs/<run_id>.json), newest last, and one run in detail."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.paths import resolve
from harness.store.runs import find_run, manifests, runs_dir


def _when(iso: Any) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return "-"


def _duration(run: dict[str, Any]) -> str:
    try:
        s = (datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _counts(run: dict[str, Any]) -> str:
    n: dict[str, int] = {}
    for c in run["cells"]:
        status = str(c.get("status", "unknown"))
        n[status] = n.get(status, 0) + 1
    parts = [f"{n.pop('computed', 0)} computed", f"{n.pop('reused', 0)} reused"]
    parts += [f"{v} {k.replace('_', ' ')}" for k, v in sorted(n.items())]
    return ", ".join(parts) if run["cells"] else "-"


def _commit(run: dict[str, Any]) -> str:
    git = run.get("git") if isinstance(run.get("git"), dict) else {}
    commit = str(git.get("commit") or "-")[:10]
    return commit + ("+dirty" if git.get("dirty") else "")


def list_runs(results: Path, limit: int) -> str:
    runs = manifests(results)
    if not runs:
        return f"no runs recorded in {runs_dir(results)} yet (every `harness` sweep writes one)."
    rows = [("run id", "sweep", "status", "started", "took", "cells", "launcher", "commit")]
    rows += [
        (
            r["run_id"],
            str(r.get("sweep", "-")),
            r["status"],
            _when(r.get("started_at")),
            _duration(r),
            _counts(r),
            str(r.get("launcher", "-")).removesuffix("Launcher"),
            _commit(r),
        )
        for r in runs[-limit:]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    more = f"\n({len(runs) - limit} older runs not shown: --limit)" if len(runs) > limit else ""
    return "\n".join(lines) + more


def show_run(results: Path, run_id: str) -> str:
    r = find_run(results, run_id)
    lines = [
        f"run {r['run_id']}: {r['status']}",
        f"  sweep      {r.get('sweep', '-')}  ({r.get('launcher', '-')})",
        f"  started    {_when(r.get('started_at'))}, took {_duration(r)}, on {r.get('host', '-')}",
        f"  command    harness {' '.join(map(str, r['argv'] if isinstance(r.get('argv'), list) else []))}",
        f"  commit     {_commit(r)}   lock {str(r.get('lock_sha256') or '-')[:12]}",
        f"  report     {r.get('report') or '-'}",
        f"  cells      {_counts(r)}",
    ]
    packages = r.get("packages") if isinstance(r.get("packages"), dict) else {}
    shown = ("torch", "transformers", "lm_eval", "peft", "accelerate", "openai")
    lines.append("  packages   " + ", ".join(f"{k} {packages[k]}" for k in shown if packages.get(k)))
    for c in r["cells"]:
        sec = c.get("seconds")
        took = f"{sec:.0f} s" if isinstance(sec, int | float) and 0 <= sec < 1e9 else ""  # not NaN, inf, 10^400
        status = str(c.get("status", "unknown"))
        lines.append(
            f"    {status:17s} {c.get('model', '?')} x {str(c.get('task', '?')):16s} "
            f"{str(c.get('cell_id') or ''):22s} {took:>6s}" + (f"  slurm job {c['job']}" if c.get("job") else "")
        )
        if c.get("message") and status not in ("computed", "reused"):
            lines.append(f"      {str(c['message']).splitlines()[0][:160]}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="harness history", description="The sweep runs recorded in a store.")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show"])
    p.add_argument("run_id", nargs="?", default="latest", help="show: a run id, a unique prefix, or latest")
    p.add_argument("--results", default="results", help="store folder (default: results)")
    p.add_argument("--limit", type=int, default=20, help="list: the newest N runs (default 20)")
    p.add_argument("--json", action="store_true", help="show: print the manifest as stored")
    a = p.parse_args(argv)
    results = resolve(a.results)
    if a.action == "list":
        print(list_runs(results, max(1, a.limit)))
    elif a.json:
        print(json.dumps(find_run(results, a.run_id), indent=2, ensure_ascii=False))
    else:
        print(show_run(results, a.run_id))
