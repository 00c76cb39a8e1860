"""lm-eval backend `harness-chat-api`: an OpenAI-compatible chat model, through the `openai` client.

Registered with lm-eval like its own backends, so an API model is scored by exactly the task code that scores
local models: lm-eval renders the prompt (as chat messages with `apply_chat_template=True`; without it, plain
text, sent as one user message), this backend sends it
and returns the text, lm-eval's filters and metrics score it. Each request's meter (tokens, latency, cost) is
kept by (task, doc_id) for the per-sample records (k of them with eval.samples = k).

Also usable from lm-eval's own command line (`python -m harness.api ...` registers it first).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.models.api_models import JsonChatStr
from lm_eval.models.utils import handle_stop_sequences, postprocess_generated_text

from harness.api.budget import current as current_budget
from harness.api.cache import ResponseCache
from harness.api.client import ApiCaller, Estimator, Settings, chars_estimate
from harness.api.meter import Meter
from harness.errors import HarnessError

MAX_STOP = 4  # OpenAI's limit on `stop`; further stop strings are applied to the text afterwards


def tokenizer_estimate(folder: str) -> Estimator:
    """Count with the model's own tokenizer (chat template included) when a server returns no usage."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    name = os.path.basename(folder.rstrip("/"))

    def estimate(messages: list[dict[str, Any]], text: str) -> tuple[int, int, str]:
        if tok.chat_template:
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            # a BatchEncoding (a Mapping, not a dict) in recent transformers: its len() is its number of keys
            prompt = prompt["input_ids"] if isinstance(prompt, Mapping) else prompt
        else:
            prompt = tok("\n".join(str(m["content"]) for m in messages))["input_ids"]
        return (
            len(prompt),
            len(tok(text, add_special_tokens=False)["input_ids"]),
            f"estimated: {name} tokenizer",
        )

    return estimate


@register_model("harness-chat-api")
class ChatAPI(LM):
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str | None = None,
        endpoint_id: str | None = None,
        cache_path: str = "results/api_cache.sqlite",
        cell_id: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        price_input_per_1m: float | None = None,
        price_cached_input_per_1m: float | None = None,
        price_output_per_1m: float | None = None,
        currency: str = "USD",
        tokenizer: str | None = None,
        seed: int = 1234,
        concurrency: int = 4,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        max_retries: int = 6,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        timeout_s: float = 120.0,
        deadline_s: float = 600.0,
        stream: bool = True,
        key_model: str | None = None,
        usage: str = "openai",  # how the provider's `usage` is read (usage.py)
        **_: Any,  # lm-eval's batch_size, device...: not meaningful for an API
    ):
        super().__init__()
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise HarnessError(f"the API key is missing: set the environment variable {api_key_env}.")
        else:
            key = "EMPTY"  # the openai client needs a value; a keyless endpoint ignores it
        self.temperature, self.max_tokens = (
            float(temperature),
            None if max_tokens is None else int(max_tokens),
        )
        price = {
            "currency": currency,
            "input_per_1m": price_input_per_1m,
            "cached_input_per_1m": price_cached_input_per_1m,
            "output_per_1m": price_output_per_1m,
        }
        settings = Settings(
            int(concurrency),
            requests_per_minute,
            tokens_per_minute,
            int(max_retries),
            float(backoff_base_s),
            float(backoff_max_s),
            float(timeout_s),
            bool(stream),
            float(deadline_s),
        )
        self.cache = ResponseCache(Path(cache_path))
        self.caller = ApiCaller(
            base_url=base_url,
            api_key=key,
            model=model,
            endpoint_id=endpoint_id or base_url or "https://api.openai.com/v1",
            price=price,
            settings=settings,
            cache=self.cache,
            cell_id=cell_id,
            estimator=tokenizer_estimate(tokenizer) if tokenizer else chars_estimate,
            key_env=api_key_env,
            seed=seed,
            key_model=key_model,
            usage=usage,
            budget=current_budget(),
        )
        # per (task, doc_id): one meter per request, k of them when lm-eval repeats an item (eval.samples = k)
        self.meters: dict[tuple[str | None, int | None], list[Meter]] = {}

    @property
    def tokenizer_name(self) -> str:
        return ""  # the provider applies its own chat template

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> Any:
        # lm-eval passes the rendered prompt back to generate_until as a string: keep the messages as JSON.
        return JsonChatStr(json.dumps(chat_history, ensure_ascii=False))

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        bodies, stops, variants = [], [], []
        seen: dict[tuple[Any, Any, str], int] = {}
        for req in requests:
            context, gen_kwargs = req.args[0], dict(req.args[1])
            if isinstance(context, JsonChatStr):
                messages = json.loads(context.prompt)
            else:  # run without apply_chat_template: the whole prompt as one user message
                messages = [{"role": "user", "content": context}]
            until = [u for u in handle_stop_sequences(gen_kwargs.pop("until", None), None) if u]
            body: dict[str, Any] = {
                "messages": messages,
                "max_tokens": self.max_tokens or int(gen_kwargs.get("max_gen_toks", 256)),
                "temperature": float(gen_kwargs["temperature"])
                if gen_kwargs.get("do_sample") and "temperature" in gen_kwargs
                else self.temperature,
            }
            if until:
                body["stop"] = until[:MAX_STOP]
            # lm-eval repeats an item k times as the same request; the i-th repeat of the same body is its own
            # answer (a sample at temperature > 0), so it gets its own cache key. k = 1 keeps the plain key.
            item = (req.task_name, req.doc_id, json.dumps(body, sort_keys=True, ensure_ascii=False))
            variants.append(seen.get(item, 0))
            seen[item] = variants[-1] + 1
            bodies.append(body)
            stops.append(until)
        answers = self.caller.run(bodies, variants)
        out = []
        for req, (text, meter), until in zip(requests, answers, stops, strict=True):
            self.meters.setdefault((req.task_name, req.doc_id), []).append(meter)
            out.append(postprocess_generated_text(text, until, None))
        return out

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise HarnessError(
            "a chat-completions API returns no log-probabilities of given answers, so it cannot score a "
            "multiple-choice (log-likelihood) task; use a generative task."
        )

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        return self.loglikelihood(requests)  # type: ignore[return-value]
