"""Money, hangs and secrets at the API and load edges (docs/reliability.md): each case a provider, a server or a
store misbehaving one way, against the fake provider (tests/support/provider.py) on a loopback port. No model."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from harness.api.cache import ResponseCache
from harness.api.client import ApiCaller, Settings
from harness.api.meter import aggregate
from harness.errors import HarnessError
from tests.support.provider import FakeProvider
from tests.support.run import compose_cfg

PRICE = {"currency": "USD", "input_per_1m": 1.0, "cached_input_per_1m": None, "output_per_1m": 2.0}
QUESTION = "How do I reset my password?"  # 27 characters: about round(27 / 4) = 7 prompt tokens
BODY = {"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 48}


def caller(
    url: str,
    cache: ResponseCache,
    *,
    stream: bool = True,
    timeout_s: float = 5.0,
    deadline_s: float = 10.0,
    max_retries: int = 0,
) -> ApiCaller:
    settings = Settings(
        concurrency=1,
        max_retries=max_retries,
        backoff_base_s=0.01,
        timeout_s=timeout_s,
        stream=stream,
        deadline_s=deadline_s,
    )
    return ApiCaller(
        base_url=url, api_key="EMPTY", model="m", endpoint_id="fake", price=PRICE, settings=settings, cache=cache
    )


# -- 1, 2: usage that cannot be true is paid once, flagged and estimated ---------------------------------------------


@pytest.mark.parametrize(
    "usage, why",
    [
        (
            {"prompt_tokens": 10**20, "completion_tokens": 3},
            "prompt_tokens 100,000,000,000,000,000,000 for a prompt of about 7 tokens",
        ),
        (
            {"prompt_tokens": 10**12, "completion_tokens": 10**12},
            "completion_tokens 1,000,000,000,000 with max_tokens 48",
        ),
        ({"prompt_tokens": 20, "completion_tokens": -7}, "usage.completion_tokens = -7 is not a token count"),
        ({"prompt_tokens": "20", "completion_tokens": 3}, "usage.prompt_tokens = '20' is not a token count"),
    ],
)
def test_implausible_usage_is_paid_once_flagged_and_estimated(usage, why, tmp_path):
    """Estimated instead: 7 prompt tokens (27 characters / 4, rounded) and 3 for "Hello there" (11 / 4), so the
    answer costs 7 x 1 + 3 x 2 = 13 micro-dollars, not what the usage claims. Cached and in the ledger once: a
    re-run asks nothing."""
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeProvider(usage=usage) as p:
        [(text, m)] = caller(p.url, cache).run([BODY])
        [(again, m2)] = caller(p.url, cache).run([BODY])
        assert len(p.bodies) == 1  # paid once
    assert text == again == "Hello there" and m.error is None and m2.from_cache
    assert (m.prompt_tokens, m.completion_tokens, m.cached_tokens) == (7, 3, 0)
    assert m.cost == pytest.approx(13e-6) and m2.billed == 0.0
    assert m.usage_source == "estimated: characters / 4 (the server's usage was implausible)"
    assert any(why in w and w.startswith("usage not taken") for w in m.usage_warnings), m.usage_warnings
    assert cache.ledger()["requests"] == 1
    cell = aggregate([m], PRICE)  # what the record keeps and the report shows
    assert cell["n_usage_warned"] == 1 and why in cell["usage_warnings"][0]
    assert cell["usage_source"] == ["estimated: characters / 4 (the server's usage was implausible)"]


def test_an_answer_far_longer_than_max_tokens_is_flagged(tmp_path):
    """2 MB of text for max_tokens 48: about 500,000 tokens; the server did not stop where it was told to."""
    with FakeProvider(text="word " * 400_000) as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite")).run([BODY])
    assert len(text) == 2_000_000 and m.error is None
    assert "answer: about 500,000 tokens for max_tokens 48 (the server did not stop at max_tokens)" in m.usage_warnings


def test_a_paid_answer_the_cache_cannot_take_is_kept_and_never_paid_again(tmp_path, caplog, monkeypatch):
    """The cache write fails (a full disk): the answer goes to the spill folder in the user cache, a re-run
    reads it from there, and the next opening of the cache moves it in with its one ledger row."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "user-cache"))
    cache = ResponseCache(tmp_path / "cache.sqlite")

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "put", full)
    with FakeProvider() as p, caplog.at_level(logging.ERROR):
        [(text, m)] = caller(p.url, cache).run([BODY])
        [(again, m2)] = caller(p.url, cache).run([BODY])  # the disk still full: read from the spill folder
        assert len(p.bodies) == 1
    assert text == again == "Hello there" and m.error is None and m2.from_cache
    assert "could not take a paid answer (OSError: [Errno 28] No space left on device)" in caplog.text
    assert len(list(cache.spill_dir.glob("*.json"))) == 1 and cache.ledger()["requests"] == 0
    moved = ResponseCache(tmp_path / "cache.sqlite")  # room again: the spilled answer and its bill move in
    assert moved.ledger()["requests"] == 1 and list(moved.spill_dir.glob("*.json")) == []
    with FakeProvider() as p:
        [(third, m3)] = caller(p.url, moved).run([BODY])
        assert p.bodies == [] and third == "Hello there" and m3.from_cache


