"""Real models end to end: the embedded SmolLM2/Gemma, lm-eval itself, a remote-code model folder.

Marked slow: they load real weights on the CPU (the README's test command and CI run them).
The prepared HF folders live in the user cache (as for `make run`), so they are built once per machine.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.models.embedded import MARKER, prepare
from harness.paths import REPO_ROOT, resolve
from harness.run import run_cell
from harness.store import Store
from tests.conftest import compose_cfg, run_harness

pytestmark = pytest.mark.slow
# (task, items): a log-likelihood task and a generation task, so both lm-eval paths are checked
CELLS = {"general_en": 40, "helpdesk_en": 12}


def mean(xs):
    return sum(xs) / len(xs)


@pytest.fixture(scope="module")
def smol_dir() -> Path:
    cfg = compose_cfg(["model=smollm2-135m"])
    return prepare(OmegaConf.to_object(cfg.model), resolve(cfg.paths.cache))


@pytest.fixture(scope="module", params=sorted(CELLS))
def smol_cell(request, tmp_path_factory, smol_dir):
    root = tmp_path_factory.mktemp("store")
    task = request.param
    overrides = ["model=smollm2-135m", "finetune=none", f"task={task}", f"task.limit={CELLS[task]}",
                 f"paths.results={root}"]  # fmt: skip
    outcome = run_cell(compose_cfg(overrides))[-1]
    store = Store(root)
    return overrides, outcome, store.load(outcome.cell_id), store.load_samples(outcome.cell_id)


def test_prepare_is_idempotent_and_safe_under_concurrency(tmp_path):
    """Two processes prepare into an empty cache at once: one converts, the other waits and reuses it."""
    cmd = [
        str(Path(sys.executable).with_name("harness")),
        "prepare",
        "smollm2-135m",
        "--cache",
        str(tmp_path),
    ]
    procs = [
        subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    assert sum("preparing smollm2-135m from" in o[1] for o in outs) == 1  # converted exactly once
    # the other one said what it waited for, and who held it
    assert sum("waiting for the preparation of smollm2-135m: the lock" in o[1] for o in outs) == 1
    folder = Path(paths.pop().split(": ", 1)[1])
    meta = json.loads((folder / MARKER).read_text())
    assert meta["gguf_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    # A third call returns at once without converting.
    third = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "preparing" not in third.stderr


def test_record_score_is_the_mean_of_its_samples(smol_cell):
    _, outcome, record, samples = smol_cell
    task = record["task"]["name"]
    assert outcome.status == "done"
    assert record["task"]["n"] == CELLS[task] == len(samples)
    assert set(record["metrics"]) == set(samples[0]["scores"]) and record["metrics"]
    for metric in record["metrics"]:
        assert record["metrics"][metric]["value"] == pytest.approx(
            mean([s["scores"][metric] for s in samples])
        )
    assert record["eval"]["apply_chat_template"] is True
    assert all("<|im_start|>assistant" in s["input"] for s in samples)
    if task == "general_en":
        # Non-trivial: a real model gets some of 40 four-option questions right and some wrong.
        assert record["primary"]["metric"] == "acc" and 0.0 < record["primary"]["value"] < 1.0
    assert record["schema_version"] == 1 and record["environment"]["packages"]["lm_eval"]
    assert record["timings"]["evaluate_s"] > 0 and record["model"]["n_params"] == 134515008


def test_finished_cell_is_skipped_without_touching_the_model(smol_cell, monkeypatch):
    overrides, outcome, _, _ = smol_cell
    import harness.evaluate.lmeval as lmeval
    import harness.models as models

    def forbidden(*a, **k):
        raise AssertionError("a stored cell must not load or call a model")

    monkeypatch.setattr(lmeval, "evaluate", forbidden)
    monkeypatch.setattr(models, "weights_location", forbidden)
    again = run_cell(compose_cfg(overrides))[-1]
    assert (again.status, again.cell_id) == ("skipped", outcome.cell_id)


def test_harness_score_equals_raw_lm_eval_cli(smol_cell, tmp_path):
    _, _, record, samples = smol_cell
    cmd = shlex.split(record["eval"]["lm_eval_cli"]) + ["--output_path", str(tmp_path), "--log_samples"]
    cmd[0] = str(Path(sys.executable).with_name("lm_eval"))
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    task = record["task"]["name"]
    raw = json.loads(next(tmp_path.rglob("results_*.json")).read_text())["results"][task]
    for metric, m in record["metrics"].items():
        assert raw[f"{metric},none"] == m["value"], metric
    raw_samples = [json.loads(line) for line in next(tmp_path.rglob(f"samples_{task}_*.jsonl")).open()]
    for metric in record["metrics"]:  # item by item, not only on average
        assert {s["doc_id"]: s[metric] for s in raw_samples} == {
            s["doc_id"]: s["scores"][metric] for s in samples
        }
    if record["task"]["name"] == "helpdesk_en":  # generation: the very same text
        assert {s["doc_id"]: s["filtered_resps"][0] for s in raw_samples} == {
            s["doc_id"]: s["output"] for s in samples
        }
    else:  # multiple choice: the chosen option is the one with the highest log-likelihood
        for s in samples:
            assert s["output"] == s["options"][s["loglikelihoods"].index(max(s["loglikelihoods"]))]
            assert s["scores"]["acc"] == float(s["output"] == s["doc"]["choices"][s["doc"]["label"]])


def test_trust_remote_code_model_folder_loads_and_evaluates(tmp_path, smol_dir):
    """A project-written model whose code comes from its folder via auto_map, as the seed models' does."""
    sys.path.insert(0, str(REPO_ROOT / "tests" / "assets" / "tiny_remote"))
    from build import build  # noqa: PLC0415 - the asset's own builder

    folder = build(tmp_path / "tiny-remote", smol_dir)
    overrides = [
        "model=llama2-7b",
        "finetune=none",
        "model.name=tiny-remote",
        "model.display_name=Tiny remote-code model",
        "model.source=local",
        f"model.local_path={folder}",
        "model.dtype=float32",
        "model.n_params=3146784",
        "model.trust_remote_code=true",
        "task.limit=4",
        "eval.batch_size=2",
        f"paths.results={tmp_path / 'r'}",
    ]
    outcome = run_cell(compose_cfg(overrides))[-1]
    store = Store(tmp_path / "r")
    record, samples = store.load(outcome.cell_id), store.load_samples(outcome.cell_id)
    assert record["eval"]["model_args"]["trust_remote_code"] is True
    assert record["model"]["weights"] == str(folder)
    assert record["task"]["n"] == 4 == len(samples)
    assert record["metrics"]["contains"]["value"] == pytest.approx(
        mean([s["scores"]["contains"] for s in samples])
    )
    assert all(isinstance(s["output"], str) for s in samples)  # it generated through the remote class
    # The class lm-eval loaded is the folder's own code, not a built-in architecture.
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    assert type(loaded).__name__ == "TinyRemoteForCausalLM"
    assert type(loaded).__module__.startswith("transformers_modules.")
    # Without trust_remote_code, transformers knows no such model type and (offline) cannot resolve it.
    with pytest.raises(OSError):
        run_cell(compose_cfg([o for o in overrides if "trust_remote_code" not in o] + ["task.limit=3"]))


