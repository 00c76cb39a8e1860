"""`harness task list|check|new|preview|card`: the tasks, a look at what a model receives, and their data cards."""

from __future__ import annotations

import argparse

from harness.errors import HarnessError
from harness.paths import IN_CHECKOUT, TASKS_DIR, resolve


def cmd_task(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="harness task", description="List, check, create and document tasks.")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every task option with its folder and primary metric")
    c = sub.add_parser("check", help="validate a task's YAML and data (file:line for each problem)")
    c.add_argument("names", nargs="*", help="task names (default: all)")
    n = sub.add_parser("new", help="write a working task skeleton to edit")
    n.add_argument("name")
    n.add_argument(
        "--kind",
        choices=["generate", "choice"],
        default="generate",
        help="generate: free-text answers scored by exact match; choice: multiple choice by log-likelihood",
    )
    n.add_argument(
        "--dir",
        help="parent folder (default: tasks/ of the checkout, or ./tasks when installed); outside the "
        "repository, add it to HARNESS_TASKS_PATH",
    )
    v = sub.add_parser(
        "preview",
        help="the first items as the model receives them (prompt, format, stop sequences), its answers and scores",
        description="Runs the task's first n items on a model (model=NAME) or an API baseline (baseline=NAME) "
        "without fine-tuning and without storing anything, and prints each rendered prompt, the model's answer "
        "and its scores. Other arguments are overrides, as for `harness` (eval.apply_chat_template=false, ...).",
    )
    v.add_argument("name")
    v.add_argument("overrides", nargs="*", help="n=3 (items), model=NAME or baseline=NAME, and other overrides")
    d = sub.add_parser("card", help="write the embedded models' stored scores into a task's README")
    d.add_argument("names", nargs="*", help="task names (default: every task with stored results)")
    d.add_argument("--results", default="results")
    a = p.parse_args(argv)
    from harness import tasks

    if a.action == "list":
        for name, (path, _) in sorted(tasks.discover().items()):
            cfg = tasks.task_config(name, path, _)
            print(f"{name:24s} {cfg.dir:28s} {cfg.primary_metric:20s} {cfg.description}")
    elif a.action == "check":
        from harness.tasks.check import check_all, check_task

        # with no names, task files that discovery skipped are checked (reported) too
        reports = [check_task(t) for t in a.names] if a.names else check_all()
        print("\n".join(r.text() for r in reports))
        bad = [r.task for r in reports if not r.ok]
        if bad:
            raise HarnessError(f"task check found problems in: {', '.join(bad)} (listed above).")
    elif a.action == "preview":
        preview(a.name, a.overrides)
    elif a.action == "new":
        from harness.tasks.new import new_task

        folder = new_task(a.name, a.kind, resolve(a.dir) if a.dir else None)
        first = "" if folder.parent in tasks.task_roots() else f"\nfirst: export HARNESS_TASKS_PATH={folder.parent}"
        print(
            f"wrote {folder}{first}\nnext: edit its data/*.jsonl and YAML, then `harness task check {a.name}` and "
            f"`harness task={a.name} sweep=smoke`"
        )
    else:
        from harness.app.task_card import card_rows, write_card
        from harness.store import Store

        store = Store(resolve(a.results))
        records = store.all_records()
        found = tasks.discover()
        # installed, the built-in tasks' cards live in site-packages: only the user's own tasks get cards
        names = a.names or sorted(
            {
                r["task"]["name"]
                for r in records
                if card_rows(records, r["task"]["name"])
                and (
                    IN_CHECKOUT
                    or r["task"]["name"] not in found
                    or not found[r["task"]["name"]][0].is_relative_to(TASKS_DIR)
                )
            }
        )
        for t in names:
            print(f"{t}: {write_card(t, store)}")


def preview(name: str, overrides: list[str]) -> None:
    from harness.app.compose import compose_jobs
    from harness.jobs.preview import render, run_preview

    n, rest = 3, []
    for o in overrides:
        if o.startswith("n="):
            try:
                n = int(o[2:])
            except ValueError:
                n = 0
            if n < 1:
                raise HarnessError(f"{o}: the number of items to preview must be a positive whole number (n=3).")
        else:
            rest.append(o)
    keys = [o.split("=", 1)[0].lstrip("+~") for o in rest]
    if any(k in ("task", "task.limit") or k.split(".")[0] == "finetune" for k in keys):
        raise HarnessError(
            "task preview takes the task as its first argument, n=N for the items, and runs the model without "
            "fine-tuning: leave task=, task.limit= and finetune... out."
        )
    [cfg] = compose_jobs([f"task={name}", f"task.limit={n}", "finetune=none", *rest], sweep=False, what="previewed")
    baseline = "baseline" in keys
    if baseline and cfg.baseline.name in (None, "none"):
        raise HarnessError("baseline=none: name an API baseline (conf/baseline/) to preview, or leave baseline= out.")
    if not baseline and cfg.model.name == "none":
        raise HarnessError("model=none: name a model (conf/model/) or an API baseline (baseline=NAME) to preview.")
    import tempfile

    from omegaconf import open_dict

    from harness.paths import absolute

    # Nothing of a preview is stored: its record (a worker, in another runtime, writes one) goes to a folder
    # removed after it. API answers stay in the run's response cache, which also holds the budget's ledger.
    with tempfile.TemporaryDirectory(prefix="harness-preview-") as tmp, open_dict(cfg):
        cfg.paths.api_cache = str(absolute(cfg.paths.api_cache))
        cfg.paths.results = tmp
        print(render(run_preview(cfg, baseline)))
