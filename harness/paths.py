"""Where the repository's data lives. conf/ and tasks/ are data beside the package (an editable install)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"
TASKS_DIR = REPO_ROOT / "tasks"


def resolve(path: str | Path) -> Path:
    """A configured path: `~` expanded, relative paths taken from the working directory."""
    return Path(path).expanduser().resolve()
