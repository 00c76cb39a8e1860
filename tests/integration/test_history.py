"""The report's History section in a real browser, on the hand-made runs of tests/unit/test_history.py."""

from __future__ import annotations

from harness.report.from_store import report_from_store
from tests.unit.test_history import store  # noqa: F401 - the hand-made store, as a fixture of this module too


def test_the_history_chart_draws_in_a_browser(store, tmp_path):  # noqa: F811
    from tests.support.browser import chart_points, opened

    done = report_from_store(store, tmp_path / "rep", title="t", settings={})
    with opened(done.path) as (page, errors):
        # m-small: 2 runs, its score only (no load record: no cost at a target, no one-user latency; the history
        # with loads is tests/unit/test_history.py's); m-other: 1 run, its score
        assert chart_points(page, "chart-history") == 3
        assert "History" in page.inner_text("nav")
        assert errors == []
