"""Open a report in Debian's headless chromium through Playwright, and read it as a person would.

Playwright drives the system chromium (`executable_path`): its own browser download needs a CDN this machine
cannot reach. `make test` installs chromium first (scripts/setup.sh --browser); without it these tests fail
with that instruction rather than being skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"  # screenshots kept by CI (git-ignored)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


def chromium_path() -> str:
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("chromium is not installed: run `scripts/setup.sh --browser` (make test does) first")


@contextmanager
def opened(html_file: Path) -> Iterator[tuple[Any, list[str]]]:
    """(page, console errors) for a report file opened from disk, with the network off."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900}, offline=True)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html_file.resolve().as_uri())
        page.wait_for_load_state("load")
        try:
            yield page, errors
        finally:
            browser.close()


def chart_points(page: Any, chart_id: str) -> int:
    """Data points plotly drew in a chart (markers and heatmap cells), counted in the rendered SVG."""
    return page.evaluate(
        """id => { const el = document.getElementById(id);
                   if (!el || !el.data) return -1;
                   return el.querySelectorAll('.point, .heatmaplayer image, .hm image').length
                          + (el.data.some(t => t.type === 'heatmap') ? 1 : 0); }""",
        chart_id,
    )


def column_texts(page: Any, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{col}].textContent.trim())"
    )


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
