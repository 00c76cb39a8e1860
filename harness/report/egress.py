"""Data egress: where a row's prompts and answers go. For a reader deciding under confidentiality rules this
matters as much as the score: a self-hosted model keeps every prompt in house, an API sends it to a third
party, in a region, under that provider's policy on training with it.

Read from the stored record only (the report stays a function of its records): a local model's device, or a
baseline's `config.baseline` snapshot (`serve`: a stand-in served on this machine; `data_policy`: region,
training use, source and date as the baseline config stated them when the cell ran). A record made before
baselines stated a policy reads "unknown".
"""

from __future__ import annotations

from typing import Any

from harness.report.i18n import N_, _, label

IN_HOUSE = "in_house"
THIRD_PARTY = "third_party"

# filter values (data-egress) -> their label; the values themselves are never translated
KIND_LABELS = {IN_HOUSE: N_("in house"), THIRD_PARTY: N_("third-party API")}
TRAINING_LABELS = {
    "no": N_("does not train on API data"),
    "opt_in": N_("trains on API data only if you opt in"),
    "opt_out": N_("trains on API data unless you opt out"),
    "yes": N_("trains on API data"),
    "unknown": N_("training use unknown"),
}


def egress(r: dict[str, Any]) -> dict[str, Any]:
    """{kind, provider, region, trains_on_inputs, retention, source, region_source, checked} of one record."""
    if not r.get("api"):
        device = (r.get("eval") or {}).get("device") or {}
        return {
            "kind": IN_HOUSE,
            "provider": None,
            "region": None,
            "device": device.get("name") or device.get("kind"),
            "trains_on_inputs": "no",
            "retention": None,
            "source": None,
            "region_source": None,
            "checked": None,
        }
    b = (r.get("config") or {}).get("baseline") or {}
    p = b.get("data_policy") or {}
    served = bool(b.get("serve")) or (r.get("model") or {}).get("provider") == "local"
    return {
        "kind": IN_HOUSE if served else THIRD_PARTY,
        "provider": (r.get("model") or {}).get("provider"),
        "region": p.get("region"),
        "device": None,
        "trains_on_inputs": "no" if served else (p.get("trains_on_inputs") or "unknown"),
        "retention": p.get("retention"),
        "source": p.get("source"),
        "region_source": p.get("region_source"),
        "checked": p.get("checked"),
    }


def kind_label(kind: str) -> str:
    return label(KIND_LABELS, kind)


def describe(e: dict[str, Any]) -> str:
    """One line for the leaderboard's egress column, in the report's language."""
    if e["kind"] == IN_HOUSE:
        if e.get("device"):
            return _("in house: self-hosted on %(device)s", device=e["device"])
        return _("in house: served on this machine")
    region = e.get("region") or _("region unknown")
    training = label(TRAINING_LABELS, e["trains_on_inputs"] if e["trains_on_inputs"] in TRAINING_LABELS else "unknown")
    if e.get("checked"):
        return _(
            "third-party API (%(provider)s), %(region)s; %(training)s (as documented, read %(date)s)",
            provider=e.get("provider") or "?",
            region=region,
            training=training,
            date=e["checked"],
        )
    return _(
        "third-party API (%(provider)s), %(region)s; %(training)s",
        provider=e.get("provider") or "?",
        region=region,
        training=training,
    )
