"""A cell spec: everything one cell needs to run, as a frozen value that survives a JSON round trip.

`harness.plan.cells` makes specs from a composed config; a backend (harness.execute) turns one into a record. The
spec is all a worker in another process, another Python environment or another machine receives
(`python -m harness.execute.entry spec.json`), so it holds resolved values only: no OmegaConf node, no Hydra, no
callables. Its `id` is the content hash of `identity` (what changes the result), never of paths or bookkeeping.

Two kinds share that shape: `Cell` (a local model, base or fine-tuned, scored by lm-eval's hf backend) and
`BaselineCell` (an OpenAI-compatible API). A tuned `Cell` names the base cell it is compared with in `base_id`:
the plan orders the base first, and the run loop computes it first (an explicit dependency, not a recursion).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.schema import (
    BaselineConfig,
    EvalConfig,
    FinetuneConfig,
    HardwareConfig,
    ModelConfig,
    TaskConfig,
)
from harness.errors import HarnessError
from harness.spec.finetune import TrainSpec
from harness.tasks import TaskSpec

# bumped when a spec's JSON shape changes; a worker refuses a spec it cannot read. 2: the prompt format's
# `prompt_decided_by` and the task's `prompt_format` and `answer_pattern` (issue 36)
SPEC_VERSION = 2


@dataclass(frozen=True)
class Endpoint:
    """Where an OpenAI-compatible model answers, as the plan names it: `identity` goes into cell and judgement
    ids, `id` names the endpoint in the response cache (stable across ports for a local server). One value for
    a baseline and for a judge that uses the same conf/baseline/ entry."""

    identity: Any  # the URL for a provider; {"server": "transformers serve", "model": ...} for a local one
    id: str
    served_model: ModelConfig | None  # the embedded model a local stand-in serves


@dataclass(frozen=True)
class Cell:
    id: str
    identity: dict[str, Any]
    model: ModelConfig
    task: TaskConfig
    task_spec: TaskSpec
    finetune: FinetuneConfig
    train: TrainSpec | None  # None: the base model as it is (finetune=none)
    eval: EvalConfig
    apply_chat_template: bool
    results_dir: Path
    cache_dir: Path
    artifacts_dir: Path
    config_snapshot: dict[str, Any]
    hardware: HardwareConfig | None = None  # prices the device it runs on; not part of the id
    base_id: str | None = None  # a tuned cell: the base cell on the same items, computed before it
    prompt_decided_by: str = "model"  # who chose apply_chat_template: run | task | model (plan.cells.prompt_choice)

    kind = "local"


@dataclass(frozen=True)
class BaselineCell:
    """An API baseline on one task. Its id hashes what changes the answers (provider, model, endpoint, task,
    generation settings), not transport settings (concurrency, rate limits) nor the price: re-pricing a stored
    cell recomputes money from its stored usage and never calls the API again."""

    id: str
    identity: dict[str, Any]
    baseline: BaselineConfig
    served_model: ModelConfig | None  # the embedded model a local stand-in serves
    endpoint_id: str  # the response cache's name for the endpoint (stable across ports for a local server)
    task: TaskConfig
    task_spec: TaskSpec
    eval: EvalConfig
    results_dir: Path
    cache_dir: Path
    api_cache: Path
    config_snapshot: dict[str, Any]
    # chat APIs take messages: lm-eval renders the prompt as messages; False (a task or run asking for plain
    # prompts): the rendered text goes as one user message
    apply_chat_template: bool = True
    prompt_decided_by: str = "model"  # run | task | model (plan.cells.prompt_choice)

    kind = "api"


CellSpec = Cell | BaselineCell
KINDS: dict[str, type] = {"local": Cell, "api": BaselineCell}


def _plain(value: Any) -> Any:
    """A spec as JSON types: dataclasses to objects (field by field), paths to strings, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _typed(tp: Any, value: Any, where: str) -> Any:
    """The inverse of _plain for one declared field type (X | None, dataclasses, Path, tuple[...], list[...])."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _typed(arms[0], value, where) if len(arms) == 1 else value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise HarnessError(f"cell spec: {where} should be an object, not {type(value).__name__}.")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - names
        if unknown:
            raise HarnessError(f"cell spec: unknown key(s) {sorted(unknown)} in {where}; written by a newer harness?")
        return tp(**{k: _typed(hints[k], v, f"{where}.{k}") for k, v in value.items()})
    if tp is Path:
        return Path(value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: each element typed (dataclasses too)
            return tuple(_typed(args[0], v, where) for v in value)
        return tuple(value)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_typed(arg, v, where) for v in value]
    return value


def spec_to_json(spec: CellSpec) -> dict[str, Any]:
    return {"spec_version": SPEC_VERSION, "kind": spec.kind, "spec": _plain(spec)}


def spec_from_json(doc: dict[str, Any]) -> CellSpec:
    """A spec written by spec_to_json (in this or another process); its id is checked against its identity."""
    from harness.util import content_id

    if not isinstance(doc, dict) or doc.get("spec_version") != SPEC_VERSION or doc.get("kind") not in KINDS:
        raise HarnessError(
            f"not a cell spec this harness can read (spec_version {doc.get('spec_version') if isinstance(doc, dict) else '?'}"
            f", this harness reads {SPEC_VERSION}): plan it again with the same harness version as the worker."
        )
    spec = _typed(KINDS[doc["kind"]], doc["spec"], doc["kind"])
    if content_id(spec.identity) != spec.id:
        raise HarnessError(f"cell spec {spec.id}: its id is not the hash of its identity; the file was edited.")
    return spec


def write_spec(spec: CellSpec, path: Path) -> Path:
    from harness.store.store import atomic_write_text

    atomic_write_text(path, json.dumps(spec_to_json(spec), indent=1, ensure_ascii=False) + "\n")
    return path


def read_spec(path: Path) -> CellSpec:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HarnessError(f"cannot read the cell spec {path}: {e}") from None
    return spec_from_json(doc)
