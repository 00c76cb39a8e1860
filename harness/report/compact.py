"""The leaderboard as the page draws it: short cells, footnote marks, one list of notes, and the rows as data.

Each cell holds a number or a short label; whatever used to be a sentence in a cell is a footnote mark pointing
into one list of notes under the table (each text once, numbered in order of first use), or, where it is this
row's own detail (a capacity, an interval), the cell's tooltip. Tied rows show it by their letters, or by "="
beside the rank where the table has none. The page renders these rows on demand (templates/report.js), a page
at a time, so a 10,000-row report stays small and opens fast; the columns a decision-maker needs are shown by
default and the rest behind a "more columns" switch.

Pure formatting of the board's rows (analysis.Board.rows): no jinja2, no browser, no file writes.
"""

from __future__ import annotations

import math
from typing import Any

from harness.report.analysis import FILTERS, filter_text
from harness.report.i18n import N_, _, dec, integer, money, percent
from harness.report.labels import noise_text

SOURCES = {
    "api": N_("API baseline"),
    "embedded": N_("embedded (pip package)"),
    "hub": N_("Hugging Face hub"),
    "local": N_("local folder"),
}


PROMPTS = {"chat": N_("chat turn"), "plain": N_("plain text")}

COLUMN_CLASS = {"model": "wrap", "variant": "wrap", "where": "wrap", "cell": "code"}  # set once per column


