"""Where an OpenAI-compatible model answers: a provider's URL, or a local `transformers serve` started for the
length of a `with` block. Shared by API baselines and the LLM judge."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from harness.config.schema import BaselineConfig, ModelConfig
from harness.errors import PreflightError


def api_key(b: BaselineConfig) -> str:
    """The key from the environment variable the config names (never from a file); "EMPTY" for keyless ones."""
    if not b.api_key_env:
        return "EMPTY"  # the openai client needs a value; a keyless endpoint ignores it
    key = os.environ.get(b.api_key_env)
    if not key:
        raise PreflightError(
            f"{b.name} needs an API key in the environment variable {b.api_key_env}, which is not set.\n"
            f"  export {b.api_key_env}=...   (keys are read from the environment only, never from a config file)"
        )
    return key


@contextlib.contextmanager
def endpoint_for(
    b: BaselineConfig, served_model: ModelConfig | None, cache_dir: Path, log_path: Path
) -> Iterator[tuple[str | None, str]]:
    """Yields (base_url, model name to send): the served folder for a local server, else the provider's id.
    `served_model` is the plan's (harness.plan.cells.plan_endpoint), for a baseline and a judge alike."""
    if b.serve is None or served_model is None:
        yield b.base_url, str(b.model)
        return
    from harness.api.serve import served
    from harness.models import weights_location

    s = b.serve
    folder = weights_location(served_model, cache_dir)
    with served(
        folder,
        log_path,
        s.device,
        s.dtype,
        s.continuous_batching,
        s.startup_timeout_s,
        s.cb_num_blocks,
        s.cb_max_batch_tokens,
    ) as url:
        yield url, folder
