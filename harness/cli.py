"""The `harness` command. Hydra runs cells; `harness report|prepare` are plain subcommands.

Before Hydra sees the arguments, two checks turn the commonest mistakes into one readable line: a YAML under
conf/ that does not parse (file:line:column) and an unknown option of a config group ("did you mean").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.config.register import register_configs
from harness.errors import HarnessError, PreflightError, did_you_mean
from harness.paths import CONF_DIR, IN_CHECKOUT, TASKS_DIR, resolve
from harness.secrets import redact, redact_logs, register_key_env
from harness.tasks import load_yaml

log = logging.getLogger("harness")
register_configs()


def group_options(group: str) -> list[str]:
    """A config group's options: its YAML files, and for `task` every task folder found under tasks/."""
    from harness.config.options import option_files

    options = set(option_files(group))
    if group == "task":
        from harness.tasks import discover

        options |= set(discover())
    return sorted(options)


def check_conf_yaml() -> None:
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        load_yaml(path)  # raises HarnessError with file:line:column


def check_overrides(args: list[str]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:  # noqa: BLE001 - Hydra's grammar errors are already readable
        raise HarnessError(f"cannot parse the command-line overrides: {e}") from None
    for o in parsed:
        group = o.key_or_group
        if group not in groups or o.is_delete():
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        known = group_options(group)
        for v in values:
            if v not in known:
                from harness.tasks import broken_note

                raise HarnessError(
                    did_you_mean(v, known, group) + (broken_note(v) if group == "task" else "")
                )


def guarded(step: Any, cfg: DictConfig, name: str, kind: str = "cell") -> list[dict[str, Any]]:
    """Run one step of a job; a failure becomes an outcome, so the job's other step and the sweep go on."""
    from harness.run import CellOutcome

    try:
        return [o.as_dict() for o in step(cfg)]
    except HarnessError as e:
        status = "preflight_failed" if isinstance(e, PreflightError) else "failed"
        # The full message is printed once, in the sweep summary; the job log keeps it too.
        log.warning("%s x task=%s: %s (details below)", name, cfg.task.name, status)
        log.debug("%s", e)
        return [CellOutcome("", status, name, cfg.task.name, str(e), step=kind).as_dict()]
    except Exception as e:  # noqa: BLE001 - one broken cell must not lose the sweep's finished cells
        out = HydraConfig.get().runtime.output_dir
        log.error("cell crashed:\n%s", traceback.format_exc())
        from harness.execute.worker import WorkerCrash

        # a worker's crash names its own traceback file; it was not this process's
        msg = str(e) if isinstance(e, WorkerCrash) else f"{type(e).__name__}: {e} (traceback in {out})"
        return [CellOutcome("", "error", name, cfg.task.name, msg, step=kind).as_dict()]


def judge_outcomes(cfg: DictConfig, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judge every stored cell of this job (idempotent); a judge that cannot run is reported, cells stay."""
    from harness.judge import judge_cell
    from harness.run import CellOutcome

    out = []
    for o in outcomes:
        if o["status"] not in ("done", "skipped") or not o["cell_id"]:
            continue
        try:
            judge_cell(cfg, o["cell_id"])
        except Exception as e:  # noqa: BLE001 - a judge failure must not lose the job's stored cells
            from harness.evaluate.api.budget import is_budget_stop

            status = ("stopped_by_budget" if is_budget_stop(e) else
                      "preflight_failed" if isinstance(e, PreflightError) else "failed")  # fmt: skip
            if not isinstance(e, HarnessError):
                log.error("judge crashed:\n%s", traceback.format_exc())
            out.append(
                CellOutcome(
                    "", status, f"judge {cfg.judge.name} of {o['model']}", o["task"], str(e)
                ).as_dict()
            )
    return out


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    from harness.config.validate import validate
    from harness.run import run_baseline, run_cell

    redact_logs()  # Hydra has just set up this job's log handlers
    for name in ("httpx", "httpx2"):  # ... and reset levels: one INFO line per API request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    register_key_env(cfg.baseline.api_key_env)
    register_key_env(cfg.judge.endpoint.api_key_env)
    register_key_env(cfg.load.api_key_env)
    try:
        validate(cfg)  # again in the job: launchers on other machines start here
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        sys.exit(2)
    outcomes: list[dict[str, Any]] = []
    if cfg.sweep.stage == "load":  # sweep=load: each job measures its endpoint under load (harness/load/)
        from harness.load.run import load

        def measure(c: DictConfig) -> list[Any]:
            log.info("load record: %s", load(c))
            return []  # a load record, not a cell: the sweep's report reads it from the store

        outcomes = guarded(measure, cfg, cfg.baseline.name or cfg.model.name, "load")
    elif cfg.model.name != "none":
        outcomes += guarded(run_cell, cfg, cfg.model.name)
    if cfg.baseline.name and cfg.sweep.stage != "load":
        outcomes += guarded(run_baseline, cfg, cfg.baseline.name, "baseline")
    if cfg.judge.name and cfg.sweep.stage != "load":
        outcomes = [*outcomes, *judge_outcomes(cfg, outcomes)]
    if cfg.load.with_cells != "none" and cfg.sweep.stage != "load":
        from harness.load.cells import load_cells  # what the job evaluated, served under load

        outcomes += guarded(load_cells, cfg, cfg.model.name, "load")
    if not outcomes:
        log.warning("model=none and baseline=none: this job has nothing to run")
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    from harness.store.store import atomic_write_text

    atomic_write_text(out_dir / "cell.json", json.dumps(outcomes, indent=2))  # the sweep's report reads it


def cmd_report(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="harness report", description="Write an HTML leaderboard from stored records."
    )
    p.add_argument("--results", default="results", help="store folder (default: results)")
    p.add_argument("--out", default="reports/all", help="output folder for index.html (default: reports/all)")
    p.add_argument("--sweep-dir", help="only the cells of this Hydra sweep folder (outputs/<sweep>/<time>)")
    p.add_argument("--title", default="Leaderboard")
    from harness.config.schema import ReportConfig

    d = ReportConfig()  # the report's defaults live there, shared with `report.*` of a run
    p.add_argument(
        "--monthly-queries", type=int, default=d.monthly_queries, help="volume training cost is spread over"
    )
    p.add_argument(
        "--amortise-months", type=float, default=d.amortise_months, help="months a fine-tuned model is used"
    )
    p.add_argument(
        "--target-score",
        type=float,
        default=d.target_score,
        help="summary: cheapest option scoring at least this (default: cheapest tied with the best)",
    )
    p.add_argument("--compare-to", help="an earlier report folder (or its leaderboard.json): rows that moved")
    p.add_argument("--lang", default=d.lang, help="the report's language: en, zh (简体中文) or ja (日本語)")
    p.add_argument("--deployment", default="dedicated", help="how self-hosted rows are served: conf/deployment/ "
                   "(dedicated: replicas always on; per_second: billed per busy second)")  # fmt: skip
    p.add_argument("--pdf", action="store_true", help="also print the page to report.pdf with the system's chromium "
                   "(scripts/setup.sh --browser installs it)")  # fmt: skip
    a = p.parse_args(argv)
    from dataclasses import asdict

    from harness.config.options import load_option, option_files
    from harness.config.schema import DeploymentConfig
    from harness.report.i18n import check as check_lang

    check_lang(a.lang)
    if a.deployment not in option_files("deployment"):
        raise HarnessError(did_you_mean(a.deployment, option_files("deployment"), "deployment"))
    deployment = load_option("deployment", a.deployment, DeploymentConfig)
    import math

    if a.monthly_queries < 1 or not math.isfinite(a.amortise_months) or a.amortise_months <= 0:
        raise HarnessError(
            "--monthly-queries must be at least 1 and --amortise-months a number greater than 0."
        )
    if a.target_score is not None and not math.isfinite(a.target_score):
        raise HarnessError("--target-score must be a number.")
    if not a.out.strip():
        raise HarnessError("--out is empty: name the folder the report goes to.")
    a.title = a.title.encode("utf-8", "replace").decode(
        "utf-8"
    )  # bytes that are not UTF-8 on the command line
    from harness.report.from_store import report_from_store
    from harness.store import Store

    settings = {**asdict(ReportConfig(monthly_queries=a.monthly_queries, amortise_months=a.amortise_months,
                                      target_score=a.target_score, compare_to=a.compare_to, lang=a.lang)),
                "deployment": asdict(deployment)}  # fmt: skip
    page = report_from_store(Store(resolve(a.results)), resolve(a.out), title=a.title, settings=settings,
                             sweep_dir=a.sweep_dir or None).path  # fmt: skip
    print(page)
    if a.pdf:
        from harness.report.pdf import write_pdf

        print(write_pdf(page))


def cmd_prepare(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="harness prepare", description="Build the embedded models' HF folders.")
    p.add_argument("models", nargs="*", help="model names (default: every embedded model)")
    p.add_argument("--cache", default=None, help="cache folder (default: $HARNESS_CACHE or ~/.cache/harness)")
    a = p.parse_args(argv)
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from harness.models.embedded import prepare

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        configs = {m: compose("config", overrides=[f"model={m}"]) for m in group_options("model")}
    embedded = [m for m, cfg in configs.items() if cfg.model.source == "embedded"]
    for name in a.models or embedded:
        if name not in embedded:
            raise HarnessError(did_you_mean(name, embedded, "embedded model"))
        cfg = configs[name]
        print(f"{name}: {prepare(OmegaConf.to_object(cfg.model), resolve(a.cache or cfg.paths.cache))}")


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
    elif a.action == "new":
        from harness.tasks.new import new_task

        folder = new_task(a.name, a.kind, resolve(a.dir) if a.dir else None)
        first = (
            ""
            if folder.parent in tasks.task_roots()
            else f"\nfirst: export HARNESS_TASKS_PATH={folder.parent}"
        )
        print(
            f"wrote {folder}{first}\nnext: edit its data/*.jsonl and YAML, then `harness task check {a.name}` and "
            f"`harness task={a.name} sweep=smoke`"
        )
    else:
        from harness.report.card import card_rows, write_card
        from harness.store import Store

        store = Store(resolve(a.results))
        records = store.all_records()
        found = tasks.discover()
        # installed, the built-in tasks' cards live in site-packages: only the user's own tasks get cards
        names = a.names or sorted(
            {r["task"]["name"] for r in records if card_rows(records, r["task"]["name"])
             and (IN_CHECKOUT or r["task"]["name"] not in found
                  or not found[r["task"]["name"]][0].is_relative_to(TASKS_DIR))}
        )  # fmt: skip
        for t in names:
            print(f"{t}: {write_card(t, store)}")


def cmd_runtime(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="harness runtime",
        description="The pinned Python environments models run in (runtimes/*.yaml; `main` is this one).",
    )
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser(
        "list", help="every runtime, whether it is created, its transformers and the models using it"
    )
    c = sub.add_parser(
        "create", help="create a runtime's environment from its lock (once; reused afterwards)"
    )
    c.add_argument("name")
    k = sub.add_parser(
        "check", help="run a created runtime's worker probe and compare its packages with the lock"
    )
    k.add_argument("name")
    a = p.parse_args(argv)
    from harness import runtimes
    from harness.execute import runtime

    def main_lock_line() -> str:
        """The main lock's hash and whether this environment's packages match it."""
        sha = runtimes.main_lock_sha256()
        if sha is None:
            return f"lock: none ({runtimes.MAIN_LOCK} is missing)"
        drift = sorted(runtimes.main_lock_drift().items())
        shown = ", ".join(f"{k} {have or 'missing'} (lock {want})" for k, (want, have) in drift[:8])
        more = f" and {len(drift) - 8} more" if len(drift) > 8 else ""
        return f"lock: {runtimes.MAIN_LOCK.name} {sha[:12]}, " + (
            f"installed packages differ: {shown}{more}" if drift else "installed packages match"
        )

    cache = runtime.cache_root()
    if a.action == "list":
        import transformers

        from harness.config.options import option_files
        from harness.models import model_config

        users: dict[str, list[str]] = {}
        for m in [m for m in option_files("model") if m != "none"]:
            users.setdefault(model_config(m).runtime, []).append(m)
        print(f"{'main':8s} {'(this environment)':14s} transformers {transformers.__version__:8s} "
              f"{sys.prefix}\n{'':8s} {main_lock_line()}\n"
              f"{'':8s} models: {', '.join(users.get('main', []))}")  # fmt: skip
        for name in runtimes.names()[1:]:
            rt = runtimes.load(name)
            state = "created" if runtime.stamp(rt, cache) else "not created"
            print(f"{name:8s} {state:14s} transformers {rt.pins().get('transformers', '?'):8s} "
                  f"{runtime.location(rt, cache)}\n{'':8s} {rt.description}\n"
                  f"{'':8s} models: {', '.join(users.get(name, [])) or '-'}")  # fmt: skip
    elif a.action == "create":
        rt = runtimes.load(a.name)
        existed = runtime.stamp(rt, cache) is not None
        where = runtime.create(rt, cache)
        print(f"runtime {a.name}: {'already created' if existed else 'created'} in {where}")
    elif a.name == runtimes.MAIN:  # this environment, against runtimes/main.lock
        print(f"runtime main: {sys.prefix}\n  {main_lock_line()}")
        if runtimes.main_lock_drift():
            raise HarnessError("this environment does not match runtimes/main.lock: run scripts/setup.sh.")
        print("runtime main: ok (packages match the lock)")
    else:
        from harness.execute.worker import check_runtime

        facts = check_runtime(a.name, cache)
        packages = facts["probe"]["packages"]
        print(
            f"runtime {a.name}: {facts['location']} (lock {facts['lock_sha256'][:12]}, created {facts['created_at']})"
        )
        print("  " + ", ".join(f"{k} {v}" for k, v in packages.items() if v))
        if facts["probe"]["missing"] or facts["drift"]:
            raise HarnessError(
                f"runtime {a.name} does not match its lock: missing {facts['probe']['missing']}, "
                f"differs {facts['drift']} (lock, installed). Delete {facts['location']} and create it again."
            )
        print(f"runtime {a.name}: ok (worker imports; packages match the lock)")


def cmd_load(argv: list[str]) -> None:
    """harness load baseline=NAME task=NAME [load.mode=closed|open] [load.levels=[1,2,4]] [load.*=...]
    Measure an endpoint under load (harness/load/): latency percentiles per level and capacity at the latency
    target, stored under paths.results/load/. load.url=... load.model=... measures any OpenAI-compatible server."""
    if any(a in ("-h", "--help") for a in argv):
        print(cmd_load.__doc__)
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from harness.config.validate import validate
    from harness.load.run import load
    from harness.paths import CONF_DIR

    check_conf_yaml()
    check_overrides(argv)
    if not any(a.startswith("load.endpoint=") for a in argv):  # auto: what the command line names
        named = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if "=" in a}
        auto = ("url" if named.get("load.url") else
                "baseline" if named.get("baseline", "none") != "none" else "model")  # fmt: skip
        argv = [*argv, f"load.endpoint={auto}"]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=argv)
    except HydraException as e:
        raise HarnessError(f"invalid configuration (nothing was sent): {e}") from None
    validate(cfg)
    register_key_env(cfg.load.api_key_env)  # redacted from the level files, the record and the console
    register_key_env(cfg.baseline.api_key_env)
    path = load(cfg)
    import json

    record = json.loads(path.read_text())
    unit = "users" if record["identity"]["mode"] == "closed" else "req/s"
    print(f"load {record['load_id']} ({record['identity']['mode']} loop), target: {record['target']}")
    for lv in record["levels"]:
        f = lv["figures"]
        flag = "" if lv["trusted"] else "  (not trusted: " + "; ".join(
            lv["machine"]["flags"] + (["the generator fell behind"] if (lv["generator"] or {}).get("fell_behind") else [])
        ) + ")"  # fmt: skip
        print(f"  {lv['level']:g} {unit}: {f['requests_per_s'] or 0:.2f} req/s, p95 TTFT {_s(f['ttft_s']['p95'])}, "
              f"p95 TPOT {_s(f['tpot_s']['p95'])}, errors {f['error_rate']:.0%}, "
              f"{'meets' if f['meets_target'] else 'misses'} the target{flag}")  # fmt: skip
    cap = record["capacity"]
    print(f"capacity at the target: {cap['requests_per_s']:.2f} requests/s ({cap['queries_per_hour']:,.0f} an hour) "
          f"at {cap['level']:g} {unit}" if cap else "capacity at the target: none (the lowest level misses it)")  # fmt: skip
    print(f"record: {path}")


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} s"


def cmd_data(argv: list[str]) -> None:
    """harness data synth task=NAME teacher=BASELINE [data.n=32] [data.filters=[format,dedup,length,judge]]
                     [judge=NAME] [data.*=...]   generate, filter and store a training set (docs/data.md)
    harness data list [--results DIR]           the stored sets: id, task, teacher, kept, cost
    harness data show ID [--results DIR]        a set's data card
    harness data check ID [--results DIR]       `harness task check` on a set, again"""
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ("synth", "list", "show", "check"):
        print(cmd_data.__doc__)
        if argv and argv[0] not in ("-h", "--help"):
            raise HarnessError(did_you_mean(argv[0], ["synth", "list", "show", "check"], "data command"))
        return
    action, rest = argv[0], argv[1:]
    if action == "synth":
        _data_synth(rest)
        return
    p = argparse.ArgumentParser(prog=f"harness data {action}")
    if action != "list":
        p.add_argument("id", help="a data set id, or a unique prefix of it")
    p.add_argument("--results", default="results", help="store folder (default: results)")
    a = p.parse_args(rest)
    from harness.data.sets import all_sets, datasets_root, find_set, read_record

    root = datasets_root(resolve(a.results))
    if action == "list":
        for folder in all_sets(root):
            r = read_record(folder)
            total = r["cost"]["total"]
            money = "unpriced" if total is None else f"{total:.6f} {r['cost']['currency']}"
            print(f"{r['dataset_id'][:12]}  {r['task']['name']:20s} {r['teacher']['name']:22s} "
                  f"kept {r['counts']['kept']:>4d}/{r['counts']['requested']:<4d} {money}  {r['created_at']}")  # fmt: skip
        return
    folder = find_set(root, a.id)
    if action == "show":
        print((folder / "card.md").read_text(encoding="utf-8"))
        return
    from harness.data.check import check_set

    result = check_set(read_record(folder)["task"]["name"], folder / "train.jsonl")
    print(result["text"])
    if not result["ok"]:
        raise HarnessError(f"data set {folder.name[:12]}: task check found problems (listed above).")


def _data_synth(argv: list[str]) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from harness.data.synth import synthesize

    teacher = [a.split("=", 1)[1] for a in argv if a.startswith("teacher=")]
    if not teacher:
        raise HarnessError(
            "harness data synth needs teacher=<a conf/baseline/ entry>, e.g. teacher=local-smollm2."
        )
    # the teacher is a conf/baseline/ entry: composed as `baseline`, so its price, serve and key work as for one
    argv = [a for a in argv if not a.startswith(("teacher=", "baseline="))] + [f"baseline={teacher[-1]}"]
    check_conf_yaml()
    check_overrides(argv)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=argv)
    except HydraException as e:
        raise HarnessError(f"invalid configuration (nothing was sent): {e}") from None
    register_key_env(cfg.baseline.api_key_env)
    register_key_env(cfg.judge.endpoint.api_key_env)
    folder, reused = synthesize(cfg)
    from harness.data.sets import read_record

    r = read_record(folder)
    c = r["counts"]
    total = r["cost"]["total"]
    print(f"data set {r['dataset_id']} ({'already stored: nothing sent' if reused else 'generated'})")
    print(f"  {c['kept']} of {c['requested']} kept: failed {c['failed']}, unparsed {c['unparsed']}, "
          + ", ".join(f"{k} removed {v}" for k, v in c["removed"].items()))  # fmt: skip
    money = "unpriced" if total is None else f"{total:.6f} {r['cost']['currency']}"
    paid = 0 if reused else r["cost"]["billed_this_run"]
    print(f"  cost: {money} (paid this run: {paid})")
    print(f"  task check: {'ok' if r['task_check']['ok'] else 'problems, see the card'}")
    print(f"  card: {folder / 'card.md'}\n  use it: finetune.train_data={r['dataset_id'][:8]}")


def cmd_gate(argv: list[str]) -> None:
    from harness.report.gate import main as gate_main  # exit 0 / 1 (regressed) / 2 (bad input)

    gate_main(argv)


def cmd_plan(argv: list[str]) -> None:
    from harness.dryrun import main as plan_main  # what a sweep would run and cost; nothing loaded or sent

    plan_main(argv)


def cmd_model(argv: list[str]) -> None:
    if not argv or argv[0] != "check":
        raise HarnessError("usage: harness model check PATH_OR_NAME [--steps ...] (`harness model=NAME` runs a "
                           "sweep with a model; `harness model check` checks one before a sweep depends on it)")  # fmt: skip
    from harness.modelcheck import main as check_main  # exit 0 / 1 (a step failed) / 2 (cannot check)

    sys.exit(check_main(argv[1:]))


def cmd_history(argv: list[str]) -> None:
    from harness.history import main as history_main

    history_main(argv)


SUBCOMMANDS = {"report": cmd_report, "prepare": cmd_prepare, "task": cmd_task, "runtime": cmd_runtime,
               "load": cmd_load, "gate": cmd_gate, "data": cmd_data, "plan": cmd_plan, "history": cmd_history,
               "model": cmd_model}  # fmt: skip


def _exit_on_sigterm() -> None:
    """SIGTERM (a scheduler's cancel, `kill`) becomes an ordinary exit, so every `finally` and `with` runs: the
    local API server is stopped, locks are released, temp files removed. Python's default dies on the spot."""

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def main() -> None:
    # Weights and data come from local caches only (the preflight checks they are there); an explicit
    # HF_HUB_OFFLINE=0 lets a machine with hub access fill the cache on the way.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S"
    )
    for name in ("httpx", "httpx2"):  # one INFO line per API request otherwise (openai uses httpx2)
        logging.getLogger(name).setLevel(logging.WARNING)
    _exit_on_sigterm()
    redact_logs()
    args = sys.argv[1:]
    try:
        if "--dry-run" in args:  # = harness plan with the same arguments
            args = ["plan", *(a for a in args if a != "--dry-run")]
        if args and args[0] in SUBCOMMANDS:
            SUBCOMMANDS[args[0]](args[1:])
            return
        check_conf_yaml()
        check_overrides(args)
        if not any(a.startswith(("--cfg", "--help", "-h", "--hydra-help", "--info", "-c")) for a in args):
            from harness.config.validate import precheck

            precheck(args)  # every job's config, before the first one starts
    except HarnessError as e:  # its text may quote a server's answer, and a server may echo the key: redacted
        print(redact(f"harness: error: {e}"), file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # a folder that cannot be read or written, a full disk: the environment, not a bug
        print(redact(f"harness: error: {e.strerror or e}: {e.filename or ''}"), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nharness: interrupted.", file=sys.stderr)
        sys.exit(130)
    try:
        hydra_main()
    except KeyboardInterrupt:
        print("\nharness: interrupted. Finished cells are stored; run the same command again to go on from there.",
              file=sys.stderr)  # fmt: skip
        sys.exit(130)
    except SystemExit as e:
        if e.code == 128 + signal.SIGTERM:
            print("\nharness: stopped by SIGTERM. Finished cells are stored; run the same command again to go on "
                  "from there.", file=sys.stderr)  # fmt: skip
        raise
