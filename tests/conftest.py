"""Shared test helpers. Real parts only: real configs, real lm-eval, the real embedded models (slow tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.config.register import register_configs
from harness.paths import CONF_DIR, REPO_ROOT

register_configs()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def compose_cfg(overrides: list[str] | None = None):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides or [])


def run_harness(
    *args: str, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    """The `harness` console script as a user runs it, from the repository root."""
    exe = Path(sys.executable).with_name("harness")
    return subprocess.run(
        [str(exe), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def tmp_store(tmp_path):
    """Overrides that send results and reports to a temporary folder."""
    return [
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"paths.artifacts={tmp_path / 'artifacts'}",
    ]
