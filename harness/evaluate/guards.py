"""Guards against three ways a model folder silently corrupts generative scores, fixed at their root for every
model (never per model name). Found with the seed models' own remote code (issue 15):

1. an empty stop string: a tokenizer whose eos token decodes to "" (ChatGLM2's) makes lm-eval stop on "",
   which every text contains, so each answer is cut after one token;
2. no eos token on the tokenizer (Qwen's): lm-eval cannot build its stop list and generation fails;
3. the folder's generation_config.json: `max_new_tokens`, sampling and penalties there override the task's
   (a 48-token task generated 512 tokens with Qwen, 2048 with Baichuan2-13B-Chat).
"""

from __future__ import annotations

import logging
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger(__name__)
# What generate needs from a folder's generation config: which tokens end, pad and start a sequence.
TOKEN_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


def nonempty_stops(stop: list[str]) -> list[str]:
    """Stop strings without the empty one (which would match at once); lm-eval's own post-processing skips ""
    already, and the eos token still ends generation through its id."""
    return [s for s in stop if s]


def first_id(value: Any) -> int | None:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def ensure_eos(tokenizer: Any, model: Any, name: str = "the model") -> None:
    """A tokenizer without an eos token gets the one the model's generation config or config names; with
    neither, the cell stops here with what to do."""
    if tokenizer.eos_token_id is not None:
        return
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        eos = first_id(getattr(source, "eos_token_id", None))
        if eos is not None:
            tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos)
            log.warning(
                "%s: its tokenizer has no eos token; using %r (id %d) from its %s",
                name,
                tokenizer.eos_token,
                eos,
                type(source).__name__,
            )
            return
    raise HarnessError(
        f"{name}: its tokenizer has no eos token and neither its config nor its generation config names one, so "
        "generation could not stop. Set `eos_token` in the folder's tokenizer_config.json."
    )


def folder_configs(pretrained: str, trust_remote_code: bool, revision: str | None = None) -> Any:
    """A model's config and generation config read from its folder (or the hub cache) without its weights: what
    `ensure_eos` reads before fine-tuning, whose training answers must end with the eos token the model will
    stop on (a tokenizer without one would train answers that never end, and pad with None)."""
    from types import SimpleNamespace

    from transformers import AutoConfig, GenerationConfig

    kw: dict[str, Any] = {"revision": revision} if revision else {}
    config = AutoConfig.from_pretrained(pretrained, trust_remote_code=trust_remote_code, **kw)
    try:
        generation = GenerationConfig.from_pretrained(pretrained, **kw)
    except (OSError, ValueError):  # no generation_config.json: the config's ids are all there is
        generation = None
    return SimpleNamespace(config=config, generation_config=generation)


def neutral_generation_config(model: Any) -> None:
    """Replace the folder's generation config by one that keeps only its token ids: every other setting (length,
    sampling, penalties) comes from the task, as lm-eval passes it."""
    current = getattr(model, "generation_config", None)
    if current is None:
        return
    from transformers import GenerationConfig

    kept = {f: getattr(current, f, None) for f in TOKEN_FIELDS if getattr(current, f, None) is not None}
    model.generation_config = GenerationConfig(**kept)
