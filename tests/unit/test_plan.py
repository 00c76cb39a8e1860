"""Cell ids: a content hash of what changes the result, and nothing else."""

from __future__ import annotations

from harness.plan.cells import content_id, plan_cell
from tests.support.run import compose_cfg


def test_cell_id_is_stable_and_ignores_paths(tmp_path):
    a = plan_cell(compose_cfg(["model=smollm2-135m", "finetune=none", "task.limit=100"]))
    b = plan_cell(
        compose_cfg(
            [
                "model=smollm2-135m",
                f"paths.results={tmp_path}",
                "sweep=smoke",
                "task.limit=100",
                "finetune=none",
            ]
        )
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


def test_default_job_tunes_and_every_tuned_cell_has_a_base():
    cell = plan_cell(compose_cfg(["model=smollm2-135m", "task=general_en"]))  # the default sweep: LoRA
    assert cell.finetune.method == "lora" and cell.train.train_task.name == "helpdesk_en"
    assert cell.identity["finetune"]["artifact"] == content_id(cell.train.identity())
    base = plan_cell(compose_cfg(["model=smollm2-135m", "task=general_en", "finetune=none"]))
    assert base.train is None and base.identity["finetune"] == {"method": "none"}


def test_untuned_test_split_ids_did_not_change_when_fine_tuning_arrived():
    # The id of a base cell stored before issue 4 (the general_en data card's SmolLM2 row, limit 100).
    cell = plan_cell(compose_cfg(["model=smollm2-135m", "finetune=none", "task=general_en", "task.limit=100"]))
    assert cell.id == "f0e865c36b05eaa59841" and "split" not in cell.identity["eval"]
    assert (
        plan_cell(compose_cfg(["model=smollm2-135m", "finetune=none", "task.split=validation"])).id
        != plan_cell(compose_cfg(["model=smollm2-135m", "finetune=none"])).id
    )


def test_artifact_id_changes_with_what_changes_the_weights_only():
    common = ["model=smollm2-135m", "task=helpdesk_en", "finetune=lora"]
    ref = plan_cell(compose_cfg(common))
    for override in [
        "finetune.n_train=100",
        "finetune.learning_rate=1e-3",
        "finetune.seed=7",
        "finetune.epochs=2",
        "finetune.lora.r=16",
        "finetune=ptuning_v2",
        "finetune=full",
        "model=gemma3-270m",
        "finetune.replay.task=general_replay_en",
        "finetune.train_task=helpdesk_zh",
    ]:
        extra = ["finetune.replay.ratio=0.2"] if "replay" in override else []
        other = plan_cell(compose_cfg([*common, override, *extra]))
        assert other.identity["finetune"]["artifact"] != ref.identity["finetune"]["artifact"], override
    for override in [
        "finetune.save_steps=3",
        "finetune.save_every_s=5",
        "finetune.logging_steps=1",
        "finetune.val_examples=8",
        "paths.artifacts=/tmp/elsewhere",
        "task.limit=5",
    ]:
        other = plan_cell(compose_cfg([*common, override]))
        assert other.identity["finetune"]["artifact"] == ref.identity["finetune"]["artifact"], override
