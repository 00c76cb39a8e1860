"""Money caps on API requests (harness/api/budget.py): budget.max_usd for a run, baseline.budget_usd for
one baseline. Before each request the client reserves its worst-case cost and sends it only while paid + reserved
+ it stays within the cap; past it the cell stops, keeps every paid answer and stores no record.

Hand-made numbers: prices of 10,000 USD per 1M tokens (0.01 USD a token) and a scripted server that reports 100
prompt + 10 completion tokens make a request cost 1.10 USD and reserve (100 + max_tokens 20) x 0.01 = 1.20 USD."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.api.budget import (
    Budget,
    BudgetStop,
    Cap,
    budget_for,
    check_cap,
    is_budget_stop,
    worst_case,
)
from harness.api.cache import ResponseCache, request_key
from harness.api.client import ApiCaller, Settings
from harness.errors import HarnessError
from tests.support.provider import LoopbackServer, send_body
from tests.support.run import compose_cfg

PRICE = {"currency": "USD", "input_per_1m": 10_000.0, "cached_input_per_1m": None, "output_per_1m": 10_000.0}
RESP = {"text": "ok", "prompt_tokens": 100, "cached_tokens": 0, "completion_tokens": 10}


def run_cap(usd: float, run: str = "run-a", baseline: str | None = "b1") -> Budget:
    return Budget(run, baseline, (Cap("budget.max_usd", usd, None),))


def pay(cache: ResponseCache, name: str, budget: Budget, cost: float, reservation: int | None = None) -> None:
    body = {"messages": [{"role": "user", "content": name}]}
    cache.put(
        request_key("e", "m", body),
        "e",
        "m",
        body,
        RESP,
        "cell",
        cost,
        "USD",
        run_id=budget.run_id,
        baseline=budget.baseline,
        reservation=reservation,
    )


# -- the arithmetic ----------------------------------------------------------------------------------------------


def test_worst_case_is_every_prompt_token_at_the_input_price_plus_max_tokens_of_output():
    assert worst_case(100, 20, PRICE) == pytest.approx(1.20)  # (100 x 10,000 + 20 x 10,000) / 1e6
    # a cached price above the input price (none known) would be the worst case
    assert worst_case(100, 0, {**PRICE, "cached_input_per_1m": 30_000.0}) == pytest.approx(3.00)


def test_reservations_paid_rows_and_releases_add_up_under_the_cap(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    b = run_cap(5.0)
    held = [cache.reserve(b, 1.2) for _ in range(4)]  # 4.8 reserved
    assert all(isinstance(r, int) for r in held)
    assert cache.reserve(b, 1.2) == b.caps[0]  # 4.8 + 1.2 = 6.0 > 5.0: refused, nothing reserved
    assert cache.reserve(b, 0.2) != b.caps[0]  # 4.8 + 0.2 = 5.0: exactly the cap fits
    cache.release(held[0])  # 4.0 + 0.2 reserved
    pay(cache, "a", b, 1.1, reservation=held[1])  # 1.1 paid + 2.4 + 0.2 reserved = 3.7
    assert cache.spent("run-a") == pytest.approx(1.1)
    assert isinstance(cache.reserve(b, 1.3), int)  # 3.7 + 1.3 = 5.0
    assert cache.reserve(b, 0.01) == b.caps[0]
    # another run, and a row without a run (paid before runs were tracked), count against nothing here
    assert isinstance(cache.reserve(run_cap(5.0, run="run-b"), 5.0), int)
    assert cache.spent("run-b") == 0.0


def test_a_baseline_cap_counts_that_baselines_rows_only_and_the_run_cap_counts_all(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    both = Budget("run-a", "b1", (Cap("budget.max_usd", 10.0, None), Cap("baseline.budget_usd", 3.0, "b1")))
    other = Budget("run-a", "b2", (Cap("budget.max_usd", 10.0, None),))
    pay(cache, "x", both, 2.5)  # b1: 2.5
    pay(cache, "y", other, 6.0)  # b2: 6.0; the run: 8.5
    assert cache.reserve(both, 0.6) == both.caps[1]  # b1: 2.5 + 0.6 > 3.0 (the run has room: 9.1)
    assert isinstance(cache.reserve(both, 0.5), int)  # b1: 3.0; the run: 9.0
    assert cache.reserve(other, 1.5) == other.caps[0]  # the run: 9.0 + 1.5 > 10
    assert isinstance(cache.reserve(other, 1.0), int)  # the run: 10.0
    assert cache.spent("run-a", "b1") == pytest.approx(2.5) and cache.spent("run-a") == pytest.approx(8.5)


def _reserver(path: str, start: Any, n_out: Any) -> None:
    """One process of a run taking 0.5 USD at a time until the 5.00 USD cap refuses; each reservation becomes a
    paid ledger row of the same amount."""
    cache = ResponseCache(Path(path))
    b = run_cap(5.0)
    start.wait()
    got = 0
    while True:
        rid = cache.reserve(b, 0.5)
        if not isinstance(rid, int):
            break
        time.sleep(0.002)  # the request in flight: the other process reserves meanwhile
        pay(cache, f"{multiprocessing.current_process().pid}-{got}", b, 0.5, reservation=rid)
        got += 1
    n_out.put(got)
    cache.close()


def test_two_processes_on_one_cache_never_pass_the_cap_together(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ResponseCache(Path(path)).close()
    ctx = multiprocessing.get_context("fork")
    start, n_out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_reserver, args=(path, start, n_out)) for _ in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    counts = [n_out.get(timeout=5) for _ in procs]
    assert sum(counts) == 10  # 10 x 0.50 = 5.00, the cap exactly, shared among the processes
    db = sqlite3.connect(path)
    n, total = db.execute("SELECT COUNT(*), SUM(cost) FROM ledger WHERE run_id = 'run-a'").fetchone()
    assert (n, total) == (10, pytest.approx(5.0))
    # every reservation was replaced by its bill
    assert db.execute("SELECT COUNT(*) FROM reservations").fetchone() == (0,)


def test_threads_with_their_own_connections_never_pass_the_cap_together(tmp_path):
    path = tmp_path / "c.sqlite"
    ResponseCache(path).close()
    granted: list[int] = []

    def take() -> None:
        cache = ResponseCache(path)
        while isinstance(r := cache.reserve(run_cap(3.0), 0.25), int):
            granted.append(r)
        cache.close()

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 12  # 12 x 0.25 = 3.00 reserved in flight at most


def test_a_reservation_left_by_a_killed_process_holds_no_room(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    gone = multiprocessing.get_context("fork").Process(target=lambda: None)
    gone.start()
    gone.join()
    with cache.db:
        cache.db.execute(
            "INSERT INTO reservations (run_id, baseline, cost, host, pid, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("run-a", "b1", 4.0, __import__("socket").gethostname(), gone.pid, "2026-01-01T00:00:00Z"),
        )
    assert isinstance(cache.reserve(run_cap(5.0), 5.0), int)  # the orphan's 4.0 was dropped first


def test_an_old_cache_gains_the_run_and_baseline_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the schema before run ids, as written by earlier versions
    db.executescript("""
        CREATE TABLE responses (key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL,
            request TEXT NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, cell_id TEXT,
            created_at TEXT NOT NULL, prompt_tokens INTEGER, cached_tokens INTEGER, completion_tokens INTEGER,
            cost REAL, currency TEXT);
        INSERT INTO responses VALUES ('k0', 'e', 'm', '{}', '{"text": "old"}', '2025-01-01T00:00:00Z');
        INSERT INTO ledger (key, cell_id, created_at, prompt_tokens, cached_tokens, completion_tokens, cost,
            currency) VALUES ('k0', 'c', '2025-01-01T00:00:00Z', 100, 0, 10, 1.1, 'USD');
    """)
    db.commit()
    db.close()
    cache = ResponseCache(path)
    cols = [r[1] for r in cache.db.execute("PRAGMA table_info(ledger)")]
    assert cols[-2:] == ["run_id", "baseline"]
    assert cache.db.execute("SELECT key, run_id, baseline, cost FROM ledger").fetchall() == [("k0", None, None, 1.1)]
    assert cache.get("k0") == {"text": "old"} and cache.ledger()["cost"] == pytest.approx(1.1)
    pay(cache, "new", run_cap(5.0), 1.1)
    assert cache.spent("run-a") == pytest.approx(1.1)  # the old row counts against no run
    cache.close()
    ResponseCache(path).close()  # opening it again changes nothing
    assert [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(ledger)")] == cols


# -- caps in the configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf")])
def test_a_cap_that_is_not_a_positive_finite_number_is_refused_naming_its_key(value):
    with pytest.raises(HarnessError, match=r"budget\.max_usd=.*must be greater than 0"):
        check_cap(value, "budget.max_usd")


@pytest.mark.parametrize(
    "override, key",
    [
        ("budget.max_usd=0", "budget.max_usd=0"),
        ("budget.max_usd=nan", "budget.max_usd=nan"),
        ("baseline.budget_usd=-2", "baseline.budget_usd=-2"),
        ("baseline.budget_usd=inf", "baseline.budget_usd=inf"),
    ],
)
def test_validation_refuses_a_bad_cap_naming_the_key(override, key):
    from harness.app.validate import value_problems

    problems = value_problems(compose_cfg(["baseline=openai-gpt-4o-mini", override]))
    assert any(p.startswith(key) and "must be greater than 0" in p for p in problems), problems


def test_validation_refuses_a_cap_on_an_unpriced_baseline():
    from harness.app.validate import value_problems

    cfg = compose_cfg(["baseline=openai-gpt-4o-mini", "baseline/price=none", "budget.max_usd=1"])
    [p] = [p for p in value_problems(cfg) if "unpriced" in p]
    assert p.startswith("budget.max_usd: baseline openai-gpt-4o-mini is unpriced")
    assert value_problems(compose_cfg(["baseline=openai-gpt-4o-mini", "budget.max_usd=1"])) == []
    # and the client refuses too, should a cap reach an unpriced endpoint another way
    with pytest.raises(HarnessError, match="cannot be checked without a price"):
        ApiCaller(
            base_url=None,
            api_key="x",
            model="m",
            endpoint_id="e",
            price={**PRICE, "input_per_1m": None},
            settings=Settings(),
            cache=None,
            budget=run_cap(1.0),
        )  # type: ignore[arg-type]


def test_budget_for_reads_both_caps_from_the_cells_config(monkeypatch):
    monkeypatch.setenv("HARNESS_RUN_ID", "20260101T000000Z-abcdef")
    cfg = compose_cfg(["baseline=openai-gpt-4o-mini", "budget.max_usd=2.5", "baseline.budget_usd=1"])
    b = budget_for(cfg, cfg.baseline)
    assert b == Budget(
        "20260101T000000Z-abcdef",
        "openai-gpt-4o-mini",
        (Cap("budget.max_usd", 2.5, None), Cap("baseline.budget_usd", 1.0, "openai-gpt-4o-mini")),
    )
    assert budget_for({}, cfg.baseline).caps[0].key == "baseline.budget_usd"  # a snapshot without `budget`
    monkeypatch.delenv("HARNESS_RUN_ID")
    assert budget_for({}, cfg.baseline).run_id.startswith("process-")  # outside a run: this process alone


# -- the client against a scripted server ----------------------------------------------------------------------------


class Server(LoopbackServer):
    """An OpenAI-style endpoint answering every request with the same usage; counts what it received."""

    def __init__(self, prompt_tokens: int = 100, completion_tokens: int = 10, delay_s: float = 0.02):
        self.received: list[str] = []

        def answer(body: dict[str, Any], handler: Any) -> None:
            self.received.append(body["messages"][-1]["content"][:3])
            time.sleep(delay_s)
            payload = json.dumps(
                {
                    "choices": [{"message": {"content": "answer"}, "finish_reason": "stop"}],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            ).encode()
            send_body(handler, payload)
            handler.wfile.write(payload)

        super().__init__(answer)


def bodies(n: int = 10) -> list[dict[str, Any]]:
    # 400 characters: estimated 100 prompt tokens (characters / 4), as the server counts them
    return [
        {"messages": [{"role": "user", "content": f"q{i:02d}".ljust(400, ".")}], "max_tokens": 20} for i in range(n)
    ]


def caller(url: str, cache: ResponseCache, budget: Budget | None, concurrency: int = 3) -> ApiCaller:
    s = Settings(concurrency=concurrency, max_retries=0, timeout_s=10.0, stream=False)
    return ApiCaller(
        base_url=url,
        api_key="EMPTY",
        model="m",
        endpoint_id="scripted",
        price=PRICE,
        settings=s,
        cache=cache,
        cell_id="cell",
        budget=budget,
    )


def test_a_cap_stops_the_client_mid_way_and_a_higher_one_sends_only_the_rest(tmp_path):
    """Cap 5.00: a request is refused only when paid + reserved > 3.80, which takes 4 sent (3 x 1.20 = 3.60 at
    most with 3); after 4, at least 4.40 is committed and 4.40 + 1.20 > 5.00. So exactly 4 are sent at any
    concurrency, 4.40 USD paid."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    with Server() as server:
        with pytest.raises(BudgetStop) as stop:
            caller(server.url, cache, run_cap(5.0)).run(bodies())
        assert str(stop.value).startswith(
            "stopped by the budget (budget.max_usd = 5.0000 USD): 4 of 10 requests answered and kept, 4.4000 USD "
            "paid in this run; raise the cap and run again: only the 6 missing answers are sent"
        )
        assert len(server.received) == 4
        assert cache.spent("run-a") == pytest.approx(4.40)
        paid = [k for (k,) in cache.db.execute("SELECT key FROM ledger WHERE run_id = 'run-a'")]
        assert len(paid) == 4 and all(cache.get(k)["text"] == "answer" for k in paid)  # every paid one kept
        assert cache.db.execute("SELECT COUNT(*) FROM reservations").fetchone() == (0,)

        # cache hits are never refused: the same cap again sends nothing more, and says 4 are kept
        with pytest.raises(BudgetStop, match="4 of 10 requests answered and kept, 4.4000 USD paid"):
            caller(server.url, cache, run_cap(5.0)).run(bodies())
        assert len(server.received) == 4

        # a higher cap: only the 6 missing are sent, nothing is paid twice
        answers = caller(server.url, cache, run_cap(100.0)).run(bodies())
        assert len(server.received) == 10 and len(set(server.received)) == 10
        assert [m.from_cache for _, m in answers] == [k in paid for k in keys(bodies())]
        assert sum(m.billed for _, m in answers) == pytest.approx(6 * 1.10)
        sql = "SELECT COUNT(*), SUM(cost), COUNT(DISTINCT key) FROM ledger"
        n, total, distinct = cache.db.execute(sql).fetchone()
        assert (n, distinct, total) == (10, 10, pytest.approx(11.0))


