"""Every difference between the transformers stacks the harness runs on, in one place.

The harness runs on transformers 5 (the `main` runtime) and, through the worker, on the `legacy` runtime's
transformers 4.33 (runtimes/legacy.yaml), whose Trainer, tokenizer and model-loading APIs are older. Stage code
calls these helpers instead of testing versions itself; each says which versions differ and how. Nothing here
imports heavy packages at module level.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

from packaging.version import Version

_TAG = "CONTINUE_FINAL_MESSAGE_TAG "


def _compile(template: str) -> Any:
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def strftime_now(fmt: str) -> str:
        import datetime

        return datetime.datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(template)


def _apply_chat_template(
    self: Any,
    conversation: list[dict[str, Any]],
    tokenize: bool = True,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    chat_template: str | None = None,
    **kwargs: Any,
) -> Any:
    template = chat_template or self.chat_template
    if template is None:
        raise ValueError("this tokenizer has no chat_template")
    chat = [dict(m) for m in conversation]
    if continue_final_message:
        chat[-1]["content"] = chat[-1]["content"] + _TAG
    special = {k: v for k, v in self.special_tokens_map.items() if isinstance(v, str)}
    text = _compile(template).render(
        messages=chat,
        tools=None,
        documents=None,
        add_generation_prompt=add_generation_prompt,
        **special,
        **kwargs,
    )
    if continue_final_message:
        text = text[: text.rindex(_TAG)]
    return self(text, add_special_tokens=False)["input_ids"] if tokenize else text


def ensure_chat_template(tokenizer: Any, folder: str | Path | None = None) -> None:
    """transformers < 4.34 has no chat templates: read the folder's template and render it as 4.34+ does."""
    if hasattr(type(tokenizer), "apply_chat_template"):
        return
    if getattr(tokenizer, "chat_template", None) is None:
        template = tokenizer.init_kwargs.get("chat_template")
        if template is None and folder is not None and (Path(folder) / "chat_template.jinja").exists():
            template = (Path(folder) / "chat_template.jinja").read_text()
        tokenizer.chat_template = template
    if not hasattr(tokenizer, "default_chat_template"):
        tokenizer.default_chat_template = None
    tokenizer.apply_chat_template = types.MethodType(_apply_chat_template, tokenizer)


def dtype_kwarg() -> str:
    """from_pretrained's dtype keyword: `dtype` from transformers 4.56, `torch_dtype` before (an unknown `dtype`
    is stored on the config on 4.33, which then fails to serialize, and the weights load in fp32)."""
    return "dtype" if _tf_version() >= Version("4.56") else "torch_dtype"


def _tf_version() -> Version:
    import transformers

    return Version(transformers.__version__)


def training_args(**kw: Any) -> Any:
    """TrainingArguments across stacks: `include_num_input_tokens_seen` exists from 4.37 (counted by the caller
    before that); a float `warmup_steps` < 1 is a ratio only from transformers 5 (`warmup_ratio` before)."""
    from transformers import TrainingArguments

    v = _tf_version()
    if v < Version("4.37"):
        kw.pop("include_num_input_tokens_seen", None)
    if v < Version("5") and isinstance(kw.get("warmup_steps"), float) and kw["warmup_steps"] < 1:
        kw["warmup_ratio"] = kw.pop("warmup_steps")
    return TrainingArguments(**kw)


def tokens_seen(trainer: Any, examples: list[Any], epochs: float) -> int:
    """Trainer's non-padding token count, or (transformers < 4.37) the same count from the data."""
    n = getattr(trainer.state, "num_input_tokens_seen", None)
    if n is not None:
        return int(n)
    import math

    per_epoch = sum(len(e.input_ids) for e in examples)
    whole = math.floor(epochs)
    return int(per_epoch * whole + sum(len(e.input_ids) for e in examples[: round((epochs - whole) * len(examples))]))


