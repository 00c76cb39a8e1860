"""Serving under load (issue 17): per-level figures, goodput and capacity at a target computed by hand from
per-request rows; the busy-machine section; the generator's schedule; and (slow) closed- and open-loop runs
against the real local stand-in endpoint (`transformers serve`), resumed level by level."""

from __future__ import annotations

import json
from collections import namedtuple

import pytest

from harness.busy import contention
from harness.jobs.load_job import fidelity, summarise
from harness.load.figures import Slo, capacity, level_figures, tpot
from harness.load.generator import schedule


def _row(i, ttft, e2e, completion, error=None, itl=()):
    return {
        "i": i,
        "scheduled_s": None,
        "sent_s": 0.0,
        "ttft_s": ttft,
        "e2e_s": e2e,
        "itl_s": list(itl),
        "prompt_tokens": 100,
        "completion_tokens": completion,
        "error": error,
    }


# 4 requests in 2 s: TTFT 0.2, 0.4, 0.6, 1.4 s; e2e 1.1, 1.3, 1.5, 2.3 s; 10 output tokens each (TPOT 0.1 s);
# a fifth failed.
ROWS = [
    _row(0, 0.2, 1.1, 10, itl=[0.1] * 9),
    _row(1, 0.4, 1.3, 10),
    _row(2, 0.6, 1.5, 10),
    _row(3, 1.4, 2.3, 10),
    _row(4, None, None, None, error="HTTP 503: busy"),
]


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
    assert not level_figures(ROWS, 2.0, Slo(ttft_p95_s=1.5, tpot_p95_s=0.05, max_error_rate=0.25))["meets_target"]
    # 20 % errors above a 1 % allowance fails the level whatever its latency
    assert not level_figures(ROWS, 2.0, Slo(ttft_p95_s=5, tpot_p95_s=1))["meets_target"]
    assert tpot(_row(9, 0.3, 0.3, 1)) is None  # one output token: no time per output token


def _level(level, ttft, wall=1.0, contended=False, behind=False):
    rows = [_row(i, ttft, ttft + 0.9, 10) for i in range(10)]
    return {
        "level": level,
        "level_id": f"l{level}",
        "rows": rows,
        "wall_s": wall,
        "machine": {"contended": contended},
        "generator": {"fell_behind": behind},
    }


def test_capacity_is_the_fastest_level_meeting_the_target_with_every_lower_one():
    """Levels 1, 2, 4, 8 with p95 TTFT 0.3, 0.5, 0.9, 1.6 s at a 1 s target: capacity = level 4, whose 10 answered
    requests in 0.4 s are 25 requests/s = 90,000 queries an hour, the most of the levels meeting the target.
    Every request of a level ends 0.9 s after its first token, so the e2e sd is 0 and the 95 % interval is the
    rate itself; the lowest level (1 user) answered 10 in 1 s = 36,000 queries an hour. (Had level 4 answered
    fewer per second than level 2, level 2 would be the capacity: tests/unit/test_cost_at_target.py.)"""
    slo = Slo(ttft_p95_s=1.0, tpot_p95_s=None)
    levels = [_level(1, 0.3), _level(2, 0.5), _level(4, 0.9, wall=0.4), _level(8, 1.6)]
    figs, cap = summarise(levels, slo)
    assert [f["figures"]["meets_target"] for f in figs] == [True, True, True, False]
    assert (cap["level"], cap["requests_per_s"], cap["queries_per_hour"]) == (4, 25.0, 90_000.0)
    assert cap["queries_per_hour_low"] == pytest.approx(90_000.0)
    assert cap["queries_per_hour_high"] == pytest.approx(90_000.0)
    assert cap["lowest"] == {"level": 1, "queries_per_hour": pytest.approx(36_000.0)}
    assert set(cap) == {
        "level",
        "requests_per_s",
        "queries_per_hour",
        "queries_per_hour_low",
        "queries_per_hour_high",
        "lowest",
    }
    assert figs[2]["figures"]["e2e_mean_s"] == pytest.approx(1.8)
    assert figs[2]["figures"]["e2e_sd_s"] == pytest.approx(0.0, abs=1e-12)
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
    assert m2["contended"] and m2["other_share"] == pytest.approx(0.4) and "other work used 40%" in m2["flags"][0]