def keys(bs: list[dict[str, Any]]) -> list[str]:
    return [request_key("scripted", "m", b) for b in bs]


def test_a_baseline_cap_names_its_key_and_baseline(tmp_path):
    """baseline.budget_usd = 2.50: two requests (2 x 1.20 = 2.40), a third would need 2.20 + 1.20 > 2.50."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    b = Budget("run-a", "b1", (Cap("baseline.budget_usd", 2.5, "b1"),))
    with Server() as server, pytest.raises(BudgetStop) as stop:
        caller(server.url, cache, b, concurrency=2).run(bodies(5))
    assert str(stop.value).startswith(
        "stopped by the budget (baseline.budget_usd = 2.5000 USD): 2 of 5 requests "
        "answered and kept, 2.2000 USD paid in this run for baseline b1"
    )
    assert len(server.received) == 2 and is_budget_stop(HarnessError(str(stop.value)))


def test_a_low_prompt_estimate_scales_later_reservations_up(tmp_path):
    """The server counts 200 prompt tokens where characters / 4 gives 100: the first answer costs 2.10 against
    1.20 reserved; from then on a request reserves (200 + 20) x 0.01 = 2.20. Cap 5.50 at concurrency 1: the second
    is sent (2.10 + 2.20 = 4.30), the third is not (4.20 + 2.20 = 6.40). Without the correction it would reserve
    1.20, be sent (4.20 + 1.20 = 5.40) and the run would pay 6.30, past the cap."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    with Server(prompt_tokens=200) as server, pytest.raises(BudgetStop, match="2 of 6 requests"):
        caller(server.url, cache, run_cap(5.5), concurrency=1).run(bodies(6))
    assert len(server.received) == 2 and cache.spent("run-a") == pytest.approx(4.20)