def test_default_job_cli_end_to_end_then_rerun_computes_nothing(tmp_store, tmp_path):
    """The default sweep as the `harness` command (4 items per task, 16 training examples to keep it short):
    2 models x {helpdesk_en, general_en} x {base, LoRA} = 8 cells, the API stand-in on helpdesk_en (served by
    `transformers serve`; not applicable to multiple-choice general_en), then a re-run that computes nothing."""
    small = ["task.limit=4", "finetune.n_train=16", "finetune.val_examples=4"]
    first = run_harness(*small, *tmp_store)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    assert "9 cell(s) computed, 0 already stored, 0 not measured, 1 not applicable." in out
    reports = list((tmp_path / "reports").rglob("index.html"))
    assert len(reports) == 1
    html = reports[0].read_text()
    assert "SmolLM2-135M-Instruct" in html and "Gemma-3-270M (base)" in html
    assert "What fine-tuning changed" in html and "lora on helpdesk_en, 16 ex." in html
    assert "API baselines: tokens, money, latency" in html and "Stand-in for a closed API" in html
    records = Store(tmp_path / "results").all_records()
    [api] = [r for r in records if r["model"]["source"] == "api"]
    assert (api["model"]["name"], api["task"]["name"], api["task"]["n"]) == (
        "local-smollm2",
        "helpdesk_en",
        4,
    )
    assert api["api"]["n_answered"] == 4 and api["api"]["cost"]["priced"] and api["api"]["ttft_s"]["p50"] > 0
    records = [r for r in records if r is not api]
    # every local row is on the API's cost scale: measured queries/hour x the 2-vCPU price (when this is one)
    for r in records:
        assert r["inference"]["queries_per_hour"] > 0 and r["inference"]["batch_size"] == 8
        if os.cpu_count() == 2:
            assert r["cost"]["per_1k_queries"] == pytest.approx(
                1000 * r["hardware"]["price_per_hour"] / r["inference"]["queries_per_hour"]
            )
    assert "Fine-tune or call the API? Break-even volume" in html  # 2 tuned models x the API stand-in
    check_break_even_by_hand(html, records, api)
    read_the_default_report_in_chinese_and_japanese(tmp_path, [*records, api])
    cells = sorted((r["model"]["name"], r["finetune"]["method"], r["task"]["name"]) for r in records)
    assert cells == [(m, f, t) for m in ("gemma3-270m", "smollm2-135m") for f in ("lora", "none")
                     for t in ("general_en", "helpdesk_en")]  # fmt: skip
    by_id = {r["cell_id"]: r for r in records}
    for r in records:
        if r["finetune"]["method"] == "lora":  # every tuned cell points at its base on the same items
            base = by_id[r["finetune"]["base_cell_id"]]
            assert (base["model"]["name"], base["task"]["name"], base["finetune"]["method"]) == (
                r["model"]["name"], r["task"]["name"], "none")  # fmt: skip
    artifacts = sorted(p.name.split("-lora-")[0] for p in (tmp_path / "artifacts").iterdir() if p.is_dir())
    assert artifacts == [
        "gemma3-270m",
        "smollm2-135m",
    ]  # one training per model, shared by its two task cells
    gemma = next(r for r in records if r["model"]["name"] == "gemma3-270m")
    assert gemma["eval"]["apply_chat_template"] is False and gemma["task"]["n"] == 4
    second = run_harness(*small, *tmp_store)
    assert second.returncode == 0
    assert (
        "0 cell(s) computed, 9 already stored, 0 not measured, 1 not applicable."
        in second.stdout + second.stderr
    )
    read_the_default_report_in_a_browser(reports[0])


