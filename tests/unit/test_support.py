"""The shared test fixtures' own guards (tests/support/shared.py): a shared folder left half-written by a killed
session, or changed since it was built, is built again, never reused; a shared server that died or whose port
another program took is started again."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from tests.support import shared
from tests.support.shared import SharedService, problem, shared_folder


def _builder(calls: list[Path], fail_after: str | None = None):
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "results").mkdir()
        (folder / "results" / "a.json").write_text('{"score": 0.5}')
        if fail_after:
            raise RuntimeError(fail_after)  # a session killed mid-build: no manifest is written
        (folder / "b.txt").write_text("done")

    return build


def test_a_complete_folder_is_reused_and_a_half_written_or_changed_one_is_built_again(tmp_path, caplog):
    calls: list[Path] = []
    with pytest.raises(RuntimeError, match="killed"):
        shared_folder(tmp_path, "store", {"n": 4}, _builder(calls, fail_after="killed"))
    [half] = calls
    assert half.is_dir() and problem(half) == "no manifest: its build did not finish"

    folder = shared_folder(tmp_path, "store", {"n": 4}, _builder(calls))
    assert folder == half and len(calls) == 2  # the half-written one was not reused
    assert "no manifest: its build did not finish" in caplog.text
    manifest = json.loads((folder / shared.MANIFEST).read_text())
    assert set(manifest) == {"results/a.json", "b.txt"} and manifest["b.txt"][0] == 4

    assert shared_folder(tmp_path, "store", {"n": 4}, _builder(calls)) == folder and len(calls) == 2  # reused
    (folder / "results" / "a.json").write_text('{"score": 0.9}')  # a test wrote into it
    assert problem(folder) == "results/a.json changed since it was built"
    shared_folder(tmp_path, "store", {"n": 4}, _builder(calls))
    assert len(calls) == 3 and (folder / "results" / "a.json").read_text() == '{"score": 0.5}'
    (folder / "b.txt").unlink()
    assert problem(folder) == "b.txt is missing"
    # other arguments, or other code, are another folder
    other = shared_folder(tmp_path, "store", {"n": 8}, _builder(calls))
    assert other != folder and len(calls) == 4


def test_the_folder_key_follows_the_code(tmp_path, monkeypatch):
    calls: list[Path] = []
    first = shared_folder(tmp_path, "store", 1, _builder(calls))
    monkeypatch.setattr(shared, "code_digest", lambda: "another version of the harness")
    assert shared_folder(tmp_path, "store", 1, _builder(calls)) != first and len(calls) == 2


class _Named(http.server.BaseHTTPRequestHandler):
    name = "model-a"

    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": self.name}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _server(name: str):
    handler = type("Handler", (_Named,), {"name": name})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/v1"
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_shared_server_that_died_or_lost_its_port_is_started_again():
    from tests.support.standin import serves

    running: dict[str, contextlib.AbstractContextManager] = {}

    def start():
        cm = _server("model-a")
        running["cm"] = cm
        return cm

    service = SharedService(start, lambda url: serves(url, "model-a"), "test server")
    url = service.url()
    assert service.url() == url and service.starts == 1  # alive: the same one
    running["cm"].__exit__(None, None, None)  # it dies
    again = service.url()
    assert again != url and serves(again, "model-a") and service.starts == 2
    # another program now answers on the shared server's port: not the one started, so not reused
    with _server("model-b") as impostor:
        service._url = impostor
        assert not serves(impostor, "model-a")
        fresh = service.url()
        assert fresh != impostor and serves(fresh, "model-a") and service.starts == 3
    service.close()
