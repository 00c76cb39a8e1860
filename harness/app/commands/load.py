"""`harness load`: measure an endpoint under load (harness/load/, harness/jobs/load_job.py)."""

from __future__ import annotations

from harness.app.compose import compose_jobs
from harness.secrets import register_key_env


def cmd_load(argv: list[str]) -> None:
    """harness load baseline=NAME task=NAME [load.mode=closed|open] [load.levels=[1,2,4]] [load.*=...]
    Measure an endpoint under load (harness/load/): latency percentiles per level and capacity at the latency
    target, stored under paths.results/load/. load.url=... load.model=... measures any OpenAI-compatible server."""
    if any(a in ("-h", "--help") for a in argv):
        print(cmd_load.__doc__)
        return

    from harness.jobs.load_job import load

    if not any(a.startswith("load.endpoint=") for a in argv):  # auto: what the command line names
        named = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if "=" in a}
        auto = "url" if named.get("load.url") else "baseline" if named.get("baseline", "none") != "none" else "model"
        argv = [*argv, f"load.endpoint={auto}"]
    (cfg,) = compose_jobs(argv, sweep=False, what="sent")
    register_key_env(cfg.load.api_key_env)  # redacted from the level files, the record and the console
    register_key_env(cfg.baseline.api_key_env)
    path = load(cfg)
    import json

    record = json.loads(path.read_text())
    unit = "users" if record["identity"]["mode"] == "closed" else "req/s"
    print(f"load {record['load_id']} ({record['identity']['mode']} loop), target: {record['target']}")
    for lv in record["levels"]:
        f = lv["figures"]
        flag = (
            ""
            if lv["trusted"]
            else "  (not trusted: "
            + "; ".join(
                lv["machine"]["flags"]
                + (["the generator fell behind"] if (lv["generator"] or {}).get("fell_behind") else [])
            )
            + ")"
        )
        print(
            f"  {lv['level']:g} {unit}: {f['requests_per_s'] or 0:.2f} req/s, p95 TTFT {_s(f['ttft_s']['p95'])}, "
            f"p95 TPOT {_s(f['tpot_s']['p95'])}, errors {f['error_rate']:.0%}, "
            f"{'meets' if f['meets_target'] else 'misses'} the target{flag}"
        )
    cap = record["capacity"]
    print(
        f"capacity at the target: {cap['requests_per_s']:.2f} requests/s ({cap['queries_per_hour']:,.0f} an hour) "
        f"at {cap['level']:g} {unit}"
        if cap
        else "capacity at the target: none (the lowest level misses it)"
    )
    print(f"record: {path}")


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} s"
