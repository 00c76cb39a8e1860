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

    def __init__(self, answer: Callable[[dict[str, Any], BaseHTTPRequestHandler], None], port: int = 0):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                answer(json.loads(self.rfile.read(int(self.headers["content-length"]))), self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_body(handler: BaseHTTPRequestHandler, payload: bytes, content_type: str = "application/json") -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()


class FakeProvider(LoopbackServer):
    """A provider that misbehaves on purpose, by name: the one test double of a provider (a real provider's
    billing and faults cannot run here). `with FakeProvider("keepalive") as p:` serves at `p.url`; `p.bodies` are
    the requests it received. Bounded: after `max_requests` it answers 503, and nothing it does lasts longer than
    `max_seconds`.

      ok         a normal answer (`text`, `usage`), streamed when the request asks for a stream
      keepalive  a 200 event stream of SSE keep-alive comments only, one every 0.2 s
      trickle    a 200 event stream of one content token every 0.2 s, never finished
      hang       reads the request, then sends nothing
      error200   HTTP 200 with {"error": {"message": "model overloaded"}}, whether streaming or not
      die_after  answers `n` requests normally, then closes its port (connections are refused)
      open_end   a whole streamed answer (finish_reason, usage), then the stream stays open: no [DONE], no close
      plain_json a whole JSON answer labelled text/plain, whatever the request asked for
      json_sse   the same labelled text/event-stream (which the openai client's stream reader sees as empty)
      cut        one content chunk of a stream, then the connection closes (a server that died mid-answer)
      odd        an event whose choices are [null], then [DONE]
      hugeline   one event line of 600 KB
      echo400    every second request: HTTP 400 whose body echoes the request's Authorization header
    """

    def __init__(
        self,
        behaviour: str = "ok",
        *,
        text: str = "Hello there",
        usage: Any = None,
        n: int = 1,
        max_requests: int = 100,
        max_seconds: float = 20.0,
        port: int = 0,
    ):
        self.behaviour, self.text, self.n = behaviour, text, n
        self.usage = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23} if usage is None else usage
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.bodies: list[dict[str, Any]] = []
        self._lock, self._closing, self._port_closed = threading.Lock(), threading.Lock(), False
        super().__init__(self._answer, port)

    def _answer(self, body: dict[str, Any], h: BaseHTTPRequestHandler) -> None:
        import time

        with self._lock:
            self.bodies.append(body)
            count = len(self.bodies)
        if count > self.max_requests:
            h.send_response(503)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        b, until = self.behaviour, time.monotonic() + self.max_seconds
        if b == "die_after" and count > self.n:
            threading.Thread(target=self.close, daemon=True).start()
            h.close_connection = True
            return
        if b == "hang":
            while time.monotonic() < until and not self.closed:
                time.sleep(0.05)
            return
        if b == "error200":
            _send(h, json.dumps({"error": {"message": "model overloaded", "type": "server_error"}}).encode())
            return
        if b in ("plain_json", "json_sse"):
            kind = "text/plain" if b == "plain_json" else "text/event-stream"
            _send(
                h,
                json.dumps(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": self.text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": self.usage,
                    }
                ).encode(),
                kind,
            )
            return
        if b == "echo400" and count % 2 == 0:
            said = json.dumps({"error": {"message": f"bad request from {h.headers.get('Authorization')}"}}).encode()
            h.send_response(400)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(said)))
            h.end_headers()
            h.wfile.write(said)
            return
        if b in ("cut", "odd", "hugeline", "open_end"):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            content = "x" * 600_000 if b == "hugeline" else self.text
            events = {
                "cut": [{"choices": [{"index": 0, "delta": {"content": self.text}}]}],
                "odd": [{"choices": [None]}],
                "hugeline": [{"choices": [{"index": 0, "delta": {"content": content}}]}],
                "open_end": [
                    {"choices": [{"index": 0, "delta": {"content": self.text}}]},
                    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                    {"choices": [], "usage": self.usage},
                ],
            }[b]
            try:
                h.wfile.write(b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
                if b == "odd":
                    h.wfile.write(b"data: [DONE]\n\n")
                h.wfile.flush()
                while b == "open_end" and time.monotonic() < until and not self.closed:
                    time.sleep(0.05)
            except OSError:
                pass
            h.close_connection = True
            return
        if b in ("keepalive", "trickle"):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            try:
                while time.monotonic() < until and not self.closed:
                    h.wfile.write(
                        b": keep-alive\n\n"
                        if b == "keepalive"
                        else b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
                    )
                    h.wfile.flush()
                    time.sleep(0.2)
            except OSError:  # the client gave up: what this misbehaviour is for
                pass
            return
        if not body.get("stream"):
            _send(
                h,
                json.dumps(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": self.text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": self.usage,
                    }
                ).encode(),
            )
            return
        events = [
            {"choices": [{"index": 0, "delta": {"content": self.text}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": self.usage},
        ]
        payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        _send(h, payload, "text/event-stream")

    closed = False  # set when it stops answering: a misbehaviour in progress ends

    def close(self) -> None:
        """Stop answering and close the port: a server that went away. Returns once the port is closed (a second
        caller waits for the first), so the same address can be served again at once."""
        with self._closing:
            if self._port_closed:
                return
            self.closed = True
            self.server.shutdown()
            self.server.server_close()
            self._port_closed = True

    def __enter__(self) -> FakeProvider:
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _send(handler: BaseHTTPRequestHandler, payload: bytes, content_type: str = "application/json") -> None:
    send_body(handler, payload, content_type)
    try:
        handler.wfile.write(payload)
    except OSError:
        pass
