"""Data egress (harness/report/egress.py): where each row's prompts and answers go, from the stored record."""

from __future__ import annotations

import re

from omegaconf import OmegaConf

from harness.app.compose import group_options
from harness.report.egress import IN_HOUSE, THIRD_PARTY, describe, egress
from tests.support import page
from tests.support.records import make_record
from tests.support.run import compose_cfg


def test_every_baseline_config_states_its_data_policy_with_a_source_and_date():
    for name in group_options("baseline"):
        if name == "none":
            continue
        b = OmegaConf.to_object(compose_cfg([f"baseline={name}"]).baseline)
        p = b.data_policy
        assert p.trains_on_inputs in ("no", "opt_in", "opt_out", "yes", "unknown"), name
        if b.serve is not None:  # served on this machine: nothing leaves it
            continue
        assert p.checked and re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.checked), name
        if p.trains_on_inputs != "unknown" or p.region:  # a stated fact names where it was read
            assert p.source and p.source.startswith("https://"), name


def test_a_bad_training_use_is_refused_with_its_key():
    from harness.app.validate import value_problems

    problems = value_problems(compose_cfg(["baseline=deepseek-chat", "baseline.data_policy.trains_on_inputs=maybe"]))
    assert any(p.startswith("baseline.data_policy.trains_on_inputs=maybe: one of no, opt_in") for p in problems)


def _api(name: str, serve: bool = False, policy: dict | None = None) -> dict:
    r = make_record("c" * 20, source="api", model=name).to_json()
    r["model"]["provider"] = "local" if serve else "deepseek"
    r["config"] = {"baseline": {"serve": {"model": "smollm2-135m"} if serve else None, "data_policy": policy}}
    return r


def test_egress_of_a_local_model_an_api_a_served_stand_in_and_an_old_record():
    local = egress(make_record("b" * 20).to_json())
    assert local["kind"] == IN_HOUSE and local["trains_on_inputs"] == "no"
    policy = {
        "region": "China (PRC)",
        "trains_on_inputs": "unknown",
        "source": "https://example.org/p",
        "checked": "2026-12-03",
    }
    api = egress(_api("deepseek-chat", policy=policy))
    assert (api["kind"], api["provider"], api["region"], api["trains_on_inputs"]) == (
        THIRD_PARTY,
        "deepseek",
        "China (PRC)",
        "unknown",
    )
    assert describe(api) == (
        "third-party API (deepseek), China (PRC); training use unknown (as documented, read 2026-12-03)"
    )
    stand_in = egress(_api("local-smollm2", serve=True, policy={"trains_on_inputs": "yes"}))
    assert stand_in["kind"] == IN_HOUSE and stand_in["trains_on_inputs"] == "no"
    old = egress(_api("gpt-x"))  # a record from before baselines stated a policy
    assert old["kind"] == THIRD_PARTY and old["trains_on_inputs"] == "unknown" and old["region"] is None
    assert describe(old) == "third-party API (deepseek), region unknown; training use unknown"


def test_the_report_has_an_egress_column_a_filter_and_the_best_in_house_sentence(tmp_path):
    """Two local rows and one API on the same 4 items: the API ranks first; the best row that keeps the data in
    house is the better local one, and the summary says so beside the API's rank."""
    from harness.report.analysis import build_board
    from harness.report.render import write_board
    from tests.support.records import make_samples

    local_a = make_record("a" * 20, model="alpha", task="helpdesk", n=4, score=0.5).to_json()
    local_b = make_record("b" * 20, model="beta", task="helpdesk", n=4, score=0.25).to_json()
    policy = {
        "region": "China (PRC)",
        "trains_on_inputs": "unknown",
        "source": "https://example.org/policy",
        "checked": "2026-12-03",
    }
    api = _api("deepseek-chat", policy=policy)
    api["task"] = {**local_a["task"]}
    api["primary"]["value"] = api["metrics"]["contains"]["value"] = 0.75
    right = {"a" * 20: [1, 1, 0, 0], "b" * 20: [1, 0, 0, 0], api["cell_id"]: [1, 1, 1, 0]}
    board = build_board([local_a, local_b, api], [], samples=lambda cid: make_samples(right[cid]))
    [finding] = [f for f in board.findings if f.kind == "in_house"]
    assert finding.headline == "Best option on helpdesk that keeps data in house: alpha · base"
    assert finding.detail.startswith("Rank 1, score 0.500; the best third-party API row (")
    assert board.filters["egress"] == ["in_house", "third_party"]
    html = write_board(board, tmp_path, "t").read_text()
    assert '<option value="in_house">in house</option>' in html
    [api_row] = [r for r in page.leaderboard(html) if r["filters"]["egress"] == "third_party"]
    assert '<a href="https://example.org/policy"' in html  # the policy's source, linked from its note
    assert api_row["notes"]["egress"][0].endswith("training use unknown (as documented, read 2026-12-03)")
