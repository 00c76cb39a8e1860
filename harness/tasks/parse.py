"""Reading one task YAML: bytes -> a mapping with lm-eval's `include:` resolved, its shape checked, and every
problem named as file:line (following includes to the file that sets a key). No discovery, no lm-eval import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.util import MAX_YAML_BYTES, YamlLoader, load_yaml, not_utf8, readable  # noqa: F401 - re-exported

# A task name becomes a file name in the store, a Hydra option and a lm-eval task name: no `/`, `..` or `$`,
# and no leading `.` or `-` (a hidden file, a command-line flag).
TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def load_task_yaml(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A task YAML with lm-eval's `include:` resolved (the including file's keys win)."""
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise HarnessError(f"{path}:1: a task YAML must be a mapping of keys to values.")
    parent = doc.pop("include", None)
    if parent is None:
        return doc

    def bad(what: str) -> HarnessError:  # the line is looked up only for a message
        return HarnessError(f"{path}:{_key_line(path, ('include',)) or 1}: `include: {parent}`{what}")

    if not isinstance(parent, str) or not parent:
        raise bad(" must name a YAML file.")
    base_path = (path.parent / parent).resolve()
    chain = (*_chain, path.resolve())
    if base_path in chain:
        raise bad(f" makes a cycle ({' -> '.join(p.name for p in (*chain, base_path))}).")
    if len(chain) > 8:
        raise bad(": includes nest too deep (more than 8).")
    if not base_path.is_file():
        raise bad(f" names a file that does not exist ({base_path}).")
    try:
        base = load_task_yaml(base_path, chain)
    except HarnessError as e:
        raise bad(f": {e}") from None
    return {**base, **doc}


def _key_line(path: Path, keys: tuple[str, ...]) -> int | None:
    """1-based line of a (nested) key in one YAML file; only asked when reporting a problem."""
    if not readable(path):
        return None
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=YamlLoader)
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return None
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        hit = next(((k, v) for k, v in node.value if k.value == key), None)
        if hit is None:
            return line
        line, node = hit[0].start_mark.line + 1, hit[1]
    return line


def locate(path: Path, keys: tuple[str, ...]) -> str:
    """file:line of a key of a task YAML, following `include:` to the file that sets it."""
    seen = set()
    while path not in seen:
        seen.add(path)
        line = _key_line(path, keys[:1])
        if line is not None:
            return f"{path}:{_key_line(path, keys) or line}"
        try:
            parent = load_yaml(path).get("include")
            path = (path.parent / parent).resolve()
        except (HarnessError, AttributeError, TypeError):
            break
    return str(path)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "empty"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


# The shape discovery, `task check` and the run path rely on (None = key absent or empty).
_MAPPINGS = ("metadata", "metadata.harness", "dataset_kwargs", "dataset_kwargs.data_files", "generation_kwargs")
_TEXTS = (
    "dataset_path",
    "output_type",
    "training_split",
    "validation_split",
    "test_split",
    "fewshot_split",
    "metadata.harness.description",
    "metadata.harness.language",
    "metadata.harness.primary_metric",
    "metadata.harness.leakage_field",
    "metadata.harness.reference_json",
    "metadata.harness.schema",
    "metadata.harness.prompt_format",
    "metadata.harness.answer_pattern",
)
PROMPT_FORMATS = ("chat", "plain", "model")  # metadata.harness.prompt_format (docs/guide-task-author.md)


def _get(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_shape(path: Path, doc: dict[str, Any]) -> None:
    """Raise HarnessError (file:line) if a field has a type nothing downstream can use."""

    def bad(dotted: str, want: str, value: Any) -> HarnessError:
        return HarnessError(
            f"{locate(path, tuple(dotted.split('.')))}: `{dotted}` must be {want}, not "
            f"{_kind(value)} ({str(value)[:60]!r}). Fix the YAML."
        )

    if "task" not in doc:
        raise HarnessError(f"{path}: defines no `task: NAME` (shared bases go in files starting with `_`).")
    name = doc["task"]
    if not isinstance(name, str):
        raise bad("task", "a task name", name)
    if not TASK_NAME.fullmatch(name) or ".." in name:
        raise HarnessError(
            f"{locate(path, ('task',))}: task name {name!r} may use only letters, digits, `_`, `.` "
            "and `-`, starting with a letter, digit or `_` (it becomes a file name and a command-line "
            "option). Rename it."
        )
    for dotted in _MAPPINGS:
        if (value := _get(doc, dotted)) is not None and not isinstance(value, dict):
            raise bad(dotted, "a mapping", value)
    for dotted in _TEXTS:
        if (value := _get(doc, dotted)) is not None and not isinstance(value, str):
            raise bad(dotted, "text", value)
    fmt = _get(doc, "metadata.harness.prompt_format")
    if fmt is not None and fmt not in PROMPT_FORMATS:
        raise HarnessError(
            f"{locate(path, ('metadata', 'harness', 'prompt_format'))}: `metadata.harness.prompt_format: {fmt}` "
            "must be chat (the prompt goes in a chat turn), plain (sent as text) or model (the model's own "
            "default). Fix the YAML."
        )
    pattern = _get(doc, "metadata.harness.answer_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as e:
            raise HarnessError(
                f"{locate(path, ('metadata', 'harness', 'answer_pattern'))}: `metadata.harness.answer_pattern` "
                f"is not a regular expression ({e}). Fix the YAML."
            ) from None
    version = _get(doc, "metadata.version")
    if isinstance(version, dict | list):
        raise bad("metadata.version", "a number or text", version)
    for split, file in (_get(doc, "dataset_kwargs.data_files") or {}).items():
        if not isinstance(split, str) or not isinstance(file, str):
            raise bad("dataset_kwargs.data_files", "split names mapped to file paths", {split: file})
    metrics = doc.get("metric_list")
    if metrics is not None and not isinstance(metrics, list):
        raise bad("metric_list", "a list", metrics)
    for item in metrics or []:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
            raise bad("metric_list", "a list of mappings, each with `metric: NAME`", item)


def load_task_doc(path: Path) -> dict[str, Any]:
    """A task YAML, includes resolved and its shape checked (HarnessError naming file:line otherwise)."""
    doc = load_task_yaml(path)
    check_shape(path, doc)
    return doc
