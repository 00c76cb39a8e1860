"""Start `transformers serve` on a free loopback port for the length of a `with` block.

The local stand-in for a closed API (and the real OpenAI-compatible server the tests talk to): the same
`openai` client code path, real HTTP, real `usage` in the responses, real streaming timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _warm_up(url: str, model: str, chat: bool = True) -> None:
    payload: dict = {"model": model, "max_tokens": 2}
    payload.update({"messages": [{"role": "user", "content": "Hello"}]} if chat else {"prompt": "Hello"})
    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()


def _die_with(parent: int):
    def preexec() -> None:
        """In the server's process, before exec: the kernel sends it SIGTERM when the harness process dies,
        however it dies (SIGKILL included), so no server is left holding memory and a port (Linux only)."""
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # not Linux: the `finally` of served() still stops it on every exit Python sees
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)
        os.setsid()  # its own process group, so stopping it stops its children too

    return preexec


@contextlib.contextmanager
def served(
    model_dir: str,
    log_path: Path,
    device: str = "cpu",
    dtype: str = "auto",
    continuous_batching: bool = False,
    startup_timeout_s: float = 240.0,
    cb_num_blocks: int | None = 16,  # ServeConfig's defaults (harness/config/schema.py says why)
    cb_max_batch_tokens: int | None = 512,
    chat: bool = True,
) -> Iterator[str]:
    """Yields the server's OpenAI base URL (http://127.0.0.1:PORT/v1); stops the server on the way out. `chat`:
    False for a model without a chat template (it is warmed up, and used, through /v1/completions)."""
    from harness.memory import python_env, release

    release()  # what the stages before freed goes back first: the server's memory comes on top of ours
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        model_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        device,
        "--dtype",
        dtype,
        "--log-level",
        "warning",
    ]
    if continuous_batching:
        cmd.append("--continuous-batching")
        # bounded paged KV cache: by default it takes 90 % of free memory (12 GB RAM here)
        if cb_num_blocks:
            cmd += ["--cb-num-blocks", str(cb_num_blocks)]
        if cb_max_batch_tokens:
            cmd += ["--cb-max-batch-tokens", str(cb_max_batch_tokens)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # HF_HUB_OFFLINE: it would otherwise look for a CLI update on the hub; jemalloc when the harness runs on it
    # (Gemma-3-270M's server held 1.97 instead of 2.01 GiB)
    env = python_env({**os.environ, "HF_HUB_OFFLINE": "1"})
    with open(log_path, "ab") as log:
        # The parent-death signal is tied to the thread that starts the server: start it from this one and stop
        # it from this one (a `with` block).
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with(os.getpid()))
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _healthy(f"http://127.0.0.1:{port}/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                why = f"exited with code {proc.returncode}" if proc.poll() is not None else "did not answer /health"
                raise HarnessError(f"`transformers serve {model_dir}` {why} (log: {log_path}):\n{tail}")
            time.sleep(0.5)
        # One throw-away request: the first generation pays one-off set-up (about 9 s with continuous batching on
        # a CPU), which would otherwise land in the first measured requests' latency.
        try:
            path = "chat/completions" if chat else "completions"
            _warm_up(f"http://127.0.0.1:{port}/v1/{path}", model_dir, chat)
        except OSError as e:
            time.sleep(1)
            died = f"exited with code {proc.poll()}" if proc.poll() is not None else "did not answer"
            hint = " (-9: killed, often for lack of memory)" if proc.poll() == -9 else ""
            raise HarnessError(
                f"`transformers serve {model_dir}` {died}{hint} on its first request ({e}); log: {log_path}"
            ) from None
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
