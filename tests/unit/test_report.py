"""The first leaderboard from records: a self-contained file, numbers from the records, text escaped."""

from __future__ import annotations

import pytest

from harness.report.render import write_report
from harness.report.table import leaderboard
from tests.support import page
from tests.support.records import make_record, make_samples

# A record in the stored shape (a test input, not a result shown to anyone): 38 of 50 right.
RECORD = make_record(
    "c0ffee0000000000000a",
    model="m-small",
    display_name="Small <b>model</b>",
    task="helpdesk",
    metric="contains",
    n=50,
    score=0.76,
    stderr=0.0610,
    metrics={"exact_match": {"value": 0.0, "stderr": 0.0}},
).to_json()


def other(score: float, name: str, cid: str) -> dict:
    return make_record(cid, model=name, score=score).to_json()


def test_table_sorts_by_score_and_computes_the_ci():
    df = leaderboard([RECORD, other(0.86, "m-big", "b" * 20)])
    assert list(df["model_key"]) == ["m-big", "m-small"]
    small = df[df.model_key == "m-small"].iloc[0]
    assert round(small.ci_low, 4) == round(0.76 - 1.959964 * 0.0610, 4)  # 0.6404
    assert round(small.ci_high, 4) == 0.8796


def test_report_is_self_contained_and_escapes_text(tmp_path):
    path = write_report(
        [RECORD, other(0.86, "m-big", "b" * 20)],
        tmp_path,
        "T",
        not_measured=[
            {
                "model": "qwen-14b",
                "task": "helpdesk",
                "status": "preflight_failed",
                "message": "weights <script>alert(1)</script> missing",
            }
        ],
    )
    html = path.read_text()
    assert html.count("Plotly.newPlot") == 1
    assert "<script src=" not in html and "<link " not in html  # nothing fetched: plotly.js is inlined
    assert html.count("plotly.js v") >= 1
    assert "Small &lt;b&gt;model&lt;/b&gt;" in html  # model names are text, not markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "0.760 [0.640, 0.880]" in [r["score"] for r in page.leaderboard(html)]
    # the rows are data in a script element: no text in them can close it or open a comment
    assert "</script>" not in html.split('id="leaderboard-data">')[1].split("</script>")[0]
    assert (tmp_path / "leaderboard.csv").read_text().count("\n") == 3


def test_ci_of_an_all_wrong_or_all_right_score_is_not_a_point():
    from harness.report.table import ci95

    assert ci95(0.0, 0.0, 40) == (0.0, pytest.approx(3.841459 / 43.841459))  # Wilson: [0, 0.0876]
    assert ci95(1.0, 0.0, 40)[0] == pytest.approx(1 - 3.841459 / 43.841459)
    assert ci95(0.5, 0.1, 40) == (pytest.approx(0.5 - 0.1959964), pytest.approx(0.5 + 0.1959964))
    assert ci95(0.5, None, 40) is None


def break_even_case(score: float, n: int | None = None) -> tuple[dict, dict, dict]:
    """(tuned record, API record, the tuned model's load record) of the break-even worked by hand below: the tuned
    model on a 0.10 USD/h device, 3,600 queries/h at the target, one user p50/p95 0.50/0.90 s, training 6.00; the
    API at 500 prompt tokens x 1.00 per 1M = 0.0005 a query. `n`: test items of both (the record's default: None)."""
    from harness.api.meter import Meter
    from tests.support.loads import load_record

    tuned = make_record(
        "tuned000000000000000",
        model="m",
        score=score,
        **({"n": n} if n else {}),
        finetune={
            "method": "lora",
            "train_task": "helpdesk",
            "artifact_id": "a" * 20,
            "seed": 1,
            "data": {"n_domain": 64, "n_replay": 0},
            "metering": {
                "train_seconds": 60.0,
                "device": {"kind": "cuda"},
                "train_tokens": 1,
                "final_train_loss": 1,
                "validation_loss": 1,
            },
        },
        hardware={"profile": "h100", "kind": "cuda", "price_per_hour": 0.10},
        cost={"currency": "USD", "per_1k_queries": 0.10, "training": 6.0},
        inference={"latency_s": {"p50": 1.5, "p95": 2.5}, "queries_per_hour": 1000.0},
    ).to_json()
    load = load_record(
        model_key="m",
        artifact_id="a" * 20,
        capacity_qph=3600.0,
        price_per_hour=0.10,
        profile="h100",
        one_user=(0.5, 0.9),
    )
    price = {"currency": "USD", "input_per_1m": 1.0, "cached_input_per_1m": None, "output_per_1m": 0.0}
    api = api_record(
        price, [Meter(prompt_tokens=500, cached_tokens=0, completion_tokens=0, latency_s=1.0, cost=500 / 1e6)]
    )  # 0.0005 per query = 0.50 per 1,000
    api["task"]["n"] = tuned["task"]["n"]
    return tuned, api, load


