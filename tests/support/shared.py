"""Expensive real parts built once and shared by every test that only reads them.

Two kinds:
- `shared_folder`: a folder a builder writes once (the default job's store, say), in place (records name their
  artifacts by absolute path, so it is not renamed afterwards); a manifest of every file (size and SHA-256) is
  written last. On reuse every listed file is checked against the manifest: a folder without one (a session killed
  while building it) or with a file changed or missing is deleted and built again, never reused. Its name carries a key
  (the harness code, conf/, tasks/ and the builder's own arguments), so a code change never reuses an old build.
  The folder lives in the session's temporary folder; `HARNESS_TEST_SHARED=<dir>` keeps it across sessions.
- `SharedService`: a server every test talks to (the stand-in endpoint). `url()` checks it before handing it out:
  one that died, stopped answering, or whose port another program now holds is stopped and started again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from harness.locks import HarnessLock
from harness.models.embedded import sha256_file
from harness.paths import REPO_ROOT

log = logging.getLogger(__name__)
MANIFEST = ".shared-manifest.json"
CODE = ("harness", "conf", "tasks", "runtimes", "pyproject.toml")


def code_digest() -> str:
    """SHA-256 over every file the harness runs from: a shared build is keyed by it."""
    digest = hashlib.sha256()
    for top in CODE:
        root = REPO_ROOT / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts:
                continue
            digest.update(str(p.relative_to(REPO_ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return digest.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != MANIFEST:
            yield p


def write_manifest(folder: Path) -> None:
    files = {str(p.relative_to(folder)): [p.stat().st_size, sha256_file(p)] for p in _files(folder)}
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(files, indent=1, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def problem(folder: Path) -> str | None:
    """Why a shared folder must not be reused (None when it is complete and intact)."""
    try:
        files = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return "no manifest: its build did not finish"
    for rel, (size, sha) in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != size or sha256_file(path) != sha:
            return f"{rel} changed since it was built"
    return None


def shared_root(session_tmp: Path) -> Path:
    return Path(os.environ["HARNESS_TEST_SHARED"]) if os.environ.get("HARNESS_TEST_SHARED") else session_tmp


def shared_folder(root: Path, name: str, key: Any, build: Callable[[Path], None]) -> Path:
    """`root/<name>-<key hash>`, built by `build(folder)` unless an intact build is there already."""
    tag = hashlib.sha256(json.dumps([code_digest(), key], sort_keys=True, default=str).encode()).hexdigest()
    final = root / f"{name}-{tag[:12]}"
    root.mkdir(parents=True, exist_ok=True)
    with HarnessLock(f"{final}.lock", f"the shared test folder {final.name}"):  # two sessions: one builds
        if final.exists():
            why = problem(final)
            if why is None:
                return final
            log.warning("shared %s at %s is not reused (%s): building it again", name, final, why)
            shutil.rmtree(final)
        final.mkdir(parents=True)
        build(final)
        write_manifest(final)  # last: without it the folder is a build that did not finish
    return final


class SharedService:
    """A server started once and handed to every test that talks to it, checked before each hand-out.

    `start()` enters a context manager that yields the server's URL; `alive(url)` says whether the server at that
    URL is the one started (answers, and is the same program)."""

    def __init__(
        self, start: Callable[[], AbstractContextManager[str]], alive: Callable[[str], bool], what: str
    ) -> None:
        self._start, self._alive, self.what = start, alive, what
        self._cm: AbstractContextManager[str] | None = None
        self._url: str | None = None
        self.starts = 0

    def url(self) -> str:
        if self._url is not None and not self._alive(self._url):
            log.warning("the shared %s at %s no longer answers as itself: starting it again", self.what, self._url)
            self.close()
        if self._url is None:
            cm = self._start()
            self._url = cm.__enter__()
            self._cm = cm
            self.starts += 1
        return self._url

    def close(self) -> None:
        cm, self._cm, self._url = self._cm, None, None
        if cm is not None:
            try:
                cm.__exit__(None, None, None)
            except Exception as e:  # noqa: BLE001 - a server that already died may fail to stop; start anew
                log.warning("stopping the shared %s: %s", self.what, e)
