"""Memory: which allocator the process uses, and the peak a stage reaches (issue 34).

The allocator. glibc's malloc keeps what torch frees inside its arenas: its mmap threshold rises to 32 MB after
the first large free, so activations of up to 32 MB come from the heap and fragment it. The default job's LoRA
step on SmolLM2-135M (one row per pass) peaked at 1.76 GB of RSS with glibc and at 1.46 GB with jemalloc, at the
same or a higher tokens/s (bench/train_memory.py); fixing glibc's threshold at 128 KB gave 1.58 GB but 30 % fewer
tokens/s. jemalloc must be loaded before the interpreter starts (LD_PRELOAD), so the `harness` command starts
itself once more with it when Debian's libjemalloc2 is installed (scripts/setup.sh installs it) and
HARNESS_ALLOCATOR is not `system`. The variable is then taken out of the environment again, so the programs the
harness starts (chromium, pip) keep their own allocator; its Python workers get it back through python_env().

Python's own objects go to jemalloc as well in that process (PYTHONMALLOC=malloc): Python's allocator takes memory
in arenas of 1 MiB and returns an arena only when every object in it is gone, so the millions of short-lived
objects of a stage (reading Gemma's GGUF, 262,144 vocabulary entries) stay resident as long as a few long-lived
ones share their arenas. Preparing Gemma-3 in the harness process left 1.02 GiB resident after release(), 0.42
GiB with PYTHONMALLOC=malloc, in the same 30 s.

The peak. On CUDA, the allocator's own peak counter; on a CPU, the process's resident memory sampled every 0.2 s
(no allocator peak counter there), which counts everything the process holds: its libraries and the model's
weights as well as what the stage itself allocates.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from pathlib import Path
from typing import Any

JEMALLOC = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2")
_LOADED = "HARNESS_PRELOADED"
_ALL_ARENAS = 4096  # jemalloc's MALLCTL_ARENAS_ALL  # set for the restarted process: never restart twice


def jemalloc_path() -> str | None:
    return next((p for p in JEMALLOC if Path(p).is_file()), None)


def allocator() -> str:
    """The malloc this process runs on: jemalloc (preloaded) or the system's."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "jemalloc" if "libjemalloc" in maps else "system"


def restart_with_jemalloc() -> None:
    """Replace this process by itself with jemalloc preloaded, once, when it is installed and not refused
    (HARNESS_ALLOCATOR=system). Call it first thing in a command's entry point: nothing before it runs twice."""
    loaded = os.environ.pop(_LOADED, None)
    if loaded is not None:  # the restarted process: keep it out of what we start
        os.environ.pop("LD_PRELOAD", None)
        if loaded == "pymalloc-off":
            os.environ.pop("PYTHONMALLOC", None)
        return
    path = jemalloc_path()
    if path is None or os.environ.get("HARNESS_ALLOCATOR", "jemalloc") == "system" or allocator() == "jemalloc":
        return
    env = {**os.environ, _LOADED: "1", "LD_PRELOAD": " ".join(filter(None, [path, os.environ.get("LD_PRELOAD")]))}
    if "PYTHONMALLOC" not in os.environ:  # Python's objects on jemalloc too (the module's docstring says why)
        env.update({"PYTHONMALLOC": "malloc", _LOADED: "pymalloc-off"})
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv[1:]], env)


def python_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a Python process the harness starts (a worker, `transformers serve`): with jemalloc preloaded
    when this process has it."""
    path = jemalloc_path()
    if path is None or allocator() != "jemalloc" or "libjemalloc" in env.get("LD_PRELOAD", ""):
        return env
    return {**env, "LD_PRELOAD": " ".join(filter(None, [path, env.get("LD_PRELOAD")]))}


def release() -> None:
    """Give freed memory back to the system between stages: a later stage's peak then starts from what is live,
    not from what an earlier stage once held (glibc keeps freed heap pages; jemalloc keeps them for seconds)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        if allocator() == "system":
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        else:  # jemalloc returns freed pages only after its decay time (10 s): purge every arena now
            ctypes.CDLL(None).mallctl(b"arena.%d.purge" % _ALL_ARENAS, None, None, None, ctypes.c_size_t(0))
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory while a block runs: CUDA's allocator peak when `cuda`, else this process's sampled RSS.
    `section()` is what a record stores."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda, self.peak, self.start = cuda, 0, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self, proc: Any) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        import psutil

        proc = psutil.Process()
        self.start = self.peak = proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            import torch

            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        import psutil

        self.peak = max(self.peak, psutil.Process().memory_info().rss)

    @property
    def kind(self) -> str:
        return "cuda max_memory_allocated" if self.cuda else "process RSS (sampled)"

    def section(self) -> dict[str, Any]:
        return {
            "peak_bytes": int(self.peak),
            "start_bytes": int(self.start),  # what the process held when the stage began (libraries, weights)
            "kind": self.kind,
            "allocator": "cuda" if self.cuda else allocator(),
        }
