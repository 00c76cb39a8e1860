"""Tasks are data: a folder under tasks/ with lm-eval YAMLs and data files. This module finds them (no lm-eval
import), turns each into a `task=<name>` option, and reads a task's version and content hash.

The content hash covers every file in the task folder (YAML, metric code, data), so editing any of them makes
new cells instead of silently mixing results from two versions of a task. Tasks that ship with lm-eval itself
(mmlu, cmmlu, ...) are configured in conf/task/ with `dir: null`; their version is lm-eval's.

A broken task file is skipped with a warning naming file:line, never a traceback: one bad folder (a user's, on
HARNESS_TASKS_PATH) must not stop every other task and `harness task check`, the command meant to find it.
Reading one file (includes, shape, file:line) is harness/tasks/parse.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.schema import TaskConfig
from harness.errors import HarnessError, did_you_mean
from harness.paths import REPO_ROOT, TASKS_DIR
from harness.tasks.parse import (  # noqa: F401 - re-exported: callers read task YAMLs through harness.tasks
    TASK_NAME,
    check_shape,
    load_task_doc,
    load_task_yaml,
    load_yaml,
    locate,
    not_utf8,
    readable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dir: Path | None  # None: a task that ships with lm-eval
    yaml_file: Path | None
    version: str
    content_sha256: str
    output_type: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class TaskProblem:
    """A task YAML that discovery skipped."""

    file: Path
    message: str  # names file:line (where a line applies) and what to do
    task: str  # the name it seems to define, so `task check NAME` can say the file is broken

    def __str__(self) -> str:
        return self.message

    def about(self, name: str) -> bool:
        return name in (self.task, self.file.stem)


def harness_meta(doc: dict[str, Any]) -> dict[str, Any]:
    """The task's own notes for the harness: `metadata.harness` (primary_metric, description, leakage_field...)."""
    return ((doc.get("metadata") or {}).get("harness")) or {}


def task_roots() -> list[Path]:
    """tasks/ of this repository, then any folders listed in HARNESS_TASKS_PATH (os.pathsep-separated)."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get("HARNESS_TASKS_PATH", "").split(os.pathsep) if p]
    return [TASKS_DIR, *extra]


def _guess_name(path: Path) -> str:
    """The task a broken file meant to define: its `task:` line if one can be read, else the file name."""
    try:
        data = path.read_bytes() if readable(path) else b""
        hit = re.search(rb"^task:[ \t]*['\"]?([^\s'\"#]+)", data, re.MULTILINE)
    except OSError:
        hit = None
    name = hit.group(1).decode(errors="replace") if hit else ""
    return name if TASK_NAME.fullmatch(name) and ".." not in name else path.stem


def scan(paths: list[Path]) -> tuple[dict[str, tuple[Path, dict[str, Any]]], list[TaskProblem]]:
    """Load task YAMLs (files starting with `_` are shared bases): {name: (file, doc)} and the ones skipped."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    problems: list[TaskProblem] = []
    for path in paths:
        if path.name.startswith("_"):
            continue
        try:
            doc = load_task_yaml(path)
            if "group" in doc and not isinstance(doc.get("task"), str):
                continue  # an lm-eval group of tasks, not a task: not an option here
            check_shape(path, doc)
        except HarnessError as e:
            problems.append(TaskProblem(path, str(e), _guess_name(path)))
            continue
        name = doc["task"]
        if name in found:
            first = found[name][0]
            msg = f"{locate(path, ('task',))}: task {name!r} is already defined by {first}; rename one of them."
            problems.append(TaskProblem(path, msg, name))
            continue
        found[name] = (path, doc)
    return found, problems


def _task_files() -> list[Path]:
    return [p for root in task_roots() for p in sorted(root.glob("*/*.yaml"))]


_warned: set[str] = set()


def discover() -> dict[str, tuple[Path, dict[str, Any]]]:
    """{task name: (yaml file, resolved doc)} for every task folder; broken files are skipped with a warning."""
    found, problems = scan(_task_files())
    for p in problems:
        if p.message not in _warned:  # discover() runs several times per command: say it once
            _warned.add(p.message)
            log.warning("skipped a broken task file: %s (run `harness task check` to list them all)", p)
    return found


def discovery_problems() -> list[TaskProblem]:
    """The task files discover() skips, each with file:line and what to do."""
    return scan(_task_files())[1]


def broken_note(name: str | None = None) -> str:
    """A sentence for "unknown task" messages: the broken task files (the one that seems to define `name`)."""
    problems = discovery_problems()
    mine = [p for p in problems if name is not None and p.about(name)]
    if mine:
        return f" Task {name!r} seems to be defined by a broken file: {mine[0]}"
    if problems:
        return f" (Skipped broken task files: {', '.join(str(p.file) for p in problems)}; see `harness task check`.)"
    return ""