def test_when_neither_the_cache_nor_the_spill_folder_can_be_written_sending_stops(tmp_path, monkeypatch):
    from harness.api.client import FatalApiError

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "user-cache"))
    cache = ResponseCache(tmp_path / "cache.sqlite")

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "put", full)
    monkeypatch.setattr(cache, "spill", full)
    with FakeProvider() as p:
        with pytest.raises(FatalApiError, match="stopped sending, so that no further answer is paid for and lost"):
            caller(p.url, cache).run([BODY, {**BODY, "max_tokens": 47}, {**BODY, "max_tokens": 46}])
        assert len(p.bodies) == 1  # concurrency 1: the first answer could not be kept, nothing more was sent


# -- 3, 4: every attempt is bounded, and the provider's own words are shown -----------------------------------------


@pytest.mark.parametrize(
    "behaviour, cause",
    [
        ("keepalive", "nothing of the answer for timeout_s=1 s"),
        ("hang", "nothing of the answer for timeout_s=1 s"),
        ("trickle", "no complete answer within deadline_s=2 s"),
    ],
)
def test_an_attempt_ends_at_its_timeout_or_deadline_with_its_cause(behaviour, cause, tmp_path):
    """Keep-alive comments every 0.2 s used to hold a 3 s timeout for a minute (the client's timeout is per
    socket read); a token every 0.2 s, forever, is bounded by the whole answer's deadline."""
    started = time.monotonic()
    with FakeProvider(behaviour, max_seconds=15) as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite"), timeout_s=1, deadline_s=2).run([BODY])
    took = time.monotonic() - started
    assert text == "" and cause in m.error and took < 4.5, (m.error, took)


@pytest.mark.parametrize("stream", [True, False])
def test_an_error_object_with_status_200_is_shown_in_the_providers_words(stream, tmp_path):
    with FakeProvider("error200") as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite"), stream=stream, max_retries=1).run([BODY])
        assert len(p.bodies) == 2  # retried once: an overloaded model may answer the next time
    assert text == "" and m.error == "the server answered with an error: model overloaded"


@pytest.mark.parametrize(
    "behaviour, note",
    [  # kept, with a note on how it came
        ("open_end", "the stream stayed open after its answer ended"),  # complete, then never closed
        ("plain_json", "the server answered with one JSON body"),  # for a stream request, labelled text/plain
    ],
)
def test_a_complete_answer_delivered_oddly_is_kept_not_bought_again(behaviour, note, tmp_path):
    with FakeProvider(behaviour, max_seconds=10) as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite"), timeout_s=1, max_retries=2).run([BODY])
        assert len(p.bodies) == 1  # paid once, kept: not retried
    assert text == "Hello there" and m.error is None and (m.prompt_tokens, m.completion_tokens) == (20, 3)
    assert note in m.usage_warnings[-1]


# -- 5, 6, 7: the load generator -------------------------------------------------------------------------------------


def _load(url: str, tmp_path: Path, *extra: str) -> dict:
    from harness.app.commands.load import cmd_load

    cmd_load(
        [
            "task=helpdesk_en",
            f"load.url={url}",
            "load.model=m",
            "load.n_prompts=2",
            "load.requests_per_level=2",
            "load.timeout_s=1",
            "load.deadline_s=3",
            f"paths.results={tmp_path}",
            *extra,
        ]
    )
    [path] = (tmp_path / "load").glob("*.json")
    return json.loads(path.read_text())


