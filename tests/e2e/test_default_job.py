"""The default job as the `harness` command runs it (`make run`, smaller): the embedded SmolLM2 and Gemma, base and
LoRA-tuned, on helpdesk_en and general_en, beside the API stand-in served by `transformers serve`; then a re-run
that computes nothing. The job runs once (the `default_job` fixture); each test reads what it left. Also: a new
user's task, from `harness task new` to its record, as docs/guide-task-author.md says.

The job (tests/support/e2e_runs.py: 4 items per task, 8 training examples) is priced as the 2-vCPU profile on
whatever CPU runs the tests (`hardware=cpu-2vcpu hardware.cpus=null`), so every cost below is checked on every
machine; which profile `hardware=auto` picks is tested in tests/unit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.store import Store
from tests.support import e2e_runs
from tests.support.run import run_harness
from tests.support.shared import shared_root

PRICE = 0.1323  # conf/hardware/cpu-2vcpu.yaml, USD per hour


def mean(xs):
    return sum(xs) / len(xs)


@pytest.fixture(scope="module")
def default_job(tmp_path_factory) -> dict:
    """The job run once, then again (tests/support/e2e_runs.py: its folder of results, artifacts, reports and both
    runs' output is shared by the tests below, and rebuilt when a killed session left it half-written)."""
    root = e2e_runs.default_job(shared_root(tmp_path_factory.getbasetemp()))
    records = Store(root / "results").all_records()
    [api] = [r for r in records if r["model"]["source"] == "api"]
    reports = list((root / "reports").rglob("index.html"))
    assert len(reports) == 1
    report = reports[0]
    return {
        "root": root,
        "api": api,
        "local": [r for r in records if r is not api],
        "report": report,
        "html": report.read_text(),
        **{run: json.loads((root / f"{run}.out").read_text()) for run in ("first", "second")},
    }


def test_the_first_run_computes_every_cell_and_the_report_shows_them(default_job):
    """2 models x {helpdesk_en, general_en} x {base, LoRA} = 8 cells, and the API stand-in on helpdesk_en (not
    applicable to multiple-choice general_en)."""
    assert "9 cell(s) computed, 0 already stored, 0 not measured, 1 not applicable." in default_job["first"]["out"]
    html = default_job["html"]
    assert "SmolLM2-135M-Instruct" in html and "Gemma-3-270M (base)" in html
    assert "What fine-tuning changed" in html and "lora on helpdesk_en, 8 ex." in html
    assert "API baselines: tokens, money, latency" in html and "Stand-in for a closed API" in html
    api, records = default_job["api"], default_job["local"]
    assert (api["model"]["name"], api["task"]["name"], api["task"]["n"]) == (
        "local-smollm2",
        "helpdesk_en",
        4,
    )
    assert api["api"]["n_answered"] == 4 and api["api"]["cost"]["priced"] and api["api"]["ttft_s"]["p50"] > 0
    # every local row is on the API's cost scale: measured queries/hour x the 2-vCPU price
    for r in records:
        assert r["inference"]["queries_per_hour"] > 0 and r["inference"]["batch_size"] == 8
        assert (r["hardware"]["profile"], r["hardware"]["price_per_hour"]) == ("cpu-2vcpu", PRICE)
        assert r["cost"]["per_1k_queries"] == pytest.approx(1000 * PRICE / r["inference"]["queries_per_hour"])
    assert "Fine-tune or call the API? Break-even volume" in html  # 2 tuned models x the API stand-in
    cells = sorted((r["model"]["name"], r["finetune"]["method"], r["task"]["name"]) for r in records)
    assert cells == [
        (m, f, t)
        for m in ("gemma3-270m", "smollm2-135m")
        for f in ("lora", "none")
        for t in ("general_en", "helpdesk_en")
    ]
    by_id = {r["cell_id"]: r for r in records}
    for r in records:
        if r["finetune"]["method"] == "lora":  # every tuned cell points at its base on the same items
            base = by_id[r["finetune"]["base_cell_id"]]
            assert (base["model"]["name"], base["task"]["name"], base["finetune"]["method"]) == (
                r["model"]["name"],
                r["task"]["name"],
                "none",
            )
    artifacts = sorted(  # (the load stage keeps each adapter merged into its base beside it: <artifact>-merged)
        p.name.split("-lora-")[0]
        for p in (default_job["root"] / "artifacts").iterdir()
        if p.is_dir() and not p.name.endswith("-merged")
    )
    assert artifacts == [
        "gemma3-270m",
        "smollm2-135m",
    ]  # one training per model, shared by its two task cells
    gemma = next(r for r in records if r["model"]["name"] == "gemma3-270m")
    assert gemma["eval"]["apply_chat_template"] is False and gemma["task"]["n"] == 4
    # the format each row was prompted in, and who chose it: SmolLM2's chat turn, Gemma-3 (base) plain text; no
    # shape flag on `contains` (helpdesk_en: a sentence holding the fact is right) or multiple choice (general_en)
    assert {(r["model"]["name"], r["eval"]["prompt_format"], r["eval"]["prompt_format_from"]) for r in records} == {
        ("smollm2-135m", "chat", "model"),
        ("gemma3-270m", "plain", "model"),
    }
    assert all(r["eval"]["answer_shape"] is None for r in records)
    for r in records:  # memory measured in every stage, estimated for training (harness/models/footprint.py)
        ev = r["eval"]["memory"]
        assert ev["peak_bytes"] >= ev["start_bytes"] > 0 and ev["kind"] == "process RSS (sampled)"
        if r["finetune"]["method"] == "lora":
            m = r["finetune"]["metering"]
            assert m["micro_batch_size"] == 1 and m["lora_dropout_fused"] == 7 * {"smollm2-135m": 30}.get(
                r["model"]["name"], 18
            )
            est = m["memory"]["estimate"]
            assert est["total"] == sum(v for k, v in est.items() if k != "total") and est["output_layer"] > 0
            assert m["memory"]["peak_bytes"] == m["peak_memory_bytes"] >= m["memory"]["start_bytes"] > 0


def test_a_rerun_computes_nothing(default_job):
    assert default_job["second"]["rc"] == 0
    assert "0 cell(s) computed, 9 already stored, 0 not measured, 1 not applicable." in default_job["second"]["out"]


def test_without_a_load_stage_no_self_hosted_row_has_a_cost(default_job):
    """The shared run has load.with_cells=none (tests/support/e2e_runs.py): no capacity at a target anywhere, so
    every local row reads "not measured at a target", keeps its batch figure apart, and has no break-even."""
    rows = json.loads((default_job["report"].parent / "leaderboard.json").read_text())["rows"]
    for r in (r for r in rows if r["source"] != "api"):
        assert r["cost_per_1k"] is None and r["cost_missing"] == "not at a target" and r["batch_per_1k"] > 0
        assert r["p95_s"] is None  # no per-request latency at one user without a load record
        assert (r["batch_p95_s"] is not None) == (r["task"] == "helpdesk_en")  # multiple choice times no answer
    assert default_job["html"].count("<b>unknown (not measured at a latency target)</b>") == 2


@pytest.fixture(scope="module")
def loaded_job(default_job, tmp_path_factory, quiet_machine) -> dict:
    """The default job again on a copy of its store with its load stage on (load.with_cells=tuned, as `make run`
    has it): every cell is stored, so only the load stage runs, on a machine the test has alone (its levels are
    then trusted). Returns the run's report export and the load records."""
    import shutil

    root = tmp_path_factory.mktemp("loaded")
    for part in ("results", "artifacts"):
        shutil.copytree(default_job["root"] / part, root / part)
    args = [
        *(a for a in e2e_runs.DEFAULT_JOB if not a.startswith("load.with_cells")),
        "load.with_cells=tuned",
    ]
    p = run_harness(
        *args,
        f"paths.results={root / 'results'}",
        f"paths.reports={root / 'reports'}",
        f"paths.artifacts={root / 'artifacts'}",
        f"hydra.sweep.dir={root / 'hydra'}",
        timeout=1800,
    )
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "0 cell(s) computed, 9 already stored" in p.stdout + p.stderr
    [report] = list((root / "reports").rglob("leaderboard.json"))
    return {
        "rows": json.loads(report.read_text())["rows"],
        "html": (report.parent / "index.html").read_text(),
        "loads": Store(root / "results").loads(),
    }


def test_the_load_stage_measured_each_tuned_model_and_the_stand_in(default_job, loaded_job):
    """load.with_cells=tuned: after its cells each helpdesk_en job served its tuned model (levels 1 and 2, the cpu
    target) and the stand-in API at one user; general_en (multiple choice) is not served. The machine was the
    test's alone, so every level is trusted; the report's latency column is level 1's end-to-end p50 / p95, and
    each break-even follows from the records and load records by hand."""
    loads = loaded_job["loads"]
    by_endpoint = {
        (ld["identity"]["endpoint"].get("baseline") or ld["identity"]["endpoint"]["model_key"]): ld for ld in loads
    }
    assert sorted(by_endpoint) == ["gemma3-270m", "local-smollm2", "smollm2-135m"]
    for name, ld in by_endpoint.items():
        assert ld["identity"]["task"]["name"] == "helpdesk_en" and ld["identity"]["slo"]["tpot_p95_s"] == 0.5
        levels = [lv["level"] for lv in ld["levels"]]
        assert levels == ([1.0] if name == "local-smollm2" else [1.0, 2.0]), name
        assert all(lv["trusted"] for lv in ld["levels"]), (name, [lv["machine"] for lv in ld["levels"]])
        # a tuned model's server held 2 users' helpdesk requests whole (under 200 prompt + 48 tokens: one
        # 256-token page each) and a spare page, not the cap's 16; the stand-in is the baseline's own server
        pages = {lv["kv_pages"] for lv in ld["levels"]}
        assert pages == ({None} if name == "local-smollm2" else {3}), (name, pages)
        assert ld["identity"]["prompts"]["chat"] == (name != "gemma3-270m")  # Gemma base: plain text prompts
    rows = loaded_job["rows"]
    api_row = next(r for r in rows if r["source"] == "api")
    one = next(lv for lv in by_endpoint["local-smollm2"]["levels"] if lv["level"] == 1.0)["figures"]["e2e_s"]
    assert (api_row["p50_s"], api_row["p95_s"]) == (one["p50"], one["p95"])
    for r in rows:
        # the stand-in's load is SmolLM2 served: it measured SmolLM2 base on helpdesk_en too
        measured = r["task"] == "helpdesk_en" and (r["method"] == "lora" or r["model_key"] == "smollm2-135m")
        if r["source"] != "api":
            assert (r["p95_s"] is not None) == measured, r["label"]
            if not measured:
                assert r["cost_per_1k"] is None and r["cost_missing"] == "not at a target"
    check_break_even_by_hand(loaded_job["html"], default_job["local"], default_job["api"], loads)


def test_the_report_in_chinese_and_japanese(default_job, tmp_path):
    read_the_default_report_in_chinese_and_japanese(
        default_job["root"], tmp_path, [*default_job["local"], default_job["api"]]
    )


def test_the_report_printed_to_pdf(default_job, tmp_path):
    """`harness report --pdf`: report.pdf beside the page, printed by chromium; page 1 carries each task's
    recommendation and its fine-tune-or-API line (pdftotext), and every chart is in it as an image (pdfimages)."""
    import subprocess

    from harness.app.commands.report import cmd_report

    out = tmp_path / "pdf"
    cmd_report(["--results", str(default_job["root"] / "results"), "--out", str(out), "--title", "Default", "--pdf"])
    first = subprocess.run(
        ["pdftotext", "-l", "1", "-layout", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert first.count("Recommended:") == 2 and first.count("Fine-tune or API:") == 2, first
    assert "helpdesk_en" in first and "general_en" in first
    images = subprocess.run(
        ["pdfimages", "-list", str(out / "report.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    charts = (out / "index.html").read_text().count('<div id="chart-')
    assert charts >= 5 and len(images) == charts, (charts, images)


def test_the_report_read_in_a_browser(default_job):
    read_the_default_report_in_a_browser(default_job["report"])


def check_break_even_by_hand(html: str, records: list[dict], api: dict, loads: list[dict]) -> None:
    """The report names its deployment (dedicated: 1 replica always on, 730 h, peak 3x mean at 60 %) and each
    break-even it prints follows from the stored records and the load records: a replica serves capacity at the
    target x 0.6 x 730 / 3 queries a month for price x 730; when the API's bill for that many queries is below
    one replica's, every further replica adds more than the API does, so fine-tuning never pays back. A tuned
    model without a capacity at the target has no break-even."""
    from harness.compare.deployment import Deployment, break_even
    from harness.report.words import break_even_text

    assert "Self-hosted costs assume the deployment <b>dedicated: at least 1 replica(s) always on, 730 h" in html
    api_per_1k = api["api"]["cost"]["per_1k_queries"]
    tuned = [r for r in records if r["finetune"]["method"] == "lora" and r["task"]["name"] == "helpdesk_en"]
    assert len(tuned) == 2
    for r in tuned:
        [ld] = [x for x in loads if x["identity"]["endpoint"].get("artifact_id") == r["finetune"]["artifact_id"]]
        if ld["capacity"] is None:
            assert "unknown (not measured at a latency target)" in html
            continue
        qph, price = ld["capacity"]["queries_per_hour"], ld["identity"]["device"]["price_per_hour"]
        assert price == PRICE
        devices = int(ld["identity"]["device"].get("devices") or 1)
        expected = break_even_text(
            break_even(r["cost"]["training"], 12.0, qph, price, devices, api_per_1k, Deployment())
        )
        if api_per_1k / 1000 * (qph * 0.6 * 730 / 3) < price * 730:
            assert expected == "never"
        assert f"<b>{expected}</b>" in html
        assert 'id="chart-monthly"' in html


def read_the_default_report_in_chinese_and_japanese(root: Path, tmp_path: Path, records: list[dict]) -> None:
    """The default job's store reported in zh and ja (harness report --lang): the page is in the language, with
    no English left outside names, units and code, and says which deployment it assumes."""
    from harness.app.commands.report import cmd_report
    from harness.compare.deployment import Deployment
    from harness.report import i18n
    from harness.report.words import deployment_text
    from tests.support.browser import check_first_screen, opened
    from tests.unit.test_i18n import drawn_cells, english_words, names_of

    for lang in ("zh", "ja"):
        with i18n.use(lang):
            deployment = deployment_text(Deployment())  # the default deployment, as the report's language says it
        assert "replica" not in deployment
        out = tmp_path / f"report-{lang}"
        # `harness report`'s own entry point, in this process: the page's language is the subject, not the process
        cmd_report(["--results", str(root / "results"), "--out", str(out), "--lang", lang, "--title", "Default"])
        html = (out / "index.html").read_text(encoding="utf-8")
        # ids are shown as they are: the load records' (their sections name the measurement they come from)
        ids = {
            x
            for ld in Store(root / "results").loads()
            for x in (ld["load_id"], ld["load_id"][:8], *(lv["level_id"] for lv in ld["levels"]))
        }
        assert english_words(html, names_of(records) | {"Default"} | ids) == [], lang
        assert english_words(drawn_cells(html), names_of(records)) == [], lang  # the table the script draws
        assert deployment in html, (lang, deployment)
        with opened(out / "index.html", width=1400) as (page, errors):
            check_first_screen(page)
            assert errors == [], (lang, errors)


def read_the_default_report_in_a_browser(report: Path) -> None:
    """The real default report in headless chromium, as a manager and an engineer would use it."""
    import csv

    from tests.support.browser import chart_points, check_first_screen, column_texts, opened, screenshot

    assert {p.name for p in report.parent.iterdir()} >= {"index.html", "leaderboard.csv", "leaderboard.json"}
    rows = list(csv.DictReader((report.parent / "leaderboard.csv").open()))
    assert len(rows) == 9 and json.loads((report.parent / "leaderboard.json").read_text())["rows"][0]["task"]
    with opened(report, width=1400) as (page, errors):
        check_first_screen(page)  # each task's recommendation and verdict in the first 900 px; rows <= 2 lines
        assert page.locator("#decision .decision").count() == 2  # helpdesk_en and general_en
        summary = page.inner_text("ul.findings")
        assert "Best on general_en:" in summary and "Best on helpdesk_en:" in summary
        assert (
            "Cheapest option on helpdesk_en" in summary and "vs SmolLM2-135M-Instruct via transformers serve" in summary
        )
        assert "forgetting" in summary.lower()
        # (no latency chart: without a load stage no row has a per-request latency at one user)
        for chart in ("chart-pareto", "chart-forgetting", "chart-scaling", "chart-datasize", "chart-heatmap"):
            assert chart_points(page, chart) > 0, chart
        # sorting by cost: the one priced row (the API) first; the local rows (no load stage in this run) have no
        # cost at a target and show their batch figure apart, labelled
        page.locator("#leaderboard th", has_text="Cost / 1,000 queries").locator("button").click()
        texts = column_texts(page, "leaderboard", 5)
        assert texts[0][:1].isdigit() and sum(c[:1].isdigit() for c in texts) == 1
        assert sum(c.startswith("not measured") for c in texts) == 8  # with a note mark after it
        page.check("#more-columns")  # their batch figure is a column of its own, labelled
        batch = page.evaluate("""() => { const i = [...document.querySelectorAll('#leaderboard th')]
                                               .findIndex(th => th.dataset.key === 'batch_cost');
                                         return [...document.querySelectorAll('#leaderboard tbody tr')]
                                               .map(r => r.cells[i].textContent); }""")
        assert sum(c.endswith("USD") for c in batch) == 8
        # the drill-down of helpdesk_en: 4 items, some of which the 5 rows disagree on
        drill = page.locator('section.drill[data-task="helpdesk_en"]')
        assert drill.locator(".item").count() == 4
        drill.locator("input.only-disagree").check()
        assert 0 < drill.locator(".item:not([hidden])").count() <= 4
        screenshot(page, "default-report")
        assert errors == []


def test_a_new_users_task_runs_end_to_end_as_the_readme_says(tmp_path, tmp_store):
    """docs/guide-task-author.md "Adding a task": `harness task new`, edit the rows, `harness task check`, run it. Here in a folder
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
