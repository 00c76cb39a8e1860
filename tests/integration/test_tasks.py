"""Each task's generator reproduces its committed data byte for byte."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import pytest

from harness.paths import TASKS_DIR

FOLDERS = ["helpdesk", "ota_intent", "extract_format", "general", "general_replay"]
DOMAIN = ["helpdesk", "ota_intent", "extract_format"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_generator_reproduces_the_data_byte_for_byte(folder, tmp_path):
    subprocess.run(
        [sys.executable, str(TASKS_DIR / folder / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed = sorted(
        p.relative_to(TASKS_DIR / folder / "data") for p in (TASKS_DIR / folder / "data").rglob("*.jsonl")
    )
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jsonl"))
    for rel in committed:
        assert filecmp.cmp(TASKS_DIR / folder / "data" / rel, tmp_path / rel, shallow=False), rel