def test_load_rows_keep_only_counts_that_are_counts(tmp_path):
    """`prompt_tokens: "50"` raised before the level was stored; `completion_tokens: "7"` was stored and then
    broke every summary. Neither is a count: stored as unknown, with the reason on the row."""
    with FakeProvider(usage={"prompt_tokens": "50", "completion_tokens": "7"}) as p:
        record = _load(p.url, tmp_path, "load.levels=[1]")
    [level] = list((tmp_path / "load" / "levels").glob("*.json"))
    rows = json.loads(level.read_text())["rows"]
    assert [(r["prompt_tokens"], r["completion_tokens"], r["error"]) for r in rows] == [(None, None, None)] * 2
    assert rows[0]["usage_warnings"] == [
        "usage.prompt_tokens = '50' is not a token count",
        "usage.completion_tokens = '7' is not a token count",
    ]
    assert record["levels"][0]["figures"]["error_rate"] == 0.0


@pytest.mark.parametrize(
    "levels, mode, said",
    [
        (
            "[1000000]",
            "closed",
            "1e+06 users: closed-loop levels are whole numbers of users, at most load.requests_per_level=2",
        ),
        ("[1.5]", "closed", "load.levels: 1.5 users is not a whole number"),  # refused by the config check
        ("[10000000.0]", "open", "1e+07 requests/s: above 1000/s"),
        ("[0]", "open", "load.levels: 0.0 is not a positive number"),
        ("[0.00001]", "open", "1e-05 requests/s: 2 requests at that rate take 100,000 s, over 3600 s for one level"),
    ],
)
def test_a_level_that_cannot_be_offered_is_refused_before_anything_is_sent(levels, mode, said, tmp_path):
    with FakeProvider() as p:
        with pytest.raises(HarnessError, match="load.levels cannot be offered|invalid configuration") as e:
            _load(p.url, tmp_path, f"load.levels={levels}", f"load.mode={mode}")
        assert p.bodies == []
    assert said in str(e.value)


def test_load_requests_end_at_their_timeout_with_their_cause(tmp_path):
    """A hung server held `harness load` until the server died (a 300 s read timeout, no setting for it)."""
    started = time.monotonic()
    with FakeProvider("keepalive", max_seconds=10) as p:
        with pytest.raises(HarnessError, match="every request of closed-loop level 1 failed") as e:
            _load(p.url, tmp_path, "load.levels=[1]")
    assert "timeout: nothing of the answer for load.timeout_s=1 s" in str(e.value)
    assert time.monotonic() - started < 8  # 2 requests one after the other, 1 s each, plus start-up


def test_a_server_that_dies_mid_run_is_not_stored_as_a_measurement(tmp_path):
    """Level 1 (2 requests) is answered; the server then closes its port, so level 2 reaches nothing: not stored
    (exit 2 from the command), and the next run against a live server measures level 2 only."""
    with FakeProvider("die_after", n=2) as p:
        with pytest.raises(HarnessError, match="every request of closed-loop level 2 failed") as e:
            _load(p.url, tmp_path, "load.levels=[1,2]")
    assert "it is not stored (the levels before it are) and the next run measures it again" in str(e.value)
    assert "The server could not be reached" in str(e.value)
    levels = tmp_path / "load" / "levels"
    assert [json.loads(f.read_text())["level"] for f in levels.glob("*.json")] == [1.0]
    port = int(p.url.rsplit(":", 1)[1].split("/")[0])
    with FakeProvider(port=port) as live:  # the server back, at the same address: the same endpoint
        record = _load(live.url, tmp_path, "load.levels=[1,2]")
        assert len(live.bodies) == 2  # level 2 only: level 1 was stored
    assert [lv["level"] for lv in record["levels"]] == [1.0, 2.0]


