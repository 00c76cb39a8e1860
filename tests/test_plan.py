"""Cell ids: a content hash of what changes the result, and nothing else."""

from __future__ import annotations

from harness.plan import content_id, plan_cell
from tests.conftest import compose_cfg


def test_cell_id_is_stable_and_ignores_paths(tmp_path):
    a = plan_cell(compose_cfg(["model=smollm2-135m"]))
    b = plan_cell(
        compose_cfg(["model=smollm2-135m", f"paths.results={tmp_path}", "sweep=smoke", "task.limit=100"])
    )
    assert a.id == b.id
    assert len(a.id) == 20


def test_cell_id_changes_with_what_changes_results():
    base = plan_cell(compose_cfg(["model=smollm2-135m"])).id
    for override in [
        "model=gemma3-270m",
        "task.limit=5",
        "eval.batch_size=1",
        "eval.seed=7",
        "eval.apply_chat_template=false",
        "model.dtype=bfloat16",
        "task.num_fewshot=2",
    ]:
        assert plan_cell(compose_cfg(["model=smollm2-135m", override])).id != base, override


def test_content_id_is_order_independent():
    assert content_id({"a": 1, "b": [1, 2]}) == content_id({"b": [1, 2], "a": 1})


def test_chat_template_follows_the_model():
    assert plan_cell(compose_cfg(["model=smollm2-135m"])).apply_chat_template is True
    assert plan_cell(compose_cfg(["model=gemma3-270m"])).apply_chat_template is False
