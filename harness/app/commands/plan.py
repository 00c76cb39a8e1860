"""`harness plan` (= `harness --dry-run`): every cell a sweep would run, which are stored, and an estimate of
what the rest costs (harness.plan.estimate). Nothing is loaded, sent or written to the store.
"""

from __future__ import annotations

import argparse
import json

from harness.app.compose import compose_jobs, job_overrides
from harness.errors import HarnessError
from harness.plan.estimate import plan_rows, render, totals


def cmd_plan(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="harness plan",
        description="List every cell a sweep would run (same arguments as the sweep), which are stored, and an "
        "estimate of what the rest costs. Nothing is loaded, sent or written to the store.",
    )
    p.add_argument("--json", metavar="FILE", help="also write the plan and the estimate as JSON")
    p.add_argument("-m", "--multirun", action="store_true", help="expand sweeps, as `harness -m` does")
    p.add_argument(
        "--jobs",
        action="store_true",
        help="only print each job's overrides, one job per line: the "
        "shards for a job runner (Kubernetes indexed job, cloud batch array; docs/guide-sweep-operator.md)",
    )
    a, rest = p.parse_known_args(argv)
    odd = [x for x in rest if "=" not in x or x.startswith("-")]
    if odd:
        raise HarnessError(
            f"harness plan: unknown argument {odd[0]!r} (give the sweep's overrides, -m, --jobs, --json FILE)"
        )
    if a.jobs:
        import shlex

        # each line is one job's full override list: `harness <line>` runs that job alone (a sweep of one)
        print("\n".join(shlex.join(j) for j in job_overrides([*rest, "-m"] if a.multirun else rest)))
        return
    cfgs = compose_jobs([*rest, "-m"] if a.multirun else rest, check=False, what="planned")
    rows = plan_rows(cfgs)
    total = totals(rows)
    print(render(rows, total))
    if a.json:
        from harness.paths import resolve

        path = resolve(a.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"jobs": len(cfgs), "rows": [r.as_dict() for r in rows], "totals": total}, indent=2) + "\n",
            encoding="utf-8",
        )
