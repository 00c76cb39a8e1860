"""File locks that say who holds them, and that notice when the holder is gone.

The lock itself is filelock's (an OS `flock`, released by the kernel when its process dies, even by SIGKILL).
Beside it, `<lock>.owner` records who holds it (pid, host, since, what for). That file is what turns a silent
wait into a message ("waiting for <what>: held by pid 123 on host h since 10:02, 3 min"), and what shows that a
lock was left by a killed process: the owner file outlives a holder that never released it, so the next process
that takes the lock says it took over from a process that is gone.

On a file system where `flock` does not work (some network mounts), filelock falls back to a lock *file*: a
killed holder leaves it behind for good. There the owner file decides: a holder on this host whose pid is dead,
or a holder silent for longer than `stale_after_s`, is stale and its lock is taken over, with a message.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)
WAIT_MESSAGE_EVERY_S = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _age(since: float) -> str:
    s = max(0.0, time.time() - since)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def describe(owner: dict[str, Any]) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(owner.get("since", 0)))
    return f"pid {owner.get('pid')} on host {owner.get('host')} since {since} ({_age(owner.get('since', 0))} ago)"


class HarnessLock:
    """`with HarnessLock(path, "cell abc"):` — exclusive across processes (and jobs on one host)."""

    def __init__(self, path: str | Path, what: str = "", stale_after_s: float = 24 * 3600):
        self.path = Path(path)
        self.owner_path = Path(f"{path}.owner")
        self.what = what or self.path.name
        self.stale_after_s = stale_after_s
        self._lock = FileLock(str(self.path))

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.owner_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def _stale(self, owner: dict[str, Any] | None) -> str | None:
        """Why the recorded holder can no longer hold the lock, or None if it may still."""
        if owner is None:
            return None
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
            if not _alive(owner["pid"]):
                return "that process no longer exists"
        elif time.time() - float(owner.get("since", 0)) > self.stale_after_s:
            return f"it has held it longer than {self.stale_after_s:.0f} s"
        return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        last_said = 0.0
        while True:
            try:
                self._lock.acquire(timeout=0)
                break
            except Timeout:
                owner = self._read_owner()
                why = self._stale(owner)
                if why and not _flock_holds(self.path):
                    # a lock *file* left by a dead holder (no flock here): remove it and try again
                    log.warning(
                        "taking over the lock of %s (%s): held by %s, but %s",
                        self.what,
                        self.path,
                        describe(owner or {}),
                        why,
                    )
                    self.path.unlink(missing_ok=True)
                    self.owner_path.unlink(missing_ok=True)
                    continue
                now = time.monotonic()
                if now - last_said >= WAIT_MESSAGE_EVERY_S:
                    who = describe(owner) if owner else "another process"
                    log.warning("waiting for %s: the lock %s is held by %s", self.what, self.path, who)
                    last_said = now
                time.sleep(0.5)
        left = self._read_owner()
        if left is not None and left.get("pid") != os.getpid():
            # We hold the OS lock, yet an owner file remains: its process ended without releasing (killed).
            log.warning(
                "took over the lock of %s (%s) left by %s: %s",
                self.what,
                self.path,
                describe(left),
                self._stale(left) or "it ended without releasing it",
            )
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": self.what}
        tmp = self.owner_path.with_name(f".{self.owner_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(owner), encoding="utf-8")
        os.replace(tmp, self.owner_path)

    def release(self) -> None:
        self.owner_path.unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> HarnessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _flock_holds(path: Path) -> bool:
    """True when some process holds an OS lock on `path` (so the lock is live, whatever its owner file says)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