def test_without_a_cap_the_ledger_still_notes_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_RUN_ID", "run-z")
    cache = ResponseCache(tmp_path / "c.sqlite")
    with Server() as server:
        caller(server.url, cache, None).run(bodies(2))
    rows = cache.db.execute("SELECT run_id, baseline, cost FROM ledger").fetchall()
    assert rows == [("run-z", None, 1.1)] * 2


# -- the run loop and the report ---------------------------------------------------------------------------------


def test_a_stopped_cell_is_recorded_as_stopped_and_the_loop_goes_on(tmp_path, monkeypatch):
    import harness.execute
    import harness.jobs.run_cell
    from harness.plan.cells import plan_baseline

    base = ["model=none", "baseline=openai-gpt-4o-mini", "task=helpdesk_en", f"paths.results={tmp_path}"]
    specs = [plan_baseline(compose_cfg([*base, f"task.limit={n}"])) for n in (3, 4, 5)]
    stop = BudgetStop(Cap("budget.max_usd", 0.01, None), 7, 16, 0.0098)
    raised = iter([stop, HarnessError(str(stop)), None])  # in process; through a worker (text only); done

    class Backend:
        def execute(self, spec: Any, device: Any = None) -> Any:
            e = next(raised)
            if e is not None:
                raise e
            return None  # as a non-zero rank does: nothing to store

    monkeypatch.setattr(harness.jobs.run_cell, "preflight", lambda *a: None)
    monkeypatch.setattr(harness.execute, "backend_for", lambda spec, python=None: Backend())
    outcomes = harness.jobs.run_cell.run(specs)
    assert [o.status for o in outcomes] == ["stopped_by_budget", "stopped_by_budget", "done"]
    assert outcomes[0].message == (
        "stopped by the budget (budget.max_usd = 0.0100 USD): 7 of 16 requests answered and kept, 0.0098 USD paid "
        "in this run; raise the cap and run again: only the 9 missing answers are sent (the kept ones come from "
        "the response cache, free)."
    )
    assert not list(tmp_path.glob("records/**/*.json"))  # no record of a stopped cell


def test_the_report_lists_a_stopped_cell_as_stopped_by_the_budget(tmp_path):
    from harness.report.render import write_report
    from tests.support.records import make_record

    stop = {
        "model": "openai-gpt-4o-mini",
        "task": "helpdesk_en",
        "status": "stopped_by_budget",
        "message": "stopped by the budget (budget.max_usd = 0.0100 USD): 7 of 16 requests answered and kept",
    }
    record = make_record("c" * 20, model="m", task="helpdesk", metric="contains", n=50, score=0.7)
    html = write_report([record.to_json()], tmp_path, "T", not_measured=[stop]).read_text()
    section = html.split('id="not-measured"')[1].split("</div>")[0]
    assert "(stopped by the budget: its answers so far are kept)" in section
    assert "7 of 16 requests answered and kept" in section


# -- the real stand-in endpoint ----------------------------------------------------------------------------------------
