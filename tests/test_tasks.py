"""The helpdesk task: reproducible data, metric on hand-made cases, task metadata."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from harness.config.schema import TaskConfig
from harness.errors import HarnessError
from harness.paths import TASKS_DIR
from harness.tasks import load_task, load_yaml

spec = importlib.util.spec_from_file_location("helpdesk_utils", TASKS_DIR / "helpdesk" / "utils.py")
utils = importlib.util.module_from_spec(spec)
spec.loader.exec_module(utils)


def test_generator_reproduces_the_data_byte_for_byte(tmp_path):
    data = TASKS_DIR / "helpdesk" / "data" / "test.jsonl"
    before = data.read_bytes()
    subprocess.run(
        [sys.executable, str(TASKS_DIR / "helpdesk" / "generate.py")], check=True, capture_output=True
    )
    assert data.read_bytes() == before


def test_data_rows_are_well_formed():
    rows = [json.loads(line) for line in (TASKS_DIR / "helpdesk" / "data" / "test.jsonl").open()]
    assert len(rows) == 50
    assert len({r["id"] for r in rows}) == 50
    assert {r["category"] for r in rows} == {"hr", "it", "finance", "admin"}
    for r in rows:
        assert r["answer"] in r["context"]


@pytest.mark.parametrize(
    ("answer", "output", "contains", "exact"),
    [
        ("22 days", "You get 22 days of paid leave.", 1.0, 0.0),
        ("22 days", "22 Days.", 1.0, 1.0),
        ("4357", "Call 43570.", 0.0, 0.0),  # a longer number is not the answer
        ("7:00 to 20:00", "It is open 7:00 to 20:00 on weekdays", 1.0, 0.0),
        ("0.30 euros", "0.3 euros", 0.0, 0.0),
        ("finance director", "The Finance Director.", 1.0, 1.0),
        ("HarborLink", "", 0.0, 0.0),
    ],
)
def test_metric_on_hand_made_cases(answer, output, contains, exact):
    assert utils.process_results({"answer": answer}, [output]) == {"contains": contains, "exact_match": exact}


def test_load_task_reads_version_and_hashes_content():
    t = load_task(TaskConfig(name="helpdesk", dir="tasks/helpdesk", primary_metric="contains"))
    assert t.version == "1.0" and t.output_type == "generate_until" and len(t.content_sha256) == 64


def test_unknown_task_name_in_folder_is_a_clear_error():
    with pytest.raises(HarnessError, match="no YAML under .* defines `task: helpdsk`"):
        load_task(TaskConfig(name="helpdsk", dir="tasks/helpdesk", primary_metric="contains"))


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\nmetric_list:\n  - metric: [unclosed\n")
    with pytest.raises(HarnessError) as e:
        load_yaml(bad)
    assert f"{bad}:4:" in str(e.value) or f"{bad}:3:" in str(e.value)


def test_misspelt_primary_metric_is_caught_before_any_model_runs():
    with pytest.raises(
        HarnessError, match="primary_metric: unknown metric 'contain'. Did you mean 'contains'"
    ):
        load_task(TaskConfig(name="helpdesk", dir="tasks/helpdesk", primary_metric="contain"))
