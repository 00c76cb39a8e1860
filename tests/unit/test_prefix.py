"""P-tuning v2's family paths (harness/finetune/prefix.py) and the reload check, on hand-made tensors: which path a
config names and whether the artifact id says so; the masks the Qwen and Baichuan2 hooks hand to attention; the
model folder a ChatGLM2 prefix artifact is evaluated as; a reloaded artifact that scores another model is
refused. The same on the real remote code: tests/integration/test_seed_families.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from harness.config.schema import FinetuneConfig, ModelConfig, TaskConfig
from harness.errors import HarnessError
from harness.finetune import prefix


def _folder(tmp_path: Path, model_type: str) -> Path:
    folder = tmp_path / model_type
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "num_layers": 2}))
    return folder


def test_the_config_names_the_path_and_only_a_family_path_changes_the_artifact_id(tmp_path):
    from harness.spec.finetune import TrainSpec
    from harness.tasks import load_task

    assert [prefix.path_for(t) for t in ("chatglm", "qwen", "baichuan", "llama", None)] == [
        "chatglm2-native",
        "peft+qwen",
        "peft+baichuan",
        "peft",
        "peft",
    ]
    task = load_task(TaskConfig(name="helpdesk_en", dir="tasks/helpdesk", primary_metric="contains"))

    def spec(model_type: str | None, method: str = "ptuning_v2") -> TrainSpec:
        path = str(_folder(tmp_path / (model_type or "none"), model_type or "llama")) if model_type else None
        model = ModelConfig(name="m", local_path=path)
        return TrainSpec(model, {"name": "m"}, FinetuneConfig(method=method), task, None, True)

    assert spec("qwen").identity()["params"]["prefix"]["path"] == "peft+qwen"
    # peft's own path is not named: artifacts trained before the paths existed keep their ids
    plain = spec("llama").identity()["params"]["prefix"]
    assert plain == {"num_virtual_tokens": 16, "prefix_projection": False}
    assert spec(None).prefix_path() == "peft"  # no readable config.json: peft, checked again at load
    assert spec("qwen", "lora").prefix_path() is None
    with pytest.raises(HarnessError, match="planned with 'peft' because the config was not readable"):
        prefix.check_path("peft", SimpleNamespace(model_type="chatglm"), "chatglm2-6b")


def test_qwen_hook_masks_every_later_token_after_the_prefix():
    """3 queries after a past of 2: query i sees keys 0 .. 2 + i; the padding mask Qwen built is kept."""
    hidden = torch.zeros(1, 3, 4)
    past = (torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 1, 4))  # Qwen's layout: [batch, seq, heads, dim]
    padding = torch.zeros(1, 1, 1, 5)
    padding[..., 0] = torch.finfo(torch.float32).min  # the first prefix key masked, as a padded row would be
    _, kw = prefix._qwen_causal(None, (hidden,), {"layer_past": past, "attention_mask": padding})
    seen = (kw["attention_mask"][0, 0] > -1).int().tolist()
    assert seen == [[0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 1]]
    # one query (generation with a cache) or no past: nothing to add
    one = {"layer_past": past, "attention_mask": padding}
    assert prefix._qwen_causal(None, (torch.zeros(1, 1, 4),), dict(one))[1]["attention_mask"] is padding
    assert (
        prefix._qwen_causal(None, (hidden,), {"layer_past": None, "attention_mask": None})[1]["attention_mask"] is None
    )


def test_baichuan_hook_keeps_the_rows_of_its_queries():
    square = torch.arange(5 * 5, dtype=torch.float32).view(1, 1, 5, 5)  # past 2 + input 3, both axes
    _, kw = prefix._baichuan_rows(None, (), {"hidden_states": torch.zeros(1, 3, 4), "attention_mask": square})
    assert kw["attention_mask"].tolist() == square[..., 2:, :].tolist()
    rows = square[..., 2:, :]  # already [query, key] (Baichuan2-7B): untouched
    assert prefix._baichuan_rows(None, (torch.zeros(1, 3, 4),), {"attention_mask": rows})[1]["attention_mask"] is rows


def test_a_chatglm2_prefix_artifact_is_evaluated_as_its_base_folder_plus_the_encoder(tmp_path):
    from safetensors.torch import load_file, save_file

    base = _folder(tmp_path, "chatglm")
    save_file(
        {"transformer.embedding.weight": torch.ones(4, 2), "transformer.output_layer.weight": torch.ones(4, 2)},
        str(base / "model.safetensors"),
        {"format": "pt"},
    )
    (base / "tokenizer.model").write_text("spm")
    (base / "modeling_chatglm.py").write_text("# remote code")
    model = torch.nn.Module()
    model.transformer = torch.nn.Module()
    model.transformer.prefix_encoder = torch.nn.Module()
    model.transformer.prefix_encoder.embedding = torch.nn.Embedding(16, 8)
    artifact = tmp_path / "artifacts" / "chatglm2-6b-ptuning_v2-abc"
    prefix.save_native(model, artifact, SimpleNamespace(num_virtual_tokens=16, prefix_projection=False))
    saved = load_file(str(artifact / prefix.NATIVE_FILE))
    assert list(saved) == ["transformer.prefix_encoder.embedding.weight"]  # the encoder alone

    view = prefix.view(base, artifact)
    assert view == artifact.parent / "chatglm2-6b-ptuning_v2-abc-view"
    config = json.loads((view / "config.json").read_text())
    assert config["pre_seq_len"] == 16 and config["prefix_projection"] is False and config["num_layers"] == 2
    index = json.loads((view / "model.safetensors.index.json").read_text())["weight_map"]
    assert index == {
        "transformer.embedding.weight": "base-model.safetensors",
        "transformer.output_layer.weight": "base-model.safetensors",
        "transformer.prefix_encoder.embedding.weight": prefix.NATIVE_FILE,
    }
    assert (view / "base-model.safetensors").resolve() == (base / "model.safetensors").resolve()
    assert (view / "tokenizer.model").is_symlink() and (view / "modeling_chatglm.py").is_symlink()
    assert not (view / "model.safetensors").exists()  # else it would be loaded instead of the index
    assert prefix.view(base, artifact) == view  # built once

    # a prefix encoder put back into a model built with the same pre_seq_len (a resumed run)
    other = torch.nn.Module()
    other.transformer = torch.nn.Module()
    other.transformer.prefix_encoder = torch.nn.Module()
    other.transformer.prefix_encoder.embedding = torch.nn.Embedding(16, 8)
    prefix.load_native(other, artifact)
    assert torch.equal(other.transformer.prefix_encoder.embedding.weight, saved[next(iter(saved))])


class _Bigram(torch.nn.Module):
    """logits of the next token = a table row of the current one: a log-likelihood computable by hand."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.table[input_ids])


