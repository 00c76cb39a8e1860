"""Serving under load (issue 17): per-level figures, goodput and capacity at a target computed by hand from
per-request rows; the busy-machine section; the generator's schedule; and (slow) closed- and open-loop runs
against the real local stand-in endpoint (`transformers serve`), resumed level by level."""

from __future__ import annotations

from collections import namedtuple

import pytest

from harness.load.busy import contention
from harness.load.generator import schedule
from harness.load.run import fidelity, summarise
from harness.load.summary import Slo, capacity, level_figures, tpot


def _row(i, ttft, e2e, completion, error=None, itl=()):
    return {"i": i, "scheduled_s": None, "sent_s": 0.0, "ttft_s": ttft, "e2e_s": e2e, "itl_s": list(itl),
            "prompt_tokens": 100, "completion_tokens": completion, "error": error}  # fmt: skip


# 4 requests in 2 s: TTFT 0.2, 0.4, 0.6, 1.4 s; e2e 1.1, 1.3, 1.5, 2.3 s; 10 output tokens each (TPOT 0.1 s);
# a fifth failed.
ROWS = [_row(0, 0.2, 1.1, 10, itl=[0.1] * 9), _row(1, 0.4, 1.3, 10), _row(2, 0.6, 1.5, 10), _row(3, 1.4, 2.3, 10),
        _row(4, None, None, None, error="HTTP 503: busy")]  # fmt: skip


def test_level_figures_by_hand():
    """requests/s = 4 answered / 2 s = 2.0; output tokens/s = 40 / 2 = 20; error rate 1/5. TTFT p50 of
    [0.2, 0.4, 0.6, 1.4] = 0.5; p95 = 0.6 + 0.85 x 0.8 = 1.28 (linear interpolation). TPOT = (e2e - TTFT) / 9
    = 0.1 for each. Goodput at TTFT <= 1 s and TPOT <= 0.15 s: 3 requests met both / 2 s = 1.5 per s."""
    fig = level_figures(ROWS, 2.0, Slo(ttft_p95_s=1.0, tpot_p95_s=0.15, max_error_rate=0.25))
    assert fig["requests_per_s"] == 2.0 and fig["output_tokens_per_s"] == 20.0
    assert fig["error_rate"] == pytest.approx(0.2) and fig["errors"] == ["HTTP 503: busy"]
    assert fig["ttft_s"]["p50"] == pytest.approx(0.5) and fig["ttft_s"]["p95"] == pytest.approx(1.28)
    assert fig["tpot_s"]["p50"] == pytest.approx(0.1) and fig["itl_s"]["n"] == 9
    assert fig["goodput_per_s"] == pytest.approx(1.5)
    assert not fig["meets_target"]  # p95 TTFT 1.28 > 1.0
    assert level_figures(ROWS, 2.0, Slo(ttft_p95_s=1.5, tpot_p95_s=0.15, max_error_rate=0.25))["meets_target"]
    assert not level_figures(ROWS, 2.0, Slo(ttft_p95_s=1.5, tpot_p95_s=0.05, max_error_rate=0.25))[
        "meets_target"
    ]
    # 20 % errors above a 1 % allowance fails the level whatever its latency
    assert not level_figures(ROWS, 2.0, Slo(ttft_p95_s=5, tpot_p95_s=1))["meets_target"]
    assert tpot(_row(9, 0.3, 0.3, 1)) is None  # one output token: no time per output token


def _level(level, ttft, wall=1.0, contended=False, behind=False):
    rows = [_row(i, ttft, ttft + 0.9, 10) for i in range(10)]
    return {"level": level, "level_id": f"l{level}", "rows": rows, "wall_s": wall,
            "machine": {"contended": contended}, "generator": {"fell_behind": behind}}  # fmt: skip


def test_capacity_is_the_highest_level_meeting_the_target_with_every_lower_one():
    """Levels 1, 2, 4, 8 with p95 TTFT 0.3, 0.5, 0.9, 1.6 s at a 1 s target: capacity = level 4, whose 10 answered
    requests in 2.5 s are 4.0 requests/s = 14,400 queries an hour."""
    slo = Slo(ttft_p95_s=1.0, tpot_p95_s=None)
    levels = [_level(1, 0.3), _level(2, 0.5), _level(4, 0.9, wall=2.5), _level(8, 1.6)]
    figs, cap = summarise(levels, slo)
    assert [f["figures"]["meets_target"] for f in figs] == [True, True, True, False]
    assert cap == {"level": 4, "requests_per_s": 4.0, "queries_per_hour": 14_400.0}
    # a level that passes above a failing one does not count (it passed by chance)
    _, cap = summarise([_level(1, 0.3), _level(2, 1.5), _level(4, 0.9)], slo)
    assert cap["level"] == 1
    # a level measured on a contended machine, or where the generator fell behind, is not capacity
    figs, cap = summarise([_level(1, 0.3), _level(2, 0.5, contended=True)], slo)
    assert cap["level"] == 1 and figs[1]["trusted"] is False
    assert summarise([_level(1, 0.3, behind=True)], slo)[1] is None
    assert capacity([]) is None


Cpu = namedtuple("Cpu", "user nice system idle iowait irq softirq steal")


