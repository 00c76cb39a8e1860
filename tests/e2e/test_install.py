"""The package as a user installs it: a wheel built from this checkout, installed (not editable) into a fresh
virtual environment and run from a folder outside the checkout. It must find its packaged conf/ and tasks/, never
the checkout's (they build the wheel and run one real cell, SmolLM2 on 4 items, in about 40 s); the check that
pyproject.toml lists every subpackage is in tests/unit/test_install.py.

The new environment borrows the heavy dependencies (torch, transformers, lm-eval) from this test's own .venv
through a .pth path line. Such a line only extends sys.path; .pth files in that folder are not run, so .venv's
editable-install finder (which maps `harness` to the checkout) stays out, and a test below checks it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness import tasks
from harness.paths import REPO_ROOT, TASKS_DIR

# A junk file planted in the source copy: the package-data allow-list must keep it (and every other
# __pycache__) out of the wheel and the sdist.
JUNK = "tasks/helpdesk/__pycache__/utils.cpython-311.pyc"
BUILT_IN = {"helpdesk_en", "helpdesk_zh", "general_en", "general_zh", "ota_intent_en", "extract_format_en"}


def _sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    p = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env or _env()
    )
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def _env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that points Python at the checkout or at .venv."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HARNESS_TASKS_PATH"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def _venv(root: Path, wheel: Path) -> Path:
    """A fresh venv with `wheel` installed (no deps), then given .venv's site-packages as a plain path."""
    _sh([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent)
    py = root / "bin" / "python"
    # .venv's pip installs into the new interpreter; the deps path is added only afterwards, so pip sees a
    # clean environment (and never the editable harness in .venv).
    _sh(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel],
        cwd=root,
    )
    site = Path(_sh([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=root).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_harness_test_deps.pth").write_text("".join(f"{d}\n" for d in deps))
    return root


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """A copy of what the build reads, so building never writes build/ or egg-info into the shared checkout.
    __pycache__ folders are copied on purpose (the allow-list must drop them)."""
    root = tmp_path_factory.mktemp("src").resolve()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "harness", "hydra_plugins", "conf", "tasks", "runtimes"):
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, root / name)
        elif path.exists():
            shutil.copy2(path, root / name)
    (root / JUNK).parent.mkdir(exist_ok=True)
    (root / JUNK).write_bytes(b"junk")
    return root


