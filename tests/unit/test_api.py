"""API baselines without a server: prices, percentiles, limits, retry timing, cache, configs, preflight, plan."""

from __future__ import annotations

import asyncio
import random
import re
from email.utils import formatdate

import pytest

from harness.api.cache import ResponseCache, request_key
from harness.api.limits import RateLimiter, backoff_delay, retry_after_seconds
from harness.api.meter import Meter, aggregate, percentile
from harness.api.pricing import cost
from harness.errors import PreflightError
from harness.paths import CONF_DIR
from harness.plan.cells import plan_baseline
from tests.support.run import compose_cfg

PRICE = {"currency": "USD", "input_per_1m": 0.15, "cached_input_per_1m": 0.075, "output_per_1m": 0.60}
BASELINES = sorted(p.stem for p in (CONF_DIR / "baseline").glob("*.yaml") if p.stem != "none")


def test_cost_by_hand():
    # 800 uncached x 0.15 + 200 cached x 0.075 + 500 completion x 0.60, per 1M = (120 + 15 + 300) / 1e6
    assert cost(1000, 200, 500, PRICE) == pytest.approx(435e-6)
    # no cached price: cached tokens are billed as input (1000 x 0.15 + 500 x 0.60) / 1e6
    assert cost(1000, 200, 500, {**PRICE, "cached_input_per_1m": None}) == pytest.approx(450e-6)
    # unpriced is None, never 0
    assert cost(1000, 0, 500, {**PRICE, "output_per_1m": None}) is None


def test_percentiles_by_hand():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)  # 3 + 0.85 x (4 - 3)
    assert percentile([], 50) is None


def test_aggregate_by_hand():
    meters = [
        Meter(
            prompt_tokens=100,
            cached_tokens=0,
            completion_tokens=10,
            latency_s=1.0,
            ttft_s=0.2,
            cost=cost(100, 0, 10, PRICE),
            billed=cost(100, 0, 10, PRICE),
            attempts=1,
        ),
        Meter(
            prompt_tokens=300,
            cached_tokens=100,
            completion_tokens=30,
            latency_s=3.0,
            ttft_s=0.4,
            cost=cost(300, 100, 30, PRICE),
            billed=0.0,
            from_cache=True,
        ),
        Meter(error="HTTP 500", attempts=7, usage_source="none"),
    ]
    a = aggregate(meters, PRICE)
    assert (a["n_requests"], a["n_answered"], a["n_failed"], a["n_from_cache"]) == (3, 2, 1, 1)
    assert a["tokens"] == {
        "prompt": 400,
        "cached": 100,
        "completion": 40,
        "prompt_per_sample": 200.0,
        "completion_per_sample": 20.0,
    }
    # (100 x .15 + 10 x .6) + (200 x .15 + 100 x .075 + 30 x .6) = 21 + 55.5 = 76.5 per 1M
    assert a["cost"]["total"] == pytest.approx(76.5e-6)
    assert a["cost"]["per_1k_queries"] == pytest.approx(1000 * 76.5e-6 / 2)
    assert a["cost"]["billed_this_run"] == pytest.approx(21e-6)  # the cached answer is not paid again
    assert a["latency_s"]["p50"] == 2.0 and a["ttft_s"]["p50"] == pytest.approx(0.3)
    assert a["failures"] == ["HTTP 500"] and a["attempts_this_run"] == 8


def test_unpriced_cost_is_none_not_zero():
    a = aggregate([Meter(prompt_tokens=10, completion_tokens=1, cost=None)], {"currency": "USD"})
    assert a["cost"]["priced"] is False and a["cost"]["total"] is None and a["cost"]["per_1k_queries"] is None


def run_limited(limiter: RateLimiter, tokens: list[int], clock: list[float], monkeypatch) -> list[float]:
    """Acquire in order with a fake clock: sleeping advances it. Returns the send times."""

    async def fake_sleep(s: float) -> None:
        clock[0] += s

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)

    async def go() -> list[float]:
        times = []
        for t in tokens:
            await limiter.acquire(t)
            times.append(clock[0])
        return times

    return asyncio.run(go())


def test_requests_per_minute_limit(monkeypatch):
    clock = [0.0]
    limiter = RateLimiter(rpm=2, tpm=None, period=60.0, clock=lambda: clock[0])
    # 2 per minute: the 3rd waits until the 1st leaves the window (t=60), the 5th until t=120
    assert run_limited(limiter, [1] * 5, clock, monkeypatch) == [0, 0, 60, 60, 120]


def test_tokens_per_minute_limit(monkeypatch):
    clock = [0.0]
    limiter = RateLimiter(rpm=None, tpm=100, period=60.0, clock=lambda: clock[0])
    # 60 + 30 fit; +30 > 100 waits for the first to leave (t=60); a 500-token request alone never blocks forever
    assert run_limited(limiter, [60, 30, 30, 500], clock, monkeypatch) == [0, 0, 60, 120]


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    in_about_30s = retry_after_seconds({"retry-after": formatdate(__import__("time").time() + 30, usegmt=True)})
    assert 28 <= in_about_30s <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


