"""Runtime definitions: the named, pinned Python environments in runtimes/ (what exists, what each pins).

A runtime is two files in `runtimes/`: `<name>.yaml` (description, Python version, torch version) and the lock it
names (exact versions, installed with `--no-deps`, so nothing is resolved at creation time). The harness's own
environment is the runtime `main`: pyproject.toml's ranges, installed by scripts/setup.sh from its own lock
`runtimes/main.lock` (written by scripts/lock.sh; no `main.yaml`: torch's pin is the lock's `# torch==` line).
Its hash and whether this environment matches it go into every record (harness.store.record), never into a cell
id: a new lock must not invalidate stored results. Creating another runtime and running cells in it is
harness.execute.runtime's job; this module only reads the definitions (the preflight uses them to say which
runtime suits a model).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import REPO_ROOT

MAIN = "main"
RUNTIMES_DIR = REPO_ROOT / "runtimes"
KEYS = {"description", "python", "torch", "lock", "notes"}
MAIN_LOCK = RUNTIMES_DIR / "main.lock"


@dataclass(frozen=True)
class Runtime:
    name: str
    description: str
    python: str  # major.minor
    torch: str  # exact version, installed first with its own dependencies (CPU or CUDA build by platform)
    lock_file: Path
    notes: str = ""

    @property
    def lock_sha256(self) -> str:
        """What the runtime's folder is keyed by: the lock's exact text plus the Python and torch it goes with."""
        text = f"python={self.python}\ntorch={self.torch}\n" + self.lock_file.read_text(encoding="utf-8")
        return hashlib.sha256(text.encode()).hexdigest()

    def pins(self) -> dict[str, str]:
        """Package -> version, as the lock pins them (torch included)."""
        return {"torch": self.torch, **lock_pins(self.lock_file.read_text(encoding="utf-8"))}


def norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def lock_pins(text: str) -> dict[str, str]:
    """Package -> version of a lock's `name==version` lines (comments and blank lines skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[norm(name)] = version.strip()
    return pins


# -- the harness's own environment: runtimes/main.lock -----------------------------------------------------------


def main_lock_sha256(path: Path | None = None) -> str | None:
    """SHA-256 of the main lock's bytes (its `# torch==` line included), or None where there is no lock (a
    package built without it). Unlike `Runtime.lock_sha256` nothing is added to the text: main has no runtime
    folder to key, and the lock itself names its torch."""
    try:
        return hashlib.sha256((path or MAIN_LOCK).read_bytes()).hexdigest()
    except OSError:
        return None


def main_lock_pins(path: Path | None = None) -> dict[str, str]:
    """Package -> version as the main lock pins them, torch (from its `# torch==` line) included; {} without it."""
    try:
        text = (path or MAIN_LOCK).read_text(encoding="utf-8")
    except OSError:
        return {}
    torch = re.search(r"^# torch==(\S+)", text, re.M)
    return {**({"torch": torch.group(1)} if torch else {}), **lock_pins(text)}


def main_lock_drift(path: Path | None = None) -> dict[str, tuple[str, str | None]]:
    """{package: (locked, installed)} for each package the main lock pins whose installed version differs (None:
    not installed); {} when this environment matches the lock. One metadata scan (~0.1 s) per process and state
    of the lock file, not one per record: packages do not change under a running harness. A local build label
    counts as the same version, as pip's `==` does (torch 2.13.0+cpu meets a lock's 2.13.0)."""
    path = path or MAIN_LOCK
    return dict(_drift(path, path.stat().st_mtime_ns if path.is_file() else None))


@functools.lru_cache(maxsize=8)
def _drift(path: Path, mtime: int | None) -> tuple[tuple[str, tuple[str, str | None]], ...]:
    import importlib.metadata

    from packaging.version import InvalidVersion, Version

    installed: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        installed.setdefault(_canonical(dist.metadata["Name"] or ""), dist.version)  # first on sys.path wins
    drift = {}
    for name, locked in main_lock_pins(path).items():
        have = installed.get(_canonical(name))
        try:
            same = have is not None and Version(have).public == Version(locked).public
        except InvalidVersion:
            same = have == locked
        if not same:
            drift[name] = (locked, have)
    return tuple(drift.items())


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names() -> list[str]:
    return [MAIN, *sorted(p.stem for p in RUNTIMES_DIR.glob("*.yaml"))]


def load(name: str) -> Runtime:
    """A runtime's definition, checked (unknown keys, a missing lock file) with the file named."""
    from harness.errors import did_you_mean
    from harness.util import load_yaml

    path = RUNTIMES_DIR / f"{name}.yaml"
    if name == MAIN or not path.is_file():
        choices = [n for n in names() if n != MAIN]
        if name == MAIN:
            raise HarnessError("the runtime `main` is the harness's own environment: there is nothing to create.")
        raise HarnessError(did_you_mean(name, choices, "runtime") + f" (runtimes are defined in {RUNTIMES_DIR})")
    doc = load_yaml(path) or {}
    unknown = sorted(set(doc) - KEYS)
    missing = sorted({"description", "python", "torch", "lock"} - set(doc))
    if unknown or missing:
        raise HarnessError(
            f"{path}: "
            + "; ".join(
                ([f"unknown keys {unknown} (allowed: {sorted(KEYS)})"] if unknown else [])
                + ([f"missing keys {missing}"] if missing else [])
            )
        )
    lock = RUNTIMES_DIR / str(doc["lock"])
    if not lock.is_file():
        raise HarnessError(f"{path}: lock: {doc['lock']} does not exist in {RUNTIMES_DIR}.")
    return Runtime(
        name, str(doc["description"]), str(doc["python"]), str(doc["torch"]), lock, str(doc.get("notes") or "")
    )
