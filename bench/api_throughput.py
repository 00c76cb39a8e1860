"""API client throughput against a loopback OpenAI-compatible server with a fixed per-request delay.

    python bench/api_throughput.py [--delay 0.2] [--repeats 2]

The server (a separate process, aiohttp) answers every /v1/chat/completions request after `--delay` seconds,
streaming or not, with `usage`: a stand-in for a provider whose latency does not depend on load, so throughput
measures the client alone. Measured:
  - the harness client (`ApiCaller`: semaphore, rate limiter, retries, SQLite cache + ledger writes, metering)
    at concurrency 1, 4 and 16: requests/s. Goal: c16 >= 0.8 x 16 x c1.
  - lm-eval's own `local-chat-completions` backend (aiohttp) at concurrency 16 on the same server.
    Goal: harness / lm-eval >= 1.0.
  - for reference, bare `openai` SDK calls (AsyncOpenAI.post with its aiohttp transport, a semaphore, nothing
    else) at concurrency 16: the floor any client built on the openai SDK starts from.
Every request is distinct (no cache hits). Prints the figures and ratios, writes bench/results/api_throughput.json,
exit code 1 when a goal is missed. Each measurement runs `--repeats` times and the best is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def serve(port: int, delay: float) -> None:
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await asyncio.sleep(delay)
        usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        text = "blue"
        if body.get("stream"):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            chunks = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": usage},
            ]
            for c in chunks:
                await resp.write(
                    f"data: {json.dumps({'id': 'b', 'object': 'chat.completion.chunk', 'created': 0, 'model': 'm', **c})}\n\n".encode()
                )
            await resp.write(b"data: [DONE]\n\n")
            return resp
        return web.json_response(
            {
                "id": "b",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "usage": usage,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            }
        )

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def harness_rate(url: str, concurrency: int, n: int, stream: bool) -> float:
    from harness.api.cache import ResponseCache
    from harness.api.client import ApiCaller, Settings

    with tempfile.TemporaryDirectory() as d:
        cache = ResponseCache(Path(d) / "cache.sqlite")
        caller = ApiCaller(
            base_url=url,
            api_key="EMPTY",
            model="m",
            endpoint_id="bench",
            settings=Settings(concurrency=concurrency, stream=stream),
            cache=cache,
            price={"currency": "USD", "input_per_1m": 0.15, "cached_input_per_1m": 0.075, "output_per_1m": 0.6},
        )
        bodies = [
            {"messages": [{"role": "user", "content": f"q{time.time_ns()}-{i}"}], "max_tokens": 8} for i in range(n)
        ]
        t = time.perf_counter()
        answers = caller.run(bodies)
        seconds = time.perf_counter() - t
        assert all(m.error is None for _, m in answers) and cache.ledger()["requests"] == n
        cache.close()
    return n / seconds


def openai_sdk_rate(url: str, concurrency: int, n: int) -> float:
    import openai

    async def go() -> float:
        client = openai.AsyncOpenAI(
            base_url=url, api_key="EMPTY", max_retries=0, http_client=openai.DefaultAioHttpClient()
        )
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                await client.post(
                    "/chat/completions",
                    cast_to=dict,
                    body={
                        "model": "m",
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": f"q{time.time_ns()}-{i}"}],
                    },
                )

        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        rate = n / (time.perf_counter() - t)
        await client.close()
        return rate

    return asyncio.run(go())


def lm_eval_rate(url: str, concurrency: int, n: int) -> float:
    from lm_eval.api.instance import Instance
    from lm_eval.models.api_models import JsonChatStr
    from lm_eval.models.openai_completions import LocalChatCompletion

    lm = LocalChatCompletion(
        base_url=f"{url}/chat/completions",
        model="m",
        num_concurrent=concurrency,
        max_retries=1,
        tokenizer_backend=None,
        tokenized_requests=False,
    )
    reqs = [
        Instance(
            "generate_until",
            {},
            (
                JsonChatStr(json.dumps([{"role": "user", "content": f"q{time.time_ns()}-{i}"}])),
                {"until": ["\n"], "max_gen_toks": 8},
            ),
            i,
            ("bench", i, 1),
        )
        for i in range(n)
    ]
    t = time.perf_counter()
    out = lm.generate_until(reqs, disable_tqdm=True)
    seconds = time.perf_counter() - t
    assert len(out) == n and all(o == "blue" for o in out)
    return n / seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--delay", type=float, default=0.2)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = mp.get_context("spawn").Process(target=serve, args=(port, a.delay), daemon=True)
    server.start()
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    url = f"http://127.0.0.1:{port}/v1"
    sizes = {1: 16, 4: 64, 16: 256}  # about 3 s of work each at 0.2 s per request
    try:
        best = lambda f: max(f() for _ in range(a.repeats))  # noqa: E731
        ours = {c: best(lambda c=c: harness_rate(url, c, sizes[c], stream=True)) for c in sizes}
        ours_plain16 = best(lambda: harness_rate(url, 16, sizes[16], stream=False))
        theirs16 = best(lambda: lm_eval_rate(url, 16, sizes[16]))
        sdk16 = best(lambda: openai_sdk_rate(url, 16, sizes[16]))
    finally:
        server.terminate()
    scaling = ours[16] / (16 * ours[1])
    vs_lm_eval = ours[16] / theirs16
    vs_lm_eval_plain = ours_plain16 / theirs16
    print(f"server delay {a.delay:.3f} s per request; requests/s (best of {a.repeats}):")
    for c, r in ours.items():
        print(f"  harness client, streaming, concurrency {c:2d}: {r:7.2f}")
    print(f"  harness client, not streaming, concurrency 16: {ours_plain16:7.2f}")
    print(f"  lm-eval local-chat-completions, concurrency 16: {theirs16:7.2f}")
    print(f"  bare openai SDK calls, concurrency 16: {sdk16:7.2f}  (reference: the SDK's own floor)")
    print(f"scaling: c16 / (16 x c1) = {scaling:.3f}  (goal >= 0.8)")
    print(f"harness / lm-eval at c16 = {vs_lm_eval:.3f} streaming, {vs_lm_eval_plain:.3f} not streaming  (goal >= 1.0)")
    print(
        f"bare openai SDK / lm-eval at c16 = {sdk16 / theirs16:.3f}; harness / bare SDK = {vs_lm_eval * theirs16 / sdk16:.3f}"
    )
    out = Path(__file__).parent / "results" / "api_throughput.json"
    out.write_text(
        json.dumps(
            {
                "delay_s": a.delay,
                "requests": sizes,
                "harness_streaming_rps": ours,
                "harness_plain_rps_c16": ours_plain16,
                "lm_eval_rps_c16": theirs16,
                "scaling_c16_over_16xc1": scaling,
                "harness_over_lm_eval_c16": vs_lm_eval,
                "harness_plain_over_lm_eval_c16": vs_lm_eval_plain,
                "openai_sdk_rps_c16": sdk16,
                "openai_sdk_over_lm_eval_c16": sdk16 / theirs16,
                "machine": "2-core CPU, loopback",
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if scaling >= 0.8 and vs_lm_eval >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
