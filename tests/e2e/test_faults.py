"""Failure must not look like success, and no server outlives the harness, as a user meets them from the
command line: an endpoint where every request fails is not scored and exits 2; a killed harness takes its
`transformers serve` stand-in with it. The other hostile-user cases are in tests/unit/test_faults.py.
"""

from __future__ import annotations

import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.run import run_harness

SENTINEL = "sk-harness-SENTINEL-faults-91c2e7"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    """A captive portal / proxy error page: status 200, HTML instead of JSON (test double of a broken gateway)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("endpoint", ["closed port", "html page"])
def test_an_endpoint_where_every_request_fails_is_not_scored_and_exits_non_zero(tmp_path, endpoint):
    server = None
    if endpoint == "closed port":
        url = f"http://127.0.0.1:{_closed_port()}/v1"
        cause = "cannot connect: connection refused"
    else:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/v1"
        cause = "the server answered with something that is not JSON: '<html><body><h1>502 Bad Gateway"
    try:
        p = run_harness(
            "model=none",
            "finetune=none",
            "baseline=openai-gpt-4o-mini",
            f"baseline.base_url={url}",
            "baseline.api_key_env=null",
            "baseline.stream=false",
            "baseline.max_retries=1",
            "baseline.backoff_base_s=0.01",
            "task=helpdesk_en",
            "task.limit=4",
            f"paths.results={tmp_path / 'results'}",
            f"paths.reports={tmp_path / 'reports'}",
            f"hydra.sweep.dir={tmp_path / 'hydra'}",
        )
    finally:
        if server:
            server.shutdown()
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "4 of 4 requests to " in out and "more than baseline.max_failed_share=0.05" in out
    assert cause in out and "timed out" not in out and "Traceback" not in out
    assert "NOT MEASURED: openai-gpt-4o-mini x helpdesk_en (failed)" in out
    assert not list((tmp_path / "results").glob("records/*.json"))  # no 0.000 score stored
    [failure] = list((tmp_path / "results" / "failures").glob("*.json"))
    doc = json.loads(failure.read_text())
    assert doc["n_failed"] == 4 and doc["n_requests"] == 4 and next(iter(doc["causes"])).find(cause[:20]) >= 0
    [html] = list((tmp_path / "reports").rglob("index.html"))
    assert "Not measured" in html.read_text() and cause.split(":")[0] in html.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_local_api_server_dies_with_the_harness(tmp_path, sig):
    import psutil

    exe = Path(sys.executable).with_name("harness")
    args = [
        str(exe),
        "model=none",
        "finetune=none",
        "baseline=local-smollm2",
        "task=helpdesk_en",
        "task.limit=40",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
    ]
    err = (tmp_path / "stderr.txt").open("w")
    harness = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        serve = None
        deadline = time.monotonic() + 240
        while serve is None and time.monotonic() < deadline and harness.poll() is None:
            for child in psutil.Process(harness.pid).children(recursive=True):
                if "serve" in child.cmdline():
                    serve = child
            time.sleep(0.5)
        assert serve is not None, "transformers serve did not start"
        # wait until it listens, so the kill lands while requests are being answered
        while not [c for c in serve.net_connections() if c.status == "LISTEN"] and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
        harness.send_signal(sig)
        harness.wait(60)
        gone, alive = psutil.wait_procs([serve], timeout=30)
        assert alive == [], f"transformers serve (pid {serve.pid}) outlived the harness after {sig.name}"
        if sig == signal.SIGTERM:
            assert harness.returncode == 128 + signal.SIGTERM  # an orderly exit, with the finally blocks run
            err.close()
            said = (tmp_path / "stderr.txt").read_text()
            assert "harness: stopped by SIGTERM. Finished cells are stored" in said and "Traceback" not in said
    finally:
        if harness.poll() is None:
            harness.kill()
