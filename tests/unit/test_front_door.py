"""One front door: each job of a command line is composed once and validated once (issue 33), counted on a real
in-process sweep through `harness.app.cli.main` and on the commands that compose without Hydra's launcher."""

from __future__ import annotations

import logging
import sys
from collections import Counter

import pytest

import harness.app.compose as compose
import harness.app.validate as validate_module
from harness.app.cli import main


@pytest.fixture(autouse=True)
def logging_restored():
    """An in-process Hydra run configures logging (handlers on this test's captured streams, existing loggers
    disabled): put every logger back, or later tests' log lines go to closed streams."""
    manager = logging.Logger.manager
    before = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
        for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]
        if isinstance(lg, logging.Logger)
    }
    yield
    for name, lg in [("", logging.getLogger()), *manager.loggerDict.items()]:
        if isinstance(lg, logging.Logger):
            handlers, level, propagate, disabled = before.get(name, ([], logging.NOTSET, True, False))
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


@pytest.fixture
def counted(monkeypatch):
    """Counts of every composition (Hydra's loader and the front door's) and every validation, by job."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    counts: Counter = Counter()
    validated: list[tuple[str, str]] = []
    sweep_config, primary = ConfigLoaderImpl.load_sweep_config, ConfigLoaderImpl.load_configuration
    real_compose, real_validate = compose._compose, validate_module.validate

    def load_sweep_config(self, master, overrides):
        counts["job compositions by Hydra's launcher"] += 1
        counts["inside a job's"] += 1  # Hydra composes a job's config with load_configuration: not counted twice
        try:
            return sweep_config(self, master, overrides)
        finally:
            counts["inside a job's"] -= 1

    def load_configuration(self, *a, **k):
        if not counts["inside a job's"]:
            counts["primary compositions by Hydra"] += 1
        return primary(self, *a, **k)

    def _compose(*a, **k):
        counts["front-door compositions"] += 1
        return real_compose(*a, **k)

    def validate(cfg):
        validated.append((cfg.model.name, cfg.task.name))
        return real_validate(cfg)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", load_sweep_config)
    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", load_configuration)
    monkeypatch.setattr(compose, "_compose", _compose)
    monkeypatch.setattr(validate_module, "validate", validate)
    monkeypatch.setattr(compose, "validate", validate)
    return counts, validated


def _sweep(tmp_path, tasks: str) -> list[str]:
    return [
        "-m",
        "sweep=smoke",
        "model=none",
        "baseline=none",
        f"task={tasks}",
        "load.with_cells=none",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"hydra.sweep.dir={tmp_path / 'out'}",
    ]


def test_a_sweep_of_two_jobs_composes_and_validates_each_once(counted, tmp_path, monkeypatch):
    counts, validated = counted
    monkeypatch.setattr(sys, "argv", ["harness", *_sweep(tmp_path, "general_en")])
    main()  # one job: the command line's own compositions by Hydra (its primary config, its logging)
    per_command_line = counts["primary compositions by Hydra"]
    assert counts["job compositions by Hydra's launcher"] == 1 and validated == [("none", "general_en")]
    assert counts["front-door compositions"] == 1
    counts.clear(), validated.clear()
    monkeypatch.setattr(sys, "argv", ["harness", *_sweep(tmp_path, "general_en,helpdesk_en")])
    main()
    assert counts["job compositions by Hydra's launcher"] == 2  # Hydra's basic sweeper would make it 4
    # the launcher's composition is each job's only one; the front door composes the command line once (each sweep
    # at its first value) to name a bad key before Hydra starts, whatever the number of jobs
    assert counts["front-door compositions"] == 1
    assert counts["primary compositions by Hydra"] == per_command_line  # not one more per job
    assert sorted(validated) == [("none", "general_en"), ("none", "helpdesk_en")]
    assert len(list((tmp_path / "out").glob("*/cell.json"))) == 2  # both jobs ran, each wrote its outcome


def test_a_bad_job_stops_the_sweep_before_the_first_one_runs(counted, tmp_path, monkeypatch, capsys):
    counts, validated = counted
    monkeypatch.setattr(sys, "argv", ["harness", *_sweep(tmp_path, "general_en,helpdesk_en"), "task.limit=0"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: invalid configuration (nothing was run)") and "task.limit" in err
    assert "Traceback" not in err
    assert validated == [("none", "general_en")]  # the first job's check stops the sweep
    assert not list((tmp_path / "out").glob("*/cell.json"))  # no job started


def test_commands_without_a_launcher_compose_each_job_once(counted):
    counts, validated = counted
    (one,) = compose.compose_jobs(["model=smollm2-135m", "task=helpdesk_en"], sweep=False)
    assert one.model.name == "smollm2-135m" and "hydra" not in one
    assert counts["front-door compositions"] == 1 and validated == [("smollm2-135m", "helpdesk_en")]
    # a sweep of two jobs (harness plan -m): one composition for the preset's sweep parameters, then one per job
    cfgs = compose.compose_jobs(["-m", "model=smollm2-135m,gemma3-270m", "task=helpdesk_en"], what="planned")
    assert [c.model.name for c in cfgs] == ["smollm2-135m", "gemma3-270m"]
    assert counts["front-door compositions"] == 1 + 1 + 2
    # every composition Hydra made went through the front door's one function
    assert counts["primary compositions by Hydra"] == counts["front-door compositions"]
    assert validated[1:] == [("smollm2-135m", "helpdesk_en"), ("gemma3-270m", "helpdesk_en")]
    # a preset without sweeper params, one job: the first composition is that job's, not composed again
    (job,) = compose.compose_jobs(["sweep=smoke", "hydra.sweeper.params=null"], check=False)
    assert counts["front-door compositions"] == 4 + 1 and job.sweep.name == "smoke" and "hydra" not in job


def test_a_single_run_is_composed_by_the_front_door_and_hydra_and_validated_once(counted, tmp_path, monkeypatch):
    """hydra.mode=RUN has no sweep start to check at: the front door validates its one composition, and the job
    does not validate again (Hydra composes the run once itself)."""
    counts, validated = counted
    args = [
        "sweep=smoke",
        "hydra.mode=RUN",
        "model=none",
        "baseline=none",
        "task=general_en",
        "load.with_cells=none",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    monkeypatch.setattr(compose, "RUN_CHECKED", False)
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    main()
    assert validated == [("none", "general_en")]
    assert counts["front-door compositions"] == 1 and counts["job compositions by Hydra's launcher"] == 0
    assert (tmp_path / "run" / "cell.json").is_file()


def test_a_glob_sweep_is_listed_as_the_basic_sweeper_lists_it(counted, tmp_path, monkeypatch):
    """`task=glob(general_*)` names config options: the sweep's check lists the same jobs the sweeper runs."""
    counts, validated = counted
    monkeypatch.setattr(sys, "argv", ["harness", *_sweep(tmp_path, "glob(general_e*)")])
    main()
    assert validated == [("none", "general_en")] and counts["job compositions by Hydra's launcher"] == 1