def api_record(price: dict, meters: list) -> dict:
    """An API-baseline record whose `api` section is aggregated from hand-made meters, as the harness does."""
    from harness.api.meter import aggregate

    return make_record(
        "a" * 20, source="api", model="gpt-x", display_name="GPT <i>x</i>", score=0.5, api=aggregate(meters, price)
    ).to_json()


def test_api_rows_show_tokens_money_and_latency(tmp_path):
    from harness.api.meter import Meter
    from harness.api.pricing import cost

    price = {
        "currency": "USD",
        "input_per_1m": 0.15,
        "cached_input_per_1m": 0.075,
        "output_per_1m": 0.60,
        "as_of": "2025-08-07",
        "source": "https://openai.com/api/pricing/",
    }
    meters = [
        Meter(
            prompt_tokens=p,
            cached_tokens=0,
            completion_tokens=c,
            latency_s=lat,
            ttft_s=lat / 4,
            cost=cost(p, 0, c, price),
        )
        for p, c, lat in [(1000, 100, 1.0), (3000, 300, 3.0)]
    ]
    html = write_report([RECORD, api_record(price, meters)], tmp_path, "t").read_text()
    table = html.split('id="api-usage"')[1].split("</table>")[0]
    # per query: (2000 x 0.15 + 200 x 0.60) / 1e6 = 0.00042; per 1,000 queries 0.42; p50 latency 2.00, p95 2.90
    assert "0.0004200 USD" in table and "0.4200 USD" in table and "2.00 / 2.90" in table
    assert "2000.0" in table and "200.0" in table and "GPT &lt;i&gt;x&lt;/i&gt;" in table
    assert "not disclosed" in html  # a closed model's parameter count is unknown, not zero
    unpriced = api_record({"currency": "USD"}, meters[:1])
    table = write_report([unpriced], tmp_path, "t").read_text().split('id="api-usage"')[1].split("</table>")[0]
    assert "unpriced" in table and "0.0000" not in table


def test_forgetting_gets_a_paired_interval_mcnemar_and_a_flag(tmp_path):
    """A tuned model that lost 6 general items and gained none, on 40 shared items: significant forgetting."""
    from harness.report.table import tuning_effect

    metering = {
        "train_seconds": 60.0,
        "train_tokens": 6000,
        "tokens_per_s": 100.0,
        "peak_memory_bytes": 2**30,
        "device": {"kind": "cpu"},
        "final_train_loss": 0.5,
        "validation_loss": 0.6,
    }
    general = {"model": "m", "task": "general_en", "n": 40, "metric": "acc"}
    base = make_record("base0000000000000000", score=0.5, **general).to_json()
    tuned = make_record(
        "tuned000000000000000",
        score=0.35,
        **general,
        finetune={
            "method": "lora",
            "base_cell_id": base["cell_id"],
            "train_task": "helpdesk_en",
            "artifact_id": "a" * 20,
            "seed": 1,
            "data": {"n_domain": 64, "n_replay": 0},
            "metering": metering,
        },
    ).to_json()
    right = {"base0000000000000000": set(range(20)), "tuned000000000000000": set(range(6, 20))}
    samples = {cid: make_samples([i in ok for i in range(40)], "acc") for cid, ok in right.items()}
    [row] = tuning_effect([base, tuned], samples.__getitem__).to_dict("records")
    assert row["n_paired"] == 40 and row["p_mcnemar"] == pytest.approx(2 * 0.5**6)  # 6 discordant, all one way
    assert row["ci_high"] < 0 and row["significant"] and row["forgetting"]
    html = write_report([base, tuned], tmp_path, "t", samples=samples.__getitem__).read_text()
    assert "significant forgetting" in html and "McNemar p = 0.0312" in html


