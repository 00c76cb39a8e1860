"""P-tuning v2 (learned key/value prefixes at every layer) on families whose attention does not take peft's
prefix as it comes.

peft's PrefixTuningConfig hands every layer a past key/value of shape [batch, heads, prefix, head_dim] and
prepends ones to the attention mask. Llama-style models (SmolLM2, Gemma, Llama 2, Baichuan2-7B) take that as it
is. Three seed families do not, each for a reason in its own remote code (../shared/seed_arch/ has copies):

- ChatGLM2 (`chatglm`) keeps its cache as [seq, batch, groups, head_dim] with multi-query attention, so peft's
  prefix fails on its first forward. It has its own P-tuning v2, the one its authors fine-tune with: `pre_seq_len`
  and `prefix_projection` in its config build a `PrefixEncoder` inside the model and freeze every other
  parameter. Path `chatglm2-native`: that encoder is what is trained and saved (the artifact holds it alone), and
  a tuned model is the base folder plus the encoder (`view`).
- Qwen (v1, `qwen`) keeps its cache as [batch, seq, heads, head_dim] (concatenated on dim 1), and its attention
  applies its causal mask only when query and key lengths are equal: with a prefix every position would see the
  tokens after it. Path `peft+qwen`: peft's prefix transposed to Qwen's layout, and each attention layer gets a
  causal mask over prefix + input (`_qwen_causal`).
- Baichuan2 (`baichuan`) builds one square mask over past + input (ALiBi biases on the 13B model), and its
  attention adds it to [query, key] scores as it is: fine when the query is one token, a size mismatch when it is
  the whole input after a prefix. Path `peft+baichuan`: each attention layer gets the mask's rows of its queries
  (the last ones), and the 13B model's always-on gradient checkpointing, which drops the past, is turned off.
  Baichuan2-7B's RoPE model already gets [query, key] rows; there the hook changes nothing.

The path is part of the artifact's identity (planned from the model's config.json, checked again when the
model is loaded), and these fixes are installed wherever a prefix artifact is loaded: training, evaluation,
`harness model check`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models.family import BAICHUAN, CHATGLM2, PEFT, QWEN, path_for, planned_path  # noqa: F401

NATIVE_FILE = "prefix_encoder.safetensors"  # a chatglm2-native artifact: the encoder's weights
NATIVE_CONFIG = "prefix_config.json"  # ... and the config keys that make the model build it
_NATIVE_KEY = "prefix_encoder."


def check_path(planned: str, config: Any, model_name: str) -> None:
    """The loaded model's own config decides; a plan made without its config.json (a hub model not fetched yet)
    may have named another path, and then the artifact's id would name the wrong one."""
    actual = path_for(getattr(config, "model_type", None))
    if actual != planned:
        raise HarnessError(
            f"P-tuning v2 on {model_name}: its config.json (model_type {config.model_type!r}) needs the prefix path "
            f"{actual!r}, but the job was planned with {planned!r} because the config was not readable then (a "
            "hub model not downloaded yet). It is cached now: run the same command again."
        )


# -- chatglm2-native ---------------------------------------------------------------------------------------------


def native_load_kwargs(prefix: Any) -> dict[str, Any]:
    """from_pretrained keywords that make ChatGLM2 build its prefix encoder (and freeze everything else)."""
    return {
        "pre_seq_len": int(prefix.num_virtual_tokens),
        "prefix_projection": bool(prefix.prefix_projection),
    }


