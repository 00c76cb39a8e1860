"""The report in its readers' languages: one gettext catalogue per language, and locale formatting.

Every string a reader sees is an English message id, marked where it is written: `_("...")` in Python (this
module's `gettext`), `{{ _("...") }}` / `{% trans %}` in the templates (jinja2's i18n extension), and the few
strings of report.js come from the page (`window.HARNESS_I18N`). The catalogues are gettext .po files under
harness/report/locale/<lang>/LC_MESSAGES/messages.po, read at run time with Babel (no compile step: a .po edit
shows on the next report). English is the source language and has no catalogue.

Rules that keep translations sound (tests/unit/test_i18n.py checks them):
  - a sentence is one message with named parameters, `_("Best on %(task)s: %(row)s", task=..., row=...)`, never
    concatenated translated fragments: word order differs between English, Chinese and Japanese;
  - every message is a %-format string, so a literal percent sign is written `%%`;
  - numbers go into a message already formatted for the locale (`dec`, `integer`, `money`, `percent`): a
    parameter is text;
  - model, task, provider and metric names, units and code are parameters or stay as they are, never translated.

The language is a context variable set for the time one report is built (`use(lang)`), so the summary's
sentences, the tables' notes and the charts' titles built in Python follow it without passing it everywhere.
"""

from __future__ import annotations

import gettext as _gettext
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from harness.config.schema import REPORT_LANGS
from harness.errors import HarnessError

LANGS = REPORT_LANGS
LANG_NAMES = {"en": "English", "zh": "简体中文", "ja": "日本語"}
HTML_LANG = {"en": "en", "zh": "zh-Hans", "ja": "ja"}  # <html lang>: picks the CJK glyph forms of the font
BABEL_LOCALE = {"en": "en_US", "zh": "zh_Hans_CN", "ja": "ja_JP"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_lang: ContextVar[str] = ContextVar("harness_report_lang", default="en")


def check(lang: str) -> str:
    if lang not in LANGS:
        raise HarnessError(f"report.lang={lang}: the report is written in {', '.join(LANGS)}; pick one of them")
    return lang


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The language's catalogue, read from its .po (compiled in memory). English: the message ids themselves."""
    if check(lang) == "en":
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=BABEL_LOCALE[lang], domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)  # a fuzzy (unreviewed) entry falls back to English
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def current() -> str:
    return _lang.get()


@contextmanager
def use(lang: str) -> Iterator[None]:
    """Build (part of) a report in `lang`."""
    token = _lang.set(check(lang))
    try:
        yield
    finally:
        _lang.reset(token)


def gettext(message: str, **params: Any) -> str:
    """The message in the current language, its named parameters filled in."""
    return translations(_lang.get()).gettext(message) % params


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    """A message with a count: `n` chooses the plural form (Chinese and Japanese have one) and is a parameter."""
    return translations(_lang.get()).ngettext(singular, plural, n) % {"n": integer(n), **params}


_ = gettext


def label(messages: dict[str, str], key: str) -> str:
    """The translation of `messages[key]` (a table of N_-marked messages keyed by an untranslated code); an
    unknown key as it is. Not a gettext keyword: the messages are extracted where the table marks them."""
    return gettext(messages[key]) if key in messages else key


def N_(message: str) -> str:  # noqa: N802  (gettext's name for "mark for the catalogue, translate later")
    """Marks a message for the catalogue where it is defined (a constant); translated where it is shown."""
    return message


# Locale formatting. Digits and grouping follow the locale (Chinese and Japanese share English's here); money is
# shown with the locale's currency pattern, except English, which keeps the ISO code after the figure as before.


def _locale() -> str:
    return BABEL_LOCALE[_lang.get()]


def missing(v: Any) -> bool:
    return v is None or v != v


@cache
def _western(locale: str) -> bool:
    """Does the locale write 12,345.6 (a comma to group, a point for decimals, Latin digits)? Then Python's own
    formatting gives babel's text 20x faster (format_decimal was 2 s of a 10,000-row report, bench/report_10k.py)."""
    from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

    return (get_decimal_symbol(locale), get_group_symbol(locale)) == (".", ",") and format_decimal(
        -1234567.891, format="#,##0.00", locale=locale
    ) == "-1,234,567.89"


def _decimal(v: Any, digits: int) -> str:
    """format_decimal(v, "#,##0.000...") as babel writes it: the number's shortest repr rounded half to even
    (babel's rule, not the binary value's), grouped by thousands. tests/unit/test_i18n.py compares the two."""
    locale = _locale()
    if not _western(locale) or not math.isfinite(v):  # babel writes infinity as ∞
        from babel.numbers import format_decimal

        return format_decimal(v, format="#,##0" + ("." + "0" * digits if digits else ""), locale=locale)
    # Decimal's own format rounds half to even (the default context's rounding), as babel does
    return f"{Decimal(str(v)):,.{digits}f}"


def dec(v: Any, digits: int = 3, sign: bool = False, dash: str = "-") -> str:
    """12,345.679; `sign`: +0.012 / -0.012. Missing: `dash`."""
    if missing(v):
        return dash
    text = _decimal(abs(v) if sign else v, digits)
    return (("-" if v < 0 else "+") + text) if sign else text


def integer(v: Any, dash: str = "-") -> str:
    if missing(v):
        return dash
    return _decimal(round(float(v)), 0)


def percent(v: Any, digits: int = 0, dash: str = "-") -> str:
    """A share (0.956) as a percentage for the locale."""
    if missing(v):
        return dash
    from babel.numbers import format_percent

    return format_percent(v, format="#,##0" + ("." + "0" * digits if digits else "") + "%", locale=_locale())


def money(v: Any, currency: str = "USD", digits: int = 4, dash: str = "-") -> str:
    if missing(v):
        return dash
    if _lang.get() == "en":
        return f"{dec(v, digits)} {currency}"
    from babel.numbers import format_currency

    pattern = "¤#,##0" + ("." + "0" * digits if digits else "")
    return format_currency(v, currency, format=pattern, currency_digits=False, locale=_locale())


def when(iso: Any) -> str:
    """An ISO timestamp (as records store them) as the locale writes a date and time; unparsable: as it is."""
    if not isinstance(iso, str) or not iso:
        return "-"
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    from babel.dates import format_datetime

    return format_datetime(t, "medium", tzinfo=t.tzinfo, locale=_locale()) + (" UTC" if t.tzinfo else "")


def jinja(env: Any) -> None:
    """Install the current language's catalogue and the locale filters into a jinja2 Environment."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations(_lang.get()), newstyle=True)
    env.filters.update(dec=dec, integer=integer, percent=percent, money=money, when=when)