def check_break_even_by_hand(html: str, records: list[dict], api: dict) -> None:
    """The report names its deployment (dedicated: 1 replica always on, 730 h, peak 3x mean at 60 %) and each
    break-even it prints follows from the stored records: a replica serves capacity x 0.6 x 730 / 3 queries a
    month for price x 730; when the API's bill for that many queries is below one replica's, every further
    replica adds more than the API does, so fine-tuning never pays back."""
    from harness.compare.deployment import Deployment, break_even

    assert (
        "Self-hosted costs assume the deployment <b>dedicated: at least 1 replica(s) always on, 730 h" in html
    )
    api_per_1k = api["api"]["cost"]["per_1k_queries"]
    tuned = [r for r in records if r["finetune"]["method"] == "lora" and r["task"]["name"] == "helpdesk_en"]
    assert len(tuned) == 2
    for r in tuned:
        qph, price = r["inference"]["queries_per_hour"], r["hardware"]["price_per_hour"]
        if price is None:  # not a priced device (only the 2-vCPU profile is priced on a CPU)
            continue
        devices = int(r["hardware"].get("devices") or 1)
        expected = break_even(
            r["cost"]["training"], 12.0, qph, price, devices, api_per_1k, Deployment()
        ).text()
        if api_per_1k / 1000 * (qph * 0.6 * 730 / 3) < price * 730:
            assert expected == "never"
        assert f"<b>{expected}</b>" in html
        assert 'id="chart-monthly"' in html


def read_the_default_report_in_chinese_and_japanese(tmp_path: Path, records: list[dict]) -> None:
    """The default job's store reported in zh and ja (harness report --lang): the page is in the language, with
    no English left outside names, units and code, and says which deployment it assumes."""
    import harness.report.table  # noqa: F401  (plugs the report's catalogue into harness.compare)
    from harness.compare.deployment import Deployment
    from harness.report import i18n
    from tests.test_i18n import english_words, names_of

    for lang in ("zh", "ja"):
        with i18n.use(lang):
            deployment = Deployment().describe()  # the default deployment, as the report's language says it
        assert "replica" not in deployment
        out = tmp_path / f"report-{lang}"
        p = run_harness("report", "--results", str(tmp_path / "results"), "--out", str(out), "--lang", lang,
                        "--title", "Default", timeout=300)  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        html = (out / "index.html").read_text(encoding="utf-8")
        assert english_words(html, names_of(records) | {"Default"}) == [], lang
        assert deployment in html, (lang, deployment)