def native_state(model: Any) -> dict[str, Any]:
    """The prefix encoder's tensors under their names in the full model (`transformer.prefix_encoder.*`)."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if _NATIVE_KEY in k}
    if not state:
        raise HarnessError("the model has no prefix encoder: it was not loaded with pre_seq_len (ChatGLM2 only)")
    return state


def save_native(model: Any, folder: str | Path, prefix: Any) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # transformers reads a safetensors shard only with its format in the metadata
    save_file({k: v.cpu() for k, v in native_state(model).items()}, str(folder / NATIVE_FILE), {"format": "pt"})
    (folder / NATIVE_CONFIG).write_text(json.dumps(native_load_kwargs(prefix), indent=2))


def load_native(model: Any, folder: str | Path) -> None:
    """Put a saved prefix encoder into a model built with the same pre_seq_len (a resumed training run)."""
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / NATIVE_FILE))
    missing = set(state) - set(native_state(model))
    if missing:
        raise HarnessError(f"{folder}: prefix encoder tensors {sorted(missing)} do not fit this model")
    model.load_state_dict(state, strict=False)


def _weights(folder: Path) -> tuple[str, dict[str, str]]:
    """(format, {tensor name: file}) of a model folder's weights: safetensors or torch .bin, one file or shards."""
    for fmt, single, index in (
        ("safetensors", "model.safetensors", "model.safetensors.index.json"),
        ("bin", "pytorch_model.bin", "pytorch_model.bin.index.json"),
    ):
        if (folder / index).is_file():
            return fmt, dict(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"])
        if (folder / single).is_file():
            if fmt == "safetensors":
                from safetensors import safe_open

                with safe_open(str(folder / single), framework="pt") as f:
                    return fmt, {k: single for k in f.keys()}
            import torch

            return fmt, {k: single for k in torch.load(folder / single, map_location="meta", weights_only=True)}
    raise HarnessError(f"{folder}: no model.safetensors or pytorch_model.bin (single or sharded) to build on")


def view(base: str | Path, artifact: Path, revision: str | None = None) -> Path:
    """A model folder = the base folder + the artifact's prefix encoder, built once beside the artifact: every
    base file linked, config.json with pre_seq_len, and a weight index naming the base's files and the encoder's.
    lm-eval's hf backend (and `lm_eval` by hand) loads it as any folder: the tuned model, nothing re-saved."""
    out = artifact.parent / f"{artifact.name}-view"
    if (out / "config.json").is_file():
        return out
    base = Path(base)
    if not base.is_dir():
        from huggingface_hub import snapshot_download

        base = Path(snapshot_download(str(base), revision=revision, local_files_only=True))
    fmt, weight_map = _weights(base)
    staged = artifact.parent / f".{out.name}.partial-{os.getpid()}"
    staged.mkdir(parents=True, exist_ok=True)
    skip = {
        "config.json",
        *weight_map.values(),
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    }
    for f in base.iterdir():
        if f.name not in skip and not f.name.startswith("."):
            os.symlink(f.resolve(), staged / f.name)
    linked = {}
    for name in sorted(set(weight_map.values())):
        linked[name] = f"base-{name}"
        os.symlink((base / name).resolve(), staged / linked[name])
    doc = json.loads((base / "config.json").read_text(encoding="utf-8"))
    doc.update(json.loads((artifact / NATIVE_CONFIG).read_text(encoding="utf-8")))
    (staged / "config.json").write_text(json.dumps(doc, indent=2))
    from safetensors.torch import load_file

    prefix = load_file(str(artifact / NATIVE_FILE))
    if fmt == "safetensors":
        os.symlink((artifact / NATIVE_FILE).resolve(), staged / NATIVE_FILE)
        prefix_file, index = NATIVE_FILE, "model.safetensors.index.json"
    else:
        import torch

        prefix_file, index = "prefix_encoder.bin", "pytorch_model.bin.index.json"
        torch.save(prefix, staged / prefix_file)
    full_map = {k: linked[v] for k, v in weight_map.items() if _NATIVE_KEY not in k}
    full_map.update({k: prefix_file for k in prefix})
    (staged / index).write_text(json.dumps({"metadata": {}, "weight_map": full_map}, indent=2))
    try:
        os.replace(staged, out)
    except OSError:  # another process built it first
        import shutil

        shutil.rmtree(staged, ignore_errors=True)
    return out


# -- peft+qwen and peft+baichuan: hooks on the remote code's attention modules ----------------------------------


def _qwen_layout(past_key_values: Any) -> Any:
    """peft's per-layer (key, value) [batch, heads, prefix, head_dim] -> Qwen's [batch, prefix, heads, head_dim]."""
    return tuple(tuple(t.transpose(1, 2) for t in layer) for layer in past_key_values)


def register_layouts() -> None:
    """peft looks up a post-processing function by model_type when it builds the prefix (PeftModel.get_prompt)."""
    from peft.utils import constants

    constants.TRANSFORMERS_MODELS_TO_PREFIX_TUNING_POSTPROCESS_MAPPING["qwen"] = _qwen_layout


def _qwen_causal(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    """A query of q tokens after a past of p: query i (absolute position p + i) sees keys 0 .. p + i. Qwen adds
    this mask to its scores and, with query and key lengths unequal, applies no causal mask of its own."""
    import torch

    past = kwargs.get("layer_past")
    hidden = args[0] if args else kwargs["hidden_states"]
    q = hidden.shape[1]
    if past is None or q == 1:
        return args, kwargs
    p = past[0].shape[1]
    allowed = torch.ones(q, p + q, dtype=torch.bool, device=hidden.device).tril(diagonal=p)
    causal = torch.zeros(q, p + q, dtype=hidden.dtype, device=hidden.device)
    causal = causal.masked_fill(~allowed, torch.finfo(hidden.dtype).min)[None, None]
    mask = kwargs.get("attention_mask")
    kwargs["attention_mask"] = causal if mask is None else (mask + causal).clamp(min=torch.finfo(hidden.dtype).min)
    return args, kwargs


def _baichuan_rows(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    """Baichuan2 hands its attention a square mask over past + input: keep the rows of this call's queries."""
    mask = kwargs.get("attention_mask")
    hidden = args[0] if args else kwargs["hidden_states"]
    q = hidden.shape[1]
    if mask is not None and mask.dim() >= 3 and mask.shape[-2] > q > 1:
        kwargs["attention_mask"] = mask[..., -q:, :]
    return args, kwargs


_HOOKS = {
    QWEN: ("QWenAttention", _qwen_causal),
    BAICHUAN: (("BaichuanAttention", "Attention"), _baichuan_rows),
}


def install(model: Any, path: str) -> int:
    """Make `model` (a peft model or its base) take peft's prefix on this path; returns the hooks installed.
    Idempotent: a module hooked already is skipped."""
    if path in (PEFT, CHATGLM2):
        return 0
    register_layouts()
    names, hook = _HOOKS[path]
    names = (names,) if isinstance(names, str) else names
    n = 0
    for module in model.modules():
        if type(module).__name__ in names and not getattr(module, "_harness_prefix_hook", False):
            module.register_forward_pre_hook(hook, with_kwargs=True)
            module._harness_prefix_hook = True
            n += 1
    if n == 0:
        raise HarnessError(f"prefix path {path}: no {'/'.join(names)} module in {type(model).__name__}")
    if path == BAICHUAN:
        # Baichuan2-13B's config stores `gradient_checkpointing` as the tuple (False,), which is true, so it
        # always checkpoints in training, and its checkpointed layer call passes no past key/value: the prefix
        # would be dropped (and its mask no longer fit). Without a past its checkpointing is fine (LoRA, full).
        for module in model.modules():
            if type(module).__name__ == "BaichuanModel" and module.gradient_checkpointing is not False:
                module.gradient_checkpointing = False
    return n


def peft_prefix_path(model: Any) -> str | None:
    """The path of a loaded peft prefix-tuning model (None for anything else)."""
    config = getattr(model, "peft_config", {}).get("default")
    if type(config).__name__ != "PrefixTuningConfig":
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return path_for(getattr(base.config, "model_type", None))
