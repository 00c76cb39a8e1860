"""A hostile but honest user, replayed: secrets, damaged stores, stale locks, failing endpoints, orphan servers,
bad configuration, read-only folders, spreadsheet formulas, interrupted writes, file modes (issue 13).

Task-file faults (malformed YAML, bad bytes, bad data rows, the loader fuzz test) are in tests/unit/test_task_faults.py;
kills during fine-tuning in tests/integration/test_finetune.py; a failing endpoint and orphan servers from the
command line in tests/e2e/test_faults.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.report.render import write_report
from harness.store import Store
from harness.store.store import DamagedRecord, atomic_write_text
from tests.support.records import make_record, make_samples
from tests.support.run import run_harness

SENTINEL = "sk-harness-SENTINEL-faults-91c2e7"


def record(cid: str, name: str = "m", score: float = 0.5) -> dict:
    return make_record(cid, model=name, score=score).to_json()


def samples(n: int = 4) -> list[dict]:
    return make_samples([i % 2 for i in range(n)])  # outputs "answer <i>"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- 1. secrets never reach a file -------------------------------------------------------------------------------


def test_a_secret_in_any_text_is_redacted_from_records_samples_reports_and_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)  # named by the openai baselines' api_key_env
    monkeypatch.setenv("MY_SERVICE_TOKEN", SENTINEL + "-2")  # secret-looking by its name
    store = Store(tmp_path / "results")
    r = record("a" * 20, name=f"key={SENTINEL}")
    rows = samples()
    rows[0]["output"] = f"my token is {SENTINEL}-2 ok"
    store.write(r, rows)
    write_report(store.all_records(), tmp_path / "report", f"title {SENTINEL}", samples=store.samples_or_none)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 5  # record, samples, index.html, leaderboard.csv, leaderboard.json
    assert [str(p) for p in files if SENTINEL.encode() in p.read_bytes()] == []
    assert "key=***OPENAI_API_KEY***" in store.record_path("a" * 20).read_text()
    assert "my token is ***MY_SERVICE_TOKEN*** ok" in store.samples_path("a" * 20).read_text()
    # a log line through a handler of the root logger
    from harness.secrets import RedactingFilter

    log_file = tmp_path / "job.log"
    handler = logging.FileHandler(log_file)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("harness.test-secrets")
    logger.addHandler(handler)
    logger.warning("calling with %s", SENTINEL)
    handler.close()
    assert log_file.read_text() == "calling with ***OPENAI_API_KEY***\n"


# -- 5. the store heals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        "truncated record",
        "record not JSON",
        "record of another cell",
        "record of a newer harness",
        "not a cell record",
        "record edited",
        "record malformed",
        "truncated samples",
        "samples changed",
        "samples missing",
    ],
)
def test_a_damaged_cell_is_not_finished_is_skipped_by_readers_and_quarantined_by_the_run(tmp_path, damage, caplog):
    store = Store(tmp_path)
    good, bad = "g" * 20, "b" * 20
    store.write(record(good, "good"), samples())
    store.write(record(bad, "bad", 0.2), samples())
    rec, smp = store.record_path(bad), store.samples_path(bad)
    text = rec.read_text()
    if damage == "truncated record":
        rec.write_text(text[: len(text) // 2])
    elif damage == "record not JSON":
        rec.write_bytes(b"\x00\x00garbage")
    elif damage == "record of another cell":
        rec.write_text(text.replace(bad, "c" * 20))
    elif damage == "record of a newer harness":
        rec.write_text(text.replace('"schema_version": 1', '"schema_version": 99'))
    elif damage == "not a cell record":
        rec.write_text(json.dumps({"cell_id": bad, "schema_version": 1, "hello": "world"}))
    elif damage == "record edited":  # a better score typed in by hand: valid JSON, right shape
        rec.write_text(text.replace('"value": 0.2', '"value": 0.99'))
    elif damage == "record malformed":  # from another tool (no digest): a score that is text
        doc = json.loads(text)
        del doc["record_sha256"]
        doc["primary"]["value"] = "0.9"
        rec.write_text(json.dumps(doc))
    elif damage == "truncated samples":
        smp.write_text(smp.read_text()[:-10])
    elif damage == "samples changed":  # same length, one score flipped: only the digest can tell
        smp.write_text(smp.read_text().replace('"contains": 1.0', '"contains": 0.0', 1))
    else:
        smp.unlink()
    assert store.problem(good) is None
    why = store.problem(bad)
    assert why is not None and str(rec if "record" in damage else smp) in why
    with caplog.at_level(logging.WARNING):
        assert [r["cell_id"] for r in store.all_records()] == [good]  # the report's reader skips it
    assert f"skipping damaged cell {bad}" in caplog.text
    assert not store.has(bad)  # not finished: a run computes it again
    with pytest.raises(DamagedRecord, match=bad):
        store.load_samples(bad)
    before = snapshot(tmp_path)
    assert not store.has(bad, heal=True)  # the run path moves it aside, keeping the bytes for inspection
    moved = sorted(p.name for p in (tmp_path / "damaged").iterdir())
    assert moved and all(n.startswith(bad) for n in moved)
    assert not rec.exists() and not smp.exists()
    assert sorted(snapshot(tmp_path / "damaged").values()) == sorted(
        v for k, v in before.items() if bad in k
    )  # nothing lost
    assert store.has(good)


def test_harness_report_skips_a_damaged_cell_with_a_warning_naming_its_file(tmp_path):
    store = Store(tmp_path / "results")
    store.write(record("g" * 20, "good", 0.7), samples())
    store.write(record("b" * 20, "bad", 0.2), samples())
    path = store.record_path("b" * 20)
    path.write_text(path.read_text()[:100])
    p = run_harness("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "rep"))
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert f"skipping damaged cell {'b' * 20}: {path}:" in out and "Traceback" not in out
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "good" in html and ">bad<" not in html


def _holder(lock: Path, seconds: float) -> subprocess.Popen:
    code = (
        "import sys, time, logging; logging.basicConfig(level=logging.INFO, format='%(message)s');"
        "from harness.locks import HarnessLock;"
        f"l = HarnessLock({str(lock)!r}, 'test work'); l.acquire(); print('held', flush=True);"
        f"time.sleep({seconds}); l.release(); print('released', flush=True)"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_waiting_process_says_what_it_waits_for_and_a_killed_holder_is_taken_over(tmp_path):
    lock = tmp_path / "locks" / "cell.lock"
    first = _holder(lock, 300)
    assert first.stdout.readline().strip() == "held"
    owner = json.loads(Path(f"{lock}.owner").read_text())
    assert owner["pid"] == first.pid and owner["what"] == "test work"
    second = _holder(lock, 0)
    time.sleep(1.5)  # it is waiting, and says for what
    first.send_signal(signal.SIGKILL)
    first.wait()
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 0, out
    waited, took = out.splitlines()[0], out.splitlines()[1]
    assert waited.startswith(f"waiting for test work: the lock {lock} is held by pid {first.pid} on host ")
    assert took.startswith(f"took over the lock of test work ({lock}) left by pid {first.pid} on host ")
    assert took.endswith("that process no longer exists")
    assert out.splitlines()[2:] == ["held", "released"]
    assert not Path(f"{lock}.owner").exists()  # released cleanly this time


# -- 6. failure must not look like success -----------------------------------------------------------------------


# -- 7. no orphan server -----------------------------------------------------------------------------------------


# -- 8. validation before loading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+task.limmit=3", "unknown key 'task.limmit'. Did you mean 'task.limit'"),
        ("task.limit=0", "task.limit=0: must be at least 1 (or null: every item)"),
        (
            "task.split=bogus",
            "task.split=bogus: unknown split of helpdesk_en 'bogus'. Known: test, train, validation.",
        ),
        ("eval.batch_size=0", "eval.batch_size=0: must be at least 1"),
        ("finetune.learning_rate=-1", "finetune.learning_rate=-1.0: must be greater than 0"),
        ("baseline.max_failed_share=2", "baseline.max_failed_share=2.0: must be in [0, 1]"),
        ("task.limmit=3", "unknown key 'task.limmit'. Did you mean 'task.limit'"),
        ("task.limit=abc", "task.limit=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        ("sweep.name=../../etc", "sweep.name=../../etc: use letters, digits and _ . = , + - only"),
    ],
)
def test_bad_values_are_rejected_at_composition_with_one_message(tmp_path, override, message):
    p = run_harness(override, f"paths.results={tmp_path / 'results'}", f"hydra.sweep.dir={tmp_path / 'h'}")
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.startswith("harness: error: invalid configuration (nothing was run)")
    assert message in p.stderr and "Traceback" not in p.stderr and "+task.limmit=3\n" not in p.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "h").exists()  # nothing ran, nothing written


def test_every_job_of_a_sweep_is_checked_before_the_first_starts():
    from harness.app.compose import job_overrides

    assert job_overrides([]) == [
        ["model=smollm2-135m", "task=helpdesk_en"],
        ["model=smollm2-135m", "task=general_en"],
        ["model=gemma3-270m", "task=helpdesk_en"],
        ["model=gemma3-270m", "task=general_en"],
    ]
    p = run_harness("-m", "task.limit=5,0", "model=none", "baseline=none")
    assert p.returncode == 2 and "task.limit=0: must be at least 1" in p.stderr


# -- 9. smaller ----------------------------------------------------------------------------------------------------


def test_a_results_folder_that_cannot_be_written_is_named_before_anything_runs(tmp_path):
    # /sys refuses new folders even to root (a chmod would not stop root, who runs CI)
    p = run_harness(
        "model=none", "baseline=none", "paths.results=/sys/harness-results", f"hydra.sweep.dir={tmp_path / 'h'}"
    )
    assert p.returncode == 2, p.stdout + p.stderr
    assert "cannot write to /sys/harness-results" in p.stderr and "Traceback" not in p.stdout + p.stderr
    q = run_harness("report", "--results", str(tmp_path), "--out", "/sys/harness-report")
    assert q.returncode == 2 and "Traceback" not in q.stderr


def test_csv_export_neutralises_spreadsheet_formulas(tmp_path):
    rows = [
        record("a" * 20, '=HYPERLINK("http://x.example","click")', 0.5),
        record("b" * 20, "@SUM(A1:A9)", 0.4),
        record("c" * 20, "-2+3", 0.3),
        record("d" * 20, "plain", 0.2),
    ]
    write_report(rows, tmp_path, "t")
    import csv

    with (tmp_path / "leaderboard.csv").open() as f:
        table = list(csv.DictReader(f))
    cells = [v for row in table for v in row.values() if v]
    assert '\'=HYPERLINK("http://x.example","click")' in cells and "'@SUM(A1:A9)" in cells and "'-2+3" in cells
    assert not [v for v in cells if v[0] in "=+@"]  # no cell starts a formula
    assert [r for r in table if r.get("score") and float(r["score"]) < 0] == []  # numbers stay numbers


def test_an_interrupted_write_leaves_a_temp_file_that_the_next_write_removes(tmp_path):
    target = tmp_path / "index.html"
    atomic_write_text(target, "old")
    # a writer killed by SIGKILL once its temp file is written, just before the rename
    code = (
        "import os, signal; from pathlib import Path; from harness.store.store import atomic_write_text;"
        "os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL);"
        f"atomic_write_text(Path({str(target)!r}), 'new' * 1000)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL
    orphans = list(tmp_path.glob(".index.html.*.tmp"))
    assert len(orphans) == 1 and target.read_text() == "old"  # the reader never saw half a file
    atomic_write_text(target, "z")  # the next write of that file (e.g. the next report)
    assert [x.name for x in tmp_path.iterdir()] == ["index.html"] and target.read_text() == "z"


def test_written_files_have_ordinary_permissions_unless_configured(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
        monkeypatch.setenv("HARNESS_FILE_MODE", "600")
        atomic_write_text(tmp_path / "b.json", "{}")
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_damaged_api_response_cache_stops_with_its_path_instead_of_paying_again(tmp_path):
    from harness.api.cache import ResponseCache
    from harness.errors import HarnessError

    path = tmp_path / "api_cache.sqlite"
    cache = ResponseCache(path)
    cache.db.close()
    with path.open("r+b") as f:  # the header survives, the pages do not (a disk that filled up mid-write)
        f.seek(16)
        f.write(b"\xff" * 200)
    with pytest.raises(HarnessError, match=f"the API response cache {path} is damaged .*Nothing was sent"):
        ResponseCache(path)


def test_only_regular_files_are_read_from_a_store(tmp_path, caplog):
    """A FIFO would hang the report, a link to /dev/zero would fill the memory, a folder would stop it."""
    store = Store(tmp_path)
    store.write(record("g" * 20, "good"), samples())
    os.mkfifo(tmp_path / "records" / ("f" * 20 + ".json"))
    (tmp_path / "records" / ("z" * 20 + ".json")).symlink_to("/dev/zero")
    (tmp_path / "records" / ("d" * 20 + ".json")).mkdir()
    (tmp_path / "records" / ("l" * 20 + ".json")).symlink_to(tmp_path / "records" / ("l" * 20 + ".json"))
    with caplog.at_level(logging.WARNING):
        assert [r["cell_id"] for r in store.all_records()] == ["g" * 20]
    assert caplog.text.count("not a regular file") == 4  # the loop too: is_file() says no


def test_escaped_forms_of_a_secret_are_redacted_too(tmp_path, monkeypatch):
    secret = 'hunter2"&<xyz\\42'
    monkeypatch.setenv("DB_PASSWORD", secret)
    store = Store(tmp_path / "results")
    store.write(record("a" * 20, name=f"pw {secret}"), samples())
    write_report(store.all_records(), tmp_path / "report", f"t {secret}", samples=store.samples_or_none)
    forms = [secret, json.dumps(secret)[1:-1], "hunter2&#34;&amp;&lt;xyz", "hunter2&quot;&amp;&lt;xyz"]
    for f in [p for p in tmp_path.rglob("*") if p.is_file()]:
        text = f.read_text()
        assert not [x for x in forms if x in text], f
    assert "pw ***DB_PASSWORD***" in store.record_path("a" * 20).read_text()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sweep.name=${oc.env:OPENAI_API_KEY}", "sweep.name=${oc.env:OPENAI_API_KEY}: write the name out"),
        ("task.limit=${oc.env:HARNESS_NOT_SET_ANYWHERE}", "task.limit: cannot be resolved"),
        ("task.description=${task.nope}", "task.description: cannot be resolved"),
        ("baseline.price.output_per_1m=-1", "baseline.price.output_per_1m=-1.0: must be at least 0"),
        ("baseline.price.input_per_1m=nan", "baseline.price.input_per_1m=nan: must be at least 0"),
        ("report.amortise_months=inf", "report.amortise_months=inf: must be greater than 0"),
        ("paths.results=", "paths.results: is empty"),
    ],
)
def test_interpolations_prices_and_non_finite_numbers_are_refused_before_the_run(tmp_path, override, message):
    env = {"OPENAI_API_KEY": SENTINEL}
    p = run_harness("model=none", "baseline=local-smollm2", override, f"hydra.sweep.dir={tmp_path / 'h'}", env=env)
    assert p.returncode == 2 and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and SENTINEL not in p.stdout + p.stderr
    assert not (tmp_path / "h").exists() and not list(Path("outputs").glob(f"*{SENTINEL}*"))


@pytest.mark.parametrize(
    "rows",
    [
        None,
        {"a": 1},
        [1, 2],
        [{}],
        [{"task": "t", "model_key": "m", "model": "M", "variant": "base"}],
        [{"task": "t", "model_key": "m", "model": "M", "variant": "base", "score": "hi"}],
        [{"task": ["t"], "model_key": "m", "model": "M", "variant": "base", "score": 0.5}],
    ],
)
def test_compare_to_rows_of_the_wrong_shape_are_one_message(tmp_path, rows):
    from harness.errors import HarnessError
    from harness.report.diff import load_export

    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps({"schema": "harness-leaderboard/1", "rows": rows}))
    with pytest.raises(HarnessError, match=f"--compare-to {path}: .*(rows|is not)"):
        load_export(path)


def test_two_sweeps_whose_folder_names_would_be_cut_to_the_same_text_get_different_folders():
    from omegaconf import OmegaConf

    from harness.app.callback import report_name

    def name(n_train: int) -> str:
        overrides = [
            "finetune=lora",
            "task=helpdesk_en",
            "finetune.learning_rate=1e-4",
            "finetune.epochs=3",
            "finetune.batch_size=4",
            "finetune.grad_accum=2",
            "eval.batch_size=4",
            f"finetune.n_train={n_train}",
        ]
        return report_name(
            OmegaConf.create({"sweep": {"name": "default"}, "hydra": {"overrides": {"task": overrides}}})
        )

    a, b = name(100), name(101)
    assert a != b and len(a) <= 150 and len(b) <= 150
    assert (
        report_name(OmegaConf.create({"sweep": {"name": "default"}, "hydra": {"overrides": {"task": ["model=x"]}}}))
        == "default__model=x"
    )


def test_a_fifo_or_a_device_link_among_task_files_is_skipped_not_read(tmp_path, monkeypatch):
    from harness.tasks import discover, discovery_problems

    folder = tmp_path / "tasks" / "odd"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.yaml")  # reading it would block every command for ever
    (folder / "zero.yaml").symlink_to("/dev/zero")  # reading it would fill the memory
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path / "tasks"))
    found = discover()
    assert "helpdesk_en" in found and not any(p.parent == folder for p, _ in found.values())
    problems = sorted(str(p) for p in discovery_problems())
    assert problems == [
        f"{folder / 'fifo.yaml'}: not a regular YAML file under 4 MiB; remove or replace it.",
        f"{folder / 'zero.yaml'}: not a regular YAML file under 4 MiB; remove or replace it.",
    ]
