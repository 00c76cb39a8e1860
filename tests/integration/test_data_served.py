"""The data stage end to end with real parts: the stand-in teacher (SmolLM2-135M-Instruct behind `transformers
serve`, through the real openai client), the real filters and task check, a real LoRA fine-tune on the set, and
the report from the store. Slow: the teacher writes each example on this machine's CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.app.commands.report import cmd_report
from harness.jobs.run_cell import run_cell
from harness.paths import REPO_ROOT
from tests.support.run import compose_cfg, run_harness

N = 8  # requests to the teacher
# rewrite mode: the 135M stand-in rewords a seed's question (its whole new examples are mostly not valid JSON:
# 1 of 8 kept, measured; see test_whole_new_examples_are_parsed_and_accounted_for)
PRICE_IN, PRICE_OUT = 0.15, 0.60  # conf/baseline/price/stand-in.yaml, per 1M tokens
TRAIN = [
    "model=smollm2-135m",
    "finetune=lora",
    "task=helpdesk_en",
    "baseline=none",
    "task.limit=4",
    "finetune.epochs=1",
    "finetune.learning_rate=3e-3",
    "finetune.val_examples=4",
    "finetune.precision=auto",
]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    store = [f"paths.results={root / 'results'}", f"paths.reports={root / 'reports'}"]
    args = [
        "data",
        "synth",
        "task=helpdesk_en",
        "teacher=local-smollm2",
        f"data.n={N}",
        "data.seeds=8",
        "data.mode=rewrite",
        "data.max_tokens=64",
        *store,
    ]
    first = run_harness(*args, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    (folder,) = [p for p in (root / "results" / "datasets").iterdir() if not p.name.startswith(".")]
    return {
        "root": root,
        "store": store,
        "args": args,
        "first": first,
        "folder": folder,
        "record": json.loads((folder / "dataset.json").read_text()),
    }


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_request_is_accounted_for_and_the_counts_add_up(made):
    rec, folder = made["record"], made["folder"]
    c = rec["counts"]
    assert c["requested"] == N
    assert c["failed"] + c["unparsed"] + sum(c["removed"].values()) + c["kept"] == N
    assert list(c["removed"]) == ["leakage", "format", "dedup", "length"]  # leakage first, then data.filters
    generated = _jsonl(folder / "generated.jsonl")
    assert [g["index"] for g in generated] == list(range(N))
    by_status = {s: sum(g["status"] == s for g in generated) for s in ("kept", "removed", "unparsed", "failed")}
    assert by_status == {
        "kept": c["kept"],
        "removed": sum(c["removed"].values()),
        "unparsed": c["unparsed"],
        "failed": c["failed"],
    }
    for name, n in c["removed"].items():
        assert sum(g.get("filter") == name for g in generated) == n
    assert all(g["reason"] for g in generated if g["status"] != "kept")
    kept = _jsonl(folder / "train.jsonl")
    assert len(kept) == c["kept"] >= 1, "the stand-in teacher kept nothing: nothing to fine-tune on"
    assert all(set(r) == {"id", "context", "question", "answer"} for r in kept)
    train = {r["id"]: r for r in _jsonl(REPO_ROOT / "tasks/helpdesk/data/en/train.jsonl")}
    # rewrite mode: each kept row is a seed's context and answer with its question reworded
    assert {(r["context"], r["answer"]) for r in kept} <= {(t["context"], t["answer"]) for t in train.values()}
    card = (folder / "card.md").read_text()
    assert f"| Kept | **{c['kept']} of {N}** |" in card and "harness task check" in card
    assert rec["task_check"]["ok"], rec["task_check"]["text"]
    assert "already stored" not in made["first"].stdout and f"data set {rec['dataset_id']}" in made["first"].stdout


def test_whole_new_examples_are_parsed_and_accounted_for(tmp_path, standin_url, smol_dir):
    """mode new (the default): the teacher writes whole rows as JSON; every reply is kept, or says why not. The
    teacher is the session's shared stand-in (`baseline.serve=null`: the data command composes it as a baseline)."""
    store = [f"paths.results={tmp_path / 'results'}"]
    ran = run_harness(
        "data",
        "synth",
        "task=helpdesk_en",
        "teacher=local-smollm2",
        "baseline.serve=null",
        f"baseline.base_url={standin_url}",
        f"baseline.model={smol_dir}",
        "data.n=3",
        "data.seeds=4",
        "data.max_tokens=160",
        *store,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    (folder,) = [p for p in (tmp_path / "results" / "datasets").iterdir() if not p.name.startswith(".")]
    rec = json.loads((folder / "dataset.json").read_text())
    assert "mode" not in rec["identity"] and rec["identity"]["shots"] == 3
    c = rec["counts"]
    assert c["failed"] + c["unparsed"] + sum(c["removed"].values()) + c["kept"] == 3
    generated = _jsonl(folder / "generated.jsonl")
    assert all(g["reason"] for g in generated if g["status"] != "kept") and len(generated) == 3
    # each request showed the task's own prompt and three seed rows of its train split
    assert all("You are the internal helpdesk of Lumen Harbor Logistics" in g["prompt"] for g in generated)
    train_questions = [r["question"] for r in _jsonl(REPO_ROOT / "tasks/helpdesk/data/en/train.jsonl")]
    assert sum(json.dumps(q, ensure_ascii=False) in generated[0]["prompt"] for q in train_questions) == 3
    assert len(_jsonl(folder / "train.jsonl")) == c["kept"]


def test_the_kept_examples_are_leakage_free_against_validation_and_test(made):
    """Checked here with its own code, not the filter's: character 3-gram Jaccard of each kept question against
    every validation and test question."""

    def grams(text: str) -> set[str]:
        t = " ".join(text.lower().split())
        return {t[i : i + 3] for i in range(max(1, len(t) - 2))}

    held = [
        r["question"]
        for s in ("validation", "test")
        for r in _jsonl(REPO_ROOT / "tasks/helpdesk/data/en" / f"{s}.jsonl")
    ]
    held_grams = [grams(q) for q in held]
    for row in _jsonl(made["folder"] / "train.jsonl"):
        g = grams(row["question"])
        worst = max(len(g & h) / len(g | h) for h in held_grams)
        assert worst < 0.8, (row["question"], worst)
        assert " ".join(row["question"].lower().split()) not in {" ".join(q.lower().split()) for q in held}


def test_the_teachers_tokens_and_money_are_metered_from_usage(made):
    rec = made["record"]
    meters = [g["api"] for g in _jsonl(made["folder"] / "generated.jsonl")]
    prompt = sum(m["prompt_tokens"] or 0 for m in meters if m["error"] is None)
    completion = sum(m["completion_tokens"] or 0 for m in meters if m["error"] is None)
    teacher = rec["cost"]["teacher"]
    assert teacher["tokens"]["prompt"] == prompt > 0 and teacher["tokens"]["completion"] == completion > 0
    by_hand = (prompt * PRICE_IN + completion * PRICE_OUT) / 1e6
    assert rec["cost"]["total"] == pytest.approx(by_hand, rel=1e-9)
    assert rec["cost"]["billed_this_run"] == pytest.approx(by_hand, rel=1e-9)  # the first run paid for all


def test_a_rerun_sends_nothing_and_other_filters_replay_the_teacher_from_the_cache(made, standin_url, smol_dir):
    again = run_harness(*made["args"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already stored: nothing sent" in again.stdout and "paid this run: 0" in again.stdout
    # other filters, the judge among them: the teacher's answers come from the cache (no teacher server), the
    # judge (the session's shared stand-in) grades each example left
    judge = [
        "judge=local-smollm2",
        "judge.endpoint.serve=null",
        f"judge.endpoint.base_url={standin_url}",
        f"judge.endpoint.model={smol_dir}",
    ]
    other = run_harness(*made["args"], "data.filters=[format,judge]", *judge, timeout=900)
    assert other.returncode == 0, other.stderr[-2000:]
    datasets = made["root"] / "results" / "datasets"
    (second,) = [p for p in datasets.iterdir() if not p.name.startswith(".") and p != made["folder"]]
    rec = json.loads((second / "dataset.json").read_text())
    teacher, judge = rec["cost"]["teacher"], rec["cost"]["judge"]
    assert teacher["n_from_cache"] == N and teacher["cost"]["billed_this_run"] == 0  # the judge paid, not it
    # what the set costs, cached or not: the same teacher answers, plus the judge's own tokens
    assert teacher["cost"]["total"] == pytest.approx(made["record"]["cost"]["teacher"]["cost"]["total"])
    assert rec["cost"]["total"] == pytest.approx(teacher["cost"]["total"] + judge["cost"]["total"])
    assert not (made["root"] / "results" / "logs" / f"data-{rec['dataset_id']}.log").exists()  # no teacher server
    c = rec["counts"]
    assert list(c["removed"]) == ["leakage", "format", "judge"]
    judged = N - c["failed"] - c["unparsed"] - c["removed"]["leakage"] - c["removed"]["format"]
    assert judge["n_requests"] == judged and c["removed"]["judge"] + c["kept"] == judged


def test_fine_tuned_on_the_set_beside_the_tasks_own_data(made, tmp_path, shared_artifacts):
    rec = made["record"]
    sid, kept = rec["dataset_id"], rec["counts"]["kept"]
    store = [*made["store"], f"paths.artifacts={shared_artifacts}"]
    too_many = run_harness(*TRAIN, *store, f"finetune.train_data={sid[:8]}", f"finetune.n_train={kept + 1}")
    assert too_many.returncode == 2 and f"which has {kept}. Use finetune.n_train=null" in too_many.stderr
    # the two trainings in this process: what they train on is the subject, not the command
    ran = run_cell(compose_cfg([*TRAIN, *store, f"finetune.train_data={sid[:8]}", "finetune.n_train=null"]))
    assert [o.status for o in ran] == ["done", "done"], [o.message for o in ran]
    own = run_cell(compose_cfg([*TRAIN, *store, f"finetune.n_train={kept}"]))
    assert [o.status for o in own] == ["skipped", "done"], [o.message for o in own]  # the same base cell
    records = [json.loads(p.read_text()) for p in (made["root"] / "results" / "records").glob("*.json")]
    tuned = {r["finetune"]["train_data"]["label"]: r for r in records if r["finetune"]["method"] == "lora"}
    assert set(tuned) == {f"synthetic {sid[:8]}", "helpdesk_en"}
    s = tuned[f"synthetic {sid[:8]}"]
    (src,) = s["finetune"]["train_data"]["sources"]
    assert src["n"] == kept and src["dataset_id"] == sid and src["teacher"] == "local-smollm2"
    assert s["finetune"]["data"]["n_domain"] == kept
    assert s["finetune"]["artifact_id"] != tuned["helpdesk_en"]["finetune"]["artifact_id"]
    # the data's money is part of the training cost
    assert s["cost"]["training_data"] == pytest.approx(rec["cost"]["total"])
    assert s["cost"]["training"] == pytest.approx(s["cost"]["training_device"] + rec["cost"]["total"])
    assert tuned["helpdesk_en"]["cost"]["training_data"] == 0.0
    out = tmp_path / "report"
    cmd_report(["--results", str(made["root"] / "results"), "--out", str(out)])  # `harness report`, in-process
    html = (out / "index.html").read_text()
    assert f"synthetic {sid[:8]}" in html and "chart-datasize" in html
