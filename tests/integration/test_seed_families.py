"""The seed families on their real remote code: ChatGLM2-6B, Baichuan2-7B, Baichuan2-13B and Qwen-14B, as tiny
random-weight folders built from their upstream code (../shared/seed_arch/, read in place, never copied here).

Every family x method (base evaluation, LoRA, P-tuning v2, full) through the `harness` command in the legacy
runtime, one multirun per family: the record says runtime legacy and the method; the trainable parameter count is
the method's own (from the saved tensors and the config); the loss is finite and lower after four steps on one
repeated example than before; the evaluated artifact, reloaded, gives the log-likelihood the in-memory model gave
after training (the record's reload check). A prefix sees no token after its own on every family's path.
`harness model check` and resuming ChatGLM2's prefix encoder: tests/integration/test_seed_checks.py.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from tests.support import seed
from tests.support.run import run_harness
from tests.support.seed import PATHS, REFERENCE, SEED, absent

pytestmark = absent
legacy = seed.legacy  # the fixture
METHODS = ("none", "lora", "ptuning_v2", "full")
# Qwen's tiny copy (hidden size 16, 151,936-way output) moves its loss by 1e-4 a step at 0.01; 0.05 shows it in
# the loss curve's 4 decimals. The others are steadier at 0.01 (Baichuan2's LoRA oscillates at 0.05).
LEARNING_RATE = {"qwen-14b": 0.05}


@pytest.fixture(scope="module")
def runs(legacy, tmp_path_factory):
    """family -> {method: (record, artifact folder or None)}, each family's multirun made on first use (the base
    cell is each tuned job's first cell, computed once)."""
    root, done = tmp_path_factory.mktemp("seed"), {}

    def get(family: str) -> dict[str, tuple[dict, Path | None]]:
        if family not in done:
            results, artifacts = root / family / "r", root / family / "a"
            out = run_harness(
                "-m",
                f"model={family}",
                "model.source=local",
                f"model.local_path={SEED / family}",
                "model.dtype=float32",
                "finetune=lora,ptuning_v2,full",
                "finetune.n_train=1",
                "finetune.epochs=4",
                "finetune.batch_size=1",
                "finetune.logging_steps=1",
                "finetune.val_examples=1",
                f"finetune.learning_rate={LEARNING_RATE.get(family, 0.01)}",
                "finetune.train_task=helpdesk_zh",
                "task=helpdesk_zh",
                "task.limit=2",
                "eval.batch_size=2",
                "baseline=none",
                f"paths.results={results}",
                f"paths.artifacts={artifacts}",
                timeout=900,
            )
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
            by_method = {}
            for f in (results / "records").glob("*.json"):
                record = json.loads(f.read_text(encoding="utf-8"))
                ft = record["finetune"]
                by_method[ft["method"]] = (
                    record,
                    Path(ft["artifact_path"]) if ft["method"] != "none" else None,
                )
            assert sorted(by_method) == sorted(METHODS)
            done[family] = by_method
        return done[family]

    return get


