"""Generic helpers every layer may use: reading a YAML file with file:line errors, and content ids.

Nothing here knows about tasks, models or records; it imports only the standard library, PyYAML and errors.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError


def content_id(identity: dict[str, Any]) -> str:
    """The id of a value: SHA-256 of its canonical JSON (sorted keys), first 20 hex digits."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


# libyaml when installed: every command reads every task YAML, and it is 10x faster than the Python parser.
_C_YAML = yaml.__with_libyaml__


class YamlLoader(yaml.CSafeLoader if _C_YAML else yaml.SafeLoader):  # type: ignore[misc]
    """lm-eval YAML uses `!function module.name`; keep the tag's text, we only need plain fields."""


YamlLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def versioned_prompt(folder: Path, version: str, key: str) -> str:
    """The text of `folder/<version>.txt`: a versioned prompt (judge, data stage); `key` names the option."""
    path = folder / f"{version}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.txt"))
        raise HarnessError(f"{key}={version}: no {path}; known prompt versions: {', '.join(known)}.")
    return path.read_text(encoding="utf-8")


def not_utf8(path: Path, data: bytes, e: UnicodeDecodeError, first_line: int = 1, offset: int = 0) -> str:
    """`file:line: not UTF-8 (byte 0x.. at offset N)` for bytes `data` that start at `first_line`/`offset`."""
    line = first_line + data.count(b"\n", 0, e.start)
    return f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x} at offset {offset + e.start}). Save it as UTF-8."


MAX_YAML_BYTES = 4 << 20  # a task or config YAML is a few KB; a bigger "file" is a device, a FIFO or a mistake


def readable(path: Path) -> bool:
    """Only regular files of sane size are read: a FIFO would hang every command, /dev/zero fill the memory."""
    try:
        return path.is_file() and path.stat().st_size <= MAX_YAML_BYTES
    except OSError:
        return False


def load_yaml(path: Path) -> dict:
    if not readable(path):
        raise HarnessError(f"{path}: not a regular YAML file under {MAX_YAML_BYTES >> 20} MiB; remove or replace it.")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HarnessError(f"{path}: cannot read it ({e.strerror}).") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HarnessError(not_utf8(path, data, e)) from None
    try:
        return yaml.load(text, Loader=YamlLoader) or {}
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise HarnessError(f"malformed YAML at {where}: {e.problem}. Fix the file and run again.") from None
    except yaml.YAMLError as e:  # ReaderError: a control character YAML does not allow
        pos = getattr(e, "position", 0) or 0  # libyaml counts bytes, the Python parser characters
        line = (data.count(b"\n", 0, pos) if _C_YAML else text.count("\n", 0, pos)) + 1
        raise HarnessError(f"malformed YAML at {path}:{line}: {e}. Fix the file and run again.") from None
    except RecursionError:
        raise HarnessError(f"malformed YAML in {path}: nested too deep to read.") from None
