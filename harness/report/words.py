"""The deployment model's figures in words, in the report's language: what a deployment bills, where fine-tuning
breaks even, why a device has no price. The figures come from harness.compare.deployment; the words live here, in
the report layer, so the layers below never hold report text or a report language."""

from __future__ import annotations

import math

from harness.compare.deployment import BreakEven, Deployment
from harness.report.i18n import _, integer, percent


def deployment_text(d: Deployment) -> str:
    """The deployment and its billing rules in a phrase."""
    if d.kind == "per_second":
        if d.cold_starts_per_month:
            rules = _(
                "%(name)s: billed per second: busy time plus %(starts)s starts a month of %(start)s s "
                "cold start + %(idle)s s idle each",
                name=d.name,
                starts=f"{d.cold_starts_per_month:g}",
                start=f"{d.cold_start_s:g}",
                idle=f"{d.idle_timeout_s:g}",
            )
        else:
            rules = _("%(name)s: billed per busy second, no cold starts", name=d.name)
        if d.min_billed_s > 0:
            return _("%(billing)s; each period rounded up to %(step)s s", billing=rules, step=f"{d.min_billed_s:g}")
        return rules
    return _(
        "%(name)s: at least %(n)s replica(s) always on, %(hours)s h a month, sized for a peak of %(peak)sx "
        "the mean traffic at %(utilisation)s utilisation",
        name=d.name,
        n=integer(d.min_replicas),
        hours=f"{d.hours_per_month:g}",
        peak=f"{d.peak_to_mean:g}",
        utilisation=percent(d.target_utilisation),
    )


def unpriced_text(d: Deployment, profile: str | None) -> str:
    """Why a per-second deployment cannot price a device (harness.compare.deployment.device_price said so)."""
    if profile is None:
        return _(
            "%(deployment)s prices devices by hardware profile, and no profile fits this device", deployment=d.name
        )
    return _("%(deployment)s has no per-second price for %(device)s", deployment=d.name, device=profile)


def volume_text(v: float | str) -> str:
    """A break-even volume (or "never" / "always")."""
    if v == "never":
        return _("never")
    if v == "always":
        return _("always")
    if isinstance(v, str):
        return v
    return integer(math.ceil(v))


def break_even_text(be: BreakEven) -> str:
    """The monthly volumes where self-hosting is cheaper, in words."""
    if not be.cheaper:
        return _("never")
    if be.cheaper == ((0.0, None),):
        return _("always")
    out = ""
    for a, b in be.cheaper:
        part = (
            _("above %(volume)s", volume=volume_text(a))
            if b is None
            else _("from %(start)s to %(end)s", start=volume_text(a), end=volume_text(b))
        )
        out = _("%(earlier)s, and %(later)s", earlier=out, later=part) if out else part
    return out