def test_backoff_is_full_jitter_capped():
    rng = random.Random(0)
    for attempt in range(10):
        d = backoff_delay(attempt, 1.0, 8.0, rng)
        assert 0 <= d <= min(8.0, 2**attempt)


def test_cache_and_ledger(tmp_path):
    c = ResponseCache(tmp_path / "c.sqlite")
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    k = request_key("http://x/v1", "m", body)
    assert k == request_key("http://x/v1", "m", dict(reversed(body.items())))  # key order does not matter
    assert k != request_key("http://x/v1", "m2", body) and k != request_key("http://y/v1", "m", body)
    resp = {"text": "hello", "prompt_tokens": 5, "cached_tokens": 0, "completion_tokens": 1}
    assert c.get(k) is None
    assert c.put(k, "http://x/v1", "m", body, resp, "cell", 1e-6, "USD") is True
    assert c.get(k)["text"] == "hello"
    # a racing second answer to the same request is billed (it was paid) but the cache keeps the first
    assert c.put(k, "http://x/v1", "m", body, {**resp, "text": "other"}, "cell", 1e-6, "USD") is False
    assert c.get(k)["text"] == "hello"
    assert c.ledger() == {"requests": 2, "cost": pytest.approx(2e-6), "unpriced_requests": 0}


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_configs_are_complete_and_hold_no_keys(name):
    text = (CONF_DIR / "baseline" / f"{name}.yaml").read_text()
    assert not re.search(r"sk-[A-Za-z0-9]{8,}", text)  # a key must never be written in a config
    b = compose_cfg([f"baseline={name}"]).baseline
    assert b.name == name and b.display_name
    assert b.serve is not None or (b.model and b.api_key_env)  # an API names its key's variable
    p = b.price
    assert p.input_per_1m is not None and p.output_per_1m is not None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.as_of) and p.source.startswith("https://")


def test_price_is_overridable_from_the_command_line():
    b = compose_cfg(["baseline=openai-gpt-4o-mini", "baseline.price.output_per_1m=0.5"]).baseline
    assert b.price.output_per_1m == 0.5 and b.price.input_per_1m == 0.15
    b = compose_cfg(["baseline=openai-gpt-4o-mini", "baseline/price=none"]).baseline
    assert b.price.input_per_1m is None  # unpriced, explicitly


def test_missing_key_stops_in_preflight_naming_the_variable(monkeypatch, tmp_path):
    from harness.jobs.run_cell import run_baseline

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = compose_cfg(["model=none", "baseline=openai-gpt-4o-mini", "task=helpdesk_en", f"paths.results={tmp_path}"])
    with pytest.raises(PreflightError, match=r"environment variable OPENAI_API_KEY"):
        run_baseline(cfg)
    assert not (tmp_path / "records").exists()


def test_multiple_choice_task_is_not_applicable_to_a_chat_api(tmp_path):
    from harness.jobs.run_cell import run_baseline

    cfg = compose_cfg(["baseline=openai-gpt-4o-mini", "task=general_en", f"paths.results={tmp_path}"])
    [o] = run_baseline(cfg)
    assert o.status == "not_applicable" and "log-probabilities" in o.message


def test_baseline_cell_id_changes_with_answers_not_with_transport_or_price():
    base = ["baseline=openai-gpt-4o-mini", "task=helpdesk_en"]
    cid = plan_baseline(compose_cfg(base)).id
    assert plan_baseline(compose_cfg([*base, "baseline.concurrency=16"])).id == cid
    assert plan_baseline(compose_cfg([*base, "baseline.price.input_per_1m=9"])).id == cid
    assert plan_baseline(compose_cfg([*base, "baseline.requests_per_minute=5"])).id == cid
    assert plan_baseline(compose_cfg([*base, "baseline.model=gpt-4o"])).id != cid
    assert plan_baseline(compose_cfg([*base, "baseline.temperature=0.7"])).id != cid
    assert plan_baseline(compose_cfg([*base, "task.num_fewshot=3"])).id != cid
    assert plan_baseline(compose_cfg([*base, "task.limit=10"])).id != cid


def test_a_generative_lm_eval_task_is_not_refused_as_multiple_choice(monkeypatch, tmp_path):
    """lm-eval's own tasks (here gsm8k, generative) go on to the key check instead of "not applicable"."""
    from harness.jobs.run_cell import run_baseline

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = compose_cfg(["baseline=openai-gpt-4o-mini", "task=gsm8k", f"paths.results={tmp_path}"])
    with pytest.raises(PreflightError, match="OPENAI_API_KEY"):
        run_baseline(cfg)
