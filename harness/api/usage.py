"""Read a provider's `usage` object into one shape: prompt, cached prompt, billed output and reasoning tokens.

OpenAI-compatible providers agree on `prompt_tokens` and `completion_tokens` and disagree on where cache hits and
reasoning tokens are reported. Read with OpenAI's names only, DeepSeek's cache hits (its own
`prompt_cache_hit_tokens`) count as zero and are billed at the full input price: 3.7x too much for a 1,500-token
prompt with 1,280 hits. So each baseline names the adapter for its provider (`baseline.usage`), and each adapter
follows its provider's documented response:

  openai     prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens
             https://platform.openai.com/docs/api-reference/chat/object
  deepseek   prompt_cache_hit_tokens (+ prompt_cache_miss_tokens = prompt_tokens); newer responses also carry
             prompt_tokens_details.cached_tokens; completion_tokens_details.reasoning_tokens (deepseek-reasoner)
             https://api-docs.deepseek.com/api/create-chat-completion, https://api-docs.deepseek.com/guides/kv_cache
  dashscope  (Qwen, Alibaba Model Studio, OpenAI-compatible mode) the OpenAI names; an explicit-cache write is
             reported as prompt_tokens_details.cache_creation_input_tokens
             https://www.alibabacloud.com/help/en/model-studio/context-cache
  zhipu      (GLM) the OpenAI names: prompt_tokens_details.cached_tokens
             https://docs.z.ai/guides/capabilities/cache
  moonshot   (Kimi) cache hits as a top-level `cached_tokens` (newer responses also under prompt_tokens_details);
             when streaming, the usage comes inside the last chunk's choice (client.py reads it there)
             https://platform.moonshot.ai/docs/api/chat

All five count reasoning tokens inside `completion_tokens` (they are billed as output). A server that reports them
beside it instead (xAI does: its total_tokens = prompt + completion + reasoning) is recognised from total_tokens and
its reasoning is added to the billed output, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    """One response's tokens, as billed."""

    prompt_tokens: int  # every prompt token, cached ones included
    cached_tokens: int  # of which the provider served from its prompt cache (billed at the cached price)
    completion_tokens: int  # billed output: the visible answer plus any reasoning
    reasoning_tokens: int  # of which reasoning: billed, never part of the answer
    reported: bool  # the server gave the prompt's token count; False: the caller estimates the usage instead
    warnings: tuple[str, ...] = ()  # what did not add up, and what was done about it


def _count(value: Any) -> int | None:
    """A token count, or None. A bool is an int in Python and a float or string is not a count: both absent."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _at(usage: dict[str, Any], *path: str) -> int | None:
    """The count at a nested key (`_at(u, "prompt_tokens_details", "cached_tokens")`), or None."""
    node: Any = usage
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return _count(node)


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


# -- where each provider puts its numbers: (prompt, cached, completion, reasoning), None where absent -------------
Fields = tuple[int | None, int | None, int | None, int | None]


def _output(u: dict[str, Any]) -> tuple[int | None, int | None]:
    """(completion, reasoning): every provider here uses OpenAI's names for these."""
    return _at(u, "completion_tokens"), _at(u, "completion_tokens_details", "reasoning_tokens")


def _openai(u: dict[str, Any]) -> Fields:
    return _at(u, "prompt_tokens"), _at(u, "prompt_tokens_details", "cached_tokens"), *_output(u)


def _deepseek(u: dict[str, Any]) -> Fields:
    hit, miss = _at(u, "prompt_cache_hit_tokens"), _at(u, "prompt_cache_miss_tokens")
    # DeepSeek documents prompt_tokens = hit + miss: the sum stands in if prompt_tokens itself is missing
    prompt = _first(_at(u, "prompt_tokens"), hit + miss if hit is not None and miss is not None else None)
    return prompt, _first(hit, _at(u, "prompt_tokens_details", "cached_tokens")), *_output(u)


def _moonshot(u: dict[str, Any]) -> Fields:
    cached = _first(_at(u, "cached_tokens"), _at(u, "prompt_tokens_details", "cached_tokens"))
    return _at(u, "prompt_tokens"), cached, *_output(u)


def _deepseek_checks(u: dict[str, Any], prompt: int) -> list[str]:
    hit, miss = _at(u, "prompt_cache_hit_tokens"), _at(u, "prompt_cache_miss_tokens")
    if hit is not None and miss is not None and hit + miss != prompt:
        return [f"usage: prompt_cache_hit_tokens {hit} + prompt_cache_miss_tokens {miss} != prompt_tokens {prompt}"]
    return []


def _dashscope_checks(u: dict[str, Any], prompt: int) -> list[str]:
    # An explicit cache (a `cache_control` marker in the messages, which the harness never sends) bills its
    # creation at 125% of the input price; priced here at the input price, so say so rather than under-count.
    created = _at(u, "prompt_tokens_details", "cache_creation_input_tokens")
    if created:
        return [
            f"usage: {created} prompt tokens written to an explicit cache (billed by DashScope at 125% of the "
            "input price) are priced at the input price"
        ]
    return []


