"""Open a report in Debian's headless chromium through Playwright, and read it as a person would.

Playwright drives the system chromium (`executable_path`): its own browser download needs a CDN this machine
cannot reach. `make test` installs chromium first (scripts/setup.sh --browser); without it these tests fail
with that instruction rather than being skipped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"  # screenshots kept by CI (git-ignored)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("chromium is not installed: run `scripts/setup.sh --browser` (make test does) first")


class _Chromium:
    """One headless chromium for the whole test session, reached over its DevTools port: launching it is the slow
    part of a browser test. Each `opened()` connects Playwright for that test only, because Playwright's sync API
    marks an asyncio loop as running in this thread while it is started, which would break every later test that
    runs asyncio. A chromium that died is launched again."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""
        self.launches = 0

    def _alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{self.endpoint}/json/version", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def url(self) -> str:
        if not self._alive():
            self.close()
            self._launch()
        return self.endpoint

    def _launch(self) -> None:
        profile = Path(tempfile.mkdtemp(prefix="harness-chromium-"))
        self.proc = subprocess.Popen(
            [
                chromium_path(),
                "--headless",
                *FLAGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.profile = profile
        port_file = profile / "DevToolsActivePort"  # chromium writes the port it chose here
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"chromium did not start (exit {self.proc.poll()})")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{port_file.read_text().split()[0]}"
        self.launches += 1

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
        self.proc = None


CHROMIUM = _Chromium()


@contextmanager
def opened(html_file: Path, width: int = 1300) -> Iterator[tuple[Any, list[str]]]:
    """(page, console errors) for a report file opened from disk, with the network off, in a fresh context."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(CHROMIUM.url())
        context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_file.resolve().as_uri())
            page.wait_for_load_state("load")
            yield page, errors
        finally:
            context.close()


def chart_points(page: Any, chart_id: str) -> int:
    """Data points plotly drew in a chart (markers and heatmap cells), counted in the rendered SVG. A chart is drawn
    when it nears the screen (templates/report.js): it is scrolled to first, as a reader would."""
    if page.evaluate(
        "id => { const el = document.getElementById(id); if (el) el.scrollIntoView(); return !!el; }", chart_id
    ):
        page.wait_for_function("id => !!document.getElementById(id).data", arg=chart_id, timeout=20_000)
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


def check_first_screen(page: Any) -> None:
    """What issue 32 asks of a report opened at 1400 x 900 (`opened(..., width=1400)`): every task's recommendation
    and fine-tune-or-API verdict inside the first 900 px; no leaderboard row taller than two lines of text; each
    footnote text once, and every footnote mark pointing at a note."""
    page.evaluate("window.scrollTo(0, 0)")
    blocks = page.eval_on_selector_all(
        "#decision .decision",
        """els => els.map(d => ({task: d.getAttribute('data-task'),
                                recommend: d.querySelector('.recommend').getBoundingClientRect().bottom,
                                verdict: d.querySelector('.verdict').getBoundingClientRect().bottom,
                                text: d.querySelector('.recommend').innerText}))""",
    )
    assert blocks, "no decision panel"
    for b in blocks:
        assert b["recommend"] <= 900 and b["verdict"] <= 900, b
    heights = page.eval_on_selector_all(
        "#leaderboard tbody tr",
        """rows => rows.map(r => {
             const s = getComputedStyle(r.cells[0]);
             const line = parseFloat(s.lineHeight), pad = parseFloat(s.paddingTop) + parseFloat(s.paddingBottom);
             return {height: r.getBoundingClientRect().height, limit: 2 * line + pad + 2, row: r.innerText};
           })""",
    )
    assert heights and all(h["height"] <= h["limit"] for h in heights), [h for h in heights if h["height"] > h["limit"]]
    notes = page.locator("#leaderboard-notes li").all_inner_texts()
    assert len(notes) == len(set(notes)), notes
    marks = page.eval_on_selector_all("#leaderboard sup a", "as => as.map(a => a.getAttribute('href'))")
    ids = set(page.eval_on_selector_all("#leaderboard-notes li", "ls => ls.map(l => '#' + l.id)"))
    assert set(marks) <= ids, set(marks) - ids
