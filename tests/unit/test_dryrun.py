"""`harness plan` / `harness --dry-run` (harness/plan/estimate.py): which cells a sweep would run, which are stored, and
the estimate of the rest, checked against figures computed by hand from hand-made records. Nothing may be
loaded, sent or written to the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api.cache import ResponseCache, request_key
from harness.app.commands.plan import cmd_plan
from harness.plan import estimate as dryrun
from harness.plan.cells import plan
from harness.store import Store
from tests.support.records import make_record, make_samples
from tests.support.run import compose_cfg, run_harness

OFFLINE_API = [
    "model=none",
    "finetune=none",
    "baseline=local-smollm2",
    "baseline.serve=null",
    "baseline.base_url=http://127.0.0.1:9/v1",
    "baseline.model=stand-in",
    "baseline.max_tokens=50",
    "baseline.price.input_per_1m=2",
    "baseline.price.output_per_1m=8",
    "task=helpdesk_en",
    "task.limit=3",
]


def listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def store_api_record(results: Path, cell_id: str, task: str = "helpdesk_en") -> None:
    # the fixture's API cell: 50 answered requests of 150 prompt + 20 completion tokens
    Store(results).write(make_record(cell_id, model="local-smollm2", source="api", task=task), make_samples([1] * 50))


def plan_of(args: list[str], tmp_path: Path, capsys) -> tuple[str, dict]:
    out = tmp_path / "plan.json"
    cmd_plan([*args, "--json", str(out)])
    return capsys.readouterr().out, json.loads(out.read_text())


def test_api_estimate_is_prompt_tokens_times_price_plus_output_tokens_times_price(tmp_path, tmp_store, capsys):
    args = [*OFFLINE_API, *tmp_store, f"paths.cache={tmp_path / 'cache'}"]
    results = tmp_path / "results"
    store_api_record(results, "b" * 20)  # another cell of the same baseline: 20 completion tokens per query
    spec = plan(compose_cfg(args))[0]
    requests = dryrun.render_requests(spec)
    assert len(requests) == 3 and all(b["max_tokens"] == 50 for b, _ in requests)
    # one of the three requests is already answered in the response cache: 100 prompt + 10 completion tokens
    key = request_key(spec.endpoint_id, "stand-in", requests[0][0])
    cache = ResponseCache(results / "api_cache.sqlite")
    cache.put(
        key,
        spec.endpoint_id,
        "stand-in",
        requests[0][0],
        {"text": "x", "prompt_tokens": 100, "cached_tokens": 0, "completion_tokens": 10},
        "c",
        None,
        "USD",
    )
    cache.close()
    before = listing(results)

    text, doc = plan_of(args, tmp_path, capsys)

    assert listing(results) == before  # no -wal/-shm beside the cache, no record, no lock
    (row,) = [r for r in doc["rows"] if r["kind"] == "baseline"]
    assert (row["state"], row["items"]) == ("to run", 3)
    e = row["estimate"]
    assert (e["requests"], e["from_cache"], e["new_requests"]) == (3, 1, 2)
    # no tokenizer (no served model, no baseline.tokenizer): characters / 4 of the two new prompts, said so
    chars = [sum(len(m["content"]) for m in b["messages"]) for b, _ in requests[1:]]
    prompt = sum(max(1, round(c / 4)) for c in chars)
    assert e["prompt_tokens"] == {"value": prompt, "basis": e["prompt_tokens"]["basis"]}
    assert e["prompt_tokens"]["basis"].startswith("estimated: characters / 4")
    assert e["output_tokens"]["value"] == 2 * 20 and e["output_tokens_upper"]["value"] == 2 * 50
    assert "20.0 per query from 1 stored cell of local-smollm2 on helpdesk_en" in e["output_tokens"]["basis"]
    assert e["billed"] == pytest.approx((prompt * 2 + 40 * 8) / 1e6)
    assert e["billed_upper"] == pytest.approx((prompt * 2 + 100 * 8) / 1e6)
    assert e["cell_total"] == pytest.approx(e["billed"] + (100 * 2 + 10 * 8) / 1e6)
    assert doc["totals"]["api_money"]["USD"]["billed"] == pytest.approx(e["billed"])
    assert "1 answered from the response cache (paid 0), 2 to send" in text


def test_output_tokens_fall_back_to_other_tasks_then_to_unknown(tmp_path, tmp_store, capsys):
    args = [*OFFLINE_API, *tmp_store]
    _, doc = plan_of(args, tmp_path, capsys)
    e = doc["rows"][0]["estimate"]
    assert e["output_tokens"] == {"value": None, "basis": "unknown: no stored run of local-smollm2"}
    assert e["billed"] is None and e["billed_upper"] is not None  # the upper bound needs no stored run
    store_api_record(tmp_path / "results", "c" * 20, task="ota_intent_en")
    _, doc = plan_of(args, tmp_path, capsys)
    assert "on ota_intent_en" in doc["rows"][0]["estimate"]["output_tokens"]["basis"]


def test_stored_cells_to_run_trainings_and_device_hours(tmp_path, tmp_store, capsys):
    args = [
        "model=smollm2-135m",
        "finetune=lora",
        "finetune.n_train=8",
        "finetune.epochs=2",
        "task=helpdesk_en",
        "task.limit=5",
        "eval.device=cpu",
        "baseline=none",
        *tmp_store,
        f"paths.cache={tmp_path / 'cache'}",
    ]  # an empty cache: no tokenizer on disk
    base, tuned = plan(compose_cfg(args))
    results = tmp_path / "results"
    store = Store(results)
    store.write(make_record(base.id, model="smollm2-135m", task="helpdesk_en", n=5), make_samples([1] * 5))
    # a stored training of the same model and method: 6,000 tokens in 60 s (100 tokens/s) on 64 examples x 1
    # epoch. Each fixture record's model time is 24 s: 5 + 50 queries in 48 s = 4,125 queries/h
    store.write(
        make_record("d" * 20, model="smollm2-135m", task="helpdesk_en", finetune={"method": "lora"}),
        make_samples([1] * 50),
    )
    before = listing(results)

    text, doc = plan_of(args, tmp_path, capsys)

    assert listing(results) == before
    states = [(r["kind"], r["method"], r["state"]) for r in doc["rows"]]
    assert states == [
        ("cell", "none", "stored"),
        ("training", "lora", "to train"),
        ("cell", "lora", "to run"),
    ]
    train = doc["rows"][1]["estimate"]
    assert train["tokens"]["value"] == pytest.approx(6000 / 64 * 8 * 2)
    assert train["tokens_per_s"]["value"] == pytest.approx(100)
    assert train["device_hours"] == pytest.approx(6000 / 64 * 8 * 2 / 100 / 3600)
    hours = doc["rows"][2]["estimate"]["device_hours"]
    assert hours["value"] == pytest.approx(5 / (3600 * 55 / 48))
    assert "4,125 queries/h from 2 stored cells of smollm2-135m on helpdesk_en (cpu)" in hours["basis"]
    assert doc["totals"]["cells"] == {"stored": 1, "to run": 1, "not applicable": 0}
    assert "1 cells stored, 1 to run" in text


def test_unknown_speed_is_said_not_guessed(tmp_path, tmp_store, capsys):
    args = [
        "model=smollm2-135m",
        "finetune=full",
        "finetune.n_train=8",
        "task=helpdesk_en",
        "task.limit=5",
        "eval.device=cpu",
        "baseline=none",
        *tmp_store,
        f"paths.cache={tmp_path / 'cache'}",
    ]
    _, doc = plan_of(args, tmp_path, capsys)
    train = doc["rows"][1]["estimate"]
    assert train["tokens_per_s"]["basis"] == "unknown: no stored training of smollm2-135m full on cpu"
    assert train["device_hours"] is None
    assert doc["rows"][0]["estimate"]["device_hours"]["basis"] == (
        "unknown: no stored evaluation of smollm2-135m on cpu"
    )
    assert doc["totals"]["eval_device_hours"] == {"value": 0, "unknown": 2}


def test_dry_run_flag_and_plan_print_the_same(tmp_path, tmp_store):
    args = ["model=smollm2-135m", "finetune=none", "baseline=none", "task=helpdesk_en", "task.limit=5", *tmp_store]
    (base,) = plan(compose_cfg(args))
    Store(tmp_path / "results").write(make_record(base.id, model="smollm2-135m", n=5), make_samples([1] * 5))
    a = run_harness("plan", *args, timeout=120)
    b = run_harness(*args, "--dry-run", timeout=120)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout and f"stored         {base.id}" in a.stdout
    assert not (tmp_path / "reports").exists()  # nothing ran: no report either


@pytest.mark.parametrize("bad", ["task.limmit=3", "task=nosuch_task"])
def test_a_bad_override_is_one_line_and_exit_2(bad, tmp_store):
    p = run_harness("plan", bad, *tmp_store, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("harness: error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_sweeps_expand_as_a_real_sweep_does(tmp_path, tmp_store, capsys):
    args = [
        "-m",
        "model=smollm2-135m,gemma3-270m",
        "finetune=none",
        "baseline=none",
        "task=helpdesk_en",
        "task.limit=2",
        "eval.device=cpu",
        *tmp_store,
    ]
    _, doc = plan_of(args, tmp_path, capsys)
    assert doc["jobs"] == 2
    assert [(r["name"], r["state"]) for r in doc["rows"]] == [
        ("smollm2-135m", "to run"),
        ("gemma3-270m", "to run"),
    ]
