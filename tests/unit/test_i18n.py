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
            "12,345.679",
            "0.0123 USD",
            "-0.012",
        )
        assert i18n.when("2026-12-03T07:02:00Z") == "Dec 3, 2026, 7:02:00\u202fAM UTC"
    with i18n.use("zh"):
        assert i18n.money(0.01234) == "US$0.0123" and i18n.percent(0.956) == "96%"
        assert i18n.when("2026-12-03T07:02:00Z") == "2026年12月3日 07:02:00 UTC"
    with i18n.use("ja"):
        assert i18n.money(1234.5) == "$1,234.5000" and i18n.integer(100000) == "100,000"
        assert i18n.when("2026-12-03T07:02:00Z") == "2026/12/03 7:02:00 UTC"
    assert i18n.current() == "en"  # the language is only set for the time of a report


def test_an_unknown_language_is_refused_with_the_ones_there_are(tmp_path):
    from tests.support.run import run_harness

    p = run_harness("report", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--lang", "fr")
    assert p.returncode == 2 and "report.lang=fr: the report is written in en, zh, ja" in p.stderr


# -- no English left in a zh / ja page -------------------------------------------------------------------------------
# What may stay in Latin letters on a Chinese or Japanese page: names (models, tasks, metrics, providers: taken from
# the records themselves), units, abbreviations, statistical methods and code. Everything else is a translation
# the catalogue is missing.
ALLOWED = set(
    """
    USD API APIs JSON LoRA lora TTFT TPOT ITL CPU GPU CUDA cpu cuda req McNemar Holm Wilson Newcombe Spearman
    Pareto bootstrap Plotly plotly HTML CSV csv json leaderboard index html docs metrics harness transformers
    serve lm eval none contains acc norm exact match smollm gemma deployment dedicated per second target score
    report load UTC tokens token vCPU ms AM PM Python SHA git lock main legacy runtime seed seeds lmeval
    hardware profile price sweep cards conf yaml replay ota intent slot schema valid field accuracy record
    helpdesk general extract format closed open loop mode url GiB GGUF LLM lm-eval Hugging Face pip
    """.split()
)


class _Visible(HTMLParser):
    """The text a reader sees (and the tooltips), leaving out script, style, code and whatever is marked
    translate="no" (names and data)."""

    SKIP = {"script", "style", "code", "pre"}
    VOID = {"br", "img", "meta", "link", "input", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: is its text skipped?
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        skip = (self.stack[-1] if self.stack else False) or tag in self.SKIP or a.get("translate") == "no"
        if not skip and a.get("title"):
            self.text.append(a["title"])
        if tag not in self.VOID:
            self.stack.append(skip)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.text.append(data)


def english_words(html: str, names: set[str]) -> list[str]:
    p = _Visible()
    p.feed(html)
    words = re.findall(r"[A-Za-z][A-Za-z'\-]{2,}", " ".join(p.text))
    allowed = ALLOWED | {w for n in names for w in re.findall(r"[A-Za-z][A-Za-z'\-]*", n)}
    ids = re.compile(r"[0-9a-f]{6,}")  # cell, load and run ids (hex digests) are code
    return sorted({w for w in words if w not in allowed and w.strip("-'") not in allowed and not ids.fullmatch(w)})


def rich_board_records():
    """A report with every section a default job has: a base and a LoRA model on helpdesk and on the general suite
    (forgetting, categories for the radar), an API baseline with a data policy (break-even), a format task
    (JSON validity), k-sample consistency, and a cell that failed."""
    from tests.support.records import make_record, make_samples

    ft = {
        "method": "lora",
        "train_task": "helpdesk_en",
        "artifact_id": "art" * 6,
        "data": {"n_domain": 64, "n_replay": 0},
        "metering": {
            "train_seconds": 60.0,
            "device": {"kind": "cpu"},
            "train_tokens": 1000,
            "final_train_loss": 1.0,
            "validation_loss": 1.0,
        },
    }
    hw = {"profile": "cpu-2vcpu", "kind": "cpu", "count": 1, "price_per_hour": 0.0832, "currency": "USD"}
    inf = {"latency_s": {"p50": 0.5, "p95": 0.9}, "queries_per_hour": 3600.0}
    cost = {"currency": "USD", "per_1k_queries": 0.023, "training": 0.0014}
    agree = {"k": 5, "temperature": 0.7, "all_agree": 0.8}
    base_h = make_record(
        "bh" * 10,
        model="smollm2-135m",
        display_name="SmolLM2-135M-Instruct",
        task="helpdesk_en",
        n=8,
        score=0.5,
        hardware=hw,
        inference=inf,
        cost={**cost, "training": None},
        consistency=agree,
    ).to_json()
    tuned_h = make_record(
        "th" * 10,
        model="smollm2-135m",
        display_name="SmolLM2-135M-Instruct",
        task="helpdesk_en",
        n=8,
        score=0.75,
        hardware=hw,
        inference=inf,
        cost=cost,
        consistency=agree,
        finetune={**ft, "base_cell_id": "bh" * 10},
    ).to_json()
    base_g = make_record(
        "bg" * 10,
        model="smollm2-135m",
        display_name="SmolLM2-135M-Instruct",
        task="general_en",
        metric="acc",
        n=10,
        score=0.6,
        hardware=hw,
        inference=inf,
    ).to_json()
    tuned_g = make_record(
        "tg" * 10,
        model="smollm2-135m",
        display_name="SmolLM2-135M-Instruct",
        task="general_en",
        metric="acc",
        n=10,
        score=0.4,
        hardware=hw,
        inference=inf,
        finetune={**ft, "base_cell_id": "bg" * 10},
    ).to_json()
    fmt = make_record(
        "fx" * 10,
        model="smollm2-135m",
        display_name="SmolLM2-135M-Instruct",
        task="extract_format_en",
        metric="field_accuracy",
        n=8,
        score=0.5,
        metrics={
            "field_accuracy": {"value": 0.5, "stderr": 0.1, "n": 8, "higher_is_better": True},
            "json_valid": {"value": 0.875, "stderr": 0.1, "n": 8, "higher_is_better": True},
            "schema_valid": {"value": 0.75, "stderr": 0.1, "n": 8, "higher_is_better": True},
        },
    ).to_json()
    from harness.api.meter import Meter, aggregate

    price = {
        "currency": "USD",
        "input_per_1m": 0.27,
        "cached_input_per_1m": 0.07,
        "output_per_1m": 1.1,
        "as_of": "2026-11-01",
        "source": "https://example.org/pricing",
    }
    meters = [Meter(prompt_tokens=300, cached_tokens=0, completion_tokens=20, latency_s=1.2, cost=0.0001)] * 8
    api = make_record(
        "ap" * 10,
        source="api",
        model="deepseek-chat",
        display_name="DeepSeek-V3",
        task="helpdesk_en",
        n=8,
        score=0.875,
        api=aggregate(meters, price),
    ).to_json()
    api["model"]["provider"] = "deepseek"
    api["config"] = {
        "baseline": {
            "serve": None,
            "data_policy": {
                "region": "China (PRC)",
                "trains_on_inputs": "unknown",
                "source": "https://example.org/policy",
                "checked": "2026-12-03",
            },
        }
    }
    right = {
        "bh" * 10: [1, 1, 1, 1, 0, 0, 0, 0],
        "th" * 10: [1, 1, 1, 1, 1, 1, 0, 0],
        "ap" * 10: [1, 1, 1, 1, 1, 1, 1, 0],
        "fx" * 10: [1, 0, 1, 0, 1, 0, 1, 0],
        "bg" * 10: [1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
        "tg" * 10: [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
    }
    cats = ["arithmetic", "science", "reading", "commonsense", "world_knowledge"]

    def samples(cid: str) -> list[dict]:
        rows = make_samples(right[cid], "acc" if cid in ("bg" * 10, "tg" * 10) else "contains")
        for i, row in enumerate(rows):
            row["doc"]["category"] = cats[i % 5] if cid in ("bg" * 10, "tg" * 10) else None
        return rows

    failed = [
        {
            "model": "qwen-14b",
            "task": "helpdesk_en",
            "status": "preflight_failed",
            "message": "weights not found: set model.local_path",
        }
    ]
    return [base_h, tuned_h, base_g, tuned_g, fmt, api], samples, failed


def load_records() -> list[dict]:
    """A load record as harness load writes it (harness.jobs.load_job.summarise over stored levels): a closed loop at
    1, 2 and 4 users on SmolLM2's helpdesk_en prompts; the level at 4 users timed while other work loaded the
    machine (flagged, not counted)."""
    from dataclasses import asdict

    from harness.jobs.load_job import summarise
    from harness.load.figures import Slo

    def rows(ttft: float) -> list[dict]:
        return [
            {
                "i": i,
                "scheduled_s": None,
                "sent_s": 0.1 * i,
                "ttft_s": ttft,
                "e2e_s": ttft + 0.5,
                "itl_s": [0.05] * 10,
                "prompt_tokens": 100,
                "completion_tokens": 11,
                "error": None,
            }
            for i in range(8)
        ]

    quiet = {"contended": False, "flags": [], "other_share": 0.01, "steal_share": 0.0, "own_cpu": 0.2}
    busy = {
        "contended": True,
        "flags": ["other work used 40% of the machine's CPU while this was timed"],
        "other_share": 0.4,
        "steal_share": 0.0,
        "own_cpu": 0.2,
    }
    stored = [
        {"level": float(n), "level_id": f"l{n}", "rows": rows(t), "wall_s": 8 / n, "machine": m, "generator": None}
        for n, t, m in ((1, 0.2, quiet), (2, 0.4, quiet), (4, 0.9, busy))
    ]
    levels, capacity = summarise(stored, Slo())
    return [
        {
            "kind": "load",
            "schema_version": 1,
            "load_id": "cd" * 10,
            "created_at": "2026-12-03T07:00:00+00:00",
            "identity": {
                "endpoint": {"model": "smollm2-135m", "model_key": "smollm2-135m", "artifact_id": None},
                "task": {"name": "helpdesk_en"},
                "mode": "closed",
                "slo": asdict(Slo()),
                "prompts": {"n": 8, "max_tokens": 48},
                "requests_per_level": 8,
                "levels": [1.0, 2.0, 4.0],
                "device": {"price_per_hour": 0.0832, "devices": 1, "profile": "cpu-2vcpu"},
            },
            "levels": levels,
            "capacity": capacity,
            "target": Slo().describe(),
            "price": None,
            "cost": None,
        }
    ]


def drawn_cells(page_html: str) -> str:
    """The leaderboard's cells and tooltips as the page's script draws them (text and title), as HTML text."""
    import html as htmllib
    import json
    import re

    data = json.loads(re.search(r'id="leaderboard-data">(.*?)</script>', page_html, re.S)[1])
    parts = []
    for row in data["rows"]:
        for c, key in zip(row["c"], data["columns"], strict=True):
            if key != "cell":  # a cell id is code
                parts += [c] if isinstance(c, str) else [c[0], c[4] if len(c) > 4 else ""]
    return "<p>" + htmllib.escape(" | ".join(parts)) + "</p>"


def english_page(tmp_path, records, samples) -> str:
    from harness.report.render import write_report

    return write_report(records, tmp_path / "en-cells", "Report", samples=samples).read_text()


def names_of(records) -> set[str]:
    """Names a page shows as they are: models, tasks, providers, metrics, packages, devices, profiles, licences."""
    out = set()
    for r in records:
        out |= {
            r["model"]["display_name"],
            r["model"]["name"],
            r["task"]["name"],
            str(r["model"].get("provider")),
        }
        out |= set(r["metrics"]) | set(r["environment"]["packages"])
        for section in (r.get("hardware") or {}, r["eval"]["device"], r["model"]):
            out |= {str(v) for v in section.values()}
        # a provider's region, as its configuration states it (the leaderboard's data note names it)
        policy = ((r.get("config") or {}).get("baseline") or {}).get("data_policy") or {}
        out.add(str(policy.get("region")))
        # a row flagged for its answers' shape quotes one answer (the model's own words) and the preview command
        shape = r["eval"].get("answer_shape") or {}
        if shape.get("flagged"):
            from harness.compare.shape import preview_command

            out |= {e["answer"] for e in shape.get("examples") or []}
            out.add(preview_command(r["task"]["name"], r["model"]["name"], r["model"]["source"] == "api"))
    return out


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_no_english_is_left_in_a_chinese_or_japanese_report(lang, tmp_path):
    from harness.report.render import write_report

    records, samples, failed = rich_board_records()
    html = write_report(
        records,
        tmp_path,
        "Report",
        not_measured=failed,
        samples=samples,
        loads=load_records(),
        assumptions={"lang": lang},
    ).read_text(encoding="utf-8")
    assert 'id="load-section"' in html and 'id="chart-capability"' in html
    assert f'<html lang="{i18n.HTML_LANG[lang]}">' in html
    assert english_words(html, names_of(records) | {"Report", "qwen"}) == []
    # the leaderboard's cells and tooltips, which the page's script draws from data (not in the HTML's text)
    assert english_words(drawn_cells(html), names_of(records)) == []
    assert "disclosed" in english_words(drawn_cells(english_page(tmp_path, records, samples)), names_of(records))
    # the same board in English has English in every section (the detector sees what it should)
    english = write_report(records, tmp_path / "en", "Report", not_measured=failed, samples=samples).read_text()
    assert {"Summary", "Leaderboard", "Glossary"} <= set(english_words(english, names_of(records)))


@pytest.mark.parametrize("lang", ["en", "zh", "ja"])
def test_numbers_are_written_as_babel_writes_them(lang):
    """dec() and integer() format en/zh/ja numbers with Python's Decimal (fast) rather than babel's format_decimal:
    the text must be babel's, ties and negatives included."""
    import random

    from babel.numbers import format_decimal

    rng = random.Random(7)
    values = [rng.uniform(-1e7, 1e7) for _ in range(2000)] + [round(rng.uniform(-2, 2), 4) for _ in range(2000)]
    values += [x / 16 for x in range(-40, 40)] + [0.0005, -0.0005, 0.1235, 2.5, 3.5, 123456789.125, 1e-9]
    with i18n.use(lang):
        for digits in (0, 2, 3, 4):
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            for v in values:
                assert i18n.dec(v, digits) == format_decimal(v, format=pattern, locale=i18n.BABEL_LOCALE[lang]), v
        assert i18n.integer(1234567.5) == "1,234,568" and i18n.dec(-0.0123, 3, sign=True) == "-0.012"