def test_open_loop_schedule_offers_exactly_the_requested_rate():
    """16 arrivals at 4 per s: first at 0, last at (16 - 1) / 4 = 3.75 s exactly, whatever the seed (plain
    exponential gaps put it anywhere around 3.75 s: a level would offer 0.86-0.98 of its rate by chance)."""
    for seed in (0, 1, 2, 3):
        t = schedule(4.0, 16, seed)
        assert len(t) == 16 and t[0] == 0.0 and t[-1] == 3.75 and t == sorted(t)
        assert (len(t) - 1) / (t[-1] - t[0]) == 4.0
    assert schedule(4.0, 16, 0) == schedule(4.0, 16, 0) != schedule(4.0, 16, 1)  # drawn from the seed
    t = schedule(4.0, 16, 0)
    gaps = [b - a for a, b in zip(t, t[1:], strict=False)]
    assert max(gaps) > 2 * min(gaps)  # still random arrivals, not a metronome
    assert schedule(4.0, 1, 0) == [0.0] and schedule(4.0, 0, 0) == []


def test_fidelity_compares_the_achieved_rate_with_the_requested_one():
    """Four requests scheduled 1 s apart (1 per s requested). Sent 5 % slow (1.05 s apart): achieved
    3 / 3.15 s = 0.952 per s, 95.2 % of the request: fell behind (< 98 %). Sent on time but each 10 ms late: the
    achieved rate is 1.0, the p99 lag 10 ms, not behind."""
    slow = [{"sent_s": 0.01 + s * 1.05, "scheduled_s": s} for s in (0.0, 1.0, 2.0, 3.0)]
    f = fidelity(slow, 1.0)
    assert f["achieved_rate"] == pytest.approx(1 / 1.05) and f["achieved_over_requested"] == pytest.approx(1 / 1.05)
    assert f["scheduled_rate"] == 1.0 and f["fell_behind"]
    late = [{"sent_s": s + 0.01, "scheduled_s": s} for s in (0.0, 1.0, 2.0, 3.0)]
    f = fidelity(late, 1.0)
    assert f["achieved_over_requested"] == pytest.approx(1.0) and f["lag_p99_s"] == pytest.approx(0.01)
    assert not f["fell_behind"]
    # 2 % short is still within: 3 sends over 3 / 0.985 s
    assert not fidelity([{"sent_s": s / 0.985, "scheduled_s": s} for s in (0.0, 1.0, 2.0, 3.0)], 1.0)["fell_behind"]


def test_an_open_level_names_its_arrival_schedule_so_old_levels_are_measured_again():
    """The open-loop level id hashes the arrival schedule's version; a closed-loop id is as before."""
    from harness.jobs.load_job import digest, level_id

    base = {"schema": 1, "endpoint": {"url": "http://x/v1"}}
    assert level_id(base, "closed", 2.0, 16) == digest({**base, "mode": "closed", "level": 2.0, "requests": 16})
    new = level_id(base, "open", 2.0, 16)
    assert new == digest({**base, "mode": "open", "arrivals": "poisson-fixed-count", "level": 2.0, "requests": 16})
    assert new != digest({**base, "mode": "open", "level": 2.0, "requests": 16})  # the id before the change


def _open_rows():
    """16 requests at 4 per s, sent on time 0.25 s apart, each answered in 2 s with 11 output tokens; TTFT 0.2,
    0.3, 0.4, 0.5 s in turn (four of each). The last is sent at 3.75 s and ends at 5.75 s: the wall time."""
    return [
        {
            "i": i,
            "scheduled_s": i / 4,
            "sent_s": i / 4,
            "ttft_s": 0.2 + 0.1 * (i % 4),
            "e2e_s": 2.0,
            "itl_s": [],
            "prompt_tokens": 50,
            "completion_tokens": 11,
            "error": None,
        }
        for i in range(16)
    ]


