"""How a row is named everywhere in a report: the model, then what was done to it."""

from __future__ import annotations

import re

from harness.report.i18n import N_, _

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


def variant_text(variant: str) -> str:
    """A row's variant (table.method_label: `lora on helpdesk_en, 64 ex. + 16 replay`, `base`, `none (API)`, each
    maybe with `, k=5 at T=0.7`) in the report's language; a text of another form as it is."""
    m = _METHOD.match(variant) if isinstance(variant, str) else None
    if m is None:
        return variant
    g = m.groupdict()
    what = "api" if g["api"] else "base" if g["base"] else "replay" if g["replay"] else "tuned"
    return _(_VARIANTS[(what, g["k"] is not None)], **{k: v for k, v in g.items() if v is not None})


def row_label(model: str, variant: str) -> str:
    """`Gemma-3-270M (base) · lora on helpdesk_en, 64 ex.`: a model's own name may carry parentheses."""
    return f"{model} · {variant}"
