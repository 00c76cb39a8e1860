"""The README's results block, written from a committed report export, so the README's figures cannot go stale.

    .venv/bin/python scripts/readme_results.py           # rewrite README.md's block from docs/example/leaderboard.json
    .venv/bin/python scripts/readme_results.py --check   # exit 1, with a short diff, when the block differs

The block sits between BEGIN and END in README.md. Every figure in it is a field of the export, formatted as the
report formats it; nothing is recomputed here (the break-even sentence is the export's own text). The export's
`rows` are required; its `provenance`, `api_rows` and `breakeven` sections (the report board's own names) are
used where the export has them and left out of the block where it does not. A field the block needs and the
export lacks stops the script with the field named (exit 2), never a KeyError.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.report.i18n import dec, money  # noqa: E402  (the report's number and money formats)

EXAMPLE = REPO / "docs" / "example" / "leaderboard.json"
README = REPO / "README.md"
BEGIN = (
    "<!-- results:begin (scripts/readme_results.py writes this block from docs/example/leaderboard.json; "
    "edit neither by hand) -->"
)
END = "<!-- results:end -->"
SCHEMA = "harness-leaderboard/1"


class ExampleError(Exception):
    """The export lacks what the block needs (the message names the field), or the README lacks the markers."""


def need(obj: dict[str, Any], name: str, where: str) -> Any:
    """obj[name], or an ExampleError naming the field and where it was looked for."""
    if not isinstance(obj, dict) or name not in obj:
        raise ExampleError(f"{where} has no field `{name}`")
    return obj[name]


def load(path: Path) -> dict[str, Any]:
    """The export, with its schema checked."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ExampleError(f"{path}: cannot be read as JSON ({e})") from e
    schema = need(doc, "schema", str(path))
    if schema != SCHEMA:
        raise ExampleError(f"{path}: field `schema` is {schema!r}, not {SCHEMA!r}")
    return doc


def _row_where(path: str, i: int, row: dict[str, Any]) -> str:
    return f"{path} rows[{i}] ({row.get('task')}, {row.get('label') or row.get('model')})"


