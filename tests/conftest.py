"""Shared test helpers. Real parts only: real configs, real lm-eval, the real embedded models (slow tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from harness.config.register import register_configs
from harness.paths import CONF_DIR, REPO_ROOT

register_configs()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def compose_cfg(overrides: list[str] | None = None):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides or [])


def run_harness(
    *args: str, env: dict[str, str] | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    """The `harness` console script as a user runs it, from the repository root."""
    exe = Path(sys.executable).with_name("harness")
    return subprocess.run(
        [str(exe), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def tmp_store(tmp_path):
    """Overrides that send results and reports to a temporary folder."""
    return [
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"paths.artifacts={tmp_path / 'artifacts'}",
    ]


class LoopbackServer:
    """A scripted OpenAI-style endpoint on a free loopback port: a test double of a provider, for what the real
    stand-in cannot do on demand (fixed usage objects, a chosen event stream). `answer(body, handler)` writes the
    response to each POST; `with LoopbackServer(answer) as server:` serves at `server.url` (.../v1)."""

    def __init__(self, answer: Callable[[dict[str, Any], BaseHTTPRequestHandler], None]):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                answer(json.loads(self.rfile.read(int(self.headers["content-length"]))), self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_body(
    handler: BaseHTTPRequestHandler, payload: bytes, content_type: str = "application/json"
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
