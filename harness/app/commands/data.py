"""`harness data synth|list|show|check`: synthesized training sets (docs/data.md)."""

from __future__ import annotations

import argparse

from harness.app.compose import compose_jobs
from harness.errors import HarnessError, did_you_mean
from harness.paths import resolve
from harness.secrets import register_key_env


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
            print(
                f"{r['dataset_id'][:12]}  {r['task']['name']:20s} {r['teacher']['name']:22s} "
                f"kept {r['counts']['kept']:>4d}/{r['counts']['requested']:<4d} {money}  {r['created_at']}"
            )
        return
    folder = find_set(root, a.id)
    if action == "show":
        print((folder / "card.md").read_text(encoding="utf-8"))
        return
    from harness.data.recheck import check_set

    result = check_set(read_record(folder)["task"]["name"], folder / "train.jsonl")
    print(result["text"])
    if not result["ok"]:
        raise HarnessError(f"data set {folder.name[:12]}: task check found problems (listed above).")


def _data_synth(argv: list[str]) -> None:
    from harness.jobs.synth import synthesize

    teacher = [a.split("=", 1)[1] for a in argv if a.startswith("teacher=")]
    if not teacher:
        raise HarnessError("harness data synth needs teacher=<a conf/baseline/ entry>, e.g. teacher=local-smollm2.")
    # the teacher is a conf/baseline/ entry: composed as `baseline`, so its price, serve and key work as for one
    argv = [a for a in argv if not a.startswith(("teacher=", "baseline="))] + [f"baseline={teacher[-1]}"]
    (cfg,) = compose_jobs(argv, sweep=False, check=False, what="sent")
    register_key_env(cfg.baseline.api_key_env)
    register_key_env(cfg.judge.endpoint.api_key_env)
    folder, reused = synthesize(cfg)
    from harness.data.sets import read_record

    r = read_record(folder)
    c = r["counts"]
    total = r["cost"]["total"]
    print(f"data set {r['dataset_id']} ({'already stored: nothing sent' if reused else 'generated'})")
    print(
        f"  {c['kept']} of {c['requested']} kept: failed {c['failed']}, unparsed {c['unparsed']}, "
        + ", ".join(f"{k} removed {v}" for k, v in c["removed"].items())
    )
    money = "unpriced" if total is None else f"{total:.6f} {r['cost']['currency']}"
    paid = 0 if reused else r["cost"]["billed_this_run"]
    print(f"  cost: {money} (paid this run: {paid})")
    print(f"  task check: {'ok' if r['task_check']['ok'] else 'problems, see the card'}")
    print(f"  card: {folder / 'card.md'}\n  use it: finetune.train_data={r['dataset_id'][:8]}")