def test_break_even_table_from_records_by_hand(tmp_path):
    """Tuned: measured under load at 3,600 queries/h within the latency target on a 0.10 USD/h device, training
    6.00; API: 0.50 per 1,000. Dedicated, one replica always on: 730 h x 0.10 = 73.00 a month, 0.7300 per 1,000 at
    100,000 queries a month (the record's batch figure, 0.10 / 1,000 queries/h = 0.10 per 1,000, is shown beside and
    used nowhere). Over 3
    months the training adds 2.00 a month: the API's 0.0005 a query pays 75.00 at 150,000 queries a month, which
    one replica serves (3,600 x 0.6 x 730 / 3 = 525,600): fine-tuning is cheaper above 150,000. Latency per request
    at one user from the load's level 1 (0.50 / 0.90 s), the batch wall time (1.50 / 2.50 s) a column of its own."""
    from harness.report.table import break_even, with_capacity

    tuned, api, load = break_even_case(score=0.7)
    df = break_even(with_capacity([tuned, api], [load]), 100_000, 3)
    [row] = df.to_dict("records")
    assert row["break_even"] == "above 150,000" and row["break_even_first"] == pytest.approx(150_000)
    assert row["api_per_1k"] == pytest.approx(0.5) and row["tuned_per_1k"] == pytest.approx(0.73)
    assert row["self_monthly"] == pytest.approx(73.0 + 2.0) and row["api_monthly"] == pytest.approx(50.0)
    assert row["amortised_per_1k"] == pytest.approx(1000 * 6.0 / 300_000)
    # without the load record the tuned row has no cost at a target, so no break-even: batch prices nobody
    [bare] = break_even([tuned, api], 100_000, 3).to_dict("records")
    assert bare["break_even"] == "unknown (not measured at a latency target)"
    assert bare["break_even_kind"] == "unknown" and bare["tuned_missing"] == "not at a target"
    html = write_report(
        [tuned, api],
        tmp_path,
        "t",
        assumptions={"monthly_queries": 100_000, "amortise_months": 3},
        loads=[load],
    ).read_text()
    assert 'id="break-even"' in html and "<b>above 150,000</b>" in html
    rows = {r["model"]: r for r in page.leaderboard(html)}
    tuned_row, api_row = rows[tuned["model"]["display_name"]], rows[api["model"]["display_name"]]
    # one cost scale, both kinds of row; the tuned row's batch figure in its own column, labelled, never its cost
    assert (tuned_row["cost"], api_row["cost"], tuned_row["batch_cost"]) == (
        "0.7300 USD",
        "0.5000 USD",
        "0.1000 USD",
    )
    # the tuned row at one user (its load record's level 1), and its evaluation's batch time apart
    assert (tuned_row["p50"], tuned_row["p95"], tuned_row["batch"]) == ("0.50", "0.90", "1.50 / 2.50")


def test_format_validity_is_a_column_when_a_task_measures_it(tmp_path):
    fmt = make_record(
        "f" * 20, model="m-json", score=0.3, metrics={"json_valid": {"value": 0.8, "stderr": 0.05}}
    ).to_json()
    html = write_report([RECORD, fmt], tmp_path, "t").read_text()
    assert "Valid JSON / schema</th>" in html and "80% / -" in [r["format"] for r in page.leaderboard(html)]
    assert (
        "Valid JSON / schema</th>" not in write_report([RECORD], tmp_path, "t").read_text()
    )  # no such task: no column


def test_a_local_row_is_called_contended_only_for_other_work():
    """A local evaluation's `machine` section as records stored it before roles: 166 % of a core used by the
    model runner itself, 2 % other work, flagged "contended" by the client rule. Its row says where it ran and
    nothing more; the same section with 40 % other work says why it is contended."""
    quiet = {
        "cpus": 2,
        "busy_share": 0.85,
        "ours_share": 0.83,
        "other_share": 0.02,
        "steal_share": 0.0,
        "own_cpu": 1.66,
        "contended": True,
        "flags": ["the measuring process used 166% of a core: it may have been the bottleneck"],
    }
    busy = {
        **quiet,
        "other_share": 0.4,
        "flags": ["other work used 40% of the machine's CPU while this was timed"],
    }
    rows = leaderboard(
        [
            make_record("a" * 20, inference={"machine": quiet}).to_json(),
            make_record("b" * 20, model="m-2", inference={"machine": busy}).to_json(),
        ]
    )
    where = dict(zip(rows["model_key"], rows["measured_on"], strict=True))
    assert "contended" not in where["m-small"] and "166%" not in where["m-small"]
    assert "timed on a contended machine: other work used 40% of the machine's CPU" in where["m-2"]
    assert "166%" not in where["m-2"]  # the runner's own cores are never the reason
