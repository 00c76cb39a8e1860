"""The report in en, zh and ja (harness/report/i18n.py): complete catalogues, translations that keep every named
parameter, locale formatting, and no English left in a Chinese or Japanese page outside names, units and code."""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest

from harness.paths import REPO_ROOT
from harness.report import i18n

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import i18n as catalogues  # noqa: E402  (scripts/i18n.py: extraction and checks)

PARAM = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def template():
    return catalogues.extract()


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_every_message_of_the_code_is_translated(lang, template):
    """Fails on any message the code uses that the language's catalogue lacks, leaves empty or marks fuzzy, and
    on stale entries (scripts/i18n.py update merges new messages in; translate them)."""
    assert len(template) > 300
    assert catalogues.problems(lang, template) == []


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_translations_keep_every_named_parameter_and_percent_sign(lang, template):
    have = catalogues.read(lang)
    bad = []
    for m in template:
        if not m.id:
            continue
        got = have.get(m.id)
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = got.string if isinstance(got.string, tuple) else (got.string,)
        want = set(PARAM.findall(ids[0]))
        for s in strings:
            if set(PARAM.findall(s)) != want or s.replace("%%", "").count("%") != len(PARAM.findall(s)):
                bad.append((m.id, s))
    assert bad == []


def test_numbers_money_and_dates_follow_the_locale():
    with i18n.use("en"):
        assert (i18n.dec(12345.6789), i18n.money(0.01234), i18n.dec(-0.0123, 3, sign=True)) == (
            "12,345.679", "0.0123 USD", "-0.012")  # fmt: skip
        assert i18n.when("2026-12-03T07:02:00Z") == "Dec 3, 2026, 7:02:00\u202fAM UTC"
    with i18n.use("zh"):
        assert i18n.money(0.01234) == "US$0.0123" and i18n.percent(0.956) == "96%"
        assert i18n.when("2026-12-03T07:02:00Z") == "2026年12月3日 07:02:00 UTC"
    with i18n.use("ja"):
        assert i18n.money(1234.5) == "$1,234.5000" and i18n.integer(100000) == "100,000"
        assert i18n.when("2026-12-03T07:02:00Z") == "2026/12/03 7:02:00 UTC"
    assert i18n.current() == "en"  # the language is only set for the time of a report


def test_an_unknown_language_is_refused_with_the_ones_there_are(tmp_path):
    from tests.conftest import run_harness

    p = run_harness("report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--lang", "fr")
    assert p.returncode == 2 and "report.lang=fr: the report is written in en, zh, ja" in p.stderr
