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

    return [load_option("hardware", name, HardwareConfig) for name in option_files("hardware") if name != "auto"]


def fits(p: HardwareConfig, kind: str, name: str, cpus: int | None) -> bool:
    if p.kind != kind or (p.match and p.match.lower() not in name.lower()):
        return False
    return kind != "cpu" or p.cpus is None or p.cpus == cpus


def priced_as(hw: HardwareConfig, kind: str, name: str, count: int, devices: int = 1) -> dict[str, Any]:
    """The hardware section of a record: what the cell ran on and the price of one device-hour (or null).
    `count`: devices visible; `devices`: devices the cell used (one per process), the number it is billed for."""
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
        "devices": devices,
        "cpus": cpus,
        "price_per_hour": price.get("price_per_hour"),  # per device; null = unpriced (no profile fits)
        "currency": price.get("currency", "USD"),
        "as_of": price.get("as_of"),
        "source": price.get("source"),
    }


def training_priced(metering: dict[str, Any], evaluated_on: dict[str, Any]) -> tuple[float | None, str]:
    """(money, basis) of a fine-tuning run, priced as the device it TRAINED on: the profile stored with its
    artifact. An artifact from before profiles were stored is priced as the evaluation's device only when that is
    the same kind and name of device; otherwise it stays unpriced rather than priced as the wrong hardware."""
    from harness.compare.cost import training_cost

    device = metering.get("device") or {}
    count = int(device.get("count") or 1)
    seconds = metering["train_seconds"]
    hw = metering.get("hardware")
    if hw is None:
        same = (device.get("kind"), device.get("name")) == (
            evaluated_on.get("kind"),
            evaluated_on.get("device_name"),
        )
        hw = evaluated_on if same else None
        if hw is None:
            return None, (
                f"unpriced: trained on {device.get('name') or device.get('kind')} (no price stored with "
                f"the artifact), evaluated on {evaluated_on.get('device_name')}"
            )
    price = hw.get("price_per_hour")
    if price is None:
        return (
            None,
            f"unpriced: no hardware profile fits {device.get('name') or hw.get('device_name')}, where it trained",
        )
    return training_cost(seconds, count, price), (
        f"{seconds:,.0f} s x {count} device(s) x {price}/h ({hw.get('profile')}, the device it trained on)"
    )
