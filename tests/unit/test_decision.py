"""The decision panel (harness/report/decision.py) on a case worked by hand: one task, a LoRA model measured under
load and an API baseline, first without per-item scores (nothing tested), then with them (the tuned model
separated above the API)."""

from __future__ import annotations

from harness.report.analysis import build_board
from tests.support.records import make_samples
from tests.unit.test_report import break_even_case

SETTINGS = {"monthly_queries": 100_000, "amortise_months": 3}


def records() -> tuple[list[dict], list[dict]]:
    """Tuned: 0.10 USD/h device, 3,600 queries/h at the target, one user p50/p95 0.50/0.90 s, training 6.00;
    dedicated at 100,000 queries a month = 730 x 0.10 / 100 = 0.7300 per 1,000, plus 6.00 over 3 months of
    100,000 = 0.0200 per 1,000: 0.7500. API: 500 prompt tokens at 1.00 per 1M = 0.5000 per 1,000."""
    tuned, api, load = break_even_case(score=0.9, n=40)
    api["primary"]["value"] = api["metrics"][api["primary"]["metric"]]["value"] = 0.25
    return [tuned, api], [load]


def test_without_per_item_scores_the_panel_recommends_the_best_and_says_nothing_was_tested():
    recs, loads = records()
    [d] = build_board(recs, [], settings=SETTINGS, loads=loads).decisions
    rec, runner = d["options"]
    assert (d["task"], rec["label"], rec["cost"], rec["p95"]) == (
        "helpdesk",
        "m · lora on helpdesk, 64 ex.",
        "0.7500 USD",
        "0.90 s",
    )
    assert rec["score"].startswith("0.900") and (runner["cost"], runner["p95"]) == (
        "0.5000 USD",
        "not measured",
    )
    assert d["basis"] == "the best score (ties not tested), priced"
    # break-even: 0.0005 x V = 73 + 2 -> V = 150,000 (one replica serves 525,600 a month)
    assert d["verdict"]["head"] == "Undecided" and d["verdict"]["text"] == (
        "scores 0.900 vs 0.250, not compared on the same items; fine-tuning is cheaper above 150,000 queries a "
        "month (assumed: 100,000)"
    )
    assert d["confidence"] == "Low: the options were not tested against each other on the same items (40 items)."
    assert d["missing"] == ["latency at one user: 1 of 2 rows"]  # the API was not load-tested


def test_with_per_item_scores_a_separated_better_model_is_recommended_with_high_confidence():
    """36 of 40 right against 10 of 40, the API's right items a subset of the tuned model's: 26 discordant pairs all
    one way, McNemar p = 2 x 0.5^26: separated."""
    recs, loads = records()
    right = {"tuned000000000000000": set(range(36)), "a" * 20: set(range(10))}
    samples = {cid: make_samples([i in ok for i in range(40)]) for cid, ok in right.items()}
    [d] = build_board(recs, [], settings=SETTINGS, loads=loads, samples=samples.__getitem__).decisions
    assert d["basis"] == "the cheapest option tied with the best score"  # the only priced row of the top tier
    assert [o["cost"] for o in d["options"]] == ["0.7500 USD", "0.5000 USD"]
    # better, but at the assumed 100,000 queries a month the API is cheaper (break-even 150,000): a trade-off
    assert d["verdict"]["head"] == "Trade-off" and d["verdict"]["text"] == (
        "the fine-tuned model scores higher (0.900 vs 0.250, separated by the paired tests); fine-tuning is cheaper "
        "above 150,000 queries a month (assumed: 100,000)"
    )
    assert d["confidence"] == (
        "High: it scores above the runner-up beyond noise (paired tests, Holm, 5 %) on 40 items."
    )
    # at 200,000 a month one replica still serves it (525,600): 73.00 / 200 = 0.3650 + 6.00 over 3 x 200,000
    # = 0.0100 per 1,000 -> 0.3750; the API's 0.5000 is dearer, so fine-tune
    [d] = build_board(
        recs, [], settings={**SETTINGS, "monthly_queries": 200_000}, loads=loads, samples=samples.__getitem__
    ).decisions
    assert d["verdict"]["head"] == "Fine-tune" and d["options"][0]["cost"] == "0.3750 USD"


def test_a_cheaper_option_that_scores_lower_is_not_called_sure():
    """target 0.20: both rows meet it, the API is the cheaper (0.5000 against 0.7500) and is recommended, yet the
    runner-up scores higher beyond noise: the panel says so rather than "High"."""
    recs, loads = records()
    right = {"tuned000000000000000": set(range(36)), "a" * 20: set(range(10))}
    samples = {cid: make_samples([i in ok for i in range(40)]) for cid, ok in right.items()}
    [d] = build_board(
        recs, [], settings={**SETTINGS, "target_score": 0.2}, loads=loads, samples=samples.__getitem__
    ).decisions
    assert d["basis"] == "the cheapest option scoring at least 0.20"
    assert [(o["label"].split(" ")[0], o["cost"]) for o in d["options"]] == [
        ("GPT", "0.5000 USD"),
        ("m", "0.7500 USD"),
    ]
    assert d["confidence"].startswith("Moderate: it is the cheaper choice, but the runner-up scores higher")
    assert d["verdict"]["head"] == "Trade-off"
