"""The memory estimate (harness/models/footprint.py) by hand on a tiny architecture, the preflight's message with
it, finetune.micro_batch_size's checks and hash, and the allocator helpers (harness/memory.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.memory import PeakMemory, python_env
from harness.models.footprint import GIB, Architecture, architecture, evaluation_bytes, lora_params, training_bytes

TINY = Architecture(vocab=1000, hidden=64, layers=2, intermediate=128, q_width=64, kv_width=32)


def test_training_terms_by_hand():
    # LoRA r=4 on q, k, v, o, gate, up, down: 4 x ((64+64)x2 + (64+32)x2 + (64+128)x3) x 2 layers
    assert lora_params(TINY, 4) == 4 * (256 + 192 + 576) * 2 == 8192
    t = training_bytes(TINY, 100_000, 4, "lora", tokens_per_pass=50, logit_positions=10, device_kind="cpu", lora_r=4)
    assert t == {
        "runtime": int(0.6 * GIB),
        "weights": 400_000,
        "trainable_state": 8192 * 16,
        "activations": 50 * 2 * 36 * (64 + 128 + 64 + 64) * 4 // 10,  # 3.6 floats per width: 460,800
        "output_layer": 3 * 10 * 1000 * 4,  # 120,000
        "total": int(0.6 * GIB) + 400_000 + 131_072 + 460_800 + 120_000,
    }
    recomputed = training_bytes(TINY, 100_000, 4, "lora", 50, 10, "cpu", 4, checkpointing=True)
    # each layer's input (64 floats per token, 2 layers) + one layer's activations
    assert recomputed["activations"] == 50 * 2 * 64 * 4 + 50 * 36 * (64 + 128 + 64 + 64) * 4 // 10 == 256_000
    full = training_bytes(TINY, 100_000, 2, "full", 50, 50, "cuda")
    assert (full["runtime"], full["trainable_state"], full["output_layer"]) == (0, 1_600_000, 600_000)
    ev = evaluation_bytes(TINY, 100_000, 4, batch=8, context=20, device_kind="cuda")
    assert ev == {"runtime": 0, "weights": 400_000, "output_layer": 2 * 8 * 20 * 1000 * 4, "total": 1_680_000}


def test_architecture_from_a_config(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "text_config": {
                    "vocab_size": 262144,
                    "hidden_size": 640,
                    "num_hidden_layers": 18,
                    "intermediate_size": 2048,
                    "num_attention_heads": 4,
                    "num_key_value_heads": 1,
                    "head_dim": 256,
                }
            }
        )
    )
    assert architecture(tmp_path) == Architecture(262144, 640, 18, 2048, 1024, 256)
    (tmp_path / "config.json").write_text("{}")
    assert architecture(tmp_path) is None and architecture(None) is None


def test_preflight_names_each_term_and_the_micro_batch(tmp_path):
    from harness.models.preflight import Device, check_memory
    from tests.support.run import compose_cfg

    cfg = compose_cfg(["model=smollm2-135m", "finetune=lora", "task=helpdesk_en", f"paths.cache={tmp_path}"])
    from harness.plan.cells import plan_cell

    cell = plan_cell(cfg)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "vocab_size": 49152,
                "hidden_size": 576,
                "num_hidden_layers": 30,
                "intermediate_size": 1536,
                "num_attention_heads": 9,
                "num_key_value_heads": 3,
            }
        )
    )
    import dataclasses

    model = dataclasses.replace(cell.model, local_path=str(folder), source="local")
    small = Device("cpu", "cpu", 1 * GIB)
    msg = check_memory(model, "lora", small, cell.train.finetune, None)
    assert msg is not None and "output layer" in msg and "activations" in msg and "micro_batch_size" in msg
    assert "at most 512 tokens a row" in msg
    assert check_memory(model, "lora", Device("cpu", "cpu", 64 * GIB), cell.train.finetune, None) is None


def test_micro_batch_size_is_checked_and_hashed_only_when_it_splits():
    from harness.app.validate import value_problems
    from harness.plan.cells import plan_cell
    from tests.support.run import compose_cfg

    base = ["model=smollm2-135m", "finetune=lora", "task=helpdesk_en"]
    bad = compose_cfg([*base, "finetune.micro_batch_size=3"])
    assert any("finetune.micro_batch_size=3: must divide finetune.batch_size=8" in p for p in value_problems(bad) if p)
    ids = {
        m: plan_cell(compose_cfg([*base, f"finetune.micro_batch_size={m}"])).train.identity()["optim"]
        for m in ("null", 8, 2)
    }
    assert "micro_batch_size" not in ids["null"] and ids["null"] == ids[8]
    assert ids[2]["micro_batch_size"] == 2


def test_python_env_and_peak():
    env = {"A": "1"}
    out = python_env(env)
    assert out["A"] == "1" and (out is env or "libjemalloc" in out["LD_PRELOAD"])
    with PeakMemory() as mem:
        block = bytearray(64 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    s = mem.section()
    assert s["peak_bytes"] >= s["start_bytes"] + 60 * 1024 * 1024
    assert s["kind"] == "process RSS (sampled)" and s["allocator"] in ("jemalloc", "system")
    del block


@pytest.mark.parametrize("allocator", ["jemalloc", "system"])
def test_release_gives_freed_heap_back_at_once(allocator):
    """Many small freed blocks stay in the allocator (jemalloc for its decay time, glibc in its arenas) until
    release() hands them back; the load stage's server starts right after it (issue 34)."""
    from harness.memory import jemalloc_path

    if allocator == "jemalloc" and jemalloc_path() is None:
        pytest.fail("libjemalloc2 is not installed: scripts/setup.sh installs it")
    code = (
        "import gc, psutil, torch\n"
        "from harness.memory import allocator, release\n"
        "rss = lambda: psutil.Process().memory_info().rss\n"
        "blocks = [torch.ones(100, 100) for _ in range(20000)]\n"  # 800 MB in 40 KB pieces
        "del blocks; gc.collect(); freed = rss()\n"
        "release(); print(allocator(), (freed - rss()) >> 20)\n"
    )
    env = {**os.environ, "LD_PRELOAD": jemalloc_path() or "" if allocator == "jemalloc" else ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    name, given_back = out.split()
    assert name == allocator and int(given_back) >= 50, out


def test_validate_rejects_a_zero_micro_batch():
    from harness.app.validate import value_problems
    from tests.support.run import compose_cfg

    cfg = compose_cfg(["model=smollm2-135m", "finetune=lora", "task=helpdesk_en", "finetune.micro_batch_size=0"])
    assert "finetune.micro_batch_size=0: must be at least 1 (or null: whole batches)" in value_problems(cfg)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize(
    ("user", "expected"), [(None, "malloc None jemalloc"), ("pymalloc", "pymalloc pymalloc jemalloc")]
)
def test_the_restart_puts_python_objects_on_jemalloc_unless_the_user_chose(user, expected):
    """The harness restarts itself on jemalloc with PYTHONMALLOC=malloc (harness/memory.py says why), then takes
    both out of the environment of what it starts; a PYTHONMALLOC the user set is kept as it is."""
    from harness.memory import jemalloc_path

    if jemalloc_path() is None:
        pytest.fail("libjemalloc2 is not installed: scripts/setup.sh installs it")
    code = (
        "import os; seen = os.environ.get('PYTHONMALLOC')\n"
        "from harness.memory import allocator, restart_with_jemalloc\n"
        "restart_with_jemalloc(); print(seen, os.environ.get('PYTHONMALLOC'), allocator())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONMALLOC", "LD_PRELOAD", "HARNESS_ALLOCATOR")}
    if user:
        env["PYTHONMALLOC"] = user
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected
