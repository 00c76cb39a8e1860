"""API baselines against a real OpenAI-compatible server: `transformers serve` on the embedded SmolLM2 (the
session's shared stand-in), the real `openai` client, and a fault-injecting proxy (tests/support/fault_proxy.py)
in front of it for 429/5xx/timeouts/broken bodies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness.api.cache import ResponseCache
from harness.api.client import ApiCaller, Settings
from harness.api.pricing import cost
from harness.jobs.run_cell import run_baseline
from harness.paths import REPO_ROOT
from harness.store import Store
from tests.support.fault_proxy import FaultProxy
from tests.support.run import compose_cfg, run_harness

PRICE = {"currency": "USD", "input_per_1m": 0.15, "cached_input_per_1m": 0.075, "output_per_1m": 0.60}
SENTINEL = "sk-harness-SENTINEL-key-7f3a9c"  # a recognisable fake key: must reach the server, and nothing else


@pytest.fixture
def server(standin_url) -> str:
    """The session's shared stand-in (tests/conftest.py): its base URL without /v1."""
    return standin_url.removesuffix("/v1")


def caller(url: str, cache: ResponseCache, smol_dir: Path, **settings) -> ApiCaller:
    s = Settings(
        **{
            "concurrency": 4,
            "max_retries": 4,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "timeout_s": 20.0,
            **settings,
        }
    )
    return ApiCaller(
        base_url=url,
        api_key="EMPTY",
        model=str(smol_dir),
        endpoint_id="test-endpoint",
        price=PRICE,
        settings=s,
        cache=cache,
        cell_id="test",
    )


def body(q: str) -> dict:
    return {"messages": [{"role": "user", "content": q}], "max_tokens": 6, "temperature": 0.0}


def test_faults_end_answered_or_failed_and_nothing_is_counted_twice(server, smol_dir, tmp_path):
    plan = {
        "q0": ["429"],  # answered after waiting its Retry-After
        "q1": ["500", "500"],  # answered on the 3rd attempt
        "q2": ["slow"],  # the first attempt times out, the retry answers
        "q3": ["malformed"],  # a broken body, then a good one
        "q4": ["drop"],  # connection closed without a response
        "q5": ["500"] * 5,  # fails all 5 attempts (1 + max_retries 4): recorded failed
    }
    questions = [f"q{i}: name a colour." for i in range(8)]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    # timeout 8 s: a normal answer comes in well under it even on a busy 2-core machine; "slow" sleeps past it
    with FaultProxy(server, plan, retry_after=1.0, slow_s=12.0) as proxy:
        answers = caller(proxy.url, cache, smol_dir, timeout_s=8.0).run([body(q) for q in questions])
        meters = [m for _, m in answers]
        # 100 % of the samples end answered or recorded failed, and only q5 failed, with its error
        assert [m.error is None for m in meters] == [True] * 5 + [False] + [True] * 2
        assert meters[5].error == "HTTP 500" and meters[5].attempts == 5  # 1 + max_retries
        assert [m.attempts for m in meters] == [2, 3, 2, 2, 2, 5, 1, 1]
        assert all(a.strip() for a, m in answers if m.error is None)
        # no request is retried before its Retry-After
        t = [e["t"] for e in proxy.arrivals("q0")]
        assert len(t) == 2 and t[1] - t[0] >= 1.0
        # each answered request is billed once; the failed one never
        ledger = cache.ledger()
        assert ledger["requests"] == 7
        assert ledger["cost"] == pytest.approx(sum(m.cost for m in meters if m.error is None))
        for m in meters[:5] + meters[6:]:
            assert m.cost == pytest.approx(cost(m.prompt_tokens, 0, m.completion_tokens, PRICE))
            assert m.billed == m.cost and not m.from_cache

        # a re-run sends only what never got an answer (q5, now healthy), answers the rest from the cache
        arrivals_before = len(proxy.log)
        again = caller(proxy.url, cache, smol_dir).run([body(q) for q in questions])
        sent = proxy.log[arrivals_before:]
        assert [e["marker"] for e in sent] == ["q5"]
        assert [m.from_cache for _, m in again] == [True] * 5 + [False] + [True] * 2
        assert all(m.billed == 0 for _, m in again if m.from_cache)
        assert [a for a, _ in again][:5] == [a for a, _ in answers][:5]  # the same answers, not re-generated
        assert cache.ledger()["requests"] == 8  # one more paid request: q5's