def _tensors(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _numel(shapes: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in shapes.values())


def _expected_trainable(family: str, method: str, artifact: Path) -> int:
    """The method's own definition of what it trains, from the saved tensors and the family's config."""
    config = json.loads((SEED / family / "config.json").read_text(encoding="utf-8"))
    if method == "full":
        # every weight of the model; ChatGLM2's file also holds its rotary inv_freq, a buffer and not a weight
        shapes = _tensors(SEED / family / "model.safetensors")
        return _numel({k: v for k, v in shapes.items() if not k.endswith(".inv_freq")})
    if method == "lora":
        shapes = _tensors(artifact / "adapter_model.safetensors")
        assert shapes and all(".lora_A." in k or ".lora_B." in k for k in shapes)
        return _numel(shapes)  # r x (in + out) per adapted layer
    virtual = 16  # conf/finetune/ptuning_v2.yaml
    if family == "chatglm2-6b":  # its PrefixEncoder: one key and one value per layer, per multi-query group
        shapes = _tensors(artifact / "prefix_encoder.safetensors")
        assert list(shapes) == ["transformer.prefix_encoder.embedding.weight"]
        want = virtual * config["num_layers"] * config["kv_channels"] * config["multi_query_group_num"] * 2
    else:  # peft's prefix: a key and a value of the hidden size per layer
        shapes = _tensors(artifact / "adapter_model.safetensors")
        want = virtual * config["num_hidden_layers"] * 2 * config["hidden_size"]
    assert _numel(shapes) == want
    return want


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", sorted(REFERENCE))
def test_every_method_runs_on_every_family(runs, family, method):
    record, artifact = runs(family)[method]
    assert record["environment"]["runtime"]["name"] == "legacy"
    assert record["environment"]["packages"]["transformers"] == "4.33.3"
    assert record["model"]["name"] == family and record["task"]["n"] == 2
    ft = record["finetune"]
    assert ft["method"] == method
    if method == "none":
        return
    assert ft["trainable_params"] == _expected_trainable(family, method, artifact)
    losses = [p["loss"] for p in ft["metering"]["loss_curve"]]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], losses  # one example, four steps: it is learned
    check = ft["reload_check"]
    assert check["compared"] and check["abs_diff"] <= 1e-3 and check["tokens"] > 1
    if method == "ptuning_v2":
        assert ft["prefix_path"] == PATHS[family] == ft["params"]["prefix"]["path"]
        assert ft["artifact_kind"] == ("prefix" if family == "chatglm2-6b" else "adapter")
        cli = record["eval"]["lm_eval_cli"]
        if family == "chatglm2-6b":  # evaluated as a plain folder: base + encoder, what raw lm_eval loads too
            assert (
                record["eval"]["model_args"]["pretrained"].endswith("-view")
                and "peft" not in record["eval"]["model_args"]
            )
        elif PATHS[family] != "peft":
            assert f"with harness/finetune/prefix.py's {PATHS[family]} fixes installed" in cli


CAUSAL = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM
from peft import PrefixTuningConfig, TaskType, get_peft_model
from harness.finetune import prefix
out = {}
for family, path in json.loads(sys.argv[1]).items():
    folder = sys.argv[2] + "/" + family
    torch.manual_seed(0)
    if path == prefix.CHATGLM2:
        model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, torch_dtype=torch.float32,
                                                     pre_seq_len=16)
        torch.nn.init.normal_(model.transformer.prefix_encoder.embedding.weight, std=1.0)
    else:
        base = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, torch_dtype=torch.float32)
        model = get_peft_model(base, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=16))
        torch.nn.init.normal_(model.prompt_encoder["default"].embedding.weight, std=1.0)
        prefix.install(model, path)
    model.eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 11, 12]])
    changed = ids.clone(); changed[0, -1] = 13
    with torch.no_grad():
        a, b = model(input_ids=ids).logits, model(input_ids=changed).logits
        bare = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, torch_dtype=torch.float32)
        c = bare.eval()(input_ids=ids).logits
    out[family] = {"earlier_moved": float((a[0, :-1] - b[0, :-1]).abs().max()),
                   "prefix_effect": float((a - c).abs().max())}
print(json.dumps(out))
"""


def test_a_prefix_never_lets_a_token_see_the_ones_after_it(legacy):
    """Changing the last token moves no earlier position's logits, with a prefix that does change them. Without
    the Qwen path's mask its attention would have no causal mask at all; without the Baichuan path's rows, no
    forward would run."""
    from harness.execute.runtime import cache_root, worker_place
    from harness.execute.worker import worker_env

    place = worker_place("legacy", cache_root(), create_missing=False)
    out = subprocess.run(
        [place.python, "-c", CAUSAL, json.dumps(PATHS), str(SEED)],
        capture_output=True,
        text=True,
        timeout=300,
        env=worker_env(place.pythonpath),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    for family, r in got.items():
        assert r["earlier_moved"] == 0.0, (family, r)
        assert r["prefix_effect"] > 1e-4, (family, r)  # the prefix is really in the computation
