"""How a cell flows: plan -> spec (JSON round trip) -> backend -> typed record -> store. The worker test runs a
real cell in a `python -m harness.execute.entry` subprocess and checks its record equals the in-process one."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from harness.errors import HarnessError, PreflightError
from harness.plan.cells import plan, plan_baseline, plan_cell, plan_endpoint
from harness.spec.cell import BaselineCell, Cell, read_spec, spec_from_json, spec_to_json, write_spec
from harness.store import Store
from harness.store.record import SCHEMA_VERSION, Record, without_timings
from tests.support.run import compose_cfg

TUNED_JOB = ["finetune=lora", "finetune.n_train=16", "baseline=local-smollm2", "task.limit=4"]


def test_a_tuned_job_plans_its_base_cell_first_then_the_tuned_cell_then_the_baseline(tmp_store):
    cfg = compose_cfg([*TUNED_JOB, *tmp_store])
    base, tuned, api = plan(cfg)
    assert (type(base), type(tuned), type(api)) == (Cell, Cell, BaselineCell)
    assert base.finetune.method == "none" and base.train is None and base.base_id is None
    assert tuned.base_id == base.id  # the dependency is explicit, in the spec
    assert tuned.id == plan_cell(cfg).id  # the same id as before the dependency was added: not hashed
    assert api.id == plan_baseline(cfg).id
    assert len({base.id, tuned.id, api.id}) == 3


def test_every_spec_survives_a_json_round_trip_unchanged(tmp_store, tmp_path):
    for spec in plan(compose_cfg([*TUNED_JOB, *tmp_store])):
        text = json.dumps(spec_to_json(spec))  # plain JSON: no OmegaConf node, no path object
        again = spec_from_json(json.loads(text))
        assert again == spec and type(again) is type(spec)
        assert read_spec(write_spec(spec, tmp_path / f"{spec.id}.json")) == spec


def test_an_edited_or_foreign_spec_is_refused_with_a_message(tmp_store):
    spec = plan_cell(compose_cfg(tmp_store))
    doc = spec_to_json(spec)
    doc["spec"]["identity"]["eval"]["limit"] = 3
    with pytest.raises(HarnessError, match="its id is not the hash of its identity"):
        spec_from_json(doc)
    with pytest.raises(HarnessError, match="spec_version 99, this harness reads 2"):
        spec_from_json({**spec_to_json(spec), "spec_version": 99})
    doc = spec_to_json(spec)
    doc["spec"]["model"]["colour"] = "blue"
    with pytest.raises(HarnessError, match=r"unknown key\(s\) \['colour'\] in local.model"):
        spec_from_json(doc)


def test_a_judge_uses_the_endpoint_the_plan_made_for_the_baseline_it_names(tmp_store):
    from harness.jobs.judge import judge_identity

    cfg = compose_cfg(["baseline=local-smollm2", "judge=local-smollm2", *tmp_store])
    baseline = plan_baseline(cfg)
    endpoint = plan_endpoint(cfg.judge.endpoint)
    assert endpoint.id == baseline.endpoint_id == "transformers-serve:smollm2-135m:b179c9523d0e6a0f"
    assert judge_identity(cfg.judge, endpoint.identity)["endpoint"] == baseline.identity["baseline"]["endpoint"]
    openai = plan_endpoint(compose_cfg(["baseline=openai-gpt-4o-mini"]).baseline)
    assert (openai.identity, openai.id, openai.served_model) == (
        "https://api.openai.com/v1",
        "https://api.openai.com/v1",
        None,
    )


def stored_record(**changes) -> dict:
    from tests.support.records import make_record

    return {**make_record("c1").to_json(), **changes}


def test_a_record_reads_back_typed_and_a_version_it_cannot_read_is_named():
    doc = stored_record()
    record = Record.from_json(doc)
    assert record.cell_id == "c1" and record.to_json() == doc
    with pytest.raises(HarnessError, match="schema_version 2; this harness reads version 1: it was written by a newer"):
        Record.from_json(stored_record(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(HarnessError, match="schema_version 0; .* not a record this harness wrote"):
        Record.from_json(stored_record(schema_version=0))
    with pytest.raises(HarnessError, match=r"unknown key\(s\) \['extra'\]"):
        Record.from_json(stored_record(extra=1))


def test_timings_are_what_a_rerun_may_change_and_nothing_else():
    doc = stored_record()
    doc["cost"] = {"per_1k_queries": 0.5, "training": 1.0, "currency": "USD"}
    kept = without_timings(doc)
    assert "timings" not in kept and "created_at" not in kept and "environment" not in kept
    assert kept["cost"] == {"currency": "USD"}  # local money is a measured time x a price
    assert kept["metrics"] == doc["metrics"] and kept["primary"] == doc["primary"]
    api = {**doc, "model": {**doc["model"], "source": "api"}, "api": {"cost": {"per_1k_queries": 0.5}}}
    assert without_timings(api)["api"] == {"cost": {"per_1k_queries": 0.5}}  # API money is tokens x price


def test_a_worker_interpreter_that_cannot_run_the_harness_is_refused_before_any_cell(tmp_path):
    from harness.execute.worker import _PROBED, check_interpreter

    with pytest.raises(PreflightError, match="is not an executable file"):
        check_interpreter(str(tmp_path / "no-python"))
    bare = shutil.which("python3", path="/usr/bin")
    if bare is None:
        pytest.fail("this machine has no /usr/bin/python3 to stand for an environment without the harness")
    # run from the checkout: the working directory must not stand in for an installed harness (PYTHONSAFEPATH)
    with pytest.raises(PreflightError, match="cannot import harness.execute.entry: ModuleNotFoundError"):
        check_interpreter(bare)
    assert check_interpreter(sys.executable) == shutil.which(sys.executable)  # this environment can
    assert _PROBED[(sys.executable, None)] == shutil.which(sys.executable)  # probed once per process


def test_a_worker_refuses_a_spec_planned_with_other_task_files_and_says_so_in_its_error_file(tmp_store, tmp_path):
    import dataclasses

    from harness.execute.entry import main

    spec = plan_cell(compose_cfg(tmp_store))
    other = dataclasses.replace(spec, task_spec=dataclasses.replace(spec.task_spec, content_sha256="0" * 64))
    path, err = write_spec(other, tmp_path / "spec.json"), tmp_path / "error.json"
    assert main([str(path), "--error-file", str(err)]) == 2
    error = json.loads(err.read_text())
    assert error["kind"] == "harness"
    assert error["message"].startswith(
        f"task helpdesk_en: this worker's environment has version {spec.task_spec.version} "
        f"(content {spec.task_spec.content_sha256[:12]}), the cell was planned with"
    )
    assert not Store(spec.results_dir).has(spec.id)  # nothing ran, nothing stored


def test_a_worker_in_the_same_environment_reads_the_same_task_and_training_files(tmp_store):
    from harness.execute.entry import localize

    for spec in plan(compose_cfg([*TUNED_JOB, *tmp_store])):
        assert localize(spec) == spec  # the tuned cell's training and replay tasks included


def test_one_worker_process_serves_a_runs_checks_and_a_killed_one_is_replaced(tmp_store, tmp_path):
    """The worker's imports are paid once per run: every request goes to the same `--serve` process; a worker
    that dies mid-request is an error naming its exit status, and the next request starts a new one."""
    import os
    import signal

    from harness.execute.worker import _SESSIONS, WorkerBackend, close_sessions

    spec = plan_cell(compose_cfg([*tmp_store, "model.n_params=900000000000"]))  # cannot fit: refused, cheap
    backend = WorkerBackend(python=sys.executable)
    for _ in range(2):
        with pytest.raises(PreflightError, match="needs about .* GiB"):
            backend.preflight(spec)
    (session,) = _SESSIONS.values()
    first = session.proc.pid
    os.kill(first, signal.SIGKILL)
    session.proc.wait()
    with pytest.raises(PreflightError):  # a dead worker is noticed before the request: a new one answers
        backend.preflight(spec)
    (session,) = _SESSIONS.values()
    assert session.proc.pid != first
    os.kill(session.proc.pid, signal.SIGSTOP)  # stopped, then killed while it holds a request

    def kill_soon():
        import time

        time.sleep(1)
        os.kill(session.proc.pid, signal.SIGKILL)

    import threading

    threading.Thread(target=kill_soon).start()
    with pytest.raises(Exception, match="exited with status -9 without saying why"):
        backend.preflight(spec)
    close_sessions()
    assert _SESSIONS == {}
