"""The Chinese and Japanese reports in a real browser (Debian's headless chromium via Playwright): they open
without a console error, draw CJK text with a CJK font (no tofu boxes), sort and filter as the English one does,
and model output stays text in every language."""

from __future__ import annotations

import pytest

from harness.report.render import write_report
from tests.support.browser import chart_points, column_texts, opened, screenshot
from tests.unit.test_i18n import load_records, rich_board_records

XSS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    '"><svg onload="window.__xss = 3">',
]

# Each character drawn alone on a canvas in the page's own font stack; a character no installed font has is
# drawn as the same "tofu" box as a private-use code point, so real glyphs differ from it and from each other.
GLYPHS = """chars => {
  const font = getComputedStyle(document.body).fontFamily;
  const canvas = document.createElement('canvas'); canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext('2d');
  const draw = ch => { ctx.clearRect(0, 0, 48, 48); ctx.font = '36px ' + font; ctx.fillText(ch, 4, 38);
                       return Array.from(ctx.getImageData(0, 0, 48, 48).data).join(','); };
  const tofu = draw('\\u{10FFFD}');
  const shots = chars.map(draw);
  return {distinct: new Set(shots).size, tofu: shots.filter(s => s === tofu).length,
          blank: shots.filter(s => !/[1-9]/.test(s)).length};
}"""


@pytest.fixture(scope="module", params=["zh", "ja"])
def report(request, tmp_path_factory):
    records, samples, failed = rich_board_records()

    def with_payloads(cid: str) -> list[dict]:
        rows = samples(cid)
        for i, row in enumerate(rows):
            row["input"] = f"{row['input']} {XSS[i % 3]}"
            row["output"] = XSS[i % 3] + f" answer {i}"
        return rows

    path = write_report(
        records,
        tmp_path_factory.mktemp(request.param),
        "<i>报告</i> レポート",
        not_measured=failed,
        samples=with_payloads,
        assumptions={"lang": request.param},
        loads=load_records(),
    )
    return request.param, path


def test_opens_without_errors_and_draws_cjk_text_with_a_cjk_font(report):
    lang, path = report
    with opened(path) as (page, errors):
        assert page.title() == "<i>报告</i> レポート"  # the title is text
        body = page.inner_text("body")
        cjk = sorted({ch for ch in body if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff"})
        assert len(cjk) > 100  # the page is written in the language, not just its title
        got = page.evaluate(GLYPHS, cjk[:40])
        assert got == {"distinct": 40, "tofu": 0, "blank": 0}, got
        assert chart_points(page, "chart-pareto") >= 3 and chart_points(page, "chart-heatmap") >= 1
        screenshot(page, f"report-{lang}")
        assert errors == []


def test_sorting_and_filters_work_and_the_counts_are_in_the_language(report):
    lang, path = report
    with opened(path) as (page, errors):
        headers = page.locator("#leaderboard thead th")
        costs_col = [headers.nth(i).get_attribute("data-sort") for i in range(headers.count())].index("num", 7)
        header = headers.nth(costs_col)
        header.locator("button").click()  # the score-or-cost column after rank, params and score: sorts
        assert header.get_attribute("aria-sort") == "ascending"
        values = [
            v
            for v in page.eval_on_selector_all(
                "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{costs_col}].getAttribute('data-v'))"
            )
            if v
        ]
        assert [float(v) for v in values] == sorted(float(v) for v in values)
        assert header.locator("button").get_attribute("title") not in ("", None, "sort by this column")
        page.select_option("#filter-egress", "third_party")
        assert column_texts(page, "leaderboard", 0) == ["helpdesk_en"]  # only the API row sends data out
        count = page.inner_text("#leaderboard-count")
        assert "1" in count and "row" not in count  # "显示 1 行" / "1 行を表示": not the English text
        page.select_option("#filter-egress", "in_house")
        assert len(column_texts(page, "leaderboard", 0)) == 5
        assert errors == []


def test_model_text_stays_text_in_every_language(report):
    _, path = report
    with opened(path) as (page, errors):
        page.locator("details.item").first.evaluate("d => d.open = true")
        assert XSS[0] in page.locator("pre.answer").first.inner_text()
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x], svg[onload]").count() == 0
        assert errors == []