def rng_state_loadable() -> None:
    """transformers < 4.46 reads a checkpoint's rng_state.pth with a bare `torch.load`, which torch >= 2.6 makes
    weights-only, and the state holds numpy's generator state: every resume in the legacy runtime failed with
    `Unsupported global: numpy._core.multiarray._reconstruct`. These numpy types (the harness's own checkpoint,
    no code) are allowed to that loader, as transformers 4.46+ allows them itself."""
    if _tf_version() >= Version("4.46"):
        return
    import numpy as np
    import torch

    multiarray = getattr(np, "_core", None) or np.core
    allowed = [multiarray.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    torch.serialization.add_safe_globals(allowed)


def cache_class_for_peft() -> None:
    """peft 0.13 (the newest that imports on transformers 4.33) checks `isinstance(past, transformers.Cache)`
    while it generates with a prefix (P-tuning v2); `Cache` exists from transformers 4.36. Before that, no past
    is a Cache: an empty class of that name says exactly that."""
    import transformers

    if not hasattr(transformers, "Cache"):
        transformers.Cache = type("Cache", (), {})


class _DropNoneGGUF:
    def __init__(self, cls: Any):
        self._cls = cls

    def from_pretrained(self, *args: Any, gguf_file: Any = None, **kwargs: Any) -> Any:
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        return self._cls.from_pretrained(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


def without_none_gguf(auto_class: Any) -> Any:
    """lm-eval >= 0.4.8 always passes `gguf_file=None` to from_pretrained; transformers < 4.41 does not know the
    keyword and forwards it into the model's constructor, where remote code (ChatGLM2, Qwen) crashes on it."""
    if _tf_version() >= Version("4.41"):
        return auto_class
    return _DropNoneGGUF(auto_class)


LEGACY_FOLDER_SUFFIX = "-tf4"


def readable_folder(folder: Path) -> Path:
    """A model folder this stack reads as transformers 5 does. A folder the harness prepared (embedded models)
    is written by transformers 5 and tokenizers 0.2x; transformers < 5 misreads it, some of it silently:
    tokenizers 0.13 cannot parse merges stored as pairs, `tokenizer_class: TokenizersBackend` does not exist,
    rope_theta nested in rope_parameters falls back to 10000 (every output changes), and a missing
    clean_up_tokenization_spaces defaults to True (some decodes change). So each stack gets its own copy,
    converted once beside the original: same weights (hard links where possible), rewritten JSON."""
    if _tf_version() >= Version("5") or not (folder / "harness_prepared.json").exists():
        return folder
    out = folder.with_name(folder.name + LEGACY_FOLDER_SUFFIX)
    if (out / "harness_prepared.json").exists():
        return out
    import os
    import shutil

    staged = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for p in folder.iterdir():
        if p.is_file() and p.name != "harness_prepared.json":
            try:
                os.link(p, staged / p.name)
            except OSError:
                shutil.copyfile(p, staged / p.name)
    _legacy_json(staged)
    shutil.copyfile(folder / "harness_prepared.json", staged / "harness_prepared.json")  # last: marks it whole
    try:
        staged.rename(out)
    except OSError:  # another process converted it first
        shutil.rmtree(staged, ignore_errors=True)
    return out


def _rewrite(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.unlink()  # a hard link: write a new file, never through the link into the original
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")


def _legacy_json(d: Path) -> None:
    def tokenizer(tj: dict[str, Any]) -> None:
        m = tj["model"]
        if m.get("merges") and not isinstance(m["merges"][0], str):
            if any(" " in a or " " in b for a, b in m["merges"]):
                raise ValueError(f"{d}: a BPE merge holds a space; tokenizers 0.13 cannot represent it")
            m["merges"] = [f"{a} {b}" for a, b in m["merges"]]
        m.pop("ignore_merges", None)

    def tokenizer_config(tc: dict[str, Any]) -> None:
        tc["tokenizer_class"] = "PreTrainedTokenizerFast"
        tc.setdefault("clean_up_tokenization_spaces", False)  # transformers 5's behaviour; 4.x defaults to True
        for k in ("backend", "is_local", "local_files_only"):
            tc.pop(k, None)
        if (d / "chat_template.jinja").exists():
            tc["chat_template"] = (d / "chat_template.jinja").read_text(encoding="utf-8")

    def config(cfg: dict[str, Any]) -> None:
        rope = cfg.get("rope_parameters") or {}
        if rope.get("rope_type", "default") == "default" and "rope_theta" in rope:
            cfg["rope_theta"] = rope["rope_theta"]
        if cfg.get("dtype") and not cfg.get("torch_dtype"):
            cfg["torch_dtype"] = cfg["dtype"]

    _rewrite(d / "tokenizer.json", tokenizer)
    _rewrite(d / "tokenizer_config.json", tokenizer_config)
    _rewrite(d / "config.json", config)
