"""The legacy runtime for real: created from its lock (once per machine: it lives in the harness cache), then
cells run in it through the worker boundary. A project-written model that loads only on transformers < 4.34 is
routed there and scored, and refused in `main` by the preflight; the embedded SmolLM2 gives the same per-item
outputs in both runtimes; LoRA and P-tuning v2 train inside it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.errors import PreflightError
from harness.jobs.run_cell import run_cell
from harness.paths import REPO_ROOT
from harness.runtimes import main_lock_sha256
from harness.store import Store
from tests.support import background
from tests.support.run import compose_cfg, run_harness


@pytest.fixture(scope="module")
def legacy():
    """`harness runtime create legacy` as a user runs it (minutes on a fresh machine, then seconds), started in the
    background when the session began (tests/support/background.py)."""
    out = background.result("legacy", background.create_legacy)
    assert out.returncode == 0, out.stderr
    assert "runtime legacy:" in out.stdout and "created" in out.stdout
    return out


def test_runtime_cli_creates_checks_and_lists(legacy):
    again = run_harness("runtime", "create", "legacy", timeout=300)
    assert "already created" in again.stdout  # keyed by the lock hash: reused, never rebuilt
    check = run_harness("runtime", "check", "legacy", timeout=300)
    assert check.returncode == 0, check.stderr
    assert (
        "transformers 4.33.3" in check.stdout and "peft 0.13.2" in check.stdout and "tokenizers 0.13.3" in check.stdout
    )
    assert "ok (worker imports; packages match the lock)" in check.stdout
    listing = run_harness("runtime", "list", timeout=300).stdout
    legacy_line = next(line for line in listing.splitlines() if line.startswith("legacy"))
    assert " created " in legacy_line and "transformers 4.33.3" in legacy_line
    assert "chatglm2-6b" in listing and "qwen-14b-chat" in listing


def test_bitsandbytes_imports_in_legacy_on_a_cpu(legacy):
    """QLoRA's package is in the lock and imports with the stack it must fit (pip check passed at creation);
    its 4-bit kernels need CUDA, which `harness model check` and the preflight say on a CPU."""
    import subprocess

    from harness.execute.runtime import cache_root, worker_place
    from harness.execute.worker import worker_env

    place = worker_place("legacy", cache_root(), create_missing=False)
    code = (
        "import bitsandbytes, peft, transformers; from transformers import BitsAndBytesConfig; "
        "from peft import prepare_model_for_kbit_training; import torch; "
        "print(bitsandbytes.__version__, transformers.__version__, peft.__version__, torch.cuda.is_available())"
    )
    out = subprocess.run(
        [place.python, "-c", code], capture_output=True, text=True, timeout=300, env=worker_env(place.pythonpath)
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-4:] == ["0.45.5", "4.33.3", "0.13.2", "False"]
    check = subprocess.run([place.python, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "No broken requirements" in check.stdout


def _tiny_legacy(tmp_path: Path) -> Path:
    path = REPO_ROOT / "tests" / "assets" / "tiny_legacy" / "build.py"
    spec = importlib.util.spec_from_file_location("tiny_legacy_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(tmp_path / "tiny-legacy")


def test_a_model_that_loads_only_on_old_transformers_is_routed_to_legacy_and_refused_in_main(legacy, tmp_path):
    folder = _tiny_legacy(tmp_path)
    # as it fails in any transformers >= 4.34: the pre-4.34 tokenizer API (Baichuan2's pattern)
    from transformers import AutoTokenizer

    with pytest.raises(AttributeError, match="encoder"):
        AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    base = [
        "model=llama2-7b",
        "finetune=none",
        "model.name=tiny-legacy",
        "model.display_name=Tiny legacy",
        "model.source=local",
        f"model.local_path={folder}",
        "model.dtype=float32",
        "model.n_params=20000",
        "model.trust_remote_code=true",
        "model.constraints.transformers='<4.34'",
        "model.constraints.notes='its tokenizer uses the pre-4.34 API'",
        "model.runtime=legacy",
        "task.limit=3",
        "eval.batch_size=3",
        f"paths.results={tmp_path / 'r'}",
    ]
    store = Store(tmp_path / "r")
    for task in ("helpdesk_en", "helpdesk_zh"):
        outcome = run_cell(compose_cfg([*base, f"task={task}"]))[-1]
        assert outcome.status == "done"
        record, samples = store.load(outcome.cell_id), store.load_samples(outcome.cell_id)
        env = record["environment"]
        assert env["runtime"]["name"] == "legacy"
        from harness.runtimes import load

        assert env["runtime"]["lock_sha256"] == load("legacy").lock_sha256
        assert env["packages"]["transformers"] == "4.33.3" and env["packages"]["tokenizers"] == "0.13.3"
        assert env["git"]["commit"]  # the parent's checkout, passed to the worker's copy of the code
        assert record["identity"]["model"]["runtime"] == "legacy"
        assert record["task"]["n"] == 3 == len(samples)
        assert all(isinstance(s["output"], str) for s in samples)
        assert record["metrics"]["contains"]["value"] == pytest.approx(
            sum(s["scores"]["contains"] for s in samples) / 3
        )
    # In main the preflight refuses it, before any model is loaded, naming the runtime that fits
    with pytest.raises(PreflightError) as e:
        run_cell(compose_cfg([*base, "task=helpdesk_en", "model.runtime=main"]))
    message = str(e.value)
    assert "tiny-legacy's remote code needs transformers<4.34, but the runtime main has 5." in message
    assert "Run it in the runtime legacy (transformers 4.33.3)" in message


def test_smollm2_scores_the_same_items_the_same_way_in_both_runtimes_and_the_report_says_which(legacy, tmp_path):
    """Same task YAMLs, prompts and metric code on both stacks: equal per-item outputs and scores (greedy, fp32;
    the legacy side reads its own converted copy of the prepared folder)."""
    results = tmp_path / "r"
    store = Store(results)
    pairs = {}
    for task, limit in (("helpdesk_en", 4), ("general_zh", 6)):
        cells = {}
        for rt in ("main", "legacy"):
            ov = [
                "model=smollm2-135m",
                "finetune=none",
                f"task={task}",
                f"task.limit={limit}",
                "eval.batch_size=8",
                f"model.runtime={rt}",
                f"paths.results={results}",
            ]
            cells[rt] = run_cell(compose_cfg(ov))[-1].cell_id
        pairs[task] = cells
        main, old = (store.load_samples(cells[rt]) for rt in ("main", "legacy"))
        assert [s["output"] for s in main] == [s["output"] for s in old], task
        assert [s["scores"] for s in main] == [s["scores"] for s in old], task
        rm, rl = store.load(cells["main"]), store.load(cells["legacy"])
        assert rm["metrics"] == rl["metrics"]
        assert rm["environment"]["runtime"]["name"] == "main"
        assert rm["environment"]["runtime"]["lock_sha256"] == main_lock_sha256()  # runtimes/main.lock
        assert rl["environment"]["packages"]["transformers"] == "4.33.3"
        assert rm["environment"]["packages"]["transformers"].startswith("5.")
    from harness.report.render import write_report

    records = store.all_records()
    page = write_report(records, tmp_path / "report", "stacks").read_text(encoding="utf-8")
    # the two legacy rows, and only those, carry the runtime's footnote; its text is written once
    from tests.support.page import leaderboard

    notes = [r["notes"].get("model", []) for r in leaderboard(page)]
    assert sum(any("runtime legacy (transformers 4.33.3)" in t for t in n) for n in notes) == 2
    assert page.count("Ran in the runtime legacy (transformers 4.33.3)") == 1
    assert "Runtime <b>legacy</b>" in page and "Runtime <b>main</b>" in page  # package versions per runtime


def test_lora_and_ptuning_v2_train_inside_legacy(legacy, tmp_path):
    results = tmp_path / "r"
    store = Store(results)
    common = [
        "model=smollm2-135m",
        "task=helpdesk_en",
        "task.limit=2",
        "eval.batch_size=2",
        "finetune.n_train=4",
        "finetune.epochs=1",
        "finetune.batch_size=2",
        "finetune.precision=fp32",
        "finetune.val_examples=2",
        f"paths.results={results}",
        f"paths.artifacts={tmp_path / 'a'}",
    ]
    tokens = {}
    for rt in ("main", "legacy"):
        outcome = run_cell(compose_cfg([*common, "finetune=lora", f"model.runtime={rt}"]))[-1]
        record = store.load(outcome.cell_id)
        assert record["environment"]["runtime"]["name"] == rt
        metering = record["finetune"]["metering"]
        assert metering["steps"] == 2 and metering["final_train_loss"] > 0
        tokens[rt] = metering["train_tokens"]
    # transformers 4.33 has no token counter: the harness counts the same non-padding tokens from the data
    assert tokens["legacy"] == tokens["main"] > 0
    outcome = run_cell(compose_cfg([*common, "finetune=ptuning_v2", "model.runtime=legacy"]))[-1]
    record, samples = store.load(outcome.cell_id), store.load_samples(outcome.cell_id)
    assert record["finetune"]["method"] == "ptuning_v2" and record["environment"]["runtime"]["name"] == "legacy"
    assert record["finetune"]["metering"]["steps"] == 2
    assert len(samples) == 2 and all(s["output"] for s in samples)  # generated through peft's prefix