@pytest.mark.parametrize(
    "behaviour, cause",
    [
        ("cut", "the stream ended before the answer did (no finish_reason)"),  # a server that died mid-answer
        ("odd", "malformed stream (AttributeError"),  # choices: [null]
        ("hugeline", "malformed stream (LineTooLong"),  # one event line over aiohttp's limit
    ],
)
def test_a_broken_stream_is_an_error_of_its_row_never_a_measurement_or_a_traceback(behaviour, cause, tmp_path):
    with FakeProvider(behaviour) as p:
        with pytest.raises(HarnessError, match="every request of closed-loop level 1 failed") as e:
            _load(p.url, tmp_path, "load.levels=[1]")
    assert cause in str(e.value)
    assert not (tmp_path / "load" / "levels").exists() or not list((tmp_path / "load" / "levels").iterdir())


def test_a_key_a_server_echoes_is_in_no_load_file(tmp_path, monkeypatch):
    """Every second request gets HTTP 400 quoting its Authorization header: the level is stored (half its rows
    failed), and neither its file nor the record holds the key of load.api_key_env."""
    from harness.secrets import register_key_env

    monkeypatch.setenv("LOADKEYV", "sk-load-SECRET-4711")
    register_key_env("LOADKEYV")  # what `harness load` does with load.api_key_env before it sends
    with FakeProvider("echo400") as p:
        _load(p.url, tmp_path, "load.levels=[1]", "load.api_key_env=LOADKEYV", "load.max_error_rate=1")
        assert any(b for b in p.bodies)
    texts = [f.read_text() for f in (tmp_path / "load").rglob("*.json")]
    assert len(texts) == 2 and all("sk-load-SECRET-4711" not in t for t in texts)
    assert any("Bearer ***LOADKEYV***" in t for t in texts)


def test_a_stored_level_with_connection_failures_is_measured_again(tmp_path):
    """A level stored by an older harness while its server was gone ("ClientConnectorError" rows, no error kind)
    is not reused: the next run sends it again."""
    from harness.jobs.load_job import connection_failures

    old = [
        {"error": "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default [Connection refused]"},
        {"error": None},
        {"error": "HTTP 500: overloaded", "error_kind": "http"},
    ]
    assert connection_failures(old) == [old[0]]
    with FakeProvider() as p:
        _load(p.url, tmp_path, "load.levels=[1]")
        [path] = list((tmp_path / "load" / "levels").glob("*.json"))
        level = json.loads(path.read_text())
        level["rows"][0].update(error=old[0]["error"], error_kind="connection")
        path.write_text(json.dumps(level))
        _load(p.url, tmp_path, "load.levels=[1]")
        assert len(p.bodies) == 4  # measured twice: the damaged level was sent again
    assert not connection_failures(json.loads(path.read_text())["rows"])


# -- 8: the leakage filter compares what a reader sees ---------------------------------------------------------------


def test_a_question_hidden_behind_zero_width_characters_is_still_a_leak():
    from harness.data.filters import Candidate, Context, leakage
    from harness.tasks.datagen import comparable

    held = "How do I reset my password on the billing portal?"
    hidden = "\u200b ".join(held.split()) + "\u200b"  # U+200B after each word
    wide = "ＨＯＷ ｄｏ Ｉ reset my password on the billing portal?"  # full-width letters
    assert comparable(hidden) == comparable(wide) == comparable(held) == held.lower()
    for mark in ("\u034f", "\ufe0f", "\ufe00", "\u180b", "\u3164", "\u17b4", "\u00ad", "\U000e0041"):
        assert comparable(mark.join(held)) == held.lower(), hex(ord(mark[0]))  # between every character
    ctx = Context("question", ["question", "answer"], "answer", train=[], held_out=[{"question": held}])
    cands = [
        Candidate(0, {"question": hidden, "answer": "x"}),
        Candidate(1, {"question": wide, "answer": "x"}),
        Candidate(2, {"question": "What are your opening hours?", "answer": "x"}),
    ]
    removed = leakage(cands, ctx)
    assert [(c.index, why) for c, why in removed] == [
        (0, "repeats a validation/test item exactly"),
        (1, "repeats a validation/test item exactly"),
    ]


# -- 9, 12, 13: files that are not what they claim -------------------------------------------------------------------


def _returns_within(fn, seconds: float):
    out: list = []

    def call() -> None:
        try:
            out.append(("value", fn()))
        except Exception as e:  # noqa: BLE001 - raised in the test's thread below
            out.append(("error", e))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} still running after {seconds} s"
    kind, value = out[0]
    if kind == "error":
        raise value
    return value


