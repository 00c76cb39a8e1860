"""A scripted OpenAI-style endpoint on a loopback port: the one test double of a provider, for what the real
stand-in (`transformers serve`) cannot do on demand: fixed `usage` objects, a chosen event stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """`answer(body, handler)` writes the response to each POST; `with LoopbackServer(answer) as server:` serves at
    `server.url` (.../v1)."""

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
