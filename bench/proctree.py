"""Peak memory of a process and everything it starts, sampled from /proc (no dependency: the bench scripts run
on the system Python). Resident memory is summed over the tree, so pages two processes share (libraries mapped
by both) count twice: an upper bound of what the tree needs, which is what "fits in N GB" is about.

    with TreeMemory(pid) as mem: ...;  mem.result()
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, resident bytes, role) for every process readable now."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            rss = int((d / "statm").read_text().split()[1]) * PAGE
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue  # ended between listing and reading
        out[int(d.name)] = (ppid, rss, role(cmd))
    return out


def role(cmd: str) -> str:
    """What a process of `make run` is, for the per-role peaks."""
    if " serve " in cmd and "transformers" in cmd:
        return "transformers serve"
    if "chrom" in cmd:
        return "chromium"
    if "pip" in cmd.split(" ", 2)[:2] or " -m pip" in cmd or "uv " in cmd:
        return "installer"
    if "harness" in cmd and "python" in cmd:
        return "harness (python)"
    return "other"


def descendants(root: int, table: dict[int, tuple[int, int, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
        todo += children.get(pid, [])
    return out


class TreeMemory:
    def __init__(self, root: int, every_s: float = 0.2) -> None:
        self.root, self.every_s = root, every_s
        self.peak_total = 0
        self.peak_by_role: dict[str, int] = {}
        self.roles_at_peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            table = _table()
            total, by_role = 0, {}
            for pid in descendants(self.root, table):
                _, rss, r = table[pid]
                total += rss
                by_role[r] = by_role.get(r, 0) + rss
                self.peak_by_role[r] = max(self.peak_by_role.get(r, 0), rss)  # one process's peak
            if total > self.peak_total:
                self.peak_total, self.roles_at_peak = total, by_role
            self._stop.wait(self.every_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def result(self) -> dict:
        gib = 2**30
        return {
            "tree_peak_gib": round(self.peak_total / gib, 3),
            "tree_at_peak_gib": {r: round(b / gib, 3) for r, b in sorted(self.roles_at_peak.items())},
            "process_peak_gib": {r: round(b / gib, 3) for r, b in sorted(self.peak_by_role.items())},
            "basis": f"resident memory summed over the process tree, sampled every {self.every_s} s",
        }
