"""How busy the machine was while something was timed. A timing is only as good as the machine was quiet: a
default job measured on this 2-core machine beside another heavy job gave a cost per query 8x the quiet figure.
So every timed measurement carries this section, and the report flags a contended one instead of presenting it
as capacity.

What is measured over the timed span (psutil's system-wide CPU times, this process's CPU time, and the CPU time
of the processes that are part of the measurement, e.g. the model server the harness started):
  busy_share   share of all CPUs' time not idle
  ours_share   share used by this process and the named ones (the measurement itself)
  other_share  busy_share - ours_share: other work on the machine, which slows what is measured
  steal_share  CPU time the hypervisor gave to other guests (a cloud VM's noisy neighbours)
  own_cpu      this process's CPU seconds per wall second (1.0 = a full core: a single-threaded client saturated)
  role         client: the process sends requests to what is measured (the load generator), so its own CPU
               above OWN_CPU_MAX flags it as the possible bottleneck; runner: the process *is* the measurement (a
               local evaluation or training uses every core by design), so only other work and steal flag it
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

# Thresholds: above them the figure is flagged in the record and the report. A quarter of the machine taken by
# other work already stretched latencies by tens of % here; steal above 5 % means a contended VM host.
OTHER_MAX = 0.25
STEAL_MAX = 0.05
OWN_CPU_MAX = 0.9  # of one core: an asyncio client above this is the bottleneck, not the server


def _process_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and their children (a server may run its work in a child)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p, *p.children(recursive=True)]
        except psutil.Error:
            continue
        for q in procs:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


@dataclass
class Busy:
    """Measure around a timed span: `with Busy(server_pids) as b: ...; b.section()`."""

    pids: list[int] = field(default_factory=list)
    client: bool = True  # False: this process runs the model being timed (module docstring: role)
    _start: dict[str, Any] = field(default_factory=dict)
    _end: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _now(pids: list[int]) -> dict[str, Any]:
        import psutil

        return {
            "wall": time.perf_counter(),
            "cpu": psutil.cpu_times(),
            "own": time.process_time(),
            "theirs": _process_cpu(pids),
        }

    def __enter__(self) -> Busy:
        self._start = self._now(self.pids)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end = self._now(self.pids)

    def section(self) -> dict[str, Any]:
        return contention(self._start, self._end, os.cpu_count() or 1, self.client)


def contended(machine: dict[str, Any], runner: bool) -> bool:
    """Whether a stored section flags contention, by the rule of its role; `runner` says the role of a section
    stored before roles were recorded (a local evaluation's or training's: its own-core share was never
    contention, and every local row of the default job carried the flag on a quiet machine for it)."""
    if "other_share" not in machine:
        return bool(machine.get("contended"))
    runner = machine.get("role", "runner" if runner else "client") == "runner"
    return (
        (machine.get("other_share") or 0) > OTHER_MAX
        or (machine.get("steal_share") or 0) > STEAL_MAX
        or (not runner and (machine.get("own_cpu") or 0) > OWN_CPU_MAX)
    )


def contention(start: dict[str, Any], end: dict[str, Any], cpus: int, client: bool = True) -> dict[str, Any]:
    """The record's `machine` section from two snapshots (a pure function of them: tested by hand)."""
    wall = max(end["wall"] - start["wall"], 1e-9)
    a, b = start["cpu"], end["cpu"]
    total = sum(b) - sum(a)
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0.0) - getattr(a, "iowait", 0.0))
    steal = getattr(b, "steal", 0.0) - getattr(a, "steal", 0.0)
    busy = 0.0 if total <= 0 else max(0.0, 1.0 - idle / total)
    own = end["own"] - start["own"]
    ours = (own + (end["theirs"] - start["theirs"])) / (wall * cpus)
    other = max(0.0, busy - ours)
    steal_share = 0.0 if total <= 0 else max(0.0, steal / total)
    flags = []
    if other > OTHER_MAX:
        flags.append(f"other work used {other:.0%} of the machine's CPU while this was timed")
    if steal_share > STEAL_MAX:
        flags.append(f"the hypervisor took {steal_share:.0%} of the CPU time (steal)")
    own_cpu = own / wall
    if client and own_cpu > OWN_CPU_MAX:
        flags.append(f"the measuring process used {own_cpu:.0%} of a core: it may have been the bottleneck")
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = None
    return {
        "cpus": cpus,
        "wall_s": round(wall, 3),
        "busy_share": round(busy, 4),
        "ours_share": round(min(ours, 1.0), 4),
        "other_share": round(other, 4),
        "steal_share": round(steal_share, 4),
        "own_cpu": round(own_cpu, 4),
        "load_1m": load1,
        "role": "client" if client else "runner",
        "contended": bool(flags),
        "flags": flags,
    }
