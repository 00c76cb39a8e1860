"""`harness model check` on the seed families' real remote code (../shared/seed_arch/): every step passes in the
legacy runtime, QLoRA is refused on a CPU with its reason, the log-likelihood is the folder README's reference;
its exit codes. And ChatGLM2's own prefix encoder (P-tuning v2's chatglm2-native path) resumes after a kill to
the bit of an uninterrupted run, its checkpoints holding the encoder alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from tests.support import seed
from tests.support.run import harness_exe, run_harness
from tests.support.seed import PATHS, REFERENCE, SEED, absent

pytestmark = absent
legacy = seed.legacy  # the fixture


@pytest.mark.parametrize("family", sorted(REFERENCE))
def test_model_check_passes_every_step_with_the_reference_loglik(legacy, family, tmp_path):
    out = run_harness("model", "check", str(SEED / family), "--json", str(tmp_path / "check.json"), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    steps = {s["step"]: s for s in json.loads((tmp_path / "check.json").read_text())["steps"]}
    assert [s for s in steps if steps[s]["status"] != "ok"] == ["qlora"]  # CPU: QLoRA refused with its reason
    assert "needs a CUDA GPU" in steps["qlora"]["detail"]
    got = float(steps["loglik"]["detail"].split("= ")[1].split()[0])
    assert got == pytest.approx(REFERENCE[family], abs=1e-3)
    assert all(s["peak_bytes"] > 0 for s in steps.values())
    assert f"path {PATHS[family]}" in steps["ptuning_v2"]["detail"]
    assert "runtime legacy" in out.stdout and "8 ok, 1 refused, 0 failed" in out.stdout


def test_qlora_is_refused_before_any_model_loads_on_a_cpu(legacy, tmp_path):
    out = run_harness(
        "model=qwen-14b",
        "model.source=local",
        f"model.local_path={SEED / 'qwen-14b'}",
        "finetune=qlora",
        "task=helpdesk_zh",
        "task.limit=1",
        "baseline=none",
        f"paths.results={tmp_path / 'r'}",
        f"paths.artifacts={tmp_path / 'a'}",
        timeout=600,
    )
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "preflight failed for model=qwen-14b, finetune=qlora" in said
    assert "finetune=qlora needs a CUDA GPU (4-bit bitsandbytes kernels), but this machine has cpu" in said
    assert "not installed" not in said  # bitsandbytes is in the legacy lock
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())  # nothing trained


def test_model_check_exit_codes(tmp_path):
    missing = run_harness("model", "check", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "neither a folder nor a model name" in missing.stderr
    alone = run_harness("model", "check", str(SEED / "qwen-14b"), "--steps", "lora", timeout=600)
    assert alone.returncode == 0 and "2 ok, 0 refused, 0 failed" in alone.stdout  # its tokenizer step ran first
    bad = run_harness("model", "check", str(SEED / "qwen-14b"), "--steps", "tokenizer,fly")
    assert bad.returncode == 2 and "unknown step(s) ['fly']" in bad.stderr


def test_chatglm2_prefix_encoder_resumes_after_a_kill(legacy, tmp_path):
    """SIGKILL mid-training once a checkpoint holds the prefix encoder, then the same command: it resumes from
    that checkpoint and ends with the encoder an uninterrupted run trains, to the bit."""
    from safetensors.torch import load_file

    def command(results: Path, artifacts: Path) -> list[str]:
        return [
            str(harness_exe()),
            "model=chatglm2-6b",
            "model.source=local",
            f"model.local_path={SEED / 'chatglm2-6b'}",
            "model.dtype=float32",
            "finetune=ptuning_v2",
            "finetune.n_train=4",
            "finetune.epochs=10",
            "finetune.batch_size=1",
            "finetune.save_steps=4",
            "finetune.val_examples=1",
            "finetune.train_task=helpdesk_zh",
            "task=helpdesk_zh",
            "task.limit=1",
            "baseline=none",
            "load.with_cells=none",
            f"paths.results={results}",
            f"paths.artifacts={artifacts}",
        ]

    def encoder(artifacts: Path) -> tuple[dict, dict]:
        [marker] = artifacts.glob("*/harness_artifact.json")
        return load_file(str(marker.parent / "prefix_encoder.safetensors")), json.loads(marker.read_text())

    ref = subprocess.run(
        command(tmp_path / "r0", tmp_path / "a0"), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert ref.returncode == 0, ref.stderr[-3000:]
    proc = subprocess.Popen(
        command(tmp_path / "r1", tmp_path / "a1"),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if list((tmp_path / "a1").glob(".*.partial/checkpoints/checkpoint-*/harness_meter.json")):
            os.killpg(proc.pid, signal.SIGKILL)  # the harness and its legacy worker
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before a checkpoint could be interrupted"
    [ckpt] = (tmp_path / "a1").glob(".*.partial/checkpoints/checkpoint-*")
    assert sorted(p.name for p in ckpt.iterdir() if p.name.startswith(("prefix", "model", "pytorch"))) == [
        "prefix_config.json",
        "prefix_encoder.safetensors",
    ]  # the encoder alone, never the frozen base
    again = subprocess.run(
        command(tmp_path / "r1", tmp_path / "a1"), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-3000:]
    (want, ref_info), (got, info) = encoder(tmp_path / "a0"), encoder(tmp_path / "a1")
    assert info["metering"]["resumed_from_step"] > 0 and info["metering"]["steps"] == ref_info["metering"]["steps"]
    assert list(got) == list(want) and all(bool((got[k] == want[k]).all()) for k in want)