def test_the_reload_check_compares_the_probe_and_refuses_another_model():
    from harness.evaluate.lmeval import reload_check
    from harness.finetune.train import probe_loglik

    table = torch.tensor([[0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ids = [0, 2, 1]
    logp = torch.log_softmax(table, dim=-1)
    by_hand = float(logp[0, 2] + logp[2, 1])
    assert probe_loglik(_Bigram(table), ids) == pytest.approx(by_hand, abs=1e-6)

    def artifact(loglik: float, precision: str = "fp32"):
        info = {"probe": {"input_ids": ids, "loglik": loglik, "precision": precision}}
        return SimpleNamespace(info=info, path=Path("/a/m-lora-123"))

    same = reload_check(_Bigram(table), artifact(by_hand), "float32")
    assert same["compared"] and same["abs_diff"] < 1e-6 and same["tokens"] == 3
    with pytest.raises(HarnessError, match="m-lora-123 does not reload to the model that was trained"):
        reload_check(_Bigram(table), artifact(by_hand + 0.01), "float32")
    other = reload_check(_Bigram(table), artifact(by_hand + 0.01, "bf16"), "float32")  # stored, not compared
    assert other["compared"] is False and other["abs_diff"] == pytest.approx(0.01, abs=1e-6)
    assert reload_check(_Bigram(table), artifact(by_hand + 0.01), "bfloat16")["compared"] is False
    quantized = artifact(by_hand + 0.01)
    quantized.info["probe"]["method"] = "qlora"  # trained on 4-bit weights evaluation does not load
    assert reload_check(_Bigram(table), quantized, "float32")["compared"] is False
    assert reload_check(_Bigram(table), None, "float32") is None
    assert reload_check(_Bigram(table), SimpleNamespace(info={}, path=Path("/a/old")), "float32") is None


def test_lm_eval_cannot_shrink_a_padded_vocabulary_while_it_loads_an_adapter():
    from harness.evaluate.timed import _KeepVocabulary

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 2)

        def get_input_embeddings(self):
            return self.emb

        def resize_token_embeddings(self, n):
            self.emb = torch.nn.Embedding(n, 2)

    loader = _KeepVocabulary(SimpleNamespace(from_pretrained=lambda *a, **k: Model()))
    model = loader.from_pretrained("x")
    model.resize_token_embeddings(7)  # what lm-eval does when the tokenizer is shorter than the vocabulary
    assert model.emb.num_embeddings == 10
