"""Fine-tuning for real on the CPU: the embedded SmolLM2-135M, real peft adapters, lm-eval on the result.

Marked slow (each trains a real model); the README's test command and CI run them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.finetune.data import IGNORE, build_examples, seeded_slice
from harness.paths import REPO_ROOT
from harness.run import run_cell
from harness.store import Store
from tests.conftest import compose_cfg

pytestmark = pytest.mark.slow
SMOL = "model=smollm2-135m"


def paths(tmp: Path) -> list[str]:
    return [f"paths.results={tmp / 'results'}", f"paths.artifacts={tmp / 'artifacts'}"]


def scores(record: dict) -> dict[str, float]:
    return {k: v["value"] for k, v in record["metrics"].items()}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """LoRA on 64 helpdesk_en training examples, scored on the first 30 validation questions (model selection
    data, never the leaderboard's test split), beside the base model on the same 30 questions."""
    tmp = tmp_path_factory.mktemp("lora")
    overrides = [SMOL, "task=helpdesk_en", "task.split=validation", "task.limit=30", "finetune=lora",
                 "finetune.n_train=64", "finetune.epochs=1", "finetune.learning_rate=3e-3",
                 "finetune.precision=bf16", "finetune.val_examples=16", *paths(tmp)]  # fmt: skip
    outcomes = run_cell(compose_cfg(overrides))
    store = Store(tmp / "results")
    return tmp, overrides, outcomes, store.load(outcomes[0].cell_id), store.load(outcomes[1].cell_id)


def test_lora_raises_the_helpdesk_validation_score(lora_run):
    _, _, outcomes, base, tuned = lora_run
    assert [o.status for o in outcomes] == ["done", "done"]
    assert base["finetune"]["method"] == "none" and tuned["finetune"]["base_cell_id"] == base["cell_id"]
    assert base["task"]["split"] == tuned["task"]["split"] == "validation"
    assert base["task"]["n"] == tuned["task"]["n"] == 30
    b, t = scores(base), scores(tuned)
    # Measured on this machine: contains 0.233 -> 0.533, exact match 0.000 -> 0.533 (the base model answers in
    # long sentences; 64 examples teach it the short answer). Margins leave room for CPU-kernel differences.
    assert t["contains"] >= b["contains"] + 0.15, (b, t)
    assert t["exact_match"] >= b["exact_match"] + 0.3, (b, t)


def test_training_is_metered_and_counted_by_hand(lora_run):
    tmp, overrides, _, _, tuned = lora_run
    f = tuned["finetune"]
    m = f["metering"]
    assert f["data"]["n_domain"] == 64 and f["data"]["n_replay"] == 0 and f["train_task"] == "helpdesk_en"
    assert m["steps"] == math.ceil(64 / 8) and m["resumed_from_step"] == 0
    # The Trainer's token count equals the tokens of the 64 examples, counted here independently.
    from transformers import AutoTokenizer

    cfg = compose_cfg(overrides)
    from harness.plan import plan_cell

    cell = plan_cell(cfg)
    tok = AutoTokenizer.from_pretrained(tuned["model"]["weights"])
    examples = build_examples(cell.train.train_task, tok, True, 64, 1234, 512)
    assert m["train_tokens"] == sum(len(e.input_ids) for e in examples)
    assert f["data"]["supervised_tokens_per_epoch"] == sum(
        sum(x != IGNORE for x in e.labels) for e in examples
    )
    assert m["tokens_per_s"] == pytest.approx(m["train_tokens"] / m["train_seconds"], rel=1e-3)
    assert m["peak_memory_bytes"] > 300 * 2**20 and m["device"]["kind"] == "cpu" and m["precision"] == "bf16"
    assert [p["step"] for p in m["loss_curve"]] == [5]  # logging_steps=5 within 8 steps
    assert m["validation_loss"] is not None and m["validation_loss"] < m["loss_curve"][0]["loss"]
    assert f["trainable_params"] > 0 and f["params"]["lora"]["r"] == 8


def test_rerun_trains_nothing_and_another_task_reuses_the_artifact(lora_run):
    tmp, overrides, _, _, tuned = lora_run
    artifact = Path(tuned["finetune"]["artifact_path"])
    stamp = (artifact / "harness_artifact.json").stat().st_mtime_ns
    again = run_cell(compose_cfg(overrides))
    assert [o.status for o in again] == ["skipped", "skipped"]
    # The same training run evaluated on the general suite: the artifact is reused, not retrained.
    other = [o for o in overrides if not o.startswith(("task=", "task.split", "task.limit"))]
    outcomes = run_cell(
        compose_cfg([*other, "task=general_en", "task.limit=8", "finetune.train_task=helpdesk_en"])
    )
    record = Store(tmp / "results").load(outcomes[-1].cell_id)
    assert record["finetune"]["artifact_id"] == tuned["finetune"]["artifact_id"]
    assert record["finetune"]["artifact_reused"] is True and record["timings"]["train_s"] < 5
    assert (artifact / "harness_artifact.json").stat().st_mtime_ns == stamp


def test_seeded_slices_are_nested():
    docs = list(range(1000))
    assert seeded_slice(docs, 100, 7) == seeded_slice(docs, 300, 7)[:100]
    assert seeded_slice(docs, 100, 7) != seeded_slice(docs, 100, 8)


@pytest.mark.parametrize("method", ["ptuning_v2", "full"])
def test_other_methods_train_and_lm_eval_scores_the_artifact(method, tmp_path):
    """P-tuning v2 (with replay mixed in) and full fine-tuning, end to end: artifact on disk, scored by lm-eval."""
    overrides = [SMOL, "task=general_en", "task.limit=8", f"finetune={method}", "finetune.train_task=helpdesk_en",
                 "finetune.n_train=16", "finetune.epochs=1", "finetune.val_examples=4",
                 "finetune.replay.task=general_replay_en", "finetune.replay.ratio=0.25", *paths(tmp_path)]  # fmt: skip
    outcomes = run_cell(compose_cfg(overrides))
    assert [o.status for o in outcomes] == ["done", "done"]
    record = Store(tmp_path / "results").load(outcomes[-1].cell_id)
    f = record["finetune"]
    assert (
        f["data"]["n_domain"] == 16
        and f["data"]["n_replay"] == 4
        and f["replay"]["task"] == "general_replay_en"
    )
    assert f["metering"]["steps"] == math.ceil(20 / 8)
    artifact = Path(f["artifact_path"])
    if method == "ptuning_v2":
        config = json.loads((artifact / "adapter_config.json").read_text())
        assert config["peft_type"] == "PREFIX_TUNING" and config["num_virtual_tokens"] == 16
        assert record["eval"]["model_args"]["peft"] == str(artifact)
    else:
        assert (artifact / "model.safetensors").exists() and (artifact / "tokenizer.json").exists()
        assert (
            record["eval"]["model_args"]["pretrained"] == str(artifact)
            and "peft" not in record["eval"]["model_args"]
        )
    assert record["task"]["n"] == 8 and 0 <= record["primary"]["value"] <= 1


def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    """Kill the `harness` process after its first checkpoint, start it again: training resumes, not restarts."""
    exe = str(Path(sys.executable).with_name("harness"))
    args = [exe, SMOL, "task=general_en", "task.limit=4", "finetune=lora", "finetune.train_task=helpdesk_en",
            "finetune.n_train=48", "finetune.epochs=1", "finetune.save_steps=2", "finetune.val_examples=4",
            *paths(tmp_path), f"paths.reports={tmp_path / 'reports'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    checkpoints = tmp_path / "artifacts"
    deadline = time.time() + 600
    while time.time() < deadline and not list(
        checkpoints.glob(".*.partial/checkpoints/checkpoint-*/harness_meter.json")
    ):
        assert proc.poll() is None, "training finished or crashed before its first checkpoint"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = list(checkpoints.glob(".*.partial/checkpoints/checkpoint-*"))
    assert saved and not [p for p in checkpoints.iterdir() if p.is_dir() and not p.name.startswith(".")]
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stderr + done.stdout
    record = next(r for r in Store(tmp_path / "results").all_records() if r["finetune"]["method"] == "lora")
    m = record["finetune"]["metering"]
    assert m["resumed_from_step"] >= 2 and m["steps"] == math.ceil(48 / 8)
    assert m["train_seconds"] > m["this_run_seconds"]  # time before the kill is kept, not lost
    assert not list(checkpoints.glob(".*.partial"))  # work folder removed once the artifact is whole