def read_the_default_report_in_a_browser(report: Path) -> None:
    """The real default report in headless chromium, as a manager and an engineer would use it."""
    import csv

    from tests.browser import chart_points, column_texts, opened, screenshot

    assert {p.name for p in report.parent.iterdir()} >= {"index.html", "leaderboard.csv", "leaderboard.json"}
    rows = list(csv.DictReader((report.parent / "leaderboard.csv").open()))
    assert len(rows) == 9 and json.loads((report.parent / "leaderboard.json").read_text())["rows"][0]["task"]
    with opened(report) as (page, errors):
        summary = page.inner_text("ul.findings")
        assert "Best on general_en:" in summary and "Best on helpdesk_en:" in summary
        assert (
            "Cheapest option on helpdesk_en" in summary
            and "vs SmolLM2-135M-Instruct via transformers serve" in summary
        )
        assert "forgetting" in summary.lower()
        for chart in ("chart-pareto", "chart-latency", "chart-forgetting", "chart-scaling", "chart-datasize",
                      "chart-heatmap"):  # fmt: skip
            assert chart_points(page, chart) > 0, chart
        # sorting by cost puts the cheapest row first
        page.locator("#leaderboard th", has_text="Cost / 1,000 queries").locator("button").click()
        costs = [float(c.split()[0]) for c in column_texts(page, "leaderboard", 7) if c != "unpriced"]
        assert costs == sorted(costs) and (len(costs) == 9 or os.cpu_count() != 2)  # priced on 2 vCPUs
        # the drill-down of helpdesk_en: 4 items, some of which the 5 rows disagree on
        drill = page.locator('section.drill[data-task="helpdesk_en"]')
        assert drill.locator(".item").count() == 4
        drill.locator("input.only-disagree").check()
        assert 0 < drill.locator(".item:not([hidden])").count() <= 4
        screenshot(page, "default-report")
        assert errors == []


def test_a_new_users_task_runs_end_to_end_as_the_readme_says(tmp_path, tmp_store):
    """README "Add a task": `harness task new`, edit the rows, `harness task check`, run it. Here in a folder
    outside the repository (HARNESS_TASKS_PATH), as a user keeping private tasks would."""
    env = {"HARNESS_TASKS_PATH": str(tmp_path / "mytasks")}
    (tmp_path / "mytasks").mkdir()
    made = run_harness("task", "new", "office_qa", "--dir", str(tmp_path / "mytasks"), env=env)
    assert made.returncode == 0, made.stderr
    test_file = tmp_path / "mytasks" / "office_qa" / "data" / "test.jsonl"
    rows = [
        {"id": f"t{i}", "question": q, "answer": a}
        for i, (q, a) in enumerate(
            [
                ("What is 2 plus 3?", "5"),
                ("What colour is snow?", "white"),
                ("What is the capital of France?", "Paris"),
            ]
        )
    ]
    test_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    checked = run_harness("task", "check", "office_qa", env=env)
    assert checked.returncode == 0 and "ok" in checked.stdout, checked.stdout + checked.stderr
    ran = run_harness("task=office_qa", "sweep=smoke", *tmp_store, env=env)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    (record,) = Store(tmp_path / "results").all_records()
    assert record["task"]["name"] == "office_qa" and record["task"]["n"] == 3
    samples = Store(tmp_path / "results").load_samples(record["cell_id"])
    assert [s["reference"] for s in samples] == ["5", "white", "Paris"]
    assert record["metrics"]["exact_match"]["value"] == pytest.approx(
        mean([s["scores"]["exact_match"] for s in samples])
    )


def test_k_sampled_answers_on_a_local_model_are_logged_and_their_agreement_recounts(tmp_store):
    """eval.samples=3 through lm-eval's own `repeats` on the hf backend: 3 answers per item in the samples file,
    the score is lm-eval's on the first, and the agreement rate recounts from the answers."""
    from harness.compare.consistency import canonical
    from harness.store import Store

    args = ["model=smollm2-135m", "finetune=none", "baseline=none", "task=helpdesk_en", "task.limit=4",
            "eval.samples=3", "eval.sample_temperature=1.0", *tmp_store]  # fmt: skip
    p = run_harness(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    store = Store(tmp_store[0].split("=", 1)[1])
    [record] = store.all_records()
    samples = store.load_samples(record["cell_id"])
    assert [len(s["answers"]) for s in samples] == [3, 3, 3, 3]
    assert all(s["output"] == s["answers"][0] for s in samples)  # scored on the first answer (take_first)
    agree = [len({canonical(a) for a in s["answers"]}) == 1 for s in samples]
    assert record["consistency"]["all_agree"] == pytest.approx(sum(agree) / 4)
    assert record["consistency"]["all_agree"] < 1.0  # temperature 1.0 really sampled: some answers differ
    assert record["inference"]["queries"] == 12  # 4 items x 3 generations timed
