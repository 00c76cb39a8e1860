"""Differences between the transformers stacks the worker runs on (legacy-study sketch)."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

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


def _apply_chat_template(self: Any, conversation: list[dict[str, Any]], tokenize: bool = True,
                         add_generation_prompt: bool = False, continue_final_message: bool = False,
                         chat_template: str | None = None, **kwargs: Any) -> Any:
    template = chat_template or self.chat_template
    if template is None:
        raise ValueError("this tokenizer has no chat_template")
    chat = [dict(m) for m in conversation]
    if continue_final_message:
        chat[-1]["content"] = chat[-1]["content"] + _TAG
    special = {k: v for k, v in self.special_tokens_map.items() if isinstance(v, str)}
    text = _compile(template).render(messages=chat, tools=None, documents=None,
                                     add_generation_prompt=add_generation_prompt, **special, **kwargs)
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
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def _tf_version() -> Any:
    import transformers
    from packaging.version import Version

    return Version(transformers.__version__)


def training_args(**kw: Any) -> Any:
    """TrainingArguments across stacks: `include_num_input_tokens_seen` exists from 4.37 (counted by the caller
    before that); a float `warmup_steps` < 1 is a ratio only from transformers 5 (`warmup_ratio` before)."""
    from packaging.version import Version
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


class EpochSampler:
    """The training order, the same on every transformers/accelerate stack: epoch e visits the examples in
    torch.randperm(n) drawn from a generator seeded with seed + e. (Trainer's own RandomSampler is seeded
    differently across versions, and accelerate >= 1 swaps it for its SeedableRandomSampler.)"""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1  # a stack that never calls set_epoch still gets a new order each epoch
        return iter(torch.randperm(self.n, generator=g).tolist())


def trainer_class() -> Any:
    from transformers import Trainer

    class SeededTrainer(Trainer):
        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            return EpochSampler(len(self.train_dataset), self.args.data_seed)

    return SeededTrainer
