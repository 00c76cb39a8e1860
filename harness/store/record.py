"""The result record: its schema version and the environment facts every record carries.

The schema is documented field by field in docs/results-schema.md. Bump SCHEMA_VERSION on any change that an
old reader would misread; the version is part of every cell id, so old and new records never collide.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from datetime import UTC, datetime

from harness.paths import REPO_ROOT

SCHEMA_VERSION = 1

# Packages whose versions can change a result; recorded in every record (not hashed into the cell id).
TRACKED_PACKAGES = [
    "harness",
    "lm_eval",
    "transformers",
    "torch",
    "accelerate",
    "peft",
    "tokenizers",
    "datasets",
]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, object]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict[str, object]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_state(),
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