def test_open_loop_throughput_is_taken_over_the_arrival_window_not_the_drain():
    """Arrival window = (3.75 - 0) x 16 / 15 = 4.0 s (= 16 / the achieved 4 per s). requests/s = 16 / 4 = 4.0
    (answered / wall would read 16 / 5.75 = 2.78, 30 % low); output tokens/s = 176 / 4 = 44. Goodput at TTFT
    <= 0.45 s, TPOT <= 0.2 s: TPOT = (2 - TTFT) / 10 <= 0.18 for all, TTFT 0.5 fails 4 -> 12 / 4 = 3.0 per s.
    TTFT p50 of four each of 0.2..0.5 = (0.3 + 0.4) / 2 = 0.35; p95 at rank 14.25 = 0.5. Recomputed from the
    stored rows as the record does (summarise)."""
    rows = _open_rows()
    slo = Slo(ttft_p95_s=0.45, tpot_p95_s=0.2, max_error_rate=0.0)
    stored = {
        "level": 4.0,
        "level_id": "o4",
        "rows": rows,
        "wall_s": 5.75,
        "machine": {"contended": False},
        "generator": fidelity(rows, 4.0),
    }
    [lv], cap = summarise([stored], slo)
    f = lv["figures"]
    assert f["window"] == "arrivals" and f["window_s"] == pytest.approx(4.0) and f["wall_s"] == 5.75
    assert f["requests_per_s"] == pytest.approx(4.0) and f["output_tokens_per_s"] == pytest.approx(44.0)
    assert f["goodput_per_s"] == pytest.approx(3.0)
    assert f["ttft_s"]["p50"] == pytest.approx(0.35) and f["ttft_s"]["p95"] == pytest.approx(0.5)
    assert lv["generator"]["achieved_over_requested"] == pytest.approx(1.0) and not f["meets_target"]
    assert cap is None  # p95 TTFT 0.5 > 0.45
    # one request failed: 15 answered over the same 4 s of arrivals
    rows[5]["error"] = "HTTP 503: busy"
    assert level_figures(rows, 5.75, slo)["requests_per_s"] == pytest.approx(3.75)
    # the same rows as a closed loop (no schedule): answered / wall
    closed = [{**r, "scheduled_s": None, "error": None} for r in rows]
    f = level_figures(closed, 5.75, slo)
    assert f["window"] == "wall" and f["requests_per_s"] == pytest.approx(16 / 5.75)


def test_a_cpu_saturated_client_is_flagged_by_hand():
    """2 CPUs, 10 s: 20 CPU-seconds, 8 idle -> 60 % busy. This process used 9.5 s (95 % of a core, above the
    90 % limit: the client, not the server, may have been the bottleneck), the server 2.5 s: ours = 12 / 20 =
    60 %, so no other work and no steal; the only flag is the saturated client."""
    a = {"wall": 0.0, "cpu": Cpu(0, 0, 0, 0, 0, 0, 0, 0), "own": 0.0, "theirs": 0.0}
    b = {"wall": 10.0, "cpu": Cpu(10, 0, 2, 8, 0, 0, 0, 0), "own": 9.5, "theirs": 2.5}
    m = contention(a, b, 2)
    assert (m["busy_share"], m["ours_share"], m["other_share"], m["own_cpu"]) == (0.6, 0.6, 0.0, 0.95)
    assert m["contended"] and m["flags"] == [
        "the measuring process used 95% of a core: it may have been the bottleneck"
    ]
    assert not contention(a, {**b, "own": 9.0, "theirs": 3.0}, 2)["contended"]  # 90 %: at the limit, not over


def test_a_model_runner_using_both_cores_is_not_contended_but_other_work_still_is():
    """A local evaluation on 2 CPUs over 10 s: the process itself used 16.6 CPU-seconds (166 % of a core: the
    model uses both cores by design), nothing else ran: busy 17 / 20 = 85 %, ours 83 %, other 2 %. As a runner it
    is not contended (every local row of the default job was flagged for this on a quiet machine); as a client
    it would be. When the machine is fully busy and the process used 10.6 s, other work took 20 - 10.6 = 9.4
    CPU-seconds (47 % > 25 %): contended either way."""
    from harness.busy import contended

    a = {"wall": 0.0, "cpu": Cpu(0, 0, 0, 0, 0, 0, 0, 0), "own": 0.0, "theirs": 0.0}
    b = {"wall": 10.0, "cpu": Cpu(16, 0, 1, 3, 0, 0, 0, 0), "own": 16.6, "theirs": 0.0}
    runner = contention(a, b, 2, client=False)
    assert (runner["busy_share"], runner["ours_share"], runner["other_share"]) == (0.85, 0.83, 0.02)
    assert runner["role"] == "runner" and not runner["contended"] and runner["flags"] == []
    assert contention(a, b, 2)["contended"]  # the same figures from a client: its own core saturated
    busy = {**b, "cpu": Cpu(19, 0, 1, 0, 0, 0, 0, 0), "own": 10.6}  # no idle time left
    other = contention(a, busy, 2, client=False)
    assert other["other_share"] == 0.47 and other["contended"]
    # a record stored before roles: its `contended` came from the own-core rule; re-read by the rule of its role
    old = {k: v for k, v in contention(a, b, 2).items() if k != "role"}
    assert old["contended"] and not contended(old, runner=True) and contended(old, runner=False)