def test_busy_machine_section_by_hand():
    """2 CPUs, 10 s: 20 CPU-seconds, 6 idle -> 70 % busy. This process used 2 s and the server 8 s = 10 of 20 = 50 %
    ours, so other work took 20 % (under the 25 % flag). Steal 1 of 20 = 5 % (not above 5 %)."""
    a = {"wall": 0.0, "cpu": Cpu(0, 0, 0, 0, 0, 0, 0, 0), "own": 0.0, "theirs": 0.0}
    b = {"wall": 10.0, "cpu": Cpu(10, 0, 3, 6, 0, 0, 0, 1), "own": 2.0, "theirs": 8.0}
    m = contention(a, b, 2)
    assert (m["busy_share"], m["ours_share"], m["other_share"], m["steal_share"]) == (0.7, 0.5, 0.2, 0.05)
    assert not m["contended"] and m["own_cpu"] == 0.2
    b2 = {**b, "theirs": 4.0}  # the server used 4 s: others 40 % -> flagged
    m2 = contention(a, b2, 2)
    assert (
        m2["contended"]
        and m2["other_share"] == pytest.approx(0.4)
        and "other work used 40%" in m2["flags"][0]
    )


def test_open_loop_schedule_is_poisson_from_a_seed_and_fidelity_is_measured():
    t = schedule(10.0, 2000, seed=3)
    assert t[0] == 0.0 and t == schedule(10.0, 2000, seed=3)
    assert (len(t) - 1) / t[-1] == pytest.approx(10.0, rel=0.06)  # mean rate of 2,000 arrivals
    rows = [{"sent_s": 0.01 + s * 1.05, "scheduled_s": s} for s in (0.0, 1.0, 2.0, 3.0)]  # sends 5 % slow
    f = fidelity(rows, 1.0)
    assert f["achieved_over_scheduled"] == pytest.approx(1 / 1.05) and f["fell_behind"]


def test_an_evaluation_timed_on_a_contended_machine_says_so_where_its_cost_is_shown():
    from harness.report.table import cost_and_latency
    from harness.testing import make_record

    busy = {"contended": True, "flags": ["other work used 60% of the machine's CPU while this was timed"]}
    r = make_record(inference={"machine": busy}).to_json()
    assert "timed on a contended machine: other work used 60%" in cost_and_latency(r)["measured_on"]
    quiet = make_record(inference={"machine": {"contended": False, "flags": []}}).to_json()
    assert "contended" not in cost_and_latency(quiet)["measured_on"]


def test_an_external_server_is_priced_as_the_profile_named_and_maps_to_its_model():
    """load.url + load.device_profile: the record's device is that profile's price, and load.model_key /
    load.artifact_id let the capacity measured there price that model's rows."""
    from omegaconf import OmegaConf

    from harness.config.options import load_option
    from harness.config.schema import HardwareConfig
    from harness.load.run import _endpoint_identity
    from tests.conftest import compose_cfg

    raw = compose_cfg(["load.endpoint=url", "load.url=http://gpu-runner:8000/v1", "load.model=smol",
                       "load.device_profile=h100", "load.model_key=smollm2-135m"])  # fmt: skip
    endpoint, price, device = _endpoint_identity(OmegaConf.to_object(raw), raw)
    h100 = load_option("hardware", "h100", HardwareConfig)
    assert endpoint["url"] == "http://gpu-runner:8000/v1" and endpoint["model_key"] == "smollm2-135m"
    assert price is None and device["price_per_hour"] == h100.price_per_hour and device["kind"] == "external"


def test_an_endpoint_that_answers_nothing_stores_nothing_and_says_so(tmp_path):
    """Every request refused (nothing listens on port 9): the level is not stored as a measurement."""
    from harness.cli import cmd_load
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="every request of closed-loop level 1 failed"):
        cmd_load(["task=helpdesk_en", "load.url=http://127.0.0.1:9/v1", "load.model=m", "load.levels=[1]",
                  "load.requests_per_level=2", f"paths.results={tmp_path}"])  # fmt: skip
    assert not list((tmp_path / "load").glob("**/*.json"))


def test_a_stream_dropped_mid_answer_is_an_error_row_not_a_lost_level():
    """A server (a test double: it must misbehave on cue) that sends one content chunk and then drops the
    connection: the request is recorded as failed, the other request of the level is answered."""
    import asyncio

    from aiohttp import web

    from harness.load.generator import Target, closed_loop

    chunk = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'

    async def answer(request):
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(chunk)
        if body["messages"][0]["content"] == "drop":
            request.transport.close()  # gone mid-answer
            return resp
        await resp.write(b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}\n\n')
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def main():
        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            prompts = [[{"role": "user", "content": "drop"}], [{"role": "user", "content": "ok"}]]
            return await closed_loop(Target(f"http://127.0.0.1:{port}/v1", "m"), prompts, 8, 1, 2)
        finally:
            await runner.cleanup()

    rows, _ = asyncio.run(main())
    assert rows[0]["error"] and rows[1]["error"] is None and rows[1]["completion_tokens"] == 1


def test_a_paid_api_is_not_loaded_without_opting_in_and_is_capped(tmp_path, monkeypatch):
    from harness.cli import cmd_load
    from harness.errors import HarnessError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")  # nothing is sent: the run stops before
    common = ["baseline=openai-gpt-4o-mini", "task=helpdesk_en", f"paths.results={tmp_path}"]
    with pytest.raises(HarnessError, match="is a paid API.*load.paid=true"):
        cmd_load(common)
    with pytest.raises(HarnessError, match="exceed load.max_requests=10"):
        cmd_load([*common, "load.paid=true", "load.max_requests=10"])  # 3 levels x 16 requests


@pytest.mark.parametrize("task, why", [("general_en", "is multiple_choice: a load test needs a generation task"),
                                       ("gsm8k", "ships with lm-eval; a load test takes its prompts from a project")])  # fmt: skip
def test_a_task_that_cannot_give_load_prompts_is_refused_with_a_reason(task, why, tmp_path):
    from harness.cli import cmd_load
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=why):
        cmd_load(
            [f"task={task}", "load.url=http://127.0.0.1:9/v1", "load.model=m", f"paths.results={tmp_path}"]
        )
