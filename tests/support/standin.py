"""The stand-in endpoint shared by a test session: SmolLM2-135M-Instruct behind the real `transformers serve`
(continuous batching), started through the harness's own `served()`."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from harness.api.serve import served
from tests.support.shared import SharedService


def serves(url: str, model_dir: str) -> bool:
    """Whether `url` (.../v1) answers and is a server of `model_dir` (not another program on a reused port)."""
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=5) as r:
            listed = json.loads(r.read())
    except (OSError, ValueError):
        return False
    return any(m.get("id") == model_dir for m in listed.get("data", []) if isinstance(m, dict))


def standin(model_dir: Path, log_dir: Path) -> SharedService:
    folder = str(model_dir)
    return SharedService(
        lambda: served(folder, log_dir / "serve.log", continuous_batching=True),
        lambda url: serves(url, folder),
        "stand-in endpoint",
    )
