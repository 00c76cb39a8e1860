"""Bad input at the command line: one readable message, no traceback, non-zero exit."""

from __future__ import annotations

import pytest

import harness.app.compose as cli
from harness.errors import HarnessError
from tests.support.run import run_harness


def test_unknown_model_suggests_the_close_name():
    with pytest.raises(HarnessError) as e:
        cli.check_overrides(["model=qwen14b"])
    assert "unknown model 'qwen14b'. Did you mean 'qwen-14b', 'qwen-14b-chat'?" in str(e.value)
    assert "smollm2-135m" in str(e.value)  # lists the known names


def test_unknown_option_inside_a_sweep_list_is_caught():
    with pytest.raises(HarnessError, match="unknown model 'gema3-270m'.*gemma3-270m"):
        cli.check_overrides(["-m", "model=smollm2-135m,gema3-270m"])
    with pytest.raises(HarnessError, match="unknown sweep 'defualt'"):
        cli.check_overrides(["sweep=defualt"])
    cli.check_overrides(["model=smollm2-135m,gemma3-270m", "task.limit=3", "paths.results=/tmp/x"])


def test_malformed_conf_yaml_names_file_and_line(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "broken.yaml").write_text("name: broken\nsource: [hub\n")
    monkeypatch.setattr(cli, "CONF_DIR", tmp_path)
    with pytest.raises(HarnessError, match=r"broken\.yaml:3:1"):
        cli.check_conf_yaml()


def test_cli_unknown_model_is_one_line_without_traceback():
    p = run_harness("model=qwen14b")
    assert p.returncode == 2
    assert p.stderr.strip().startswith(
        "harness: error: unknown model 'qwen14b'. Did you mean 'qwen-14b', 'qwen-14b-chat'?"
    )
    assert "Traceback" not in p.stderr + p.stdout


def test_cli_seed_model_stops_in_preflight(tmp_store):
    p = run_harness("model=qwen-14b", "baseline=none", *tmp_store)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "NOT MEASURED: qwen-14b x helpdesk_en (preflight_failed)" in out
    assert "NOT MEASURED: qwen-14b x general_en (preflight_failed)" in out
    assert "are not available offline" in out and "needs about" in out  # weights and memory
    # both checked before its runtime (legacy) is created or started: no 1.8 GB environment for a model
    # that cannot run here anyway; the transformers constraint is the runtime's to satisfy
    assert "creating runtime" not in out and "in a worker" not in out and "needs transformers" not in out
    assert "Traceback" not in out


def test_cli_unknown_config_key_names_it():
    p = run_harness("model.contxt_length=5")
    assert p.returncode != 0
    assert "unknown key 'model.contxt_length'. Did you mean 'model.context_length'" in p.stderr
    assert "+model.contxt_length" not in p.stderr  # Hydra's hint would add the typo as a key nobody reads
    assert "Traceback" not in p.stderr


def test_cli_lm_eval_standard_task_without_cached_data_stops_in_preflight(tmp_store, tmp_path):
    empty = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    p = run_harness("task=mmlu", *tmp_store, env=empty)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "NOT MEASURED: smollm2-135m x mmlu (preflight_failed)" in out
    assert "needs the data set(s) cais/mmlu from the Hugging Face hub" in out
    assert "Traceback" not in out


def test_report_name_follows_the_preset_and_command_line_changes():
    from omegaconf import OmegaConf

    from harness.app.callback import report_name

    def cfg(*overrides):
        return OmegaConf.create({"sweep": {"name": "cards"}, "hydra": {"overrides": {"task": list(overrides)}}})

    assert report_name(cfg("sweep=cards", "paths.results=/tmp/x")) == "cards"
    assert report_name(cfg("sweep=smoke", "task=my_task")) == "cards__task=my_task"
    assert report_name(cfg("model=a,b", "task.limit=3")) == "cards__model=a,b__task.limit=3"