def _load_record(capacity_rps=2.0, slo=None, model_key="m-small", task="helpdesk"):
    """A load record as harness load writes it: levels 1, 2, 4 users, capacity at level 2."""
    slo = slo or {"ttft_p95_s": 1.0, "tpot_p95_s": 0.1, "max_error_rate": 0.01}

    def level(n, rps, ttft, tpot):
        return {
            "level": n,
            "level_id": f"l{n}",
            "trusted": True,
            "machine": {"contended": False, "flags": []},
            "generator": None,
            "figures": {
                "requests_per_s": rps,
                "ttft_s": {"p95": ttft},
                "tpot_s": {"p95": tpot},
                "meets_target": ttft <= 1.0,
            },
        }

    return {
        "kind": "load",
        "load_id": "ab" * 10,
        "created_at": "2026-12-01T00:00:00+00:00",
        "identity": {
            "endpoint": {"model_key": model_key, "artifact_id": None},
            "task": {"name": task},
            "mode": "closed",
            "slo": slo,
            "device": {"price_per_hour": 3.0, "devices": 1, "profile": "l4"},
        },
        "levels": [level(1, 1.0, 0.3, 0.05), level(2, capacity_rps, 0.8, 0.07), level(4, 2.5, 1.9, 0.2)],
        "capacity": {"level": 2, "requests_per_s": capacity_rps, "queries_per_hour": 3600 * capacity_rps},
        "target": "p95 TTFT <= 1 s, p95 TPOT <= 100 ms, errors <= 1%",
    }


def test_the_self_hosted_cost_per_1000_queries_comes_from_the_measured_capacity_by_hand():
    """Capacity 2 req/s = 7,200 queries/h per replica on a 3.00/h device. Dedicated defaults (730 h a month,
    peak 3x the mean, planned at 60 %): 10,000,000 queries a month peak at 1e7 / 730 x 3 = 41,096 queries/h;
    one replica serves 7,200 x 0.6 = 4,320 -> ceil(9.51) = 10 replicas x 3.00 x 730 h = 21,900 a month =
    2.19 per 1,000 queries (not the record's own batch throughput of 99,999 queries/h)."""
    from harness.compare.deployment import Deployment
    from harness.report.table import cost_and_latency, self_hosting, with_capacity
    from tests.support.records import make_record

    cell = make_record(
        model="m-small",
        task="helpdesk",
        hardware={"price_per_hour": 3.0, "profile": "l4"},
        inference={"queries_per_hour": 99_999.0},
        cost={"per_1k_queries": 1000 * 3.0 / 99_999},
    ).to_json()
    [row] = with_capacity([cell], [_load_record()])
    assert self_hosting(row) == (7200.0, 3.0, 1)
    c = cost_and_latency(row, Deployment(), 10_000_000)
    assert c["cost_per_1k"] == pytest.approx(2.19) and c["capacity_qph"] == 7200.0
    assert c["cost_basis"].startswith("dedicated, 10 replica(s) at 10,000,000 queries a month; capacity 7,200")
    assert "capacity at the target p95 TTFT <= 1 s" in c["cost_basis"]
    # another task's load does not price this row, and neither does its batch throughput (99,999 queries/h would
    # be 1 replica = 0.219 per 1,000): no cost, "not measured at a target", the batch figure beside it
    [other] = with_capacity([cell], [_load_record(task="ota_intent")])
    assert "capacity" not in other and self_hosting(other) is None
    c = cost_and_latency(other, Deployment(), 10_000_000)
    assert c["cost_per_1k"] is None and c["cost_low"] is None and c["cost_high"] is None
    assert c["cost_missing"] == "not at a target" and c["cost_missing_label"] == "not measured at a target"
    assert c["batch_per_1k"] == pytest.approx(1000 * 3.0 / 99_999) and c["capacity_qph"] is None


