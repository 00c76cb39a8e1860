"""Model sources: embedded GGUFs prepared into HF folders, local folders, hub ids; and the preflight."""

from __future__ import annotations

from pathlib import Path

from harness.config.schema import ModelConfig


def weights_location(model: ModelConfig, cache: Path) -> str:
    """What lm-eval's `hf` backend gets as `pretrained`: a local folder or a hub id (read from the HF cache)."""
    if model.source == "embedded":
        from harness.models.embedded import prepare

        return str(prepare(model, cache))
    if model.local_path:
        return str(Path(model.local_path).expanduser().resolve())
    return str(model.hub_id)


def model_config(name: str) -> ModelConfig:
    """A model's registry entry (conf/model/<name>.yaml) outside Hydra's composition, e.g. the model a local
    API stand-in serves. Validated against the schema like any composed config."""
    from omegaconf import OmegaConf

    from harness.errors import HarnessError, did_you_mean
    from harness.paths import CONF_DIR
    from harness.tasks import load_yaml

    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.exists():
        known = [p.stem for p in (CONF_DIR / "model").glob("*.yaml")]
        raise HarnessError(did_you_mean(name, known, "model"))
    node = OmegaConf.merge(OmegaConf.structured(ModelConfig), load_yaml(path))
    return OmegaConf.to_object(node)  # type: ignore[return-value]
