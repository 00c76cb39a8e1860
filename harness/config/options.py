"""The one loader of a config group's options outside Hydra's composition: conf/<group>/<name>.yaml merged onto
its schema dataclass (so a misspelt key is refused as in a composed config). Used for the model an API stand-in
serves, the hardware price profiles and the `harness` command's option lists. Task options are task folders
(harness.tasks.discover), not YAML files here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError, did_you_mean
from harness.paths import CONF_DIR
from harness.util import load_yaml

T = TypeVar("T")


def option_files(group: str) -> dict[str, Path]:
    """{option name: file} of conf/<group>/ (e.g. model -> smollm2-135m.yaml)."""
    return {p.stem: p for p in sorted((CONF_DIR / group).glob("*.yaml"))}


def load_option(group: str, name: str, schema: type[T]) -> T:
    """conf/<group>/<name>.yaml as a `schema` dataclass, checked against it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    files = option_files(group)
    if name not in files:
        raise HarnessError(did_you_mean(name, list(files), group))
    try:
        node: Any = OmegaConf.merge(OmegaConf.structured(schema), load_yaml(files[name]))
        return OmegaConf.to_object(node)  # type: ignore[return-value]
    except OmegaConfBaseException as e:
        raise HarnessError(f"{files[name]}: {e}".splitlines()[0] + " Fix the file and run again.") from None
