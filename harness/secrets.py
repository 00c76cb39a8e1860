"""Keep secrets out of every file the harness writes: the last line of defence.

Keys are read from the environment only, and task files are never interpolated (harness/tasks), so a key has no
way into a record by design. This module catches what design missed: before any record, sample file, report or
log line is written, the value of every secret-looking environment variable is replaced by `***NAME***`.
A secret-looking variable is one a baseline names as its `api_key_env`, or one whose name says key, token,
secret or password. Values shorter than 8 characters are left alone (they would match ordinary text).
"""

from __future__ import annotations

import functools
import logging
import os
import re

from harness.paths import CONF_DIR

SECRET_NAME = re.compile(r"API_?KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|PRIVATE_KEY", re.IGNORECASE)
MIN_SECRET_LEN = 8


@functools.cache
def configured_key_names() -> frozenset[str]:
    """Every `api_key_env:` named under conf/ (baselines and judges), read as text: no composition needed."""
    names = set()
    for path in CONF_DIR.rglob("*.yaml"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        names |= set(re.findall(r"^\s*api_key_env:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)", text, re.MULTILINE))
    return frozenset(names)


_named_at_run_time: set[str] = set()


def register_key_env(name: str | None) -> None:
    """A key variable named on the command line (`baseline.api_key_env=MY_VAR`) is a secret too."""
    if name:
        _named_at_run_time.add(name)


def secret_values() -> dict[str, str]:
    """{value: variable name} of the secrets in this process's environment, longest value first."""
    names = configured_key_names() | _named_at_run_time
    found = {
        value: name
        for name, value in os.environ.items()
        if (name in names or SECRET_NAME.search(name)) and len(value) >= MIN_SECRET_LEN
    }
    return dict(sorted(found.items(), key=lambda kv: -len(kv[0])))


def _forms(value: str) -> set[str]:
    """The value as it appears in text after JSON or HTML escaping (a record, a page, a page's embedded JSON)."""
    import html
    import json

    from markupsafe import escape

    forms = {value, html.escape(value), str(escape(value))}
    forms |= {json.dumps(f, ensure_ascii=a)[1:-1] for f in list(forms) for a in (True, False)}
    return forms


def redact(text: str) -> str:
    for value, name in secret_values().items():
        for form in sorted(_forms(value), key=len, reverse=True):
            if form in text:
                text = text.replace(form, f"***{name}***")
    return text


class RedactingFilter(logging.Filter):
    """On a handler: every record it writes has secrets replaced (message and arguments, rendered once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_logs() -> None:
    """Attach the filter to every handler of the root logger (Hydra's job log file and the console)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
