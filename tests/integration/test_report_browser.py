"""The report in a real browser (Debian's headless chromium via Playwright): it renders with no console error,
its charts draw their points, sorting and filtering work, and model output cannot run script.

These records are made-up test inputs from tests.support.records (the real default job's report is opened in
tests/e2e/test_default_job.py)."""

from __future__ import annotations

import pytest

from harness.report.render import write_report
from tests.support.boards import LOADS, RECORDS, XSS, samples
from tests.support.browser import chart_points, check_first_screen, column_texts, opened, screenshot


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return write_report(
        RECORDS, tmp_path_factory.mktemp("r"), "Browser test <i>report</i>", samples=samples, loads=LOADS
    )


def test_renders_without_errors_and_charts_have_points(report):
    with opened(report) as (page, errors):
        assert page.title() == "Browser test <i>report</i>"  # the title is text
        assert page.locator("ul.findings li").count() >= 2  # summary sentences
        assert "Best on helpdesk: beta" in page.inner_text("#summary + ul")
        assert chart_points(page, "chart-pareto") >= 3  # one marker per row
        assert chart_points(page, "chart-heatmap") >= 1
        screenshot(page, "synthetic-report")
        assert errors == []


def test_the_first_screen_answers_and_the_table_is_compact(report):
    """At 1400 x 900: the decision panel (recommendation and verdict of each task) is on the first screen, no
    leaderboard row is taller than two lines, each note is written once; "more columns" shows the rest."""
    with opened(report, width=1400) as (page, errors):
        check_first_screen(page)
        assert page.locator('#leaderboard th[data-key="capacity"]').is_hidden()
        page.check("#more-columns")
        assert page.locator('#leaderboard th[data-key="capacity"]').is_visible()
        assert errors == []


def test_sorting_by_cost_reorders_rows_and_filters_hide_rows(report):
    with opened(report) as (page, errors):

        def models() -> list[str]:  # the model column's first line, in the order shown
            return [t.split("\n")[0].split("embedded")[0].strip() for t in column_texts(page, "leaderboard", 2)]

        assert models() == ["beta", "alpha", "gamma"]  # by rank, then score
        cost_header = page.locator("#leaderboard th", has_text="Cost / 1,000 queries").locator("button")
        cost_header.click()
        assert models() == ["beta", "gamma", "alpha"]  # 0.010 < 0.020 < 0.030
        cost_header.click()
        assert models() == ["alpha", "gamma", "beta"]
        page.select_option("#filter-model", "gamma")
        assert models() == ["gamma"] and page.inner_text("#leaderboard-count") == "1 row(s) shown"
        page.select_option("#filter-model", "")
        assert len(models()) == 3
        assert errors == []


def test_drill_down_filters_to_disagreements_and_model_text_runs_nothing(report):
    with opened(report) as (page, errors):
        section = page.locator("section.drill").first
        assert section.locator(".item:not([hidden])").count() == 6
        section.locator("input.only-disagree").check()
        # items 2, 3, 4 split the rows (0, 1 all right; 5 all wrong)
        assert section.locator(".item:not([hidden]) summary code").all_inner_texts() == ["/2", "/3", "/4"]
        section.locator("input.only-disagree").uncheck()
        section.locator("input.drill-search").fill("answer 5")
        assert section.locator(".item:not([hidden])").count() == 1
        page.locator("details.item").first.evaluate("d => d.open = true")
        # the injected markup is shown as text ...
        assert XSS[0] in page.locator("pre.answer").first.inner_text()
        # ... and nothing ran: no sentinel set, no injected element in the page
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x], svg[onload]").count() == 0
        assert errors == []


def test_a_long_table_is_drawn_a_page_at_a_time_and_sorted_as_a_whole(tmp_path, monkeypatch):
    """250 rows (bench/report_10k.py's synthetic records): 100 drawn, the rest one click away; sorting orders all
    250, not the drawn page; a filter counts the rows it keeps."""
    from harness.paths import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    from report_10k import synthetic

    records = synthetic(250, 2)
    best = max(r["primary"]["value"] for r in records)
    path = write_report(records, tmp_path, "Long")
    with opened(path) as (page, errors):
        assert page.locator("#leaderboard tbody tr").count() == 100
        assert page.inner_text("#leaderboard-count") == "100 of 250 rows shown"
        score = page.locator('#leaderboard th[data-key="score"] button')
        score.click()
        score.click()  # descending
        assert float(column_texts(page, "leaderboard", 4)[0].split()[0]) == round(best, 3)
        page.locator("#leaderboard-pager button").click()
        assert page.locator("#leaderboard tbody tr").count() == 200
        page.select_option("#filter-task", "task_01")
        assert page.inner_text("#leaderboard-count") == "100 of 125 rows shown"  # a filter starts at page 1
        assert errors == []
