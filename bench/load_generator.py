"""Load generator overhead: does `harness.load.generator` keep to its schedule and time tokens faithfully?

    python bench/load_generator.py [--rates 10,25,50,100,150,200] [--users 1,8,32] [--seconds 5]
                                   [--min-requests 200] [--no-pin] [--profile RATE]

A loopback OpenAI-compatible streaming server (aiohttp, a separate process) answers every
POST /v1/chat/completions with `stream: true` on a programmed clock: a role chunk at once, the first content
chunk TTFT_S (0.05 s) after the request reached the handler, then one content chunk every ITL_S (0.01 s), 16 in
all, then a finish chunk, a `usage` chunk (prompt/completion tokens) and `data: [DONE]`. Its chunk times are
deadlines from the request's arrival, not sleeps in a row, so its own write time does not pile up; it also
keeps what it actually did (handler start -> first write, gaps between writes), read at /stats after each
level, so a deviation can be put on the server or on the generator. On a machine with 2+ cores the server is
pinned to core 1 and the generator to core 0 (one core each; --no-pin leaves placement to the OS).

The generator drives it, as `harness load` does, with `open_loop` (Poisson arrivals at each requested rate,
`--seconds` worth of requests and at least `--min-requests`; the schedule's rate is exactly the requested one,
harness.load.generator.schedule) and `closed_loop` (each number of users). Per level:
  achieved / requested rate   harness.jobs.load_job.fidelity: (requests - 1) over the span of their send times,
                              against the rate asked for                                goal >= 0.98 (open loop)
  p50 TTFT / programmed       harness.load.figures.level_figures                       goal within 5 %
  p50 ITL / programmed        (every gap between two content chunks)                   goal within 5 %
  complete                    no errors, 16 content chunks and usage seen in every answer
  generator CPU               this process's CPU seconds per wall second (harness.busy.Busy; 1.0 = the
                              generator saturated its core), and the server's, for reference
Open loop also prints answered requests/s over the arrival window (summary.window: what `harness load` reports);
closed loop requests/s against the ideal users / (TTFT + 15 x ITL) (both for reference, no goal).
The highest open-loop rate at which every goal holds (and at every lower rate) is what the generator sustains
here. --profile RATE runs one open-loop level at RATE under cProfile and prints where the generator's time goes.
Prints PASS/FAIL per goal; writes bench/results/load_generator.json and .txt; exit code 1 when a goal is missed.
Needs a quiet machine: the server and the generator are timed to the millisecond.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing as mp
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TTFT_S = 0.05
ITL_S = 0.01
TOKENS = 16
GOAL_FIDELITY = 0.98
GOAL_TIMING = 0.05  # |measured / programmed - 1|
QUIET_LOAD = 1.5  # 1-min load average before the run above which the machine was not quiet (2 cores here)


def serve(port: int, ttft: float, itl: float, tokens: int, cpu: int | None) -> None:
    """The programmed streaming server (runs in its own process)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    from aiohttp import web

    def event(obj: dict[str, Any]) -> bytes:
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench"}
        return f"data: {json.dumps({**base, **obj})}\n\n".encode()

    role = event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    token = [
        event({"choices": [{"index": 0, "delta": {"content": f" t{k}"}, "finish_reason": None}]}) for k in range(tokens)
    ]
    finish = event({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    stats: dict[str, list[float]] = {"ttft": [], "itl": []}
    connections: set[Any] = set()  # TCP connections seen since the last /stats (keep-alive reuse or not)

    async def chat(request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter()
        connections.add(request.transport)
        body = await request.json()
        if not body.get("stream"):
            return web.json_response({"error": "this server only streams"}, status=400)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(role)
        last = None
        for k in range(tokens):
            delay = arrived + ttft + k * itl - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await resp.write(token[k])
            now = time.perf_counter()
            stats["ttft" if last is None else "itl"].append(now - (arrived if last is None else last))
            last = now
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens,
            "total_tokens": prompt_tokens + tokens,
        }
        await resp.write(finish + event({"choices": [], "usage": usage}) + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def read_stats(request: web.Request) -> web.Response:
        import statistics

        out = {k: {"n": len(v), "p50": statistics.median(v) if v else None} for k, v in stats.items()}
        out["connections"] = len(connections)
        for v in stats.values():
            v.clear()
        connections.clear()
        return web.json_response(out)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", read_stats)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=1024)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait_until_up(url: str, tries: int = 100) -> None:
    """A freshly started helper process answers `url` (GET, JSON) within tries x 0.1 s."""
    for _ in range(tries):
        try:
            get_json(url)
            return
        except OSError:
            time.sleep(0.1)


def complete(rows: list[dict[str, Any]]) -> bool:
    """Every answer without error, with every content chunk and the usage seen."""
    return all(not r["error"] and r["completion_tokens"] == TOKENS and len(r["itl_s"]) == TOKENS - 1 for r in rows)


def measure(
    target: Any, prompts: list, mode: str, level: float, n: int, server_pid: int, base: str, profile: bool = False
) -> dict[str, Any]:
    import psutil

    from harness.busy import Busy
    from harness.jobs.load_job import fidelity
    from harness.load.figures import Slo, level_figures
    from harness.load.generator import closed_loop, open_loop

    server = psutil.Process(server_pid)
    run = (
        (lambda: open_loop(target, prompts, TOKENS, level, n, seed=0))
        if mode == "open"
        else (lambda: closed_loop(target, prompts, TOKENS, int(level), n))
    )
    get_json(f"{base}/stats")  # reset the server's own record
    s0 = server.cpu_times()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    with Busy([server_pid]) as busy:
        rows, wall = asyncio.run(run())
    if prof is not None:
        prof.disable()
    s1 = server.cpu_times()
    fig = level_figures(rows, wall, Slo(None, None))
    machine = busy.section()
    out: dict[str, Any] = {
        "mode": mode,
        "level": level,
        "requests": n,
        "wall_s": round(wall, 3),
        "requests_per_s": fig["requests_per_s"],
        "errors": fig["n_errors"],
        "error_kinds": fig["errors"],
        "complete": complete(rows),
        "ttft_p50_s": fig["ttft_s"]["p50"],
        "ttft_p95_s": fig["ttft_s"]["p95"],
        "itl_p50_s": fig["itl_s"]["p50"],
        "itl_p95_s": fig["itl_s"]["p95"],
        "ttft_ratio": fig["ttft_s"]["p50"] / TTFT_S if fig["ttft_s"]["p50"] else None,
        "itl_ratio": fig["itl_s"]["p50"] / ITL_S if fig["itl_s"]["p50"] else None,
        "server_side": get_json(f"{base}/stats"),  # what the server actually did (p50 first write, gaps)
        "generator_cpu": machine["own_cpu"],
        "server_cpu": round((sum(s1[:2]) - sum(s0[:2])) / machine["wall_s"], 4),
        "machine": machine,
    }
    if mode == "open":
        out["generator"] = fidelity(rows, level)
    else:
        ideal = level / (TTFT_S + (TOKENS - 1) * ITL_S)
        out["ideal_requests_per_s"] = ideal
        out["throughput_over_ideal"] = fig["requests_per_s"] / ideal
    if prof is not None:
        import io
        import pstats

        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        out["profile"] = text.getvalue()
    return out


def verdicts(lv: dict[str, Any]) -> dict[str, bool]:
    v = {
        "ttft": lv["ttft_ratio"] is not None and abs(lv["ttft_ratio"] - 1) <= GOAL_TIMING,
        "itl": lv["itl_ratio"] is not None and abs(lv["itl_ratio"] - 1) <= GOAL_TIMING,
        "complete": lv["complete"],
    }
    if lv["mode"] == "open":
        ratio = lv["generator"]["achieved_over_requested"]
        v["fidelity"] = ratio is not None and ratio >= GOAL_FIDELITY
    return v


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def ms(x: float | None, width: int) -> str:
    return f"{'-' if x is None else format(x * 1000, '.2f') + 'ms':>{width}}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="10,25,50,100,150,200", help="open-loop request rates (requests/s)")
    p.add_argument("--users", default="1,8,32", help="closed-loop concurrencies")
    p.add_argument("--seconds", type=float, default=5.0, help="requests per level: this many seconds' worth")
    p.add_argument("--min-requests", type=int, default=200)
    p.add_argument("--no-pin", action="store_true", help="do not pin the server and the generator to a core each")
    p.add_argument("--profile", type=float, default=None, metavar="RATE", help="profile one open level instead")
    a = p.parse_args()
    from harness.load.generator import Target, closed_loop

    rates = [float(x) for x in a.rates.split(",") if x]
    users = [int(x) for x in a.users.split(",") if x]
    pin = not a.no_pin and len(os.sched_getaffinity(0)) >= 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = mp.get_context("spawn").Process(
        target=serve, args=(port, TTFT_S, ITL_S, TOKENS, 1 if pin else None), daemon=True
    )
    server.start()
    if pin:
        os.sched_setaffinity(0, {0})
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/health")
    target = Target(f"{base}/v1", "bench")
    prompts = [[{"role": "user", "content": f"Question {i}: where is my parcel number {1000 + i}?"}] for i in range(8)]
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    levels: list[dict[str, Any]] = []
    load_before = os.getloadavg()  # before this run's own work: was something else running?
    try:
        asyncio.run(closed_loop(target, prompts, TOKENS, 4, 40))  # warm-up: imports, first connections
        if a.profile is not None:
            n = max(a.min_requests, round(a.seconds * a.profile))
            lv = measure(target, prompts, "open", a.profile, n, server.pid, base, profile=True)
            print(json.dumps({k: v for k, v in lv.items() if k != "profile"}, indent=1, default=str))
            print(lv["profile"])
            return 0
        for rate in rates:
            n = max(a.min_requests, round(a.seconds * rate))
            levels.append(measure(target, prompts, "open", rate, n, server.pid, base))
        for u in users:
            n = max(40, round(a.seconds * u / (TTFT_S + (TOKENS - 1) * ITL_S)))
            levels.append(measure(target, prompts, "closed", u, n, server.pid, base))
    finally:
        server.terminate()
        server.join(5)

    load_after = os.getloadavg()
    most_other = max(lv["machine"]["other_share"] for lv in levels)
    quiet = load_before[0] <= QUIET_LOAD and most_other <= 0.25
    say(
        f"# bench/load_generator.py, {datetime.date.today()}, {os.cpu_count()} CPU cores, "
        f"{'server on core 1, generator on core 0' if pin else 'not pinned'}"
    )
    say(
        f"machine {'quiet' if quiet else 'NOT quiet'}: load average (1/5/15 min) "
        f"{' / '.join(f'{x:.2f}' for x in load_before)} before the run, {' / '.join(f'{x:.2f}' for x in load_after)} "
        f"at its end (the run itself adds about 1); other work at most {most_other:.1%} of the CPU during a level"
    )
    say(
        f"programmed server: first content chunk after {TTFT_S * 1000:g} ms, then one every {ITL_S * 1000:g} ms, "
        f"{TOKENS} in all (each answer {(TTFT_S + (TOKENS - 1) * ITL_S) * 1000:g} ms)"
    )
    say()
    say("open loop (Poisson arrivals)")
    say(
        f"{'requested':>9} {'n':>5} {'scheduled':>9} {'achieved':>9} {'ach/req':>7} {'req/s':>7} {'lag p99':>8} "
        f"{'TTFT p50':>9} {'/prog':>6} {'ITL p50':>8} {'/prog':>6} {'srv TTFT':>8} {'srv ITL':>8} {'conns':>5} "
        f"{'gen CPU':>7} {'srv CPU':>7} {'other':>6} {'err':>4}  verdict"
    )
    ok_all = True
    sustained = None
    still = True
    for lv in levels:
        if lv["mode"] != "open":
            continue
        g, v, srv = lv["generator"], verdicts(lv), lv["server_side"]
        ok = all(v.values())
        ok_all &= ok
        still &= ok
        if still:
            sustained = lv["level"]
        lv["verdicts"] = v
        say(
            f"{lv['level']:9g} {lv['requests']:5d} {fmt(g['scheduled_rate'], '9.1f')} {fmt(g['achieved_rate'], '9.1f')} "
            f"{fmt(g['achieved_over_requested'], '7.4f')} {fmt(lv['requests_per_s'], '7.1f')} {ms(g['lag_p99_s'], 8)} "
            f"{ms(lv['ttft_p50_s'], 9)} {fmt(lv['ttft_ratio'], '6.3f')} "
            f"{ms(lv['itl_p50_s'], 8)} {fmt(lv['itl_ratio'], '6.3f')} "
            f"{ms(srv['ttft']['p50'], 8)} {ms(srv['itl']['p50'], 8)} {srv['connections']:5d} "
            f"{lv['generator_cpu']:7.1%} {lv['server_cpu']:7.1%} {lv['machine']['other_share']:6.1%} "
            f"{lv['errors']:4d}  " + " ".join(f"{k}:{'PASS' if x else 'FAIL'}" for k, x in v.items())
        )
    say()
    say("closed loop (N users)")
    say(
        f"{'users':>5} {'n':>5} {'req/s':>7} {'ideal':>7} {'/ideal':>6} {'TTFT p50':>9} {'/prog':>6} "
        f"{'ITL p50':>8} {'/prog':>6} {'srv TTFT':>8} {'srv ITL':>8} {'conns':>5} {'gen CPU':>7} {'srv CPU':>7} "
        f"{'other':>6} {'err':>4}  verdict"
    )
    for lv in levels:
        if lv["mode"] != "closed":
            continue
        v, srv = verdicts(lv), lv["server_side"]
        lv["verdicts"] = v
        ok_all &= all(v.values())
        say(
            f"{lv['level']:5g} {lv['requests']:5d} {lv['requests_per_s']:7.1f} {lv['ideal_requests_per_s']:7.1f} "
            f"{lv['throughput_over_ideal']:6.3f} {ms(lv['ttft_p50_s'], 9)} {fmt(lv['ttft_ratio'], '6.3f')} "
            f"{ms(lv['itl_p50_s'], 8)} {fmt(lv['itl_ratio'], '6.3f')} {ms(srv['ttft']['p50'], 8)} "
            f"{ms(srv['itl']['p50'], 8)} {srv['connections']:5d} {lv['generator_cpu']:7.1%} {lv['server_cpu']:7.1%} {lv['machine']['other_share']:6.1%} {lv['errors']:4d}  "
            + " ".join(f"{k}:{'PASS' if x else 'FAIL'}" for k, x in v.items())
        )
    say()
    say(
        f"goals: achieved/requested >= {GOAL_FIDELITY} (open loop); p50 TTFT and p50 ITL within "
        f"{GOAL_TIMING:.0%} of the programmed {TTFT_S * 1000:g} ms / {ITL_S * 1000:g} ms; every answer complete"
    )
    top = max((lv["level"] for lv in levels if lv["mode"] == "open"), default=None)
    if sustained is None:
        say("the generator sustains none of the requested rates here")
    elif sustained == top:
        say(f"the generator sustains every requested rate up to {sustained:g} requests/s: PASS")
    else:
        say(f"the generator sustains {sustained:g} requests/s here, not {top:g}: FAIL (see the failing goals above)")
    gaps = [
        (lv["ttft_p50_s"] - lv["server_side"]["ttft"]["p50"], lv["itl_p50_s"] - lv["server_side"]["itl"]["p50"])
        for lv in levels
        if lv["ttft_p50_s"] and lv["itl_p50_s"] and lv["server_side"]["ttft"]["p50"] and lv["server_side"]["itl"]["p50"]
    ]
    if gaps:
        say(
            f"measured minus what the server did (its handler start -> first write, gaps between writes), p50, over "
            f"all levels: TTFT {min(g[0] for g in gaps) * 1000:+.2f} to {max(g[0] for g in gaps) * 1000:+.2f} ms "
            f"(request write, HTTP parsing, loopback, reading the chunk), ITL {min(g[1] for g in gaps) * 1000:+.2f} "
            f"to {max(g[1] for g in gaps) * 1000:+.2f} ms"
        )
    contended = [lv["level"] for lv in levels if lv["machine"]["other_share"] > 0.25]
    if contended:
        say(f"WARNING: other work used over 25 % of the machine at levels {contended}: rerun on a quiet machine")
    say(f"overall: {'PASS' if ok_all else 'FAIL'}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "load_generator.json").write_text(
        json.dumps(
            {
                "date": str(datetime.date.today()),
                "machine": f"{os.cpu_count()} CPU cores",
                "pinned": pin,
                "programmed": {"ttft_s": TTFT_S, "itl_s": ITL_S, "tokens": TOKENS},
                "goals": {"achieved_over_requested_min": GOAL_FIDELITY, "timing_tolerance": GOAL_TIMING},
                "load_average_before": load_before,
                "load_average_after": load_after,
                "quiet": quiet,
                "levels": levels,
                "sustained_rate": sustained,
                "all_goals_met": ok_all,
            },
            indent=1,
        )
        + "\n"
    )
    (out / "load_generator.txt").write_text("\n".join(lines) + "\n")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