def task_config(name: str, path: Path, doc: dict[str, Any]) -> TaskConfig:
    meta = harness_meta(doc)
    metrics = [m.get("metric") for m in doc.get("metric_list") or [] if isinstance(m, dict)]
    folder = path.parent
    rel = folder.relative_to(REPO_ROOT).as_posix() if folder.is_relative_to(REPO_ROOT) else str(folder)
    return TaskConfig(
        name=name,
        dir=rel,
        primary_metric=meta.get("primary_metric") or (metrics[0] if metrics else "acc"),
        description=meta.get("description") or "",
        language=meta.get("language"),
        prompt_format=meta.get("prompt_format") or "model",
        answer_pattern=meta.get("answer_pattern"),
    )


def escape_interpolation(text: str) -> str:
    """Text that OmegaConf reads back literally. Its escape is a backslash before `${`; backslashes just before
    `${` are themselves escapes (2k+1 of them read as k and a literal `${`), so a run of n becomes 2n+1."""
    return re.sub(r"(\\*)\$\{", lambda m: "\\" * (2 * len(m.group(1)) + 1) + "${", text)


def task_node(name: str, path: Path, doc: dict[str, Any]) -> TaskConfig:
    """task_config() escaped for Hydra's ConfigStore. Task files are data: a description reading
    `${oc.env:OPENAI_API_KEY}` must reach records as that text, never as the key (nor fail as `${price}`)."""
    cfg = task_config(name, path, doc)
    texts = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    return dataclasses.replace(cfg, **{k: escape_interpolation(v) for k, v in texts.items() if isinstance(v, str)})


# What lm-eval reads from a task folder: YAML, data, schemas, and the Python modules named by `!function` tags.
# Docs (the data card README, which quotes scores) and generators are left out, so writing a card or
# reformatting a generator does not orphan the stored results; a generator change shows up in the data it writes.
_READ_SUFFIXES = {".yaml", ".yml", ".json", ".jsonl", ".csv", ".tsv"}


def _hashed_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in _READ_SUFFIXES]
    modules = {
        line.split("!function", 1)[1].strip().rsplit(".", 1)[0]
        for p in folder.glob("*.yaml")
        if readable(p)
        # only looking for `!function` names: a bad byte elsewhere in the file is `task check`'s to report
        for line in p.read_bytes().decode("utf-8", errors="replace").splitlines()
        if "!function" in line
    }
    files += [folder / f"{m.replace('.', '/')}.py" for m in modules if (folder / f"{m.replace('.', '/')}.py").is_file()]
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
    found, problems = scan(sorted(folder.glob("*.yaml")))  # a broken sibling must not stop this task
    if cfg.name not in found:
        mine = [p for p in problems if p.about(cfg.name)]
        if mine:
            raise HarnessError(f"task {cfg.name!r} is defined by a broken file: {mine[0]}")
        broken = f" Broken task files there: {', '.join(p.file.name for p in problems)}." if problems else ""
        raise HarnessError(
            f"no YAML under {folder} defines `task: {cfg.name}` (found: {', '.join(found) or 'none'}).{broken}"
        )
    path, doc = found[cfg.name]
    version = str((doc.get("metadata") or {}).get("version", "0"))
    metrics = tuple(m["metric"] for m in doc.get("metric_list") or [])
    if metrics and cfg.primary_metric not in metrics:
        # Checked before any model runs: a typo here would otherwise surface only after the evaluation.
        what = f"task {cfg.name!r}: primary_metric"
        raise HarnessError(f"{what}: " + did_you_mean(cfg.primary_metric, list(metrics), "metric"))
    output_type = doc.get("output_type") or "generate_until"
    return TaskSpec(cfg.name, folder, path, version, _hash_dir(folder), output_type, metrics)


def check_hub_datasets(cfg: TaskConfig) -> str | None:
    """Preflight for lm-eval's own tasks: their data sets must already be in the local Hugging Face caches."""
    if not cfg.hub_datasets:
        return None
    from huggingface_hub import constants

    hub = Path(constants.HF_HUB_CACHE)
    processed = Path(os.environ.get("HF_DATASETS_CACHE", Path(constants.HF_HOME) / "datasets"))
    missing = [
        d
        for d in cfg.hub_datasets
        if not (hub / f"datasets--{d.replace('/', '--')}").exists() and not (processed / d.replace("/", "___")).exists()
    ]
    if not missing:
        return None
    return (
        f"task {cfg.name} needs the data set(s) {', '.join(missing)} from the Hugging Face hub, which are not in the "
        f"local cache and this machine runs offline. On a machine with hub access, run the task once (or "
        f"`huggingface-cli download --repo-type dataset {missing[0]}`) and copy the cache here."
    )
