"""Load records (`harness load`) as the report reads them, for tests of rows measured under load: a capacity at
the latency target prices a self-hosted row (harness.report.table.with_capacity), and closed-loop level 1 gives
any row its per-request latency at one user."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SLO = {"ttft_p95_s": 1.0, "tpot_p95_s": 0.1, "max_error_rate": 0.01}
TARGET = "p95 TTFT <= 1 s, p95 TPOT <= 100 ms, errors <= 1%"


def level(
    n: float,
    qph: float,
    *,
    e2e: tuple[float, float] = (1.0, 1.5),
    ttft: tuple[float, float] = (0.2, 0.4),
    meets: bool = True,
    answered: int = 8,
) -> dict[str, Any]:
    """One measured level: `answered` requests, none failed, at `qph` queries an hour; e2e and ttft (p50, p95)."""
    rps = qph / 3600
    fig = {
        "n": answered,
        "n_errors": 0,
        "error_rate": 0.0,
        "window": "wall",
        "requests_per_s": rps,
        "output_tokens_per_s": 10 * rps,
        "goodput_per_s": rps if meets else 0.0,
        "ttft_s": {"p50": ttft[0], "p95": ttft[1], "p99": ttft[1]},
        "tpot_s": {"p50": 0.05, "p95": 0.07},
        "e2e_s": {"p50": e2e[0], "p95": e2e[1]},
        "e2e_mean_s": None,
        "e2e_sd_s": None,
        "meets_target": meets,
    }
    return {
        "level": float(n),
        "level_id": f"l{n:g}",
        "trusted": True,
        "figures": fig,
        "generator": None,
        "machine": {"contended": False, "flags": [], "other_share": 0.0},
    }


def load_record(
    *,
    model_key: str | None = None,
    artifact_id: str | None = None,
    baseline: str | None = None,
    task: str = "helpdesk",
    capacity_qph: float | None = None,
    price_per_hour: float | None = None,
    profile: str | None = None,
    devices: int = 1,
    low_qph: float | None = None,
    high_qph: float | None = None,
    lowest_qph: float | None = None,
    one_user: tuple[float, float] = (1.0, 1.5),
    one_user_ttft: tuple[float, float] = (0.2, 0.4),
    created_at: str = "2026-12-01T00:00:00+00:00",
) -> dict[str, Any]:
    """A closed-loop load record of a local model (`model_key`, `artifact_id`) or of an API baseline
    (`baseline`, its record's model name) on `task`. Level 1 (one user) has e2e p50/p95 `one_user` and TTFT
    `one_user_ttft`, at `lowest_qph` queries an hour (default: the capacity, or 1,800). With `capacity_qph` the
    capacity at the target is that rate (level 1 when it equals level 1's, else level 2), with the 95 % interval
    `low_qph`..`high_qph`; the device is priced `price_per_hour` (None: a record that prices nothing)."""
    endpoint = {"baseline": baseline} if baseline else {"model_key": model_key, "artifact_id": artifact_id}
    first = lowest_qph or capacity_qph or 1800.0
    levels = [level(1, first, e2e=one_user, ttft=one_user_ttft)]
    cap = None
    if capacity_qph is not None:
        at = 1.0
        if capacity_qph != first:
            at = 2.0
            levels.append(level(2, capacity_qph, e2e=(one_user[0] * 1.5, one_user[1] * 1.5)))
        cap = {
            "level": at,
            "requests_per_s": capacity_qph / 3600,
            "queries_per_hour": capacity_qph,
            "queries_per_hour_low": low_qph,
            "queries_per_hour_high": high_qph,
            "lowest": {"level": 1.0, "queries_per_hour": first},
        }
    device = {
        "kind": "cuda" if profile and profile != "cpu-2vcpu" else "cpu",
        "profile": profile,
        "price_per_hour": price_per_hour,
        "devices": devices,
    }
    identity = {
        "schema": 1,
        "endpoint": endpoint,
        "device": device,
        "task": {"name": task},
        "prompts": {"n": 4, "seed": 1, "max_tokens": 48, "stop": [], "chat": True},
        "mode": "closed",
        "levels": [lv["level"] for lv in levels],
        "requests_per_level": 8,
        "slo": dict(SLO),
    }
    load_id = hashlib.sha256(json.dumps([identity, created_at], sort_keys=True).encode()).hexdigest()[:20]
    return {
        "kind": "load",
        "schema_version": 1,
        "load_id": load_id,
        "created_at": created_at,
        "identity": identity,
        "levels": levels,
        "capacity": cap,
        "target": TARGET,
        "price": None,
        "cost": None,
        "stopped_by_budget": None,
    }


def store_load(results: Path, record: dict[str, Any]) -> Path:
    """Write a load record where `harness load` keeps it: <results>/load/<load_id>.json."""
    path = Path(results) / "load" / f"{record['load_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    return path