def _rows(doc: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """The export's rows, each checked for the fields the block reads."""
    rows = need(doc, "rows", path)
    if not rows:
        raise ExampleError(f"{path}: field `rows` is empty")
    fields = (
        "task",
        "model",
        "model_key",
        "source",
        "params_m",
        "method",
        "variant",
        "metric",
        "score",
        "n",
        "cost_per_1k",
        "cost_basis",
        "currency",
        "training_cost",
        "train_s",
        "p50_s",
        "p95_s",
        "forget_all",
        "label",
    )
    for i, row in enumerate(rows):
        for name in fields:
            need(row, name, _row_where(path, i, row))
    return rows


def _section(doc: dict[str, Any], name: str) -> Any:
    """An optional section of the export (None when absent); said on stderr, since the block then lacks it."""
    if name not in doc or doc[name] is None:
        print(f"note: the export has no `{name}`; the block leaves out what it would give", file=sys.stderr)
        return None
    return doc[name]


def score(v: Any) -> str:
    return dec(v, 3)


def seconds(v: Any, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f} s"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def run_line(doc: dict[str, Any], rows: list[dict[str, Any]], path: str) -> str:
    """Where the figures come from: the export's date, and its provenance's commit and machine where it has one."""
    date = str(need(doc, "generated_at", path))[:10]
    items = {}
    for r in rows:
        items.setdefault(r["task"], set()).add(r["n"])
    sizes = {n for ns in items.values() for n in ns}
    items_text = (
        f"{sizes.pop()} test items per task"
        if len(sizes) == 1
        else "; ".join(f"{t}: {', '.join(str(n) for n in sorted(ns))} items" for t, ns in sorted(items.items()))
    )
    where = [f"report written {date}"]
    prov = _section(doc, "provenance")
    if prov is not None:
        commits = need(prov, "commits", f"{path} provenance")
        dirty = need(prov, "dirty", f"{path} provenance")
        hardware = need(prov, "hardware", f"{path} provenance")
        where.append(f"commit {', '.join(commits)}{' (with uncommitted changes)' if dirty else ''}")
        if hardware:
            where.append(f"on {', '.join(sorted(hardware))}")
    return (
        f"From the default job's report, `docs/example/leaderboard.json` ({'; '.join(where)}; {items_text}, "
        "so each score has a wide 95 % interval; the report shows every interval):"
    )


def _order_tasks(rows: list[dict[str, Any]]) -> list[str]:
    """Domain tasks first, then the general tasks that forgetting is measured on; each alphabetically."""
    general = {f["task"] for r in rows for f in (r["forget_all"] or [])}
    return sorted({r["task"] for r in rows}, key=lambda t: (t in general, t))


def score_table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per tuned model (model, variant), one column per task: base score -> tuned score."""
    tasks = _order_tasks(rows)
    metric = {t: next(r["metric"] for r in rows if r["task"] == t) for t in tasks}
    own = [r for r in rows if r["source"] != "api"]
    base = {(r["model_key"], r["task"]): r["score"] for r in own if r["method"] == "none"}
    tuned: dict[tuple[str, str], dict[str, Any]] = {}  # (model, variant) -> task -> score
    params = {}
    for r in own:
        if r["method"] != "none":
            tuned.setdefault((r["model_key"], r["variant"]), {})[r["task"]] = r["score"]
            params[r["model_key"]] = (r["params_m"] or 0, r["model"])
    out = [
        "| model | tuning | " + " | ".join(f"{t} `{metric[t]}`, base → tuned" for t in tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    for key, variant in sorted(tuned, key=lambda k: (params[k[0]], k[1])):
        cells = [f"{score(base.get((key, t)))} → {score(tuned[key, variant].get(t))}" for t in tasks]
        out.append(f"| {params[key][1]} | {variant} | " + " | ".join(cells) + " |")
    return out


def api_paragraph(doc: dict[str, Any], rows: list[dict[str, Any]], path: str) -> list[str]:
    """Each API baseline: score, tokens per query (from the export's api_rows), cost per 1,000 and latency."""
    usage = _section(doc, "api_rows")
    out = []
    for r in (r for r in rows if r["source"] == "api"):
        text = f"The API baseline {r['model']}"
        if r.get("stand_in"):
            text += " (a stand-in for a closed API, priced at a placeholder: the report says how)"
        text += f" scored {score(r['score'])} on {r['task']}"
        u = None
        if usage is not None:
            u = next((u for u in usage if u.get("model") == r["model"] and u.get("task") == r["task"]), None)
            if u is None:
                raise ExampleError(f"{path} api_rows has no row of model {r['model']!r} on task {r['task']!r}")
        if u is not None:
            where = f"{path} api_rows ({r['model']}, {r['task']})"
            text += (
                f"; per query it used {dec(need(u, 'prompt_per_sample', where), 0)} prompt + "
                f"{dec(need(u, 'completion_per_sample', where), 0)} completion tokens"
            )
        text += f", {money(r['cost_per_1k'], r['currency'])} per 1,000 queries"
        if r["p50_s"] is not None:  # per request at one user (a load record's level 1), as every row's
            text += (
                f"; latency per request at one user p50 {seconds(r['p50_s'])} / p95 {seconds(r['p95_s'])}, "
                f"time to first token p95 {seconds(r.get('ttft_p95_s'))}"
            )
        out.append(text + ".")
    return out


def cost_paragraph(doc: dict[str, Any], rows: list[dict[str, Any]], path: str) -> list[str]:
    """Each tuned row on a task with an API baseline: its cost per 1,000 under the export's deployment, its
    training cost and the export's break-even text against each API baseline."""
    api_tasks = {r["task"] for r in rows if r["source"] == "api"}
    tuned = [r for r in rows if r["source"] != "api" and r["method"] != "none" and r["task"] in api_tasks]
    if not tuned:
        return []
    breakeven = _section(doc, "breakeven")
    parts = []
    for r in sorted(tuned, key=lambda r: (r["params_m"] or 0, r["model"], r["variant"], r["task"])):
        cost = (
            f"costs {money(r['cost_per_1k'], r['currency'])} per 1,000 {r['task']} queries ({r['cost_basis']})"
            if r["cost_per_1k"] is not None
            else f"has no cost per query: {r.get('cost_missing_label') or r.get('cost_missing')} (its batch figure, "
            f"{money(r.get('batch_per_1k'), r['currency'])} per 1,000, prices no one's traffic)"
        )
        latency = (
            f"; latency per request at one user p50 {seconds(r['p50_s'])} / p95 {seconds(r['p95_s'])}"
            if r.get("p50_s") is not None
            else ""
        )
        text = (
            f"{r['model']} ({r['variant']}) {cost}{latency}; its training cost "
            f"{money(r['training_cost'], r['currency'])} ({seconds(r['train_s'], 0)} of training)"
        )
        if breakeven is not None:
            mine = [b for b in breakeven if b.get("task") == r["task"] and b.get("tuned") == r.get("label")]
            if not mine:
                raise ExampleError(f"{path} breakeven has no row of {r.get('label')!r} on task {r['task']!r}")
            for b in mine:
                where = f"{path} breakeven ({b.get('tuned')}, {b.get('task')})"
                text += f"; cheaper than {need(b, 'api', where)} at monthly volumes: **{need(b, 'break_even', where)}**"
                months = b.get("by_months") or {}
                if all(m in months for m in ("1", "6", "12")):
                    text += (
                        f" (training amortised over 1 / 6 / 12 months: {months['1']} / {months['6']} / {months['12']})"
                    )
        parts.append(text)
    lead = "Self-hosted as the export priced it"
    if breakeven:
        deployments = sorted({need(b, "deployment", f"{path} breakeven") for b in breakeven})
        lead += f" ({'; '.join(deployments)})"
    return [lead + ": " + "; ".join(parts) + "."]


def forgetting_paragraph(rows: list[dict[str, Any]]) -> list[str]:
    """Each tuned model's change on the general tasks (tuned - base, 95 % interval), as the report states it."""
    seen, parts = set(), []
    for r in sorted(rows, key=lambda r: (r["params_m"] or 0, r["model"], r["variant"])):
        key = (r["model_key"], r["variant"])
        if r["method"] == "none" or not r["forget_all"] or key in seen:
            continue
        seen.add(key)
        for f in r["forget_all"]:
            where = f"forget_all of {r['model']} ({r['variant']})"
            low, high = need(f, "ci_low", where), need(f, "ci_high", where)
            ci = f" [{dec(low, 3, sign=True)}, {dec(high, 3, sign=True)}]" if low is not None else ""
            verdict = "significant forgetting" if need(f, "forgetting", where) else "not significant"
            parts.append(
                f"{r['model']} {dec(need(f, 'delta', where), 3, sign=True)}{ci} on {need(f, 'task', where)} ({verdict})"
            )
    if not parts:
        return []
    return [
        "Forgetting, the tuned model's general score minus its base model's (95 % interval): " + "; ".join(parts) + "."
    ]


def render_block(doc: dict[str, Any], path: str = "docs/example/leaderboard.json") -> str:
    """The block's lines between the markers (the markers excluded), ending in a newline."""
    rows = _rows(doc, path)
    lines = [run_line(doc, rows, path), "", *score_table(rows)]
    for para in (api_paragraph(doc, rows, path), cost_paragraph(doc, rows, path), forgetting_paragraph(rows)):
        for text in para:
            lines += ["", text]
    return "\n".join(lines) + "\n"


def split(readme: str) -> tuple[str, str, str]:
    """(text up to and including BEGIN's line, the block, text from END's line on)."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ExampleError(f"README has not exactly one `{BEGIN}` line followed by one `{END}` line")
    head, rest = readme.split(BEGIN, 1)
    block, tail = rest.split(END, 1)
    return head + BEGIN + "\n", block.removeprefix("\n"), END + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", type=Path, default=EXAMPLE, help="the export (default: %(default)s)")
    parser.add_argument("--readme", type=Path, default=README, help="the README (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when the block differs")
    args = parser.parse_args(argv)
    try:
        block = render_block(load(args.example), str(args.example))
        readme = args.readme.read_text(encoding="utf-8")
        head, current, tail = split(readme)
    except ExampleError as e:
        print(f"readme_results: {e}", file=sys.stderr)
        return 2
    if args.check:
        if current == block:
            return 0
        diff = list(
            difflib.unified_diff(
                current.splitlines(),
                block.splitlines(),
                f"{args.readme} (block)",
                f"from {args.example}",
                n=0,
                lineterm="",
            )
        )
        print("\n".join(diff[:40] + ([f"... {len(diff) - 40} more lines"] if len(diff) > 40 else [])))
        print(f"{args.readme}'s results block differs from {args.example}: run scripts/readme_results.py")
        return 1
    if current != block:
        args.readme.write_text(head + block + tail, encoding="utf-8")
        print(f"wrote the results block of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
