"""What every backend returns, and the interface it implements (see harness/execute/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.spec.cell import CellSpec
from harness.store.record import Record


@dataclass
class Execution:
    record: Record
    samples: list[dict[str, Any]]
    stored: bool = False  # already in the store (a worker wrote it)


class Backend(Protocol):
    name: str

    def execute(self, spec: CellSpec, device: Any) -> Execution | None: ...
