"""Runtime definitions: the named, pinned Python environments in runtimes/ (what exists, what each pins).

A runtime is two files in `runtimes/`: `<name>.yaml` (description, Python version, torch version) and the lock it
names (exact versions, installed with `--no-deps`, so nothing is resolved at creation time). The harness's own
environment is the runtime `main` (no lock: pyproject.toml's ranges). Creating one and running cells in it is
harness.execute.runtime's job; this module only reads the definitions (the preflight uses them to say which
runtime suits a model).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import REPO_ROOT

MAIN = "main"
RUNTIMES_DIR = REPO_ROOT / "runtimes"
KEYS = {"description", "python", "torch", "lock", "notes"}


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
        pins = {"torch": self.torch}
        for line in self.lock_file.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[norm(name)] = version.strip()
        return pins


def norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


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
            raise HarnessError(
                "the runtime `main` is the harness's own environment: there is nothing to create."
            )
        raise HarnessError(
            did_you_mean(name, choices, "runtime") + f" (runtimes are defined in {RUNTIMES_DIR})"
        )
    doc = load_yaml(path) or {}
    unknown = sorted(set(doc) - KEYS)
    missing = sorted({"description", "python", "torch", "lock"} - set(doc))
    if unknown or missing:
        raise HarnessError(f"{path}: " + "; ".join(
            ([f"unknown keys {unknown} (allowed: {sorted(KEYS)})"] if unknown else [])
            + ([f"missing keys {missing}"] if missing else [])))  # fmt: skip
    lock = RUNTIMES_DIR / str(doc["lock"])
    if not lock.is_file():
        raise HarnessError(f"{path}: lock: {doc['lock']} does not exist in {RUNTIMES_DIR}.")
    return Runtime(name, str(doc["description"]), str(doc["python"]), str(doc["torch"]), lock,
                   str(doc.get("notes") or ""))  # fmt: skip