def test_a_fifo_in_a_model_folder_does_not_hang_the_preflight(tmp_path):
    from harness.models.folder import folder_facts

    (tmp_path / "config.json").write_text("{}")
    os.mkfifo(tmp_path / "model.safetensors")
    assert _returns_within(lambda: folder_facts(tmp_path), 5) is None  # no readable weights: the YAML's size


def test_a_response_cache_that_is_not_a_file_is_named_not_opened(tmp_path):
    path = tmp_path / "api_cache.sqlite"
    os.mkfifo(path)
    with pytest.raises(HarnessError, match="is not a regular file") as e:
        _returns_within(lambda: ResponseCache(path), 5)
    assert "Nothing was sent" in str(e.value)


def test_a_foreign_record_with_infinity_is_skipped_with_a_warning(tmp_path, caplog):
    from harness.store import Store
    from tests.support.records import make_record

    store = Store(tmp_path)
    good = make_record(cell_id="a" * 20)
    store.write(good, [{"doc_id": 0}])
    foreign = json.loads(store.record_path("a" * 20).read_text())
    foreign.update(cell_id="b" * 20)
    foreign.pop("record_sha256")
    foreign.pop("samples_sha256")
    foreign["api"] = {"latency_s": {"p95": float("inf")}}
    store.record_path("b" * 20).write_text(json.dumps(foreign))  # Python writes Infinity; JSON has no such number
    store.samples_path("b" * 20).write_text('{"doc_id": 0}\n')
    assert "Infinity" in store.record_path("b" * 20).read_text()
    with caplog.at_level(logging.WARNING):
        assert [r["cell_id"] for r in store.all_records()] == ["a" * 20]
    assert "holds Infinity where a number belongs, and no record_sha256" in caplog.text


def test_history_lists_the_runs_of_a_damaged_runs_folder(tmp_path, caplog):
    from harness.app.history import list_runs, show_run

    runs = tmp_path / "runs"
    runs.mkdir()
    good = {
        "kind": "run",
        "run_id": "20261206-good",
        "status": "finished",
        "started_at": "2026-12-06T08:00:00",
        "ended_at": "2026-12-06T08:01:00",
        "cells": [{"status": "computed", "model": "m", "task": "t", "cell_id": "c" * 20, "seconds": 3}],
    }
    (runs / "20261206-good.json").write_text(json.dumps(good))
    (runs / "20261206-bad.json").write_text(json.dumps({**good, "run_id": "20261206-bad", "cells": "not a list"}))
    os.mkfifo(runs / "20261206-fifo.json")
    with caplog.at_level(logging.WARNING):
        listing = _returns_within(lambda: list_runs(tmp_path, 20), 5)
    assert "20261206-good" in listing and "20261206-bad" not in listing and "1 computed" in listing
    assert "its `cells` is not a list of cells" in caplog.text and "not a regular file" in caplog.text
    assert "computed          m x t" in show_run(tmp_path, "20261206-good")
    odd = {**good, "run_id": "20261206-odd", "cells": [{"status": 7, "cell_id": 12, "seconds": float("inf")}]}
    (runs / "20261206-odd.json").write_text(json.dumps(odd))
    assert "7                 ? x ?                12" in show_run(tmp_path, "20261206-odd")
    odder = {
        **good,
        "run_id": "20261206-odder",
        "argv": [1, 2],
        "git": "abc",
        "packages": ["torch"],
        "cells": [{"status": "computed", "seconds": 10**400}],
    }
    (runs / "20261206-odder.json").write_text(json.dumps(odder))
    shown = show_run(tmp_path, "20261206-odder")
    assert "command    harness 1 2" in shown and "commit     -" in shown
    (runs / "20261206-status.json").write_text(json.dumps({**good, "run_id": "20261206-status", "status": [1]}))
    assert "20261206-status" not in list_runs(tmp_path, 20)  # skipped with a warning, not a traceback


# -- 10, 11: what the console says, and one report folder written by two ---------------------------------------------