class Notes:
    """Footnote texts, each once, numbered from 1 in order of first use."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, str | None], int] = {}
        self.said: dict[str, str] = {}  # message -> its translation, made once per table (10,000 rows ask again)

    def text(self, message: str) -> str:
        """A parameterless message (marked N_ where it is written), translated once per table."""
        if message not in self.said:
            self.said[message] = _(message)
        return self.said[message]

    def say(self, message: str) -> list[int]:
        """mark() for a parameterless message of the catalogue."""
        return self.mark(self.text(message))

    def mark(self, text: str | None, href: str | None = None) -> list[int]:
        if not text:
            return []
        key = (text, href if isinstance(href, str) and href.startswith(("https://", "http://")) else None)
        return [self.index.setdefault(key, len(self.index) + 1)]

    def listed(self) -> list[dict[str, Any]]:
        return [{"n": n, "text": t, "href": h} for (t, h), n in self.index.items()]


def _ok(v: Any) -> bool:
    """A value to show: not missing (None, NaN) and finite (JSON has no Infinity: the page's JSON.parse would fail)."""
    return v is not None and v == v and v not in (math.inf, -math.inf)


def _plain(text: str) -> bool:
    """Does the text start with a plain number (12, -0.5, +0.012, 135M) that the page's script reads back itself
    (parseFloat)? String methods, not a regex: 60,000 cells of a 10,000-row table ask."""
    first = text.split(" ", 1)[0].removesuffix("M")
    if first[:1] in ("+", "-"):
        first = first[1:]
    return first.replace(".", "", 1).isdigit() and first.isascii()


def cell(text: str, value: Any = None, notes: list[int] | None = None, cls: str = "", title: str = "") -> Any:
    """A cell as data, positional to keep 10,000 rows small: its text alone, or [text, sort value, note numbers,
    CSS class, tooltip] without the empty end. The sort value is left out where the text starts with it as a
    plain number (the script parses it); a missing number (None, NaN) has none and sorts last."""
    v = None
    if _ok(value) and not (isinstance(value, str) or _plain(text)):
        v = round(value, 6) if isinstance(value, float) else value
    out = [text, v, notes or None, cls or None, title or None]
    while out and out[-1] is None:
        out.pop()
    return out if len(out) > 1 else text


def columns(has_agreement: bool, has_format: bool) -> list[dict[str, Any]]:
    """(key, heading, tooltip, numeric, shown by default) of each column, in order."""
    cols = [
        ("task", _("Task"), "", False, True),
        (
            "rank",
            _("Rank"),
            _(
                "1 + the rows in higher tiers (Holm-corrected paired tests; rows of a tier are not "
                "separated); letters: rows sharing one are not significantly different"
            ),
            True,
            True,
        ),
        ("model", _("Model"), "", False, True),
        ("variant", _("Fine-tuning"), "", False, True),
        ("score", _("Score [95%% CI]"), _("the task's main metric, with its 95 %% confidence interval"), True, True),
        (
            "cost",
            _("Cost / 1,000 queries"),
            _(
                "the deployment's monthly cost at the assumed volume, per 1,000 of those "
                "queries (API: metered tokens x the dated price)"
            ),
            True,
            True,
        ),
        (
            "p95",
            _("p95 latency, one user (s)"),
            _(
                "end-to-end seconds of one request with no other request in flight, "
                "95th percentile; hover for p50 and time to first token"
            ),
            True,
            True,
        ),
        (
            "forget",
            _("Forgetting Δ"),
            _(
                "a fine-tuned model's change on general-ability tasks against its base "
                "(the lowest shown; hover for each)"
            ),
            True,
            True,
        ),
        ("egress", _("Data goes to"), _("where this row's prompts and answers go"), False, True),
        (
            "prompt",
            _("Prompt"),
            _(
                "chat turn: the prompt went through the model's chat template (an API: as chat messages); "
                "plain text: the model got the prompt's text as it is"
            ),
            False,
            False,
        ),
        ("params", _("Params"), "", True, False),
        ("n", "n", _("test items"), True, False),
    ]
    if has_agreement:
        cols.append(
            (
                "agree",
                _("Consistency (k answers agree)"),
                _("consistency: the share of questions whose k sampled answers all agree"),
                True,
                False,
            )
        )
    cols += [
        ("training", _("Training cost"), "", True, False),
        ("p50", _("p50 latency, one user (s)"), "", True, False),
        (
            "capacity",
            _("Capacity at target"),
            _("requests per second one replica took within the latency target, measured under load (harness load)"),
            True,
            False,
        ),
        (
            "batch",
            _("Batch time p50 / p95 (s)"),
            _("a local evaluation's wall time of the batch each query was answered in: not a per-request latency"),
            True,
            False,
        ),
        (
            "batch_cost",
            _("Batch cost / 1,000"),
            _("the device's price over the evaluation's batch throughput: no latency target, never used in a verdict"),
            True,
            False,
        ),
        ("where", _("Measured on"), "", False, False),
    ]
    if has_format:
        cols.append(("format", _("Valid JSON / schema"), "", True, False))
    cols.append(("cell", _("Cell"), "", False, False))
    return [
        {"key": k, "label": label, "title": title, "num": num, "main": main, "cls": COLUMN_CLASS.get(k, "")}
        for k, label, title, num, main in cols
    ]


def _rank(r: dict[str, Any], notes: Notes) -> Any:
    text, marks, title = str(r["rank"]), [], ""
    letters = r.get("letters") if isinstance(r.get("letters"), str) else ""
    if letters:
        text += f" {letters}"
    elif r.get("tied_with"):
        text += "="
        marks += notes.say(N_("=: tied with another row of its task (the ranking does not separate them)."))
    if r.get("tied_with"):
        title = _("tied with %(rows)s", rows=r["tied_with"])
    if not r.get("rank_paired"):
        marks += notes.say(N_("Ranked by score alone: no per-item scores on the same items to test it."))
    if r.get("below_leader"):
        marks += notes.say(
            N_(
                "Below its tier's best row after correction: it shares the rank only because a "
                "lower-scoring row is not separated."
            )
        )
    if r.get("reversed_with"):
        marks += notes.say(
            N_(
                "Better item by item than a higher-scored row (significant after correction, against "
                "the score order): hover the rank for the rows."
            )
        )
        title = "; ".join(x for x in (title, r["reversed_with"]) if x)
    return cell(text, r["rank"], marks, title=title)


def _model(r: dict[str, Any], notes: Notes) -> Any:
    marks = []
    if r.get("stand_in"):
        marks += notes.say(
            N_(
                "A local stand-in for a closed API (the same protocol, a model served on this "
                "machine), priced at a placeholder: its cost is not a real provider's."
            )
        )
    if r.get("runtime") not in (None, "main"):
        marks += notes.mark(
            _(
                "Ran in the runtime %(runtime)s (transformers %(version)s): another Python "
                "environment, the one this model's own code was written for.",
                runtime=r["runtime"],
                version=r.get("transformers"),
            )
        )
    return cell(r["model"], None, marks, title=notes.text(SOURCES["api"]) if r["source"] == "api" else "")


def _cost(r: dict[str, Any], notes: Notes) -> Any:
    cur = r.get("currency") or "USD"
    marks: list[int] = []
    if r.get("data_cost_note"):
        marks += notes.mark(r["data_cost_note"])
    if not _ok(r.get("cost_per_1k")):
        shown = r.get("cost_missing_label") or r.get("cost_missing") or _("unpriced")
        if r.get("cost_missing") == "not at a target":
            shown = notes.text(N_("not measured"))
            marks += notes.say(
                N_(
                    "Not measured at a target: no capacity was measured under load at the latency "
                    "target (harness load), so this row has no cost and takes no part in the "
                    "cheapest-option and break-even verdicts; its batch figure is under more "
                    "columns."
                )
            )
        return cell(shown, None, marks, cls="muted")
    title = r.get("cost_basis") or ""
    if _ok(r.get("cost_low")) and _ok(r.get("cost_high")) and r["cost_high"] > r["cost_low"]:
        title = "; ".join(
            x
            for x in (
                title,
                _(
                    "95 %% interval %(low)s to %(high)s",
                    low=money(r["cost_low"], cur, 4),
                    high=money(r["cost_high"], cur, 4),
                ),
            )
            if x
        )
    return cell(money(r["cost_per_1k"], cur, 4), r["cost_per_1k"], marks, title=title)


def _forget(r: dict[str, Any], notes: Notes) -> Any:
    checks = r.get("forget_all") or []
    if not checks:
        return "-"
    worst = r.get("forget_delta")
    title = "; ".join(
        f"{c['task']}: {dec(c['delta'], 3, sign=True)}"
        + (f" [{dec(c['ci_low'], 3, sign=True)}, {dec(c['ci_high'], 3, sign=True)}]" if _ok(c.get("ci_low")) else "")
        for c in checks
    )
    marks = []
    if r.get("forgetting"):
        marks = notes.say(
            N_(
                "Significant forgetting: the paired 95 %% interval of the change is below 0 (ability "
                "lost on that general task)."
            )
        )
    for c in checks:
        if c.get("items_note"):
            marks += notes.mark(c["items_note"])
    return cell(dec(worst, 3, sign=True), worst, marks, cls="bad" if r.get("forgetting") else "", title=title)


def _egress(r: dict[str, Any], notes: Notes) -> Any:
    shown = r.get("egress_label") or r.get("egress") or ""
    if r.get("egress") != "third_party":  # where it is served: the "Measured on" column
        return shown
    region = r.get("egress_region") or _("region unknown")
    text = _(
        "%(provider)s: region %(region)s; %(training)s",
        provider=r.get("egress_provider"),
        region=region,
        training=r.get("egress_training_label") or "",
    )
    if r.get("egress_checked"):
        text += " " + _("(as documented, read %(date)s)", date=r["egress_checked"])
    marks = notes.mark(text, r.get("egress_source"))
    return cell(f"{shown} ({r.get('egress_provider')})", None, marks)


def _clip(text: str, width: int) -> str:
    """At most `width` characters, cut at a word's end (a quoted answer stays whole words)."""
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …"


def row_cells(r: dict[str, Any], cols: list[dict[str, Any]], notes: Notes) -> list[Any]:
    cur = r.get("currency") or "USD"
    score = dec(r["score"], 3) if _ok(r.get("score")) else "-"
    if _ok(r.get("ci_low")):
        score += f" [{dec(r['ci_low'], 3)}, {dec(r['ci_high'], 3)}]"
    score_marks = []
    if r.get("n_failed"):
        score_marks = notes.mark(
            _(
                "%(failed)s of %(n)s requests failed: scored as wrong; run again to resend them.",
                failed=integer(r["n_failed"]),
                n=integer(r["n"]),
            )
        )
    if r.get("off_shape_flagged"):
        from harness.compare.shape import preview_command

        score_marks += notes.mark(
            _(
                "%(off)s of %(n)s answers (%(share)s) are not in the shape the task's answers have (e.g. "
                '"%(example)s"): the score may measure the prompt\'s format, not the model. See the prompts as '
                "the model got them: %(command)s",
                off=integer(r["off_shape"]),
                n=integer(r["n"]),
                share=percent(r["off_shape_share"]),
                example=_clip(str(r.get("off_shape_example") or ""), 80),
                command=preview_command(r["task"], r.get("model_key") or r["model"], r.get("source") == "api"),
            )
        )
    if r.get("mixed_prompts"):
        score_marks += notes.say(
            N_(
                "Rows of this task were prompted in different formats (chat turn or plain text, see the "
                "Prompt column): their scores differ by the format too."
            )
        )
    variant_marks = notes.mark(r.get("train_data_note")) if r.get("train_data_note") else []
    p95 = r.get("p95_s")
    lat_title = ""
    if _ok(p95):
        lat_title = _("p50 %(p50)s s, p95 %(p95)s s", p50=dec(r.get("p50_s"), 2), p95=dec(p95, 2))
        if _ok(r.get("ttft_p95_s")):
            lat_title += "; " + _("TTFT p95 %(s)s s", s=dec(r["ttft_p95_s"], 2))
    cap = r.get("capacity_qph")
    out = {
        "task": r["task"],
        "rank": _rank(r, notes),
        "model": _model(r, notes),
        "variant": cell(r.get("variant_label") or r.get("variant") or "", None, variant_marks),
        "score": cell(score, r.get("score"), score_marks),
        "cost": _cost(r, notes),
        "p95": cell(dec(p95, 2) if _ok(p95) else "-", p95, title=lat_title),
        "forget": _forget(r, notes),
        "egress": _egress(r, notes),
        "prompt": cell(notes.text(PROMPTS.get(r.get("prompt_format") or "", N_("chat turn")))),
        "params": cell(f"{r['params_m']:.0f}M" if _ok(r.get("params_m")) else _("not disclosed"), r.get("params_m")),
        "n": cell(integer(r["n"]), r["n"]),
        "agree": cell(
            f"{percent(r['agree_all'])} (k={integer(r['agree_k'])})" if _ok(r.get("agree_all")) else "-",
            r.get("agree_all"),
        ),
        "training": cell(
            money(r["training_cost"], cur, 4) if _ok(r.get("training_cost")) else "-",
            r.get("training_cost"),
            notes.mark(r["data_cost_note"]) if r.get("data_cost_note") else None,
        ),
        "p50": cell(dec(r["p50_s"], 2) if _ok(r.get("p50_s")) else "-", r.get("p50_s")),
        "capacity": cell(
            _("%(rps)s req/s", rps=dec(cap / 3600, 2)) if _ok(cap) else "-", cap, title=r.get("capacity_basis") or ""
        ),
        "batch": cell(
            f"{dec(r['batch_p50_s'], 2)} / {dec(r['batch_p95_s'], 2)}" if _ok(r.get("batch_p50_s")) else "-",
            r.get("batch_p50_s"),
        ),  # sorts by its first figure, p50
        "batch_cost": cell(
            money(r["batch_per_1k"], cur, 4) if _ok(r.get("batch_per_1k")) else "-", r.get("batch_per_1k")
        ),
        "where": None,  # below: its note is numbered after the main columns' notes
        "format": cell(f"{percent(r.get('json_valid'))} / {percent(r.get('schema_valid'))}", r.get("json_valid")),
        "cell": r["cell_id"][:12],
    }
    where_marks = []
    if r.get("contention"):
        where_marks = notes.say(
            N_(
                "Timed on a contended machine: other work ran while it was measured (hover for "
                "how much); its speed and cost may be understated."
            )
        )
    out["where"] = cell(
        r.get("measured_device") or r.get("measured_on") or "",
        None,
        where_marks,
        title=r.get("contention") or "",
    )
    return [out[c["key"]] for c in cols]


def table_data(rows: list[dict[str, Any]], has_agreement: bool, has_format: bool) -> dict[str, Any]:
    """{columns, rows: [{c: cells, f: filter values (FILTERS' order)}], notes, filters: keys}."""
    notes = Notes()
    cols = columns(has_agreement, has_format)

    def fval(r: dict[str, Any], key: str) -> str:
        v = r.get(key)
        return "" if v is None else filter_text(v)

    formats: dict[Any, set[Any]] = {}
    for r in rows:
        formats.setdefault(r.get("task"), set()).add(r.get("prompt_format"))
    mixed = {t for t, f in formats.items() if len(f) > 1}  # a task whose rows were prompted differently

    def shown(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "mixed_prompts": True} if r.get("task") in mixed else r

    out = [{"c": row_cells(shown(r), cols, notes), "f": [fval(r, k) for k in FILTERS]} for r in rows]
    return {
        "columns": cols,
        "rows": out,
        "notes": notes.listed(),
        "filters": [k.replace("_", "-") for k in FILTERS],
    }


def noise_label(v: str) -> str:
    """A label-noise filter value as the page shows it."""
    return noise_text(float(v))
