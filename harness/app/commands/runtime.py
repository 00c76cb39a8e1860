"""`harness runtime list|create|check`: the pinned Python environments models run in."""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError


def cmd_runtime(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="harness runtime",
        description="The pinned Python environments models run in (runtimes/*.yaml; `main` is this one).",
    )
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every runtime, whether it is created, its transformers and the models using it")
    c = sub.add_parser("create", help="create a runtime's environment from its lock (once; reused afterwards)")
    c.add_argument("name")
    k = sub.add_parser("check", help="run a created runtime's worker probe and compare its packages with the lock")
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
        print(
            f"{'main':8s} {'(this environment)':14s} transformers {transformers.__version__:8s} "
            f"{sys.prefix}\n{'':8s} {main_lock_line()}\n"
            f"{'':8s} models: {', '.join(users.get('main', []))}"
        )
        for name in runtimes.names()[1:]:
            rt = runtimes.load(name)
            state = "created" if runtime.stamp(rt, cache) else "not created"
            print(
                f"{name:8s} {state:14s} transformers {rt.pins().get('transformers', '?'):8s} "
                f"{runtime.location(rt, cache)}\n{'':8s} {rt.description}\n"
                f"{'':8s} models: {', '.join(users.get(name, [])) or '-'}"
            )
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
