"""Model sources: embedded GGUFs prepared into HF folders, local folders, hub ids; and the preflight."""

from __future__ import annotations

from pathlib import Path

from harness.config.schema import ModelConfig


def weights_location(model: ModelConfig, cache: Path) -> str:
    """What lm-eval's `hf` backend gets as `pretrained`: a local folder or a hub id (read from the HF cache)."""
    if model.source == "embedded":
        from harness.compat import readable_folder
        from harness.models.embedded import prepare

        # prepared by transformers 5; an older stack (a runtime's worker) reads its own converted copy
        return str(readable_folder(prepare(model, cache)))
    if model.local_path:
        return str(Path(model.local_path).expanduser().resolve())
    return str(model.hub_id)


def model_config(name: str) -> ModelConfig:
    """A model's registry entry (conf/model/<name>.yaml) outside Hydra's composition, e.g. the model a local
    API stand-in serves. Validated against the schema like any composed config."""
    from harness.config.options import load_option

    return load_option("model", name, ModelConfig)
