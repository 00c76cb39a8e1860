"""The load stage inside a cells job (harness/jobs/load_cells.py): which endpoints a job measures, with which levels."""

from __future__ import annotations

import pytest

from tests.support.run import compose_cfg


def names_and_levels(overrides: list[str]) -> list[tuple[str, str, list[float]]]:
    from harness.jobs.load_cells import endpoints

    cfg = compose_cfg(overrides)
    return [(name, c.load.endpoint, list(c.load.levels)) for name, c in endpoints(cfg)]


def test_the_default_job_measures_its_tuned_model_and_the_free_stand_in_at_one_user():
    """sweep=default: load.with_cells=tuned at the cpu preset, levels 1 and 2 of 4 requests; the stand-in API at
    level 1 only (its latency; an API's cost is its usage)."""
    cfg = compose_cfg([])
    assert (cfg.load.with_cells, cfg.load.preset, cfg.load.ttft_p95_s, cfg.load.tpot_p95_s) == (
        "tuned",
        "cpu",
        3.0,
        0.5,
    )
    assert (list(cfg.load.levels), cfg.load.requests_per_level) == ([1.0, 2.0], 4)
    assert names_and_levels([]) == [
        ("smollm2-135m + lora", "model", [1.0, 2.0]),
        ("local-smollm2 (one user)", "baseline", [1.0]),
    ]
    with_base = names_and_levels(["load.with_cells=all"])
    assert [n for n, _, _ in with_base] == [
        "smollm2-135m (base)",
        "smollm2-135m + lora",
        "local-smollm2 (one user)",
    ]
    base = compose_cfg(["load.with_cells=all"])
    from harness.jobs.load_cells import endpoints

    assert endpoints(base)[0][1].finetune.method == "none"  # the base model is served, not the adapter


def test_a_paid_api_is_measured_only_with_the_opt_in(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    paid = names_and_levels(["baseline=openai-gpt-4o-mini"])
    assert [n for n, _, _ in paid] == ["smollm2-135m + lora"]
    opted = names_and_levels(["baseline=openai-gpt-4o-mini", "load.paid=true"])
    assert [n for n, _, _ in opted] == ["smollm2-135m + lora", "openai-gpt-4o-mini (one user)"]


def test_an_untuned_job_measures_its_model_and_none_measures_nothing():
    assert [n for n, _, _ in names_and_levels(["finetune=none", "baseline=none"])] == ["smollm2-135m (base)"]
    from harness.jobs.load_cells import load_cells

    assert load_cells(compose_cfg(["load.with_cells=none"])) == []


def test_a_multiple_choice_task_is_not_load_tested():
    from harness.jobs.load_cells import servable_task

    assert servable_task(compose_cfg(["task=general_en"])) is not None
    assert servable_task(compose_cfg(["task=helpdesk_en"])) is None


@pytest.mark.parametrize("bad", ["some", "yes"])
def test_a_bad_with_cells_value_is_named(bad):
    from harness.app.validate import validate
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=f"load.with_cells={bad}: must be none, tuned"):
        validate(compose_cfg([f"load.with_cells={bad}"]))


def test_a_served_harness_model_is_named_by_its_key_in_the_report():
    """A model the harness served has its whole identity (a dict) as endpoint.model: the report names it by its
    key and artifact, never by the dict's text (which leaked English and hashes into the zh/ja pages)."""
    from harness.report.charts import load_label

    ld = {
        "identity": {
            "endpoint": {
                "model": {"name": "smollm2-135m", "gguf_sha256": "b179"},
                "model_key": "smollm2-135m",
                "artifact_id": "0123456789abcdef",
            },
            "task": {"name": "helpdesk_en"},
            "mode": "closed",
        }
    }
    assert load_label(ld) == "smollm2-135m, fine-tuned on helpdesk_en (closed loop)"


def test_a_baseline_at_a_url_is_not_loaded_without_the_opt_in():
    """baseline.serve=null + baseline.base_url: somebody else's endpoint (its bill unknown here), keyless or not."""
    plain = ["baseline.serve=null", "baseline.base_url=http://127.0.0.1:9/v1", "baseline.model=m"]
    assert [n for n, _, _ in names_and_levels(plain)] == ["smollm2-135m + lora"]
    opted = names_and_levels([*plain, "load.paid=true"])
    assert [n for n, _, _ in opted] == ["smollm2-135m + lora", "local-smollm2 (one user)"]
