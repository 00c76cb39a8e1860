"""How a row is named everywhere in a report: the model, then what was done to it."""

from __future__ import annotations

import re

from harness.report.i18n import N_, _, percent

# harness.report.table.method_label's English text, the row's key in exports, history and comparisons: read back
# into its parts to be shown in the report's language (method, task and model names are never translated)
_METHOD = re.compile(
    r"^(?:(?P<api>none \(API\))|(?P<base>base)|(?P<method>.+?) on (?P<task>.+?), (?P<n>\S+) ex\."
    r"(?: \+ (?P<replay>\S+) replay)?)(?:, k=(?P<k>\S+) at T=(?P<t>\S+))?$"
)
_VARIANTS = {  # (what, sampled k times) -> message
    ("api", False): N_("none (API)"),
    ("api", True): N_("none (API), k=%(k)s at T=%(t)s"),
    ("base", False): N_("base"),
    ("base", True): N_("base, k=%(k)s at T=%(t)s"),
    ("tuned", False): N_("%(method)s on %(task)s, %(n)s ex."),
    ("tuned", True): N_("%(method)s on %(task)s, %(n)s ex., k=%(k)s at T=%(t)s"),
    ("replay", False): N_("%(method)s on %(task)s, %(n)s ex. + %(replay)s replay"),
    ("replay", True): N_("%(method)s on %(task)s, %(n)s ex. + %(replay)s replay, k=%(k)s at T=%(t)s"),
}


# what a tuned row was trained on, when not its task's own clean data: the key's last part (table.method_label),
# `... [data: synthetic 3f9a1c2e; noise 20%]`, `... [noise 50%]` or `... [data: helpdesk_en 50% + synthetic ...]`
_DATA = re.compile(r"^(?P<rest>.+) \[(?:data: (?P<data>.+?))?(?:(?:; )?noise (?P<noise>[0-9.]+)%)?\]$")
_SYNTHETIC = re.compile(r"\bsynthetic (?P<id>[0-9a-f]+)\b")


def split_variant(variant: str) -> tuple[str, str | None, float | None]:
    """(the variant without its training-data part, the data's English label or None, the label-noise share or
    None) of a table.method_label key."""
    m = _DATA.match(variant) if isinstance(variant, str) else None
    if m is None:
        return variant, None, None
    return m["rest"], m["data"], None if m["noise"] is None else float(m["noise"]) / 100


def data_text(data: str) -> str:
    """A training data label (`helpdesk_en`, `synthetic 3f9a1c2e`, `helpdesk_en 50% + synthetic 3f9a1c2e 50%`) in
    the report's language: task names and data set ids stay as they are."""
    return _SYNTHETIC.sub(lambda m: _("synthetic %(id)s", id=m["id"]), data)


def noise_text(noise: float) -> str:
    """A label-noise share as a percentage for the locale: 20%, 12.5%."""
    return percent(noise, 0 if float(noise * 100).is_integer() else 1)


def with_data(text: str, data: str | None, noise: float | None) -> str:
    """`text` followed by what it was trained on (a data label, English; None: the task's own data) and its
    label-noise share (None or 0: clean), in the report's language."""
    p = {"variant": text, "data": data_text(data) if data else "", "noise": noise_text(noise or 0.0)}
    if data and noise:
        return _("%(variant)s; trained on %(data)s, %(noise)s label noise", **p)
    if data:
        return _("%(variant)s; trained on %(data)s", **p)
    return _("%(variant)s; %(noise)s label noise", **p) if noise else text


def variant_text(variant: str) -> str:
    """A row's variant (table.method_label: `lora on helpdesk_en, 64 ex. + 16 replay`, `base`, `none (API)`, each
    maybe with `, k=5 at T=0.7`, then maybe the training data `[data: ...; noise 20%]`) in the report's language;
    a text of another form as it is."""
    rest, data, noise = split_variant(variant)
    if data is not None or noise is not None:
        return with_data(variant_text(rest), data, noise)
    m = _METHOD.match(variant) if isinstance(variant, str) else None
    if m is None:
        return variant
    g = m.groupdict()
    what = "api" if g["api"] else "base" if g["base"] else "replay" if g["replay"] else "tuned"
    return _(_VARIANTS[(what, g["k"] is not None)], **{k: v for k, v in g.items() if v is not None})


def row_label(model: str, variant: str) -> str:
    """`Gemma-3-270M (base) · lora on helpdesk_en, 64 ex.`: a model's own name may carry parentheses."""
    return f"{model} · {variant}"