def test_when_nothing_was_stored_the_console_says_so_and_why(tmp_path):
    """A full disk under paths.results: the cell's record could not be written. The message counts what is
    stored (nothing) and names the disk, instead of "The cells are stored"."""
    from harness.app.callback import what_is_stored

    job = tmp_path / "sweep" / "0"
    job.mkdir(parents=True)
    (job / "cell.json").write_text(
        json.dumps(
            [
                {
                    "cell_id": "d" * 20,
                    "status": "failed",
                    "model": "m",
                    "task": "helpdesk_en",
                    "message": "OSError: [Errno 28] No space left on device: 'results/records/x.json'",
                }
            ]
        )
    )
    said = what_is_stored(compose_cfg([f"paths.results={tmp_path / 'results'}"]), tmp_path / "sweep")
    assert said.startswith("0 of 1 cell(s) of this run are stored.")
    assert "NOT STORED: m x helpdesk_en: the disk is full. OSError: [Errno 28] No space left" in said
    assert "fix that and run `harness report`" not in said


def test_a_report_folder_is_written_as_one_unit(tmp_path):
    """While another writer holds the folder, a report waits; its three files then come from one board."""
    import fcntl

    from harness.report.analysis import build_board
    from harness.report.render import write_board
    from tests.support.records import make_record

    board = build_board([make_record(cell_id="e" * 20).to_json()], [])
    out = tmp_path / "report"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another `harness report --out` in the middle of its writes
    writer = threading.Thread(target=write_board, args=(board, out, "t"), daemon=True)
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive() and not list(out.iterdir())  # waits: nothing of its report mixed into the other's
    os.close(fd)
    writer.join(30)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "leaderboard.csv", "leaderboard.json"]


# -- 14: a credential inside a URL is refused before anything is written ---------------------------------------------


@pytest.mark.parametrize(
    "override, said",
    [
        (
            'baseline.base_url="http://127.0.0.1:9/v1?api_key=sk-SECRET123"',
            "baseline.base_url carries a credential (its parameter api_key=)",
        ),
        (
            "baseline.base_url=http://me:sk-SECRET123@127.0.0.1:9/v1",
            "baseline.base_url carries a credential (its user name and password",
        ),
        ('load.url="http://127.0.0.1:9/v1?token=sk-SECRET123"', "load.url carries a credential (its parameter token=)"),
        (
            'judge.endpoint.base_url="http://127.0.0.1:9/v1?X-Amz-Signature=sk-SECRET123"',
            "judge.endpoint.base_url carries a credential",
        ),
        ('baseline.base_url="http://127.0.0.1:9/v1?pwd=sk-SECRET123"', "(its parameter pwd=)"),
        ('baseline.base_url="http://127.0.0.1:9/v1?a=1;api_key=sk-SECRET123"', "(its parameter api_key=)"),
        ('baseline.base_url="http://127.0.0.1:9/v1#access_token=sk-SECRET123"', "carries a fragment"),
        ('baseline.base_url="me:sk-SECRET123@127.0.0.1:9/v1"', "must be an http:// or https:// URL with a host"),
        ('baseline.base_url="http://[127.0.0.1/v1?api_key=sk-SECRET123"', "is not a URL that can be read"),
        ("baseline.base_url=${oc.env:PROBE_URL}", "baseline.base_url carries a credential (its user name"),
        ("baseline.api_key_env=sk-proj-SECRET123", "baseline.api_key_env must be the NAME of an environment variable"),
    ],
)
def test_a_credential_in_a_url_is_refused_without_being_echoed(override, said, monkeypatch):
    from harness.app.validate import validate

    monkeypatch.setenv("PROBE_URL", "http://me:sk-SECRET123@127.0.0.1:9/v1")  # read through an interpolation
    with pytest.raises(HarnessError) as e:
        validate(compose_cfg(["baseline=openai-gpt-4o-mini", override]))
    assert said in str(e.value) and "SECRET123" not in str(e.value)
    assert "MY_KEY_VAR" in str(e.value)
    validate(compose_cfg(["baseline=openai-gpt-4o-mini", 'baseline.base_url="http://h/v1?api-version=2024-06-01"']))