def test_a_refused_key_stops_at_once_and_keeps_what_was_answered(server, smol_dir, tmp_path):
    from harness.api.client import FatalApiError

    questions = [f"k{i}: name a fruit." for i in range(4)]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FaultProxy(server, {"k2": ["401"]}) as proxy:
        c = caller(proxy.url, cache, smol_dir, concurrency=1)
        c.key_env = "MY_PROVIDER_KEY"
        with pytest.raises(FatalApiError, match=r"refused the key in \$MY_PROVIDER_KEY \(HTTP 401\)"):
            c.run([body(q) for q in questions])
        assert [e["marker"][:2] for e in proxy.log] == ["k0", "k1", "k2"]  # nothing sent after the refusal
        assert cache.ledger()["requests"] == 2
        again = caller(proxy.url, cache, smol_dir, concurrency=1).run([body(q) for q in questions])
        assert [e["marker"][:2] for e in proxy.log[3:]] == [
            "k2",
            "k3",
        ]  # the answered two came from the cache
        assert [m.from_cache for _, m in again] == [True, True, False, False]


def test_streaming_and_plain_requests_are_metered_from_usage(server, smol_dir, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    [(text_s, m_s)] = caller(server + "/v1", cache, smol_dir, stream=True).run([body("Say hello.")])
    [(text_p, m_p)] = caller(server + "/v1", ResponseCache(tmp_path / "other.sqlite"), smol_dir, stream=False).run(
        [body("Say hello.")]
    )
    assert text_s == text_p  # greedy: the same answer either way
    for m in (m_s, m_p):
        assert m.usage_source == "server" and m.prompt_tokens > 5 and 0 < m.completion_tokens <= 6
        assert m.latency_s > 0
    assert m_s.ttft_s is not None and 0 < m_s.ttft_s <= m_s.latency_s  # only streaming sees the first token
    assert m_p.ttft_s is None
    assert (m_s.prompt_tokens, m_s.completion_tokens) == (m_p.prompt_tokens, m_p.completion_tokens)


def test_baseline_cell_from_the_cli_adds_up_and_never_leaks_the_key(server, smol_dir, tmp_path):
    """The whole path as a user runs it: CLI -> lm-eval -> harness-chat-api -> openai client -> proxy -> server.
    The key comes from an environment variable; afterwards no output file contains it."""
    root = tmp_path / "out"
    # A third-party task folder (HARNESS_TASKS_PATH) whose metadata asks for the key: task files are data, so
    # the text stays as written; and a display name that interpolates the key on the command line, which the
    # redaction of every written file catches.
    leaky = tmp_path / "tasks" / "helpdesk_leak"
    leaky.mkdir(parents=True)
    for name in ("_helpdesk_base.yaml", "utils.py"):
        (leaky / name).write_bytes((REPO_ROOT / "tasks" / "helpdesk" / name).read_bytes())
    yaml_text = (REPO_ROOT / "tasks" / "helpdesk" / "helpdesk_en.yaml").read_text()
    yaml_text = yaml_text.replace("task: helpdesk_en", "task: helpdesk_leak").replace(
        "    description: ", "    description: key=${oc.env:HARNESS_TEST_KEY,unset} at ${price}. "
    )
    (leaky / "helpdesk_leak.yaml").write_text(yaml_text)
    with FaultProxy(server) as proxy:
        args = [
            "model=none",
            "finetune=none",
            "baseline=local-smollm2",
            "baseline.serve=null",
            f"baseline.base_url={proxy.url}",
            f"baseline.model={smol_dir}",
            "baseline.api_key_env=HARNESS_TEST_KEY",
            "baseline.display_name=stand-in-${oc.env:HARNESS_TEST_KEY}",
            "baseline.max_tokens=12",
            "task=helpdesk_leak",
            "task.limit=6",
            "hydra.mode=RUN",
            f"hydra.run.dir={root / 'hydra'}",
            f"paths.results={root / 'results'}",
            f"paths.reports={root / 'reports'}",
        ]
        env = {"HARNESS_TEST_KEY": SENTINEL, "HARNESS_TASKS_PATH": str(tmp_path / "tasks")}
        p = run_harness(*args, env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        # the key reached the server (it was really used) ...
        assert proxy.log and all(e["auth"] == f"Bearer {SENTINEL}" for e in proxy.log)
        n_sent = len(proxy.log)
        # ... and a re-run computes nothing and sends nothing
        again = run_harness(*args, env=env)
        assert again.returncode == 0 and len(proxy.log) == n_sent
        # a new price re-prices the stored usage, still without a request
        repriced = run_harness(*args, "baseline.price.output_per_1m=1.2", env=env)
        assert repriced.returncode == 0 and len(proxy.log) == n_sent
    new = Store(root / "results").all_records()[0]["api"]
    assert new["cost"]["price"]["output_per_1m"] == 1.2 and "repriced_at" in new
    assert new["cost"]["total"] == pytest.approx(
        (new["tokens"]["prompt"] * 0.15 + new["tokens"]["completion"] * 1.2) / 1e6
    )
    store = Store(root / "results")
    [record] = store.all_records()
    samples = store.load_samples(record["cell_id"])
    assert len(samples) == record["task"]["n"] == 6 == n_sent
    # score = mean of the per-sample scores lm-eval gave
    assert record["primary"]["value"] == pytest.approx(np.mean([s["scores"]["contains"] for s in samples]))
    # cost recomputed independently from the per-sample file: usage x price
    price = record["api"]["cost"]["price"]
    per_sample = [
        (s["api"]["prompt_tokens"] - s["api"]["cached_tokens"]) * price["input_per_1m"] / 1e6
        + s["api"]["cached_tokens"] * price["cached_input_per_1m"] / 1e6
        + s["api"]["completion_tokens"] * price["output_per_1m"] / 1e6
        for s in samples
    ]
    assert record["api"]["cost"]["total"] == pytest.approx(sum(per_sample))
    assert record["api"]["cost"]["per_1k_queries"] == pytest.approx(1000 * sum(per_sample) / 6)
    assert record["api"]["tokens"]["completion"] == sum(s["api"]["completion_tokens"] for s in samples)
    lat = [s["api"]["latency_s"] for s in samples]
    assert record["api"]["latency_s"]["p50"] == pytest.approx(np.percentile(lat, 50))
    assert record["api"]["latency_s"]["p95"] == pytest.approx(np.percentile(lat, 95))
    assert all(s["api"]["usage_source"] == "server" and s["api"]["ttft_s"] > 0 for s in samples)
    assert record["model"]["source"] == "api" and record["eval"]["model_args"]["api_key_env"] == "HARNESS_TEST_KEY"
    # the key appears in no file: records, samples, cache, Hydra's saved config and logs, the report
    files = [f for f in root.rglob("*") if f.is_file()]
    assert any(f.name == "config.yaml" for f in files) and any(f.name == "index.html" for f in files)
    leaked = [str(f) for f in files if SENTINEL.encode() in f.read_bytes()]
    assert leaked == []
    assert SENTINEL not in p.stdout + p.stderr
    report = next(f for f in files if f.name == "index.html").read_text()
    assert "key=${oc.env:HARNESS_TEST_KEY,unset} at ${price}." in report  # the task's text, as written
    assert "stand-in-***HARNESS_TEST_KEY***" in report  # the interpolated display name, redacted
    assert "api-usage" in report and "unpriced" not in report.split('id="api-usage"')[1].split("</table>")[0]

    # the few-shot variant is its own cell, and its longer prompts are metered as such
    with FaultProxy(server) as proxy:
        args = [a.replace("task.limit=6", "task.limit=3") for a in args if not a.startswith("baseline.base_url")]
        fewshot = run_harness(*args, f"baseline.base_url={proxy.url}", "task.num_fewshot=2", env=env)
        assert fewshot.returncode == 0, fewshot.stdout + fewshot.stderr
    [shot] = [r for r in store.all_records() if r["task"]["n"] == 3]
    assert shot["eval"]["num_fewshot"] == 2 and shot["cell_id"] != record["cell_id"]
    # two worked examples (question, excerpts, answer) more than double the prompt
    assert shot["api"]["tokens"]["prompt_per_sample"] > 2 * record["api"]["tokens"]["prompt_per_sample"]
    assert shot["api"]["cost"]["per_sample"] > record["api"]["cost"]["per_sample"]


@pytest.fixture(scope="module")
def cell_proxy(standin_service):
    """One proxy in front of the stand-in for the module's shared baseline cell: the record's command names it."""
    with FaultProxy(standin_service.url().removesuffix("/v1")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def baseline_cell(cell_proxy, smol_dir, tmp_path_factory) -> dict:
    """The stand-in as a baseline on 4 helpdesk_en items (max_tokens 12), computed once for the tests that read it
    (the lm-eval command it records, a judge of its answers)."""
    root = tmp_path_factory.mktemp("baseline")
    args = [
        "model=none",
        "finetune=none",
        "baseline=local-smollm2",
        "baseline.serve=null",
        f"baseline.base_url={cell_proxy.url}",
        f"baseline.model={smol_dir}",
        "baseline.max_tokens=12",
        "task=helpdesk_en",
        "task.limit=4",
        "hydra.mode=RUN",
        f"hydra.run.dir={root / 'h'}",
        f"paths.results={root / 'results'}",
        f"paths.reports={root / 'reports'}",
    ]
    p = run_harness(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(cell_proxy.log) == 4  # one request per item
    [record] = Store(root / "results").all_records()
    return {"root": root, "args": args, "record": record}


def test_lm_eval_cli_with_the_registered_backend_gives_the_same_score(baseline_cell, cell_proxy, tmp_path):
    """The record's command (lm-eval's CLI with `harness-chat-api` registered) reproduces the score, answering
    from the same response cache, so it costs nothing."""
    import subprocess
    import sys

    from harness.paths import REPO_ROOT

    record = baseline_cell["record"]
    cmd = record["eval"]["lm_eval_cli"].split("  #")[0].replace("python ", f"{sys.executable} ", 1)
    assert cell_proxy.url in cmd  # the command points at the endpoint the cell was computed on
    cmd += f" --output_path {tmp_path / 'lm'}"
    before = len(cell_proxy.log)
    p = subprocess.run(
        cmd,
        shell=True,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert len(cell_proxy.log) == before  # every answer came from the cache
    [out] = list((tmp_path / "lm").rglob("results_*.json"))
    score = json.loads(out.read_text())["results"]["helpdesk_en"]["contains,none"]
    assert score == pytest.approx(record["primary"]["value"])


def test_k_sampled_answers_are_k_paid_requests_and_their_agreement_is_reported(server, smol_dir, tmp_path):
    """eval.samples=3 at temperature 1.0: each item is asked 3 times (3 distinct cache keys, 3 metered requests),
    the record's agreement equals a recount from the per-sample answers, and a re-run sends nothing."""
    from harness.compare.consistency import canonical

    with FaultProxy(server) as proxy:
        args = [
            "model=none",
            "finetune=none",
            "baseline=local-smollm2",
            "baseline.serve=null",
            f"baseline.base_url={proxy.url}",
            f"baseline.model={smol_dir}",
            "baseline.max_tokens=8",
            "task=helpdesk_en",
            "task.limit=4",
            "eval.samples=3",
            "eval.sample_temperature=1.0",
            f"paths.results={tmp_path / 'results'}",
            f"paths.reports={tmp_path / 'reports'}",
        ]
        # in this process: the repeats and their metering are the subject, not the command
        [first] = run_baseline(compose_cfg(args))
        assert first.status == "done", first.message
        assert len(proxy.log) == 12  # 4 items x 3 samples, none deduplicated away
        assert run_baseline(compose_cfg(args))[0].status == "skipped" and len(proxy.log) == 12
        log = list(proxy.log)
    store = Store(tmp_path / "results")
    [record] = store.all_records()
    samples = store.load_samples(record["cell_id"])
    assert all(len(s["answers"]) == 3 and len(s["api_repeats"]) == 2 for s in samples)
    assert record["api"]["n_requests"] == 12
    billed = [m for s in samples for m in [s["api"], *s["api_repeats"]]]
    assert record["api"]["tokens"]["completion"] == sum(m["completion_tokens"] for m in billed)
    agree = [len({canonical(a) for a in s["answers"]}) == 1 for s in samples]
    c = record["consistency"]
    assert c["k"] == 3 and c["n"] == 4 and c["all_agree"] == pytest.approx(sum(agree) / 4)
    assert all(e["temperature"] == 1.0 for e in log)  # every request asked for sampling at temperature 1.0
    # (whether answers then differ is the server's business: `transformers serve` samples only when the model's
    # generation config sets do_sample, and SmolLM2's does not, so this stand-in answers greedily; the local
    # hf test in tests/integration/test_models.py checks that sampled answers do differ)
    assert record["identity"]["eval"]["samples"] == 3


def test_llm_judge_against_the_served_model_is_stored_apart_and_costed_apart(baseline_cell, standin_url, smol_dir):
    """judge=local-smollm2 pointed at the real server (through a proxy) on the stored baseline cell: every answer
    of the cell gets a judge request (the cell itself is not asked again); the judgement is stored beside the
    untouched cell record; its cost recomputes from its own rows; a re-run sends nothing; the report shows the
    judge table."""
    root = baseline_cell["root"]
    cell_file = root / "results" / "records" / f"{baseline_cell['record']['cell_id']}.json"
    before = cell_file.read_bytes()
    with FaultProxy(standin_url.removesuffix("/v1")) as proxy:
        args = [
            *[a for a in baseline_cell["args"] if not a.startswith(("hydra.run.dir", "paths.reports"))],
            "judge=local-smollm2",
            "judge.endpoint.serve=null",
            f"judge.endpoint.base_url={proxy.url}",
            f"judge.endpoint.model={smol_dir}",
            f"hydra.run.dir={root / 'judged'}",
            f"paths.reports={root / 'judged-reports'}",
        ]
        p = run_harness(*args)
        assert p.returncode == 0, p.stdout + p.stderr
        judge_requests = [e for e in proxy.log if "ANSWER TO GRADE" in str(e["marker"])]
        assert len(proxy.log) == 4 and len(judge_requests) == 4  # a judge request for each of the 4 answers
        assert run_harness(*args).returncode == 0 and len(proxy.log) == 4
    assert cell_file.read_bytes() == before  # the cell's record is untouched
    store = Store(root / "results")
    [record] = store.all_records()
    [j] = store.judgements()
    assert j["cell_id"] == record["cell_id"] and j["judge"]["prompt"]["version"] == "v1"
    rows = [json.loads(x) for x in (root / "results" / "judgements" / f"{j['judgement_id']}.jsonl").open()]
    assert len(rows) == 4 and j["n_judged"] + j["n_unparsed"] + j["n_failed"] == 4
    verdicts = [r["verdict"] for r in rows if r["verdict"] is not None]
    assert j["score"]["value"] == (pytest.approx(sum(verdicts) / len(verdicts)) if verdicts else None)
    # the judge's cost is usage x price of its own requests, apart from the candidate's
    price = j["api"]["cost"]["price"]
    recount = sum(
        cost(r["api"]["prompt_tokens"], r["api"]["cached_tokens"], r["api"]["completion_tokens"], price) for r in rows
    )
    assert j["api"]["cost"]["total"] == pytest.approx(recount) and recount > 0
    assert record["api"]["n_requests"] == 4  # the candidate's record counts its own 4 requests only
    [page] = list((root / "judged-reports").rglob("index.html"))  # the judged run's report
    report = page.read_text()
    assert 'id="judge"' in report and "LLM-as-judge" in report