@dataclass(frozen=True)
class Adapter:
    name: str
    fields: Callable[[dict[str, Any]], Fields]
    checks: Callable[[dict[str, Any], int], list[str]] = lambda u, prompt: []


ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        Adapter("openai", _openai),
        Adapter("deepseek", _deepseek, _deepseek_checks),
        Adapter("dashscope", _openai, _dashscope_checks),
        Adapter("zhipu", _openai),
        Adapter("moonshot", _moonshot),
    )
}

# Every place a provider above reports cache hits: one the chosen adapter does not read is a misconfiguration
# (the bug this module exists for), so it is named in a warning.
CACHE_FIELDS = (("prompt_tokens_details", "cached_tokens"), ("prompt_cache_hit_tokens",), ("cached_tokens",))


def adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        from harness.errors import HarnessError, did_you_mean

        raise HarnessError(f"baseline.usage={name}: " + did_you_mean(str(name), list(ADAPTERS), "usage adapter"))
    return ADAPTERS[name]


def parse(usage: Any, name: str = "openai") -> Usage:
    """A response's `usage` (a dict, or None when the server sent none) read by the adapter `name`.

    Missing counts are 0 and counts that are not non-negative integers are treated as missing; `reported` is
    False when the prompt's count is missing (the caller then estimates the whole usage, as it did before)."""
    a = adapter(name)
    u = usage if isinstance(usage, dict) else {}
    prompt, cached, completion, reasoning = a.fields(u)
    if prompt is None:
        return Usage(0, 0, completion or 0, reasoning or 0, reported=False)
    cached, completion, reasoning = cached or 0, completion or 0, reasoning or 0
    warnings = a.checks(u, prompt)
    unread = max((v for v in (_at(u, *f) for f in CACHE_FIELDS) if v is not None), default=0)
    if unread > cached:
        warnings.append(
            f"usage: the response reports {unread} cached prompt tokens where the '{name}' adapter "
            "does not look (is baseline.usage right for this provider?)"
        )
    if cached > prompt:
        warnings.append(f"usage: cached_tokens {cached} > prompt_tokens {prompt}, clamped")
        cached = prompt
    total = _at(u, "total_tokens")
    if reasoning and total is not None and total == prompt + completion + reasoning:
        # reasoning reported beside completion_tokens, not inside it: billed output is the sum
        warnings.append(
            f"usage: reasoning_tokens {reasoning} are not in completion_tokens {completion} "
            f"(total_tokens {total} = prompt + completion + reasoning); billed output "
            f"{completion + reasoning}"
        )
        completion += reasoning
    elif reasoning > completion:
        warnings.append(f"usage: reasoning_tokens {reasoning} > completion_tokens {completion}, clamped")
        reasoning = completion
    return Usage(prompt, cached, completion, reasoning, reported=True, warnings=tuple(warnings))


# -- is the usage believable? ----------------------------------------------------------------------------------
# The bounds are loose on purpose: a provider's hidden system prompt, a tokenizer unlike the estimate's (a
# characters / 4 estimate undercounts Chinese about 4x) and reasoning tokens must all pass. What they catch is
# usage that cannot be this request's: 10^12 prompt tokens for a 50-word question, a negative count.
SLACK_TOKENS = 64
PROMPT_FACTOR = 16  # reported prompt tokens above 16x the request's estimate + 1,024: not this request's
PROMPT_SLACK = 1024
OUTPUT_FACTOR = 16  # visible answer tokens above 16x the text's estimate + 64: not this answer's
MAX_TOKENS_FACTOR = 2  # billed output above 2x max_tokens + 64: the server did not bound it as asked
COUNTED = ("prompt_tokens", "completion_tokens", "total_tokens")


def implausible(raw: Any, u: Usage, prompt_estimate: int, answer_estimate: int, max_tokens: Any) -> list[str]:
    """Why a response's usage cannot be taken as its token counts ([] when it can): a count that is not a
    non-negative integer, or one far above what the request and the answer hold."""
    why = []
    if isinstance(raw, dict):
        for key in COUNTED:
            if raw.get(key) is not None and _count(raw[key]) is None:
                why.append(f"usage.{key} = {raw[key]!r:.24} is not a token count")
    if not u.reported:
        return why
    if u.prompt_tokens > PROMPT_FACTOR * prompt_estimate + PROMPT_SLACK:
        why.append(f"prompt_tokens {u.prompt_tokens:,} for a prompt of about {prompt_estimate:,} tokens")
    cap = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None
    if cap is not None:  # bounds reasoning too, which the answer's text does not show
        if u.completion_tokens > MAX_TOKENS_FACTOR * cap + SLACK_TOKENS:
            why.append(f"completion_tokens {u.completion_tokens:,} with max_tokens {cap}")
    elif u.completion_tokens - u.reasoning_tokens > OUTPUT_FACTOR * answer_estimate + SLACK_TOKENS:
        why.append(f"completion_tokens {u.completion_tokens:,} for an answer of about {answer_estimate:,} tokens")
    return why


def overlong(answer_estimate: int, max_tokens: Any) -> str | None:
    """A warning when the answer itself is far longer than max_tokens allows (the server ignored it)."""
    if isinstance(max_tokens, int) and max_tokens > 0 and answer_estimate > 4 * max_tokens + SLACK_TOKENS:
        return (
            f"answer: about {answer_estimate:,} tokens for max_tokens {max_tokens} (the server did not stop "
            "at max_tokens)"
        )
    return None
