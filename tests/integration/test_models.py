"""Real models through lm-eval: the embedded SmolLM2 prepared from its package, a cell's record against its samples
and against raw `lm_eval` on the same items, a remote-code model folder, k sampled answers.

The prepared HF folders live in the user cache (as for `make run`), so they are built once per machine.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.jobs.run_cell import run_cell
from harness.models.embedded import MARKER
from harness.paths import REPO_ROOT
from harness.store import Store
from tests.support.run import compose_cfg

# (task, items): a log-likelihood task and a generation task, so both lm-eval paths are checked; enough items
# that a real model gets some right and some wrong
CELLS = {"general_en": 16, "helpdesk_en": 6}


def mean(xs):
    return sum(xs) / len(xs)


@pytest.fixture(scope="module", params=sorted(CELLS))
def smol_cell(request, tmp_path_factory, smol_dir):
    root = tmp_path_factory.mktemp("store")
    task = request.param
    overrides = [
        "model=smollm2-135m",
        "finetune=none",
        f"task={task}",
        f"task.limit={CELLS[task]}",
        f"paths.results={root}",
    ]
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
        assert record["metrics"][metric]["value"] == pytest.approx(mean([s["scores"][metric] for s in samples]))
    assert record["eval"]["apply_chat_template"] is True
    assert all("<|im_start|>assistant" in s["input"] for s in samples)
    if task == "general_en":
        # Non-trivial: a real model gets some of 16 four-option questions right and some wrong.
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
        assert {s["doc_id"]: s[metric] for s in raw_samples} == {s["doc_id"]: s["scores"][metric] for s in samples}
    if record["task"]["name"] == "helpdesk_en":  # generation: the very same text
        assert {s["doc_id"]: s["filtered_resps"][0] for s in raw_samples} == {s["doc_id"]: s["output"] for s in samples}
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
    assert record["metrics"]["contains"]["value"] == pytest.approx(mean([s["scores"]["contains"] for s in samples]))
    assert all(isinstance(s["output"], str) for s in samples)  # it generated through the remote class
    # The class lm-eval loaded is the folder's own code, not a built-in architecture.
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    assert type(loaded).__name__ == "TinyRemoteForCausalLM"
    assert type(loaded).__module__.startswith("transformers_modules.")
    # Without trust_remote_code, transformers knows no such model type and (offline) cannot resolve it.
    with pytest.raises(OSError):
        run_cell(compose_cfg([o for o in overrides if "trust_remote_code" not in o] + ["task.limit=3"]))


def test_k_sampled_answers_on_a_local_model_are_logged_and_their_agreement_recounts(tmp_store):
    """eval.samples=3 through lm-eval's own `repeats` on the hf backend: 3 answers per item in the samples file,
    the score is lm-eval's on the first, and the agreement rate recounts from the answers."""
    from harness.compare.consistency import canonical
    from harness.store import Store

    args = [
        "model=smollm2-135m",
        "finetune=none",
        "baseline=none",
        "task=helpdesk_en",
        "task.limit=4",
        "eval.samples=3",
        "eval.sample_temperature=1.0",
        *tmp_store,
    ]
    [outcome] = run_cell(compose_cfg(args))  # in this process: the repeats are the subject, not the command
    assert outcome.status == "done", outcome.message
    store = Store(tmp_store[0].split("=", 1)[1])
    [record] = store.all_records()
    samples = store.load_samples(record["cell_id"])
    assert [len(s["answers"]) for s in samples] == [3, 3, 3, 3]
    assert all(s["output"] == s["answers"][0] for s in samples)  # scored on the first answer (take_first)
    agree = [len({canonical(a) for a in s["answers"]}) == 1 for s in samples]
    assert record["consistency"]["all_agree"] == pytest.approx(sum(agree) / 4)
    assert record["consistency"]["all_agree"] < 1.0  # temperature 1.0 really sampled: some answers differ
    assert record["inference"]["queries"] == 12  # 4 items x 3 generations timed
