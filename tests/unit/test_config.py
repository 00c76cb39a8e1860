"""Every config option and every sweep preset composes; schemas reject unknown keys."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harness.app.compose import group_options
from harness.config.schema import ModelConfig
from harness.errors import HarnessError
from harness.models.prompts import PROMPT_FORMATS
from tests.support.run import compose_cfg

GROUPS = ["model", "task", "finetune", "baseline", "judge", "hardware", "sweep"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_composes(group):
    options = group_options(group)
    assert options, f"conf/{group}/ is empty"
    for option in options:
        cfg = compose_cfg([f"{group}={option}"])
        if group != "sweep":
            # the option's own name field matches its file name, so results never carry an alias
            node = cfg[group]
            assert node.get("name", node.get("method")) in (option, None), (group, option)


def test_the_seed_model_registry_is_complete():
    expected = {"chatglm2-6b", "baichuan2-7b", "baichuan2-13b", "llama2-7b", "qwen-14b", "openllama-3b"}
    assert expected <= set(group_options("model"))
    for name in expected:
        m: ModelConfig = OmegaConf.to_object(compose_cfg([f"model={name}"]).model)
        assert m.source == "hub" and m.hub_id and m.n_params > 1e9 and m.context_length >= 2048
        assert m.license and m.prompt_format in PROMPT_FORMATS
    remote = {n for n in expected if compose_cfg([f"model={n}"]).model.trust_remote_code}
    assert remote == {"chatglm2-6b", "baichuan2-7b", "baichuan2-13b", "qwen-14b"}
    # the chat variants, in the formats their remote code builds (issue 15); ChatGLM2-6B is itself a chat model
    formats = {
        n: compose_cfg([f"model={n}"]).model.prompt_format
        for n in ("chatglm2-6b", "baichuan2-7b-chat", "baichuan2-13b-chat", "qwen-14b-chat", "qwen-14b")
    }
    assert formats == {
        "chatglm2-6b": "chatglm2",
        "baichuan2-7b-chat": "baichuan2",
        "baichuan2-13b-chat": "baichuan2",
        "qwen-14b-chat": "chatml",
        "qwen-14b": "plain",
    }


def test_default_sweep_runs_both_embedded_models():
    from hydra import compose, initialize_config_dir

    from harness.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert set(cfg.hydra.sweeper.params.model.split(",")) == {"smollm2-135m", "gemma3-270m"}
    assert cfg.sweep.name == "default"


def test_unknown_key_in_a_group_is_rejected():
    with pytest.raises(HarnessError) as e:
        compose_cfg(["model.contxt_length=5"])
    assert "unknown key 'model.contxt_length'. Did you mean 'model.context_length'" in str(e.value)


def test_wrong_type_is_rejected():
    with pytest.raises(HarnessError, match="invalid configuration .nothing was run.*n_params"):
        compose_cfg(["model.n_params=lots"])