def test_the_load_chart_rings_the_capacity_and_draws_each_target_against_its_records():
    """The capacity marker sits at the capacity level's (requests/s, p95 TTFT) = (2.0, 0.8). Two records with
    TTFT targets 1 s and 2 s get one line each, named with their record; their common TPOT target one line."""
    from harness.report.charts import load_chart, load_label

    fig = load_chart([_load_record()])
    [ring] = [t for t in fig.data if t.marker.symbol == "circle-open"]
    assert list(ring.x) == [2.0] and list(ring.y) == [0.8]
    assert [s.y0 for s in fig.layout.shapes] == [1.0, 0.1]
    assert [a.text for a in fig.layout.annotations] == ["target p95 TTFT 1 s", "target p95 TPOT 0.1 s"]
    loose = _load_record(slo={"ttft_p95_s": 2.0, "tpot_p95_s": 0.1, "max_error_rate": 0.01}, model_key="big")
    loose["identity"]["endpoint"] = {"model": "big-model"}
    fig = load_chart([_load_record(), loose])
    a, b = load_label(_load_record()), load_label(loose)
    assert sorted((s.y0, s.yref) for s in fig.layout.shapes) == [(0.1, "y2"), (1.0, "y"), (2.0, "y")]
    assert sorted(x.text for x in fig.layout.annotations) == sorted(
        [f"target p95 TTFT 1 s: {a}", f"target p95 TTFT 2 s: {b}", "target p95 TPOT 0.1 s"]
    )


def test_an_evaluation_timed_on_a_contended_machine_says_so_where_its_cost_is_shown():
    from harness.report.table import cost_and_latency
    from tests.support.records import make_record

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
    from harness.jobs.load_job import _endpoint_identity
    from tests.support.run import compose_cfg

    raw = compose_cfg(
        [
            "load.endpoint=url",
            "load.url=http://gpu-runner:8000/v1",
            "load.model=smol",
            "load.device_profile=h100",
            "load.model_key=smollm2-135m",
        ]
    )
    endpoint, price, device = _endpoint_identity(OmegaConf.to_object(raw), raw)
    h100 = load_option("hardware", "h100", HardwareConfig)
    assert endpoint["url"] == "http://gpu-runner:8000/v1" and endpoint["model_key"] == "smollm2-135m"
    assert price is None and device["price_per_hour"] == h100.price_per_hour and device["kind"] == "external"


def test_an_endpoint_that_answers_nothing_stores_nothing_and_says_so(tmp_path):
    """Every request refused (nothing listens on port 9): the level is not stored as a measurement."""
    from harness.app.commands.load import cmd_load
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="every request of closed-loop level 1 failed"):
        cmd_load(
            [
                "task=helpdesk_en",
                "load.url=http://127.0.0.1:9/v1",
                "load.model=m",
                "load.levels=[1]",
                "load.requests_per_level=2",
                f"paths.results={tmp_path}",
            ]
        )
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
    from harness.app.commands.load import cmd_load
    from harness.errors import HarnessError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")  # nothing is sent: the run stops before
    common = ["baseline=openai-gpt-4o-mini", "task=helpdesk_en", f"paths.results={tmp_path}"]
    with pytest.raises(HarnessError, match="is a paid API.*load.paid=true"):
        cmd_load(common)
    # the levels are named: the sweep's own load preset (2 levels x 4 requests) is under the cap, and would send
    with pytest.raises(HarnessError, match=r"^3 levels x 16 requests exceed load.max_requests=10;"):
        cmd_load(
            [*common, "load.paid=true", "load.max_requests=10", "load.levels=[1,2,4]", "load.requests_per_level=16"]
        )


@pytest.mark.parametrize(
    "task, why",
    [
        ("general_en", "is multiple_choice: a load test needs a generation task"),
        ("gsm8k", "ships with lm-eval; a load test takes its prompts from a project"),
    ],
)
def test_a_task_that_cannot_give_load_prompts_is_refused_with_a_reason(task, why, tmp_path):
    from harness.app.commands.load import cmd_load
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=why):
        cmd_load([f"task={task}", "load.url=http://127.0.0.1:9/v1", "load.model=m", f"paths.results={tmp_path}"])


def test_a_levels_worst_case_is_its_prompts_at_the_input_price_and_max_tokens_at_the_output_price():
    """Prompts of 400 and 800 characters: 100 and 200 tokens by the API client's estimate (characters / 4).
    3 requests cycle through them: 100 + 200 + 100 = 400 prompt tokens x 2.00 per 1M (above the cached 1.00)
    + 3 x 50 max tokens x 8.00 per 1M = (800 + 1,200) / 1e6 = 0.002. Billed 150 prompt tokens for the
    100-token estimate: later estimates scale by 1.5 -> (600 x 2 + 1,200) / 1e6 = 0.0024."""
    from harness.jobs.load_job import level_worst_case, prompt_ratio

    prompts = [[{"role": "user", "content": "x" * 400}], [{"role": "user", "content": "y" * 800}]]
    price = {"input_per_1m": 2.0, "cached_input_per_1m": 1.0, "output_per_1m": 8.0}
    assert level_worst_case(prompts, 3, 50, price) == pytest.approx(0.002)
    rows = [{"i": 0, "prompt_tokens": 150}, {"i": 1, "prompt_tokens": 180}, {"i": 2, "prompt_tokens": None}]
    ratio = prompt_ratio(rows, prompts, 1.0)
    assert ratio == 1.5 and prompt_ratio(rows, prompts, 2.0) == 2.0  # never lowered
    assert level_worst_case(prompts, 3, 50, price, ratio) == pytest.approx(0.0024)


