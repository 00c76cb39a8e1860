"""Fixtures shared by every tier, and the tiers themselves.

Tiers are folders: tests/unit (plain `pytest`: fast, offline, no model), tests/integration (one stage with its real
parts: a real model, lm-eval, a served endpoint, chromium, a worker process, the legacy runtime) and tests/e2e (the
`harness` command as a user runs a whole job, a sweep or an installed package). Each test is marked with its tier
(`-m integration`, `-m e2e`). `make test` runs all three.

The expensive real parts are built once per session and shared by every test that only needs them: the prepared
embedded models, one served stand-in endpoint, one artifacts folder (a training with the same identity is done once
per session), one chromium (tests/support/browser.py), and each end-to-end run that several tests only read (the
default job, the data-quality sweep: tests/support/e2e_runs.py). Preparing the models and creating the legacy
runtime start in the background when the session begins (tests/support/background.py), while the unit tier runs;
nothing else runs beside a test (on two cores, two torch processes at once slow both and break timeouts).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import background

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).parts
        tier = next((t for t in TIERS if t in parts), None)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: every test lives in tests/unit, tests/integration or tests/e2e")
        item.add_marker(getattr(pytest.mark, tier))
        if "quiet_machine" in getattr(item, "fixturenames", ()):  # alone on the machine in scripts/test.sh
            item.add_marker(pytest.mark.quiet)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """In a lane of scripts/test.sh: the machine shared, or alone for a `quiet` test (tests/support/lanes.py)."""
    from tests.support import lanes

    with lanes.machine(exclusive=item.get_closest_marker("quiet") is not None):
        yield


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    ids = [item.nodeid for item in session.items]

    def needed(*prefixes: str) -> bool:
        return any(i.startswith(prefixes) for i in ids)

    jobs = [
        ("prepare", background.prepare_models, needed("tests/integration/", "tests/e2e/")),
        ("legacy", background.create_legacy, needed("tests/integration/test_runtime_legacy")),
    ]
    background.start([(name, fn) for name, fn, wanted in jobs if wanted])


def pytest_terminal_summary(terminalreporter):
    took = background.durations()
    if took:
        terminalreporter.write_line(
            "background jobs (beside the tests): " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
        )


def pytest_sessionfinish(session, exitstatus):
    from tests.support import browser

    browser.CHROMIUM.close()
    background.stop()


@pytest.fixture
def tmp_store(tmp_path):
    """Overrides that send results and reports to a temporary folder."""
    return [
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"paths.artifacts={tmp_path / 'artifacts'}",
    ]


def model_dir(name: str) -> Path:
    """A model's prepared folder in the user cache (as `make run` leaves it), once the background preparation is
    done; prepared in this process when it did not run, or failed (its error is then the one raised here)."""
    from harness.models import model_config
    from harness.models.embedded import prepare
    from harness.paths import resolve
    from tests.support.run import compose_cfg

    background.result("prepare", lambda: None)
    return prepare(model_config(name), resolve(compose_cfg([]).paths.cache))


@pytest.fixture(scope="session")
def smol_dir() -> Path:
    return model_dir("smollm2-135m")


@pytest.fixture(scope="session")
def gemma_dir() -> Path:
    return model_dir("gemma3-270m")


@pytest.fixture(scope="session")
def quiet_machine() -> None:
    """For a test that times a server under load: its capacity counts only on a machine nobody else is using, so
    every background job must be done first."""
    background.wait_all()


@pytest.fixture(scope="session")
def shared_artifacts(tmp_path_factory) -> Path:
    """One artifacts folder for the session: trainings are content-addressed, so a test that asks for the same
    training as an earlier one reuses its adapter instead of training again."""
    return tmp_path_factory.mktemp("shared-artifacts")


@pytest.fixture(scope="session")
def standin_service(smol_dir, tmp_path_factory):
    """The stand-in endpoint (SmolLM2 behind `transformers serve`, continuous batching), started on first use and
    shared by every test that only talks to it (through `baseline.serve=null baseline.base_url=...`)."""
    from tests.support.standin import standin

    service = standin(smol_dir, tmp_path_factory.mktemp("standin"))
    yield service
    service.close()


@pytest.fixture
def standin_url(standin_service) -> str:
    """The shared stand-in's OpenAI base URL (.../v1), checked alive (and restarted if not) for each test."""
    return standin_service.url()