@pytest.fixture(scope="module")
def wheel(src, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _sh(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src],
        cwd=src,
    )
    (whl,) = out.glob("harness-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    return _venv(tmp_path_factory.mktemp("install").resolve() / "venv", wheel)


@pytest.fixture
def work(tmp_path) -> Path:
    """The user's working directory, outside the checkout."""
    assert not tmp_path.resolve().is_relative_to(REPO_ROOT)
    return tmp_path


def _data_files() -> set[str]:
    """conf/, tasks/ and runtimes/ files of the checkout that git tracks or would track, as the wheel carries them."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "conf", "tasks", "runtimes"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {f"harness/_data/{rel}" for rel in out.splitlines() if (REPO_ROOT / rel).is_file()}


def test_wheel_carries_every_subpackage_conf_and_tasks_and_no_junk(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    # pyproject lists packages by hand: a subpackage missing there would be missing from every install
    packages = {
        p.relative_to(REPO_ROOT).as_posix()
        for top in ("harness", "hydra_plugins")
        for p in (REPO_ROOT / top).rglob("__init__.py")
    }
    assert packages - names == set()
    assert {
        "harness/report/templates/leaderboard.html.j2",
        "harness/jobs/judge/prompts/v1.txt",
        "harness/jobs/synth_prompts/v1.txt",
    } <= names
    data = _data_files()
    assert data - names == set()  # every YAML, data file, schema, metric module and card
    assert {
        "harness/_data/conf/config.yaml",
        "harness/_data/tasks/helpdesk/data/en/test.jsonl",
        "harness/_data/tasks/helpdesk/utils.py",
        "harness/_data/tasks/extract_format/schema.json",
        "harness/_data/runtimes/legacy.yaml",
        "harness/_data/runtimes/legacy.lock",
    } <= data
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
    assert {n.split("/")[0] for n in names} == {"harness", "hydra_plugins", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {n for n in names if n.startswith("harness/_data/")} == data  # nothing else under _data


def test_sdist_carries_conf_and_tasks_and_no_junk(src, tmp_path):
    build = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    name = _sh([sys.executable, "-c", build, tmp_path], cwd=src).stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    # the source layout: conf/ and tasks/ at the root, as in the checkout
    assert {d.removeprefix("harness/_data/") for d in _data_files()} - names == set()
    assert {"pyproject.toml", "README.md", "harness/paths.py", "hydra_plugins/harness_launcher/__init__.py"} <= names
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
    assert [n for n in names if n.split("/")[0] in ("results", "reports", "artifacts", "outputs", "tests")] == []


def test_installed_package_reads_its_packaged_data_not_the_checkout(venv, work):
    probe = (
        "import json, sys, harness, importlib.metadata as m, harness.paths as p;"
        "print(json.dumps({'file': harness.__file__, 'root': str(p.REPO_ROOT), 'conf': str(p.CONF_DIR),"
        "'checkout': p.IN_CHECKOUT, 'dist': str(m.distribution('harness')._path),"
        "'editable': [k for k in sys.modules if 'editable' in k]}))"
    )
    got = json.loads(_sh([venv / "bin/python", "-c", probe], cwd=work).stdout)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert Path(got["file"]) == site / "harness" / "__init__.py"
    assert Path(got["dist"]).parent == site
    assert (Path(got["root"]), Path(got["conf"]), got["checkout"]) == (
        site / "harness/_data",
        site / "harness/_data/conf",
        False,
    )
    assert got["editable"] == []


def test_installed_task_list_and_new_task_outside_site_packages(venv, work):
    listed = _sh([venv / "bin/harness", "task", "list"], cwd=work).stdout.splitlines()
    dirs = {line.split()[0]: line.split()[1] for line in listed}
    checkout = {
        n: tasks.task_config(n, path, doc).dir
        for n, (path, doc) in tasks.discover().items()
        if path.is_relative_to(TASKS_DIR)
    }
    assert BUILT_IN <= set(dirs)
    assert dirs == checkout  # same tasks, same folders (relative to the data root) as in the checkout
    assert dirs["helpdesk_en"] == "tasks/helpdesk"
    # the runtimes travel in the wheel too: an installed harness can create the seed models' environment
    runtimes = _sh([venv / "bin/harness", "runtime", "list"], cwd=work).stdout
    assert "legacy" in runtimes and "transformers 4.33.3" in runtimes and "chatglm2-6b" in runtimes

    # `task new` without --dir: ./tasks of the working directory, never the package's folder in site-packages
    out = _sh([venv / "bin/harness", "task", "new", "my_task"], cwd=work).stdout
    folder = work / "tasks" / "my_task"
    assert out.splitlines()[0] == f"wrote {folder}"
    assert sorted(p.name for p in (folder / "data").iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert f"test: {folder / 'data' / 'test.jsonl'}" in (folder / "my_task.yaml").read_text()
    assert not list(venv.rglob("my_task*"))
    env = _env(HARNESS_TASKS_PATH=str(work / "tasks"))
    checked = _sh([venv / "bin/harness", "task", "check", "my_task"], cwd=work, env=env).stdout
    assert "train 3, validation 3, test 3" in checked and checked.rstrip().endswith("ok")
    listed = _sh([venv / "bin/harness", "task", "list"], cwd=work, env=env).stdout.splitlines()
    assert {line.split()[0]: line.split()[1] for line in listed}["my_task"] == str(folder)


def test_installed_task_loads_its_packaged_metric_code(venv, work):
    """lm-eval loads helpdesk_en from the packaged copy: data by its repository-relative paths, and
    `!function utils.process_results` from the packaged utils.py, which scores a right and a wrong answer."""
    script = """
import contextlib, json
from lm_eval.tasks import TaskManager
from harness.paths import REPO_ROOT, TASKS_DIR
with contextlib.chdir(REPO_ROOT):
    task = TaskManager(include_path=str(TASKS_DIR / "helpdesk"), include_defaults=False).load(["helpdesk_en"])
    task = task["tasks"]["helpdesk_en"]
    doc = next(iter(task.test_docs()))
print(json.dumps({"doc": doc, "code": task.config.process_results.__code__.co_filename,
                  "right": task.process_results(doc, [doc["answer"]]),
                  "wrong": task.process_results(doc, ["Something else entirely."])}))
"""
    got = json.loads(_sh([venv / "bin/python", "-c", script], cwd=work).stdout.splitlines()[-1])
    with (TASKS_DIR / "helpdesk/data/en/test.jsonl").open(encoding="utf-8") as f:
        assert got["doc"] == json.loads(f.readline())
    assert Path(got["code"]).is_relative_to(venv) and Path(got["code"]).name == "utils.py"
    assert got["doc"]["in_scope"]  # so a right answer is "contains" and not a hand-off
    assert got["right"] == {"contains": 1.0, "exact_match": 1.0, "handoff_accuracy": 1.0}
    assert got["wrong"] == {"contains": 0.0, "exact_match": 0.0, "handoff_accuracy": 1.0}


def test_installed_smoke_cell_stores_a_record_and_writes_the_report(venv, work):
    """The cheapest real cell: SmolLM2 (embedded, prepared in HARNESS_CACHE by scripts/setup.sh) on the first 4
    general_en items, scored by log-likelihood, from a working directory outside the checkout."""
    data = venv.glob("lib/python*/site-packages/harness/_data")
    (data,) = list(data)
    before = sorted(p for p in data.rglob("*") if "__pycache__" not in p.parts)
    store = {k: work / k for k in ("results", "reports", "artifacts")}
    cmd = [
        venv / "bin/harness",
        "-m",
        "sweep=smoke",
        "model=smollm2-135m",
        "task=general_en",
        "task.limit=4",
        "finetune=none",
        "baseline=none",
        *(f"paths.{k}={v}" for k, v in store.items()),
    ]
    p = _sh(cmd, cwd=work, timeout=600)
    (record_file,) = (store["results"] / "records").glob("*.json")
    record = json.loads(record_file.read_text())
    assert (record["model"]["name"], record["task"]["name"], record["task"]["n"]) == (
        "smollm2-135m",
        "general_en",
        4,
    )
    # the packaged task folder hashes like the checkout's, so a wheel's cells are the checkout's cells
    path, doc = tasks.discover()["general_en"]
    assert (
        record["task"]["content_sha256"] == tasks.load_task(tasks.task_config("general_en", path, doc)).content_sha256
    )
    # the score is a real mean over the stored items, each scored as the option with the highest log-likelihood
    samples = [json.loads(line) for line in (store["results"] / "samples" / f"{record['cell_id']}.jsonl").open()]
    by_hand = [float(s["loglikelihoods"].index(max(s["loglikelihoods"])) == s["doc"]["label"]) for s in samples]
    assert [s["scores"]["acc"] for s in samples] == by_hand and len(by_hand) == 4
    acc = record["metrics"]["acc"]["value"]
    assert isinstance(acc, float) and acc == pytest.approx(sum(by_hand) / 4)
    (index,) = store["reports"].rglob("index.html")
    assert f"report: {index}" in p.stdout
    html = index.read_text(encoding="utf-8")
    assert "SmolLM2-135M-Instruct" in html and "general_en" in html
    assert (work / "outputs").is_dir()  # Hydra's run folders go to the working directory
    # nothing was written into the installed package (bytecode caches aside)
    assert sorted(p for p in data.rglob("*") if "__pycache__" not in p.parts) == before


def test_editable_install_reads_the_checkout(src, tmp_path):
    """What scripts/setup.sh does (`pip install -e .`), on the source copy: conf/ and tasks/ are read in place."""
    build = "import sys; from setuptools import build_meta; print(build_meta.build_editable(sys.argv[1]))"
    dist = tmp_path / "dist"
    name = _sh([sys.executable, "-c", build, dist], cwd=src).stdout.strip().splitlines()[-1]
    venv = _venv(tmp_path / "venv", dist / name)
    probe = "import json, harness.paths as p; print(json.dumps([str(p.REPO_ROOT), str(p.CONF_DIR), str(p.TASKS_DIR), p.IN_CHECKOUT]))"
    got = json.loads(_sh([venv / "bin/python", "-c", probe], cwd=tmp_path).stdout)
    assert got == [str(src), str(src / "conf"), str(src / "tasks"), True]