def test_the_command_with_a_key_in_its_url_writes_nothing(tmp_path):
    """The `harness` command refuses before Hydra writes its own files (overrides.yaml, config.yaml), a log, a
    record, a cache or a report: no file anywhere holds the key."""
    from tests.support.run import run_harness

    out = run_harness(
        "model=none",
        "finetune=none",
        "baseline=openai-gpt-4o-mini",
        "baseline.api_key_env=null",
        'baseline.base_url="http://127.0.0.1:9/v1?api_key=sk-SECRET123"',
        "task=helpdesk_en",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        f"hydra.sweep.dir={tmp_path / 'hydra'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "baseline.base_url carries a credential" in out.stdout + out.stderr
    assert "SECRET123" not in out.stdout + out.stderr
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"SECRET123" in p.read_bytes()]
    assert leaked == []


def test_a_whole_answer_in_a_stream_left_open_keeps_its_own_latency(tmp_path):
    """finish_reason and usage came, then nothing: the client waits DONE_GRACE_S (1 s), not timeout_s (5 s), and
    the latency is the answer's; the load generator counts the request as answered, timed at its last piece."""
    from harness.api.client import DONE_GRACE_S

    started = time.monotonic()
    with FakeProvider("open_end", max_seconds=10) as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite"), timeout_s=5).run([BODY])
        took = time.monotonic() - started
        record = _load(p.url, tmp_path, "load.levels=[1]")
    assert text == "Hello there" and m.latency_s < 0.5 and took < 5 * 0.8 and DONE_GRACE_S == 1.0
    [level] = record["levels"]
    assert level["figures"]["n_errors"] == 0 and level["figures"]["e2e_s"]["p95"] < 0.5


@pytest.mark.parametrize(
    "url, said",
    [
        ("http://127.0.0.1:1/v1;api_key=sk-PROBESECRET", "(its parameter api_key=)"),  # a ; parameter in the path
        ("http://h;api_key=PROBESECRET/v1", "must be an http:// or https:// URL with a host"),
        ("http://h/v1?bearer=PROBESECRET", "(its parameter bearer=)"),
        ("http://h/v1?\\uff50\\uff57\\uff44=PROBESECRET", "(its parameter"),  # full-width pwd
        ("http://h/v1?q=sk-PROBESECRET123", "looks like an API key"),  # the value gives it away
        ("http://h/hf_PROBESECRET123/v1", "looks like an API key"),
    ],
)
def test_more_credential_shapes_in_urls_are_refused(url, said):
    from harness.app.validate import url_problem

    why = url_problem(url.encode().decode("unicode_escape"))
    assert why and said in why and "PROBESECRET" not in why
    for fine in (
        "http://h/v1?passage=1",
        "http://h/v1?keyword=x",
        "http://disk-mirror:8000/v1",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    ):
        assert url_problem(fine) is None, fine


def test_a_key_shaped_api_key_env_and_odd_cache_files_are_refused(tmp_path):
    from harness.app.validate import validate

    with pytest.raises(HarnessError, match="must be the NAME of an environment variable") as e:
        validate(compose_cfg(["baseline=openai-gpt-4o-mini", "baseline.api_key_env=sk_PROBESECRET_abcdef123456"]))
    assert "PROBESECRET" not in str(e.value)
    os.mkfifo(tmp_path / "a.sqlite-journal")  # a FIFO journal hung SQLite
    with pytest.raises(HarnessError, match="a.sqlite-journal is not a regular file"):
        _returns_within(lambda: ResponseCache(tmp_path / "a.sqlite"), 5)
    (tmp_path / "b.sqlite").symlink_to(tmp_path / "nowhere" / "x.sqlite")  # SQLite would create the target
    with pytest.raises(HarnessError, match="b.sqlite is not a regular file"):
        ResponseCache(tmp_path / "b.sqlite")
    assert not (tmp_path / "nowhere").exists()


def test_a_json_answer_labelled_as_an_event_stream_is_paid_at_most_once_per_run(tmp_path):
    """The openai client's stream reader finds no event in it; the answer may have been produced and billed, so
    it is not asked again in this run (it was, 7 times, before): the sample fails with the reason."""
    with FakeProvider("json_sse") as p:
        [(text, m)] = caller(p.url, ResponseCache(tmp_path / "c.sqlite"), max_retries=4).run([BODY])
        assert len(p.bodies) == 1
    assert text == "" and "an event stream holding no event" in m.error and "not retried" in m.error