def _priced_api(answer_tokens):
    """A stand-in of a paid API (tests/conftest.py LoopbackServer): every answer streams one content chunk and
    bills 100 prompt and `answer_tokens` completion tokens."""
    from tests.support.provider import LoopbackServer, send_body

    usage = {"prompt_tokens": 100, "completion_tokens": answer_tokens, "total_tokens": 100 + answer_tokens}
    stream = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
        b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\ndata: [DONE]\n\n"
    )

    def answer(body, handler):
        send_body(handler, stream, "text/event-stream")  # the status and headers; the body is ours to write
        handler.wfile.write(stream)

    return LoopbackServer(answer)


@pytest.mark.parametrize(
    "caps, key", [(["load.budget=2.3"], "load.budget"), (["load.budget=5", "budget.max_usd=2.3"], "budget.max_usd")]
)
def test_a_paid_api_stops_before_the_level_whose_worst_case_could_pass_the_cap(caps, key, tmp_path, monkeypatch):
    """Prices: input 0, output 10,000 per 1M tokens = 0.01 a token; helpdesk caps answers at 48 tokens. A level
    of 4 requests (4 users need 4 requests to be a level of 4) can cost at most 4 x 48 x 0.01 = 1.92; each answer
    bills 5 tokens = 0.05, 0.20 a level. Cap 2.3: level 1 (0 + 1.92 <= 2.3) and level 2 (0.20 + 1.92 = 2.12) are
    sent; level 4 could bring 0.40 + 1.92 = 2.32 > 2.3: not sent. Spent 0.40 <= 2.3; the two measured levels are
    stored."""
    from harness.app.commands.load import cmd_load

    monkeypatch.setenv("OPENAI_API_KEY", "sk-stand-in")
    with _priced_api(5) as api:
        cmd_load(
            [
                "baseline=openai-gpt-4o-mini",
                f"baseline.base_url={api.url}",
                "baseline.price.input_per_1m=0",
                "baseline.price.cached_input_per_1m=null",
                "baseline.price.output_per_1m=10000",
                "task=helpdesk_en",
                "load.paid=true",
                "load.levels=[1,2,4]",
                "load.requests_per_level=4",
                "load.n_prompts=2",
                "load.timeout_s=10",
                *caps,
                f"paths.results={tmp_path}",
            ]
        )
    [path] = (tmp_path / "load").glob("*.json")
    record = json.loads(path.read_text())
    assert [lv["level"] for lv in record["levels"]] == [1.0, 2.0]
    assert len(list((tmp_path / "load" / "levels").glob("*.json"))) == 2
    assert record["cost"] == pytest.approx(0.40) and record["cost"] <= 2.3
    stop = record["stopped_by_budget"]
    assert stop["level"] == 4.0 and stop["cap"] == key and stop["cap_usd"] == 2.3
    assert stop["spent_usd"] == pytest.approx(0.40) and stop["level_worst_case_usd"] == pytest.approx(1.92)


def test_a_served_model_gets_the_kv_pages_its_load_test_needs():
    """Pages of 256 tokens: 2 users whose longest request is 230 + 48 tokens need 2 pages each, plus a spare;
    a request of exactly one page needs one; the cap (ServeConfig.cb_num_blocks) bounds it; no prompt at all
    still gets a page."""
    from harness.jobs.load_job import kv_pages

    assert kv_pages([120, 230, 200], 48, users=2, cap=16) == 2 * 2 + 1
    assert kv_pages([208], 48, users=1, cap=16) == 1 + 1
    assert kv_pages([209], 48, users=1, cap=16) == 2 + 1
    assert kv_pages([3000], 256, users=8, cap=16) == 16
    assert kv_pages([], 0, users=4, cap=16) == 1
