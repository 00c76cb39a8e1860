"""`harness prepare`: build the embedded models' HF folders."""

from __future__ import annotations

import argparse

from harness.app.compose import compose_jobs, group_options
from harness.errors import HarnessError, did_you_mean
from harness.paths import resolve


def cmd_prepare(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="harness prepare", description="Build the embedded models' HF folders.")
    p.add_argument("models", nargs="*", help="model names (default: every embedded model)")
    p.add_argument("--cache", default=None, help="cache folder (default: $HARNESS_CACHE or ~/.cache/harness)")
    a = p.parse_args(argv)
    from omegaconf import OmegaConf

    from harness.models.embedded import prepare

    configs = {m: compose_jobs([f"model={m}"], sweep=False, check=False)[0] for m in group_options("model")}
    embedded = [m for m, cfg in configs.items() if cfg.model.source == "embedded"]
    for name in a.models or embedded:
        if name not in embedded:
            raise HarnessError(did_you_mean(name, embedded, "embedded model"))
        cfg = configs[name]
        print(f"{name}: {prepare(OmegaConf.to_object(cfg.model), resolve(a.cache or cfg.paths.cache))}")
