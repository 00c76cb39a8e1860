"""Which price applies to the device a cell ran on. A measurement is priced only as the hardware it ran on: a
CPU-measured row priced as an H100 would be a projection, and the harness refuses to make one silently."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from harness.config.schema import HardwareConfig
from harness.errors import PreflightError


def profiles() -> list[HardwareConfig]:
    from harness.config.options import load_option, option_files

    return [
        load_option("hardware", name, HardwareConfig) for name in option_files("hardware") if name != "auto"
    ]


def fits(p: HardwareConfig, kind: str, name: str, cpus: int | None) -> bool:
    if p.kind != kind or (p.match and p.match.lower() not in name.lower()):
        return False
    return kind != "cpu" or p.cpus is None or p.cpus == cpus


def priced_as(hw: HardwareConfig, kind: str, name: str, count: int) -> dict[str, Any]:
    """The hardware section of a record: what the cell ran on and the price of one device-hour (or null)."""
    cpus = os.cpu_count()
    if hw.name == "auto":
        chosen = next((p for p in profiles() if fits(p, kind, name, cpus)), None)
    else:
        if not fits(hw, kind, name, cpus):
            raise PreflightError(
                f"hardware={hw.name} prices a {hw.kind} device{f' named *{hw.match}*' if hw.match else ''}"
                f"{f' with {hw.cpus} CPUs' if hw.cpus else ''}, but this cell runs on {kind} ({name}, {cpus} CPUs): "
                "its speed measured here says nothing about that device. Use hardware=auto (the device it runs on), "
                "or run it on that hardware."
            )
        chosen = hw
    price = asdict(chosen) if chosen else {}
    return {
        "profile": chosen.name if chosen else None,
        "kind": kind,
        "device_name": name,
        "count": count,
        "cpus": cpus,
        "price_per_hour": price.get("price_per_hour"),  # per device; null = unpriced (no profile fits)
        "currency": price.get("currency", "USD"),
        "as_of": price.get("as_of"),
        "source": price.get("source"),
    }
