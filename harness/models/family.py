"""Which P-tuning v2 path a model family takes (harness/finetune/prefix.py says why each exists), read from a
model's config.json without transformers: planning a sweep decides it, and it is part of the artifact's id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PEFT, CHATGLM2, QWEN, BAICHUAN = "peft", "chatglm2-native", "peft+qwen", "peft+baichuan"
_BY_MODEL_TYPE = {"chatglm": CHATGLM2, "qwen": QWEN, "baichuan": BAICHUAN}


def path_for(model_type: str | None) -> str:
    return _BY_MODEL_TYPE.get(model_type or "", PEFT)


def config_json(model: Any) -> dict[str, Any] | None:
    """A model's config.json as JSON, read without transformers (planning stays light): its local folder, or
    the hub cache for a hub id; None when neither has it yet."""
    if getattr(model, "local_path", None):
        path: Path | None = Path(model.local_path).expanduser() / "config.json"
    elif getattr(model, "hub_id", None):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(model.hub_id, "config.json", revision=model.revision)
        except Exception:  # noqa: BLE001 (a cache layout it cannot read is a cache without the file)
            found = None
        path = Path(found) if isinstance(found, str) else None
    else:
        path = None
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None


def planned_path(model: Any) -> str:
    """The prefix path a model will train with, from its config.json where the plan can read it (an embedded
    model is a Llama-style folder: peft)."""
    doc = config_json(model)
    return path_for(doc.get("model_type") if doc else None)
