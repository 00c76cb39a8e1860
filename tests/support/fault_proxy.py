"""A fault-injecting HTTP proxy for tests: sits on a loopback port in front of a real OpenAI-compatible server.

This is a test double of a *network and a provider misbehaving* (no real provider can be made to fail on
demand); the server behind it is real (`transformers serve`). Faults are planned per request: a request
whose body contains a planned marker gets that marker's next fault on each arrival, then passes through.

Faults: "429" (Too Many Requests with Retry-After), "500", "slow" (answers after `slow_s`, past the client's
timeout), "malformed" (200 with a body that is not valid JSON / SSE), "drop" (closes the connection), "401"
(the key is refused).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(
        self, upstream: str, plan: dict[str, list[str]] | None = None, retry_after: float = 1.0, slow_s: float = 4.0
    ):
        self.upstream = urlsplit(upstream)  # http://127.0.0.1:PORT (no /v1)
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.retry_after, self.slow_s = retry_after, slow_s
        self.log: list[dict[str, Any]] = []  # one entry per arrival: time, marker, fault, auth, path
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                proxy._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what arrived ---------------------------------------------------------------------------------------------
    def arrivals(self, marker: str) -> list[dict[str, Any]]:
        return [e for e in self.log if e["marker"] == marker]

    def count_by_marker(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = defaultdict(int)
        for e in self.log:
            counts[e["marker"]] += 1
        return dict(counts)

    # -- handling -------------------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        text = body.decode("utf-8", "replace")
        with self.lock:
            marker = next((m for m in self.plan if m in text), None)
            if marker is None:  # unplanned requests are logged by their last message's content
                try:
                    marker = json.loads(text)["messages"][-1]["content"]
                except (ValueError, KeyError, IndexError, TypeError):
                    marker = None
            queue = self.plan.get(marker, [])
            fault = queue.pop(0) if queue else None
            try:
                temperature = json.loads(text).get("temperature")
            except (ValueError, AttributeError):
                temperature = None
            self.log.append(
                {
                    "t": time.monotonic(),
                    "marker": marker,
                    "fault": fault,
                    "auth": h.headers.get("authorization"),
                    "path": h.path,
                    "temperature": temperature,
                }
            )
        try:
            if fault == "429":
                self._reply(
                    h,
                    429,
                    b'{"error": {"message": "rate limited", "type": "requests", "code": "rate_limit_exceeded"}}',
                    {"Retry-After": f"{self.retry_after:g}"},
                )
            elif fault == "401":
                self._reply(h, 401, b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}')
            elif fault == "500":
                self._reply(h, 500, b'{"error": {"message": "internal error"}}')
            elif fault == "malformed":
                stream = b'"stream": true' in body or b'"stream":true' in body
                ctype = "text/event-stream" if stream else "application/json"
                self._reply(
                    h,
                    200,
                    b'data: {"id": "x", "choices": [{"delta": {"content": "Hel\n\n'
                    if stream
                    else b'{"id": "x", "choices": [',
                    {"Content-Type": ctype},
                )
            elif fault == "drop":
                h.close_connection = True
                h.connection.close()
            else:
                if fault == "slow":
                    time.sleep(self.slow_s)
                self._forward(h, body)
        except OSError:
            pass  # the client gave up (timeout) or the test is over: what a real server sees too

    def _reply(
        self, h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=300)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "content-length", "authorization")}
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        self._reply(h, resp.status, payload, {"Content-Type": resp.getheader("content-type", "application/json")})
