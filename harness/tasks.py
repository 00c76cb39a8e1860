"""Read a task folder under tasks/ (lm-eval YAML + data) without importing lm-eval: its version and content hash.

The content hash covers every file in the task folder (YAML, metric code, data), so editing any of them makes
new cells instead of silently mixing results from two versions of a task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.config.schema import TaskConfig
from harness.errors import HarnessError, did_you_mean
from harness.paths import REPO_ROOT


class _TaskLoader(yaml.SafeLoader):
    """lm-eval YAML uses `!function module.name`; keep the tag's text, we only need plain fields."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dir: Path
    yaml_file: Path
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


def _hash_dir(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def load_task(cfg: TaskConfig) -> TaskSpec:
    folder = (REPO_ROOT / cfg.dir).resolve()
    if not folder.is_dir():
        raise HarnessError(f"task {cfg.name!r}: folder {folder} does not exist (task.dir={cfg.dir}).")
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = load_yaml(path)
        if isinstance(doc, dict) and "task" in doc:
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
