"""The report's message catalogues (harness/report/i18n.py): extract the English messages, merge them into each
language's .po, and list what is missing.

    .venv/bin/python scripts/i18n.py extract   # harness/report/locale/messages.pot from the code and templates
    .venv/bin/python scripts/i18n.py update    # + merge it into zh and ja: new messages get an empty translation
    .venv/bin/python scripts/i18n.py check     # untranslated, fuzzy or stale messages per language (exit 1)

To add a language: add it to LANGS and BABEL_LOCALE in harness/report/i18n.py, run `update`, translate its .po.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.extract import extract_from_dir  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from harness.report.i18n import BABEL_LOCALE, DOMAIN, LANGS, LOCALE_DIR, po_path  # noqa: E402

METHOD_MAP = [("**/templates/**.j2", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS_MAP = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extract() -> Catalog:
    """Every message marked in harness/ (Python and report templates), with where it is used."""
    catalog = Catalog(project="harness", domain=DOMAIN, fuzzy=False)
    for name, line, msg, comments, _ctx in extract_from_dir(
        REPO / "harness", method_map=METHOD_MAP, options_map=OPTIONS_MAP, keywords=KEYWORDS
    ):
        catalog.add(msg, None, [(f"harness/{name}", line)], auto_comments=comments, flags=("python-format",))
    return catalog


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=BABEL_LOCALE[lang], domain=DOMAIN)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=116, sort_output=False, omit_header=False, include_previous=False)


def problems(lang: str, template: Catalog | None = None) -> list[str]:
    """Messages of the code that `lang`'s catalogue lacks, leaves empty or marks fuzzy; and stale ones."""
    template = template or extract()
    if not po_path(lang).is_file():
        return [f"{lang}: no catalogue at {po_path(lang).relative_to(REPO)}"]
    have = read(lang)
    out = []
    for m in template:
        if not m.id:
            continue
        got = have.get(m.id)
        if got is None:
            out.append(f"{lang}: missing {m.id!r}")
        elif not (all(got.string) if isinstance(got.string, (list, tuple)) else got.string):
            out.append(f"{lang}: untranslated {m.id!r}")
        elif got.fuzzy:
            out.append(f"{lang}: fuzzy (unreviewed) {m.id!r}")
    ids = {m.id for m in template}
    out += [f"{lang}: stale (no longer in the code) {m.id!r}" for m in have if m.id and m.id not in ids]
    return out


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "check"
    template = extract()
    if cmd in ("extract", "update"):
        write(template, LOCALE_DIR / f"{DOMAIN}.pot")
        print(f"{len(template)} messages -> {(LOCALE_DIR / f'{DOMAIN}.pot').relative_to(REPO)}")
    if cmd == "update":
        for lang in LANGS[1:]:
            have = read(lang) if po_path(lang).is_file() else Catalog(locale=BABEL_LOCALE[lang], domain=DOMAIN)
            have.update(template, no_fuzzy_matching=True)  # a changed message is retranslated, not guessed
            have.project, have.version, have.fuzzy = "harness report", "", False
            have.copyright_holder, have.msgid_bugs_address = "", ""
            have.language_team = have.last_translator = "harness contributors"
            have.obsolete.clear()
            write(have, po_path(lang))
            print(f"{lang}: {po_path(lang).relative_to(REPO)}")
    if cmd in ("check", "update"):
        found = [p for lang in LANGS[1:] for p in problems(lang, template)]
        print("\n".join(found) or "every language has every message")
        return 1 if found and cmd == "check" else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
