"""Where the harness's data lives: conf/ (Hydra configs) and tasks/ (task folders).

Run from a checkout (an editable install, or `python -m harness` in the repository) they are the repository's own
folders, which developers edit in place. An installed wheel carries copies as harness/_data/conf and
harness/_data/tasks (see pyproject.toml). REPO_ROOT is the folder that holds both: the checkout, or harness/_data,
which mirrors the repository's layout so the task YAMLs' data paths (`tasks/<family>/data/...`, relative to it)
resolve the same way in both. IN_CHECKOUT tells the two apart (git state, docs/ exist only in a checkout).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _in_checkout(root: Path) -> bool:
    # pyproject.toml too: an installed package's parent is site-packages, where a stray top-level `conf`
    # (some distributions ship one) must not be mistaken for ours.
    return all(p.exists() for p in (root / "pyproject.toml", root / "conf" / "config.yaml", root / "tasks"))


IN_CHECKOUT = _in_checkout(_PACKAGE.parent)
REPO_ROOT = _PACKAGE.parent if IN_CHECKOUT else _PACKAGE / "_data"
CONF_DIR = REPO_ROOT / "conf"
TASKS_DIR = REPO_ROOT / "tasks"


def resolve(path: str | Path) -> Path:
    """A configured path: `~` expanded, relative paths taken from the working directory."""
    return Path(path).expanduser().resolve()


def absolute(path: str | Path) -> Path:
    """Like `resolve`, without following links: a file that must be checked for being a link (the response
    cache: a dangling link would make SQLite create its target anywhere)."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))
