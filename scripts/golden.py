"""Golden check of a refactor: the default job gives the same records, samples and report tables before and after.

    # 1. the default job with the code as it was (a worktree of the old commit) and as it is:
    git worktree add --detach /tmp/golden-src <old commit>
    python scripts/golden.py run /tmp/golden/before --src /tmp/golden-src
    python scripts/golden.py run /tmp/golden/after
    # 2. compare them (exit 1 on any difference):
    python scripts/golden.py compare /tmp/golden/before /tmp/golden/after --src-before /tmp/golden-src

`run` runs `harness` (the default sweep) in --work (then moved to <dir>/store) with fresh results, artifacts, API cache and reports, so
the two runs differ only in the code (the same --work folder, so the absolute artifact paths in the records match).
`compare` checks, apart from measured times and memory and what is derived from them
(harness.store.record.TIMING_KEYS) and the local server's port:
  1. the same cell ids, and each record and per-sample file equal;
  2. the report tables (leaderboard.json rows) equal, timing columns aside;
  3. the report is a pure function of the records: the *before* records reported by the old and by the new code
     give byte-identical leaderboard.csv files (with --src-before).
Each run of the default job takes ~12 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.store.record import without_timings  # noqa: E402

TIMED_COLUMNS = {"train_s", "eval_s", "items_per_s", "p50_s", "p95_s", "training_cost", "measured_on"}
# Leaderboard columns computed from measured times or from how busy the machine was while timing (a load level
# timed on a busy machine is not trusted, so the row has no capacity at the target and no cost at it): they move
# with the machine, not with the code. Check 3 compares them too, on the same records.
TIMED_COLUMNS |= {
    "batch_p50_s",
    "batch_p95_s",
    "batch_per_1k",
    "batch_qph",
    "throughput_qph",
    "contention",
    "capacity_basis",
    "capacity_qph",
    "capacity_low_qph",
    "capacity_high_qph",
    "cost_basis",
    "cost_low",
    "cost_high",
    "cost_missing",
    "cost_missing_label",
    "latency_load_id",
    "ttft_p50_s",
    "ttft_p95_s",
}


def harness_cmd(src: Path | None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if src is not None:  # PYTHONPATH comes before the editable install's finder: that tree's code runs
        env["PYTHONPATH"] = str(src)
        # `python -m harness`: the console script names the entry point of this tree's code, which may have moved
        return [sys.executable, "-m", "harness"], env
    return [str(Path(sys.executable).with_name("harness"))], env


def run(out: Path, src: Path | None, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)
    cmd, env = harness_cmd(src)
    with open(out / "harness.log", "w") as log:
        rc = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    print(f"harness exited {rc}; log in {out / 'harness.log'}")
    if rc:
        sys.exit(rc)
    # the records name the folder they ran in: both runs use <out>/run, so move it aside afterwards
    shutil.move(str(work), str(out / "store"))


LOOPBACK = re.compile(r"http://127\.0\.0\.1:\d+")  # a local stand-in server listens on a free port, new each run


# Module paths a record quotes (an API cell's reproducing command, `python -m <module>`), renamed by a refactor:
# (old, new), applied to both runs' text and printed, so a moved module is the only difference they hide.
RENAMED = [("python -m harness.evaluate.api ", "python -m harness.api ")]  # issue 33: evaluate/api/ -> api/


def normalised(text: str) -> str:
    text = LOOPBACK.sub("http://127.0.0.1:PORT", text)
    for old, new in RENAMED:
        text = text.replace(old, new)
    return text


def load_cells(root: Path) -> dict[str, tuple[dict, list[dict]]]:
    store = root / "store" / "results"
    cells = {}
    for path in sorted((store / "records").glob("*.json")):
        record = json.loads(normalised(path.read_text()))
        lines = normalised((store / "samples" / f"{path.stem}.jsonl").read_text()).splitlines()
        cells[path.stem] = (record, [json.loads(line) for line in lines])
    return cells


def diff(a: object, b: object, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in {'before' if k in a else 'after'}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += diff(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{where}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{where}: {a!r} != {b!r}"]


def report_rows(root: Path) -> list[dict]:
    (export,) = (root / "store" / "reports").glob("*/leaderboard.json")
    rows = json.loads(export.read_text())["rows"]
    # a self-hosted row's money is a measured time x a price; an API row's is tokens x price, compared
    return [
        {k: v for k, v in r.items() if k not in TIMED_COLUMNS and not (k == "cost_per_1k" and r["source"] != "api")}
        for r in rows
    ]


def report_with(src: Path | None, results: Path, out: Path) -> bytes:
    cmd, env = harness_cmd(src)
    subprocess.run(
        [*cmd, "report", "--results", str(results), "--out", str(out)], env=env, check=True, capture_output=True
    )
    return (out / "leaderboard.csv").read_bytes()


def compare(before: Path, after: Path, src_before: Path | None) -> int:
    problems: list[str] = []
    a, b = load_cells(before), load_cells(after)
    if set(a) != set(b):
        problems.append(f"cell ids differ: only before {sorted(set(a) - set(b))}, only after {sorted(set(b) - set(a))}")
    for cid in sorted(set(a) & set(b)):
        problems += diff(without_timings(a[cid][0]), without_timings(b[cid][0]), f"record {cid}")
        problems += diff(without_timings(a[cid][1]), without_timings(b[cid][1]), f"samples {cid}")
    problems += diff(report_rows(before), report_rows(after), "leaderboard rows")
    print(
        f"1. {len(set(a) & set(b))} cells in both runs; records and samples compared apart from timings"
        + "".join(f"; {old.strip()!r} read as {new.strip()!r}" for old, new in RENAMED)
    )
    print("2. report tables compared apart from timing columns")
    if src_before is not None:
        results = before / "store" / "results"
        old = report_with(src_before, results, before / "report-old-code")
        new = report_with(None, results, before / "report-new-code")
        same = old == new
        print(
            f"3. the before records reported by the old and the new code: leaderboard.csv {'identical' if same else 'DIFFERENT'}"
        )
        if not same:
            problems.append(f"leaderboard.csv differs: {before / 'report-old-code'} vs {before / 'report-new-code'}")
    for p in problems[:50]:
        print("  DIFF", p)
    print("golden check:", "IDENTICAL" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--src", type=Path, help="a source tree (git worktree) whose code runs instead of this one")
    r.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/harness-golden-run"),
        help="where the job runs: the same for both runs (records hold absolute artifact paths)",
    )
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--src-before", type=Path)
    a = p.parse_args()
    if a.cmd == "run":
        run(a.out.resolve(), a.src, a.work.resolve())
    else:
        sys.exit(compare(a.before.resolve(), a.after.resolve(), a.src_before))


if __name__ == "__main__":
    main()
