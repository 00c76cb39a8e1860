"""The one way to open an OpenAI-compatible endpoint, for every purpose: an API baseline, the LLM judge, a data
teacher, a load run. In order: the key (a missing one stops before any server starts), the response cache, the
server (a local `transformers serve` when the entry has `serve:`; none when every answer is already cached), the
metered caller with the run's money caps. Leaving the `with` stops the server and closes the cache.

    with open_endpoint(e, plan_endpoint(e), log_path, cache_dir, config=cfg, api_cache=db, who="judge:abc",
                       seed=1234, budget_key="judge.endpoint.budget_usd", bodies=bodies) as session:
        answers = session.caller.run(bodies)

Purposes that send their own requests (lm-eval's `harness-chat-api` backend, the load generator) leave `who`
out: they get the URL, the model name to send and the key, and no caller.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.api.budget import Budget, budget_for
from harness.api.cache import ResponseCache, request_key
from harness.api.client import ApiCaller, Settings
from harness.api.endpoint import api_key, endpoint_for
from harness.config.schema import BaselineConfig
from harness.spec.cell import Endpoint


@dataclass
class Session:
    url: str | None  # None: a provider's default URL, or nothing was started because every answer is cached
    model: str  # the name to send: the provider's model id, or the served folder
    key: str
    budget: Budget  # the run's and this endpoint's money caps
    caller: ApiCaller | None  # None when the purpose sends its own requests


def sample_variants(bodies: list[dict[str, Any]]) -> list[int]:
    """Two requests that happen to be the same (the same seed draw) are two samples, not one answer used twice:
    the n-th repeat of a body gets variant n, part of its cache key."""
    seen: dict[str, int] = {}
    out = []
    for b in bodies:
        k = json.dumps(b, sort_keys=True)
        out.append(seen.get(k, 0))
        seen[k] = out[-1] + 1
    return out


@contextlib.contextmanager
def open_endpoint(
    e: BaselineConfig,
    endpoint: Endpoint,
    log_path: Path,
    cache_dir: Path,
    *,
    config: Any = None,
    api_cache: Path | None = None,
    who: str | None = None,
    seed: int = 0,
    budget_key: str = "baseline.budget_usd",
    bodies: list[dict[str, Any]] | None = None,
    variants: list[int] | None = None,
) -> Iterator[Session]:
    """`endpoint` is the plan's (harness.plan.cells.plan_endpoint(e)), `cache_dir` where models are prepared,
    `config` the job's config or a cell's snapshot (its `budget` section). With `api_cache` and `who` (the
    ledger's name for these requests) the session has a caller; with `bodies` too, a server is started only if
    one of them is not cached yet."""
    key = api_key(e)  # before any server starts: a missing key stops here
    key_model = e.serve.model if e.serve is not None else str(e.model)
    budget = budget_for(config, e, budget_key)
    cache = ResponseCache(api_cache) if api_cache is not None and who is not None else None
    try:
        cached = (
            cache is not None
            and bodies is not None
            and all(
                cache.get(request_key(endpoint.id, key_model, b if v == 0 else {**b, "_sample": v}))
                for b, v in zip(bodies, variants or [0] * len(bodies), strict=True)
            )
        )
        where = (
            contextlib.nullcontext((None, key_model))
            if cached
            else endpoint_for(e, endpoint.served_model, cache_dir, log_path)
        )
        with where as (url, model):
            caller = None
            if cache is not None:
                caller = ApiCaller(
                    base_url=url,
                    api_key=key,
                    model=model,
                    endpoint_id=endpoint.id,
                    price=asdict(e.price),
                    settings=Settings.of(e),
                    cache=cache,
                    cell_id=str(who),
                    key_env=e.api_key_env,
                    seed=seed,
                    key_model=key_model,
                    usage=e.usage,
                    budget=budget,
                )
            yield Session(url, model, key, budget, caller)
    finally:
        if cache is not None:
            cache.close()
