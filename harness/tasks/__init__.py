"""Tasks are data: a folder under tasks/ with lm-eval YAMLs and data files. This module finds them (no lm-eval
import), turns each into a `task=<name>` option, and reads a task's version and content hash.

The content hash covers every file in the task folder (YAML, metric code, data), so editing any of them makes
new cells instead of silently mixing results from two versions of a task. Tasks that ship with lm-eval itself
(mmlu, cmmlu, ...) are configured in conf/task/ with `dir: null`; their version is lm-eval's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config.schema import TaskConfig
from harness.errors import HarnessError, did_you_mean
from harness.paths import REPO_ROOT, TASKS_DIR


class _TaskLoader(yaml.SafeLoader):
    """lm-eval YAML uses `!function module.name`; keep the tag's text, we only need plain fields."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dir: Path | None  # None: a task that ships with lm-eval
    yaml_file: Path | None
    version: str
    content_sha256: str
    output_type: str
    metrics: tuple[str, ...]


def load_yaml(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.load(f, Loader=_TaskLoader) or {}
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise HarnessError(f"malformed YAML at {where}: {e.problem}. Fix the file and run again.") from None


def load_task_yaml(path: Path, _depth: int = 0) -> dict[str, Any]:
    """A task YAML with lm-eval's `include:` resolved (the including file's keys win)."""
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise HarnessError(f"{path}: a task YAML must be a mapping of keys to values.")
    parent = doc.pop("include", None)
    if parent is None:
        return doc
    if _depth > 8:
        raise HarnessError(f"{path}: `include:` nests too deep (a cycle?).")
    base_path = path.parent / parent
    if not base_path.exists():
        raise HarnessError(f"{path}: `include: {parent}` names a file that does not exist ({base_path}).")
    return {**load_task_yaml(base_path, _depth + 1), **doc}


def harness_meta(doc: dict[str, Any]) -> dict[str, Any]:
    """The task's own notes for the harness: `metadata.harness` (primary_metric, description, leakage_field...)."""
    return ((doc.get("metadata") or {}).get("harness")) or {}


def task_roots() -> list[Path]:
    """tasks/ of this repository, then any folders listed in HARNESS_TASKS_PATH (os.pathsep-separated)."""
    extra = [
        Path(p).expanduser().resolve()
        for p in os.environ.get("HARNESS_TASKS_PATH", "").split(os.pathsep)
        if p
    ]
    return [TASKS_DIR, *extra]


def discover() -> dict[str, tuple[Path, dict[str, Any]]]:
    """{task name: (yaml file, resolved doc)} for every task folder (files starting with `_` are shared bases)."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for root in task_roots():
        for path in sorted(root.glob("*/*.yaml")):
            if path.name.startswith("_"):
                continue
            doc = load_task_yaml(path)
            if isinstance(doc.get("task"), str):
                found[doc["task"]] = (path, doc)
    return found


def task_config(name: str, path: Path, doc: dict[str, Any]) -> TaskConfig:
    meta = harness_meta(doc)
    metrics = [m.get("metric") for m in doc.get("metric_list") or [] if isinstance(m, dict)]
    folder = path.parent
    rel = folder.relative_to(REPO_ROOT).as_posix() if folder.is_relative_to(REPO_ROOT) else str(folder)
    return TaskConfig(
        name=name,
        dir=rel,
        primary_metric=meta.get("primary_metric") or (metrics[0] if metrics else "acc"),
        description=meta.get("description", ""),
        language=meta.get("language"),
    )


# What lm-eval reads from a task folder: YAML, data, schemas, and the Python modules named by `!function` tags.
# Docs (the data card README, which quotes scores) and generators are left out, so writing a card or
# reformatting a generator does not orphan the stored results; a generator change shows up in the data it writes.
_READ_SUFFIXES = {".yaml", ".yml", ".json", ".jsonl", ".csv", ".tsv"}


def _hashed_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in _READ_SUFFIXES]
    modules = {
        line.split("!function", 1)[1].strip().rsplit(".", 1)[0]
        for p in folder.glob("*.yaml")
        for line in p.read_text(encoding="utf-8").splitlines()
        if "!function" in line
    }
    files += [
        folder / f"{m.replace('.', '/')}.py"
        for m in modules
        if (folder / f"{m.replace('.', '/')}.py").exists()
    ]
    return sorted(set(files))


def _hash_dir(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in _hashed_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_task(cfg: TaskConfig) -> TaskSpec:
    if cfg.dir is None:  # shipped with lm-eval: its version stands for the task's
        version = f"lm-eval {importlib.metadata.version('lm_eval')}"
        digest = hashlib.sha256(f"{cfg.name}\0{version}".encode()).hexdigest()
        return TaskSpec(cfg.name, None, None, version, digest, cfg.output_type or "generate_until", ())
    folder = (REPO_ROOT / cfg.dir).resolve()
    if not folder.is_dir():
        raise HarnessError(f"task {cfg.name!r}: folder {folder} does not exist (task.dir={cfg.dir}).")
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        if not path.name.startswith("_"):
            doc = load_task_yaml(path)
            if "task" in doc:
                found[doc["task"]] = (path, doc)
    if cfg.name not in found:
        raise HarnessError(
            f"no YAML under {folder} defines `task: {cfg.name}` (found: {', '.join(found) or 'none'})."
        )
    path, doc = found[cfg.name]
    version = str((doc.get("metadata") or {}).get("version", "0"))
    metrics = tuple(m["metric"] for m in doc.get("metric_list") or [] if isinstance(m.get("metric"), str))
    if metrics and cfg.primary_metric not in metrics:
        # Checked before any model runs: a typo here would otherwise surface only after the evaluation.
        what = f"task {cfg.name!r}: primary_metric"
        raise HarnessError(f"{what}: " + did_you_mean(cfg.primary_metric, list(metrics), "metric"))
    output_type = doc.get("output_type", "generate_until")
    return TaskSpec(cfg.name, folder, path, version, _hash_dir(folder), output_type, metrics)


def check_hub_datasets(cfg: TaskConfig) -> str | None:
    """Preflight for lm-eval's own tasks: their data sets must already be in the local Hugging Face caches."""
    if not cfg.hub_datasets:
        return None
    from huggingface_hub import constants

    hub = Path(constants.HF_HUB_CACHE)
    processed = Path(os.environ.get("HF_DATASETS_CACHE", Path(constants.HF_HOME) / "datasets"))
    missing = [
        d for d in cfg.hub_datasets
        if not (hub / f"datasets--{d.replace('/', '--')}").exists() and not (processed / d.replace("/", "___")).exists()
    ]  # fmt: skip
    if not missing:
        return None
    return (
        f"task {cfg.name} needs the data set(s) {', '.join(missing)} from the Hugging Face hub, which are not in the "
        f"local cache and this machine runs offline. On a machine with hub access, run the task once (or "
        f"`huggingface-cli download --repo-type dataset {missing[0]}`) and copy the cache here."
    )
