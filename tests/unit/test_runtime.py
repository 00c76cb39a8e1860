"""Runtimes without creating one: definitions, keys, routing, ids, the preflight's advice, the code copy, and the
compatibility helpers that convert a prepared folder for transformers 4.33. (tests/test_runtime_legacy.py creates
the legacy runtime and runs cells in it.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness import compat, runtimes
from harness.config.options import option_files
from harness.errors import HarnessError
from harness.execute import backend_for, runtime
from harness.execute.worker import WorkerBackend, worker_env
from harness.models import model_config
from harness.models.preflight import check_transformers
from harness.plan.cells import model_identity, plan_cells
from tests.support.run import compose_cfg

SEED_MODELS = [
    "chatglm2-6b",
    "baichuan2-7b",
    "baichuan2-7b-chat",
    "baichuan2-13b",
    "baichuan2-13b-chat",
    "qwen-14b",
    "qwen-14b-chat",
]


def test_legacy_runtime_pins_the_stack_that_runs_the_seed_models():
    rt = runtimes.load("legacy")
    pins = rt.pins()
    assert (pins["transformers"], pins["tokenizers"], pins["peft"], pins["lm-eval"]) == (
        "4.33.3",
        "0.13.3",
        "0.13.2",
        "0.4.13",
    )
    assert Version(pins["accelerate"]) < Version("1.0")  # the 4.33 Trainer passes dispatch_batches
    assert pins["torch"] == "2.13.0" and "torch" not in rt.lock_file.read_text()  # installed first, alone
    for module in ("sentencepiece", "tiktoken", "einops", "transformers-stream-generator", "cpm-kernels"):
        assert module in pins, module
    assert runtimes.names() == ["main", "legacy"]


def test_every_seed_model_runs_in_legacy_and_its_constraint_admits_that_stack_but_not_main():
    import transformers

    legacy = Version(runtimes.load("legacy").pins()["transformers"])
    assert {m for m in option_files("model") if model_config(m).runtime == "legacy"} == set(SEED_MODELS)
    for name in SEED_MODELS:
        spec = SpecifierSet(model_config(name).constraints.transformers)
        assert legacy in spec and Version(transformers.__version__) not in spec, name
    # the verified ranges, not the old guesses (Qwen runs up to 4.46, ChatGLM2 up to 4.41, Baichuan2 on 4.33 only)
    assert Version("4.46.3") in SpecifierSet(model_config("qwen-14b").constraints.transformers)
    assert Version("4.41.2") in SpecifierSet(model_config("chatglm2-6b").constraints.transformers)
    assert Version("4.34.0") not in SpecifierSet(model_config("baichuan2-7b").constraints.transformers)


def test_lock_hash_keys_the_folder_and_changes_with_the_lock(tmp_path, monkeypatch):
    (tmp_path / "x.lock").write_text("peft==0.13.2\n")
    (tmp_path / "x.yaml").write_text("description: d\npython: '3.11'\ntorch: '2.13.0'\nlock: x.lock\n")
    monkeypatch.setattr(runtimes, "RUNTIMES_DIR", tmp_path)
    first = runtimes.load("x")
    where = runtime.location(first, tmp_path / "cache")
    assert where == tmp_path / "cache" / "runtimes" / f"x-{first.lock_sha256[:12]}"
    (tmp_path / "x.lock").write_text("peft==0.13.1\n")
    assert runtime.location(runtimes.load("x"), tmp_path / "cache") != where  # a new lock, a new folder
    assert runtime.stamp(first, tmp_path / "cache") is None  # not created


def test_bad_runtime_definitions_say_file_and_key(tmp_path, monkeypatch):
    monkeypatch.setattr(runtimes, "RUNTIMES_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text("description: d\npython: '3.11'\ntorch: '2.13.0'\nlock: bad.lock\npip: x\n")
    with pytest.raises(HarnessError, match=r"bad\.yaml: unknown keys \['pip'\]"):
        runtimes.load("bad")
    (tmp_path / "bad.yaml").write_text("description: d\npython: '3.11'\ntorch: '2.13.0'\nlock: gone.lock\n")
    with pytest.raises(HarnessError, match=r"bad\.yaml: lock: gone\.lock does not exist"):
        runtimes.load("bad")
    with pytest.raises(HarnessError, match="Did you mean 'bad'"):
        runtimes.load("bda")
    with pytest.raises(HarnessError, match="harness's own environment"):
        runtimes.load("main")


def test_a_model_naming_an_unknown_runtime_is_refused_before_any_job(tmp_path):
    from tests.support.run import run_harness

    out = run_harness("model=smollm2-135m", "model.runtime=legasy", f"paths.results={tmp_path}", timeout=120)
    assert out.returncode == 2
    assert "model.runtime=legasy" in out.stderr and "Did you mean 'legacy'" in out.stderr


def test_cells_of_a_legacy_model_go_to_a_worker_in_that_runtime_and_get_their_own_id(tmp_path):
    base = ["model=smollm2-135m", "finetune=none", "task.limit=2", f"paths.results={tmp_path}"]
    main_cell = plan_cells(compose_cfg(base))[-1]
    legacy_cell = plan_cells(compose_cfg([*base, "model.runtime=legacy"]))[-1]
    assert type(backend_for(main_cell)).__name__ == "LocalBackend"
    backend = backend_for(legacy_cell)
    assert isinstance(backend, WorkerBackend) and backend.runtime == "legacy" and backend.python is None
    # an explicit interpreter still wins (tests, cluster nodes)
    assert backend_for(legacy_cell, python="/usr/bin/python3").python == "/usr/bin/python3"
    # main adds nothing to the identity (ids planned before runtimes existed stay); legacy is another stack
    assert "runtime" not in model_identity(main_cell.model)
    assert model_identity(legacy_cell.model)["runtime"] == "legacy"
    assert legacy_cell.id != main_cell.id


def test_preflight_in_main_names_the_runtime_that_fits():
    m = model_config("baichuan2-7b")
    problem = check_transformers(m, installed="5.0.0")
    assert "needs transformers<4.34,>=4.33, but the runtime main has 5.0.0" in problem
    assert "Run it in the runtime legacy (transformers 4.33.3)" in problem and "model.runtime=legacy" in problem
    assert check_transformers(m, installed="4.33.3") is None
    m2 = OmegaConf.to_object(compose_cfg(["model=baichuan2-7b", "model.constraints.transformers='<4.20'"]).model)
    assert "No runtime in runtimes/ has one" in check_transformers(m2, installed="5.0.0")


def test_the_worker_gets_a_copy_of_this_harness_and_this_checkouts_git_state(tmp_path):
    code = runtime.code_dir(tmp_path)
    assert (code / "harness" / "execute" / "entry.py").read_bytes() == (
        Path(runtime.__file__).parent / "entry.py"
    ).read_bytes()
    assert (code / "harness" / "_data" / "tasks" / "helpdesk" / "helpdesk_en.yaml").is_file()
    assert (code / "harness" / "_data" / "runtimes" / "legacy.lock").is_file()
    assert not list(code.rglob("__pycache__"))
    assert runtime.code_dir(tmp_path) == code  # the same source, the same copy
    env = worker_env(str(code))
    assert env["PYTHONPATH"] == str(code) and env["PYTHONSAFEPATH"] == "1"
    from harness.store.record import git_state

    assert json.loads(env["HARNESS_GIT_STATE"]) == git_state()
    assert "PYTHONPATH" not in worker_env() or os.environ.get("PYTHONPATH") is None


def test_current_runtime_reads_the_stamp_at_the_environment_root(tmp_path, monkeypatch):
    from harness.runtimes import main_lock_sha256
    from harness.store import record

    here = record.current_runtime()  # main: runtimes/main.lock's hash (tests/test_lock.py)
    assert here["name"] == "main" and here["lock_sha256"] == main_lock_sha256() is not None
    (tmp_path / record.RUNTIME_STAMP).write_text(json.dumps({"name": "legacy", "lock_sha256": "ab" * 32}))
    monkeypatch.setattr(record.sys, "prefix", str(tmp_path))
    assert record.current_runtime() == {"name": "legacy", "lock_sha256": "ab" * 32}


def _prepared_folder(root: Path) -> Path:
    """A folder shaped like one the harness prepared with transformers 5 (only the JSON the conversion reads)."""
    d = root / "smol-abc"
    d.mkdir()
    tj = {"model": {"type": "BPE", "merges": [["Ġ", "t"], ["h", "e"]], "ignore_merges": False}}
    (d / "tokenizer.json").write_text(json.dumps(tj))
    tc = {"tokenizer_class": "TokenizersBackend", "backend": "tokenizers", "is_local": True}
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    (d / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    cfg = {"rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}, "dtype": "float32"}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "model.safetensors").write_bytes(b"weights")
    (d / "harness_prepared.json").write_text("{}")
    return d


def test_a_prepared_folder_gets_a_converted_copy_for_transformers_4_and_stays_as_it_was(tmp_path, monkeypatch):
    folder = _prepared_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert compat.readable_folder(folder) == folder  # transformers 5 reads its own folder
    monkeypatch.setattr(compat, "_tf_version", lambda: Version("4.33.3"))
    out = compat.readable_folder(folder)
    assert out == tmp_path / "smol-abc-tf4"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # hard links never written through
    assert json.loads((out / "tokenizer.json").read_text())["model"] == {
        "type": "BPE",
        "merges": ["Ġ t", "h e"],
    }
    tc = json.loads((out / "tokenizer_config.json").read_text())
    assert tc == {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "chat_template": "{{ messages[0]['content'] }}",
    }
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["rope_theta"] == 100000.0 and cfg["torch_dtype"] == "float32"  # 4.33 would use 10000 silently
    assert (out / "model.safetensors").stat().st_ino == (folder / "model.safetensors").stat().st_ino
    assert compat.readable_folder(folder) == out  # once
    user = tmp_path / "mine"
    user.mkdir()
    assert compat.readable_folder(user) == user  # a user's own folder is theirs: never rewritten


def test_tokens_seen_without_the_trainers_counter_counts_the_data():
    class State:
        pass

    class Trainer:
        state = State()

    class Ex:
        def __init__(self, n):
            self.input_ids = [0] * n

    examples = [Ex(3), Ex(5), Ex(7), Ex(9)]
    assert compat.tokens_seen(Trainer(), examples, 2.0) == 2 * 24
    assert compat.tokens_seen(Trainer(), examples, 1.5) == 24 + 3 + 5
    Trainer.state.num_input_tokens_seen = 11
    assert compat.tokens_seen(Trainer(), examples, 2.0) == 11


def test_the_cache_placeholder_and_gguf_wrapper_only_act_on_old_transformers(monkeypatch):
    import transformers

    real = transformers.Cache
    compat.cache_class_for_peft()
    assert transformers.Cache is real
    sentinel = object()
    assert compat.without_none_gguf(sentinel) is sentinel  # >= 4.41: untouched
    monkeypatch.setattr(compat, "_tf_version", lambda: Version("4.33.3"))

    class Auto:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            return kwargs

    assert compat.without_none_gguf(Auto).from_pretrained("x", gguf_file=None, a=1) == {"a": 1}
    assert compat.without_none_gguf(Auto).from_pretrained("x", gguf_file="f.gguf") == {"gguf_file": "f.gguf"}
    assert compat.dtype_kwarg() == "torch_dtype"


def test_a_runtime_that_cannot_be_installed_says_the_command_and_leaves_no_runtime(tmp_path, monkeypatch):
    """pip's own failure (here: a torch release that does not exist; offline: no index) becomes one message
    with the exact command to run where the package index is reachable."""
    from harness.errors import PreflightError

    (tmp_path / "x.lock").write_text("peft==0.13.2\n")
    (tmp_path / "x.yaml").write_text("description: d\npython: '3.11'\ntorch: '0.0.0'\nlock: x.lock\n")
    monkeypatch.setattr(runtimes, "RUNTIMES_DIR", tmp_path)
    with pytest.raises(PreflightError) as e:
        runtime.worker_place("x", tmp_path / "cache")
    message = str(e.value)
    assert "creating the runtime x failed while installing torch 0.0.0" in message
    assert "run `harness runtime create x` once" in message
    assert runtime.stamp(runtimes.load("x"), tmp_path / "cache") is None  # nothing half-made counts as created
    with pytest.raises(PreflightError, match="runtime x is not created yet; run `harness runtime create x`"):
        runtime.worker_place("x", tmp_path / "cache", create_missing=False)


def test_inside_a_runtime_a_missing_module_is_added_to_its_lock_not_pip_installed(tmp_path, monkeypatch):
    from harness.models.preflight import check_modules
    from harness.store import record

    m = OmegaConf.to_object(compose_cfg(["model=qwen-14b", "model.constraints.python_modules=[no_such_mod]"]).model)
    assert "pip install -e '.[seed-models]'" in check_modules(m)  # main: this environment's extra
    (tmp_path / record.RUNTIME_STAMP).write_text(json.dumps({"name": "legacy", "lock_sha256": "ab" * 32}))
    monkeypatch.setattr(record.sys, "prefix", str(tmp_path))
    assert check_modules(m) == (
        "qwen-14b needs the Python modules no_such_mod, which are not installed. This cell runs in the runtime "
        "legacy: add no_such_mod with exact versions to runtimes/legacy.lock (a new lock creates a new runtime "
        "on the next run)."
    )
