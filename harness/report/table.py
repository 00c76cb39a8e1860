"""Records -> the leaderboard DataFrame. One row per cell; nothing here is typed by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from harness.busy import contended
from harness.compare.deployment import Deployment
from harness.compare.stats import Z95, ci95  # noqa: F401 - re-exported
from harness.report.i18n import N_, _, integer, label, percent
from harness.report.labels import row_label, variant_text
from harness.report.training_data import columns as train_data_columns
from harness.report.training_data import key_suffix
from harness.report.words import break_even_text, deployment_text, unpriced_text


def task_label(record: dict[str, Any]) -> str:
    split = record["task"].get("split", "test")
    return record["task"]["name"] + ("" if split == "test" else f" [{split}]")


def method_label(record: dict[str, Any]) -> str:
    """`base`, or what was trained: `lora on helpdesk_en, 64 ex.` (+ replay); `, k=5 at T=0.7` when each item was
    answered k times by sampling (its score is then a sampled answer's, not a greedy one's); then, when it was not
    trained on its task's own clean data, on what: ` [data: synthetic 3f9a1c2e; noise 20%]`. Always in English:
    it is the row's key in exports, history and comparisons; labels.variant_text shows it in the report's
    language."""
    f = record["finetune"]
    c = record.get("consistency")
    sampled = f", k={c['k']} at T={c['temperature']:g}" if c else ""
    if record["model"].get("source") == "api":
        return "none (API)" + sampled
    if f["method"] == "none":
        return "base" + sampled
    data = f.get("data") or {}
    label = f"{f['method']} on {f.get('train_task')}, {data.get('n_domain')} ex."
    if data.get("n_replay"):
        label += f" + {data['n_replay']} replay"
    return label + sampled + key_suffix(f)


_DEFAULT_MONTHLY = 100_000  # harness.config.schema.ReportConfig.monthly_queries (checked by a test)
NOT_AT_TARGET = N_("not measured at a target")  # a self-hosted row without a capacity under load
BATCH_BASIS = N_("batch throughput, no latency target")  # what batch_per_1k divides by
ROLES = {  # tuning_effect's `role` (a key: "domain..." or not) -> how the report names it
    "domain (trained on)": N_("domain (trained on)"),
    "other (forgetting check)": N_("other (forgetting check)"),
}
MISSING = {
    "unpriced": N_("unpriced"),
    "not measured": N_("not measured"),
    "not at a target": NOT_AT_TARGET,
}  # cost_missing -> its label


def missing_label(why: str | None) -> str | None:
    """cost_missing's reason ("unpriced" / "not measured", kept as a code in the tables) in the report's language."""
    return None if why is None else _(MISSING[why]) if why in MISSING else why


def clauses(*parts: str | None) -> str:
    """Independent clauses of one note, each its own message, in the language's list punctuation ("a; b")."""
    out = ""
    for p in parts:
        if p:
            out = _("%(first)s; %(then)s", first=out, then=p) if out else p
    return out


def slo_text(slo: dict[str, Any]) -> str:
    """A load record's latency target (identity.slo) in the report's language: harness.load.figures.Slo.describe,
    which wrote the record's English `target`."""
    ttft, tpot = slo.get("ttft_p95_s"), slo.get("tpot_p95_s")
    p = {
        "ttft": "" if ttft is None else f"{ttft:g}",
        "tpot": "" if tpot is None else f"{tpot * 1000:g}",
        "errors": percent(slo.get("max_error_rate", 0.01)),
    }
    if ttft is not None and tpot is not None:
        return _("p95 TTFT <= %(ttft)s s, p95 TPOT <= %(tpot)s ms, errors <= %(errors)s", **p)
    if ttft is not None:
        return _("p95 TTFT <= %(ttft)s s, errors <= %(errors)s", **p)
    if tpot is not None:
        return _("p95 TPOT <= %(tpot)s ms, errors <= %(errors)s", **p)
    return _("errors <= %(errors)s", **p)


def self_hosting(r: dict[str, Any], d: Deployment | None = None) -> tuple[float, float, int] | None:
    """(capacity in queries per hour, price of one device-hour as `d` bills it, devices per replica) of a
    self-hosted row, when it was measured at a latency target under load (`capacity`, attached by with_capacity)
    and the deployment has a price for its device. Batch throughput is never a capacity: nobody was waiting for
    those answers. `per_second` bills busy seconds at the lowest level's rate (requests that do not overlap:
    serverless volumes rarely batch); dedicated replicas are sized on the capacity at the target."""
    from harness.compare.deployment import device_price

    cap = r.get("capacity")
    if not cap or cap.get("price_per_hour") is None:
        return None
    d = d or Deployment()
    price, _why = device_price(d, cap.get("profile"), float(cap["price_per_hour"]))
    if price is None:
        return None
    qph = cap["queries_per_hour"]
    if d.kind == "per_second" and (cap.get("lowest") or {}).get("queries_per_hour"):
        qph = cap["lowest"]["queries_per_hour"]
    return float(qph), float(price), int(cap.get("devices") or 1)


def capacity_range(r: dict[str, Any], d: Deployment) -> tuple[float, float | None] | None:
    """The 95 % interval of self_hosting's capacity (low, high; high None: unbounded), None without one."""
    cap = r.get("capacity") or {}
    low, high = cap.get("queries_per_hour_low"), cap.get("queries_per_hour_high")
    if d.kind == "per_second" and cap.get("lowest"):  # the lowest level's rate has no interval of its own
        return None
    return (float(low), None if high is None else float(high)) if low else None


def capacity_basis(r: dict[str, Any]) -> str:
    """What the capacity per replica of a self-hosted row is: measured at a latency target, or not at all."""
    cap = r.get("capacity")
    if cap and cap.get("price_per_hour") is not None:
        target = slo_text(cap["slo"]) if isinstance(cap.get("slo"), dict) else cap["target"]
        if cap["mode"] == "open":
            return _(
                "capacity at the target %(target)s, open loop (load %(load)s)", target=target, load=cap["load_id"][:8]
            )
        return _(
            "capacity at the target %(target)s, closed loop (load %(load)s)", target=target, load=cap["load_id"][:8]
        )
    return _(NOT_AT_TARGET)


def _endpoint_keys(identity: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """The rows a load record measured, as keys: (model, artifact, task) of a served harness model; an API
    baseline's row as ("baseline:<name>", None, task). A locally served stand-in is both: its API row, and the
    harness model it serves (the same weights, prompts and server as `harness load model=...` would measure)."""
    e, task = identity["endpoint"], identity["task"]["name"]
    keys: list[tuple[str, str | None, str]] = [(f"baseline:{e['baseline']}", None, task)] if e.get("baseline") else []
    if e.get("model_key"):
        keys.append((e["model_key"], e.get("artifact_id"), task))
    return keys


def _row_key(r: dict[str, Any]) -> tuple[str | None, str | None, str]:
    if r.get("api"):
        return f"baseline:{r['model']['name']}", None, r["task"]["name"]
    return r["model"]["name"], r["finetune"].get("artifact_id"), r["task"]["name"]


def one_user(ld: dict[str, Any]) -> dict[str, Any] | None:
    """Per-request latency at one user: a load record's closed-loop level 1, when it was measured on a quiet
    machine (a contended level's latencies are the machine's, not the endpoint's)."""
    if ld["identity"].get("mode") != "closed":
        return None
    lv = next((x for x in ld.get("levels") or [] if x["level"] == 1 and x.get("trusted", True)), None)
    if lv is None or not lv["figures"].get("n") or lv["figures"]["n"] == lv["figures"]["n_errors"]:
        return None
    f = lv["figures"]
    return {
        "p50_s": f["e2e_s"]["p50"],
        "p95_s": f["e2e_s"]["p95"],
        "ttft_p50_s": f["ttft_s"]["p50"],
        "ttft_p95_s": f["ttft_s"]["p95"],
        "n": f["n"] - f["n_errors"],
        "load_id": ld["load_id"],
    }


def loads_as_of(loads: list[dict[str, Any]], until: str | None) -> list[dict[str, Any]]:
    """The load records that existed when a run ended (`until`: its manifest's ended_at, ISO UTC; None: every
    one): a run's rows are priced and timed as that run's report showed them, not by a later re-measurement (the
    gate compares two runs, the history draws each)."""
    return loads if not until else [ld for ld in loads if str(ld.get("created_at") or "") <= until]


def with_capacity(records: list[dict[str, Any]], loads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records, each with what load records of its endpoint on its task measured (the newest record of each):
    `capacity` (self-hosted models: the capacity at the latency target, its interval and the device price) and
    `one_user` (any row, API included: per-request latency at one user). In memory only: the report stays a
    function of the stored records and load records."""
    best: dict[tuple[str | None, str | None, str], dict[str, Any]] = {}
    single: dict[tuple[str | None, str | None, str], dict[str, Any]] = {}
    for ld in sorted(loads, key=lambda x: x.get("created_at") or ""):
        device = ld["identity"].get("device") or {}
        latency = one_user(ld)
        for key in _endpoint_keys(ld["identity"]):
            if latency is not None:
                single[key] = latency
            if not key[0].startswith("baseline:") and ld.get("capacity") and device.get("price_per_hour") is not None:
                best[key] = {
                    **ld["capacity"],
                    "price_per_hour": device["price_per_hour"],
                    "devices": device.get("devices") or 1,
                    "profile": device.get("profile"),
                    "target": ld["target"],
                    "slo": ld["identity"].get("slo"),
                    "mode": ld["identity"]["mode"],
                    "load_id": ld["load_id"],
                }
    out = []
    for r in records:
        key = _row_key(r)
        extra = {}
        if key in best and not r.get("api"):
            extra["capacity"] = best[key]
        if key in single:
            extra["one_user"] = single[key]
        out.append({**r, **extra} if extra else r)
    return out


def cost_and_latency(
    r: dict[str, Any], deployment: Deployment | None = None, monthly: float | None = None
) -> dict[str, Any]:
    """Money per 1,000 queries and per-request latency on one scale for API and self-hosted rows. A self-hosted
    row's money is its deployment's monthly cost at the assumed monthly volume, per 1,000 of those queries, on
    its capacity at the latency target; without one it has no cost ("not measured at a target") and its batch
    figure stands beside, labelled. Latency (p50_s, p95_s, ttft_*): per request at one user, for every row kind
    (a load record's level 1); the wall time of an evaluation batch is a column of its own (batch_*)."""
    from harness.compare.deployment import device_price, monthly_self_cost, replicas_needed

    api = r.get("api")
    basis, low, high, batch_per_1k, batch = None, None, None, None, {}
    flags = None  # why the timing is flagged as contended (None: it is not)
    why = None  # a reason the deployment gives for not pricing this row (per_second without a device price)
    if api:
        cost = api["cost"]
        per_1k = cost.get("per_1k_queries")
        where = clauses(
            _(
                "API (%(provider)s), concurrency %(concurrency)s",
                provider=r["model"].get("provider"),
                concurrency=(r["eval"].get("transport") or {}).get("concurrency"),
            ),
            earlier_latency_note(api["latency_s"]),
        )
        plain = where
    else:
        batch = (r.get("inference") or {}).get("latency_s") or {}
        cost = r.get("cost") or {}
        hw = r.get("hardware") or {}
        batch_per_1k = cost.get("per_1k_queries")  # the device's price over batch throughput (busy seconds only)
        per_1k = None
        device = hw.get("profile") or hw.get("kind") or r["eval"]["device"]["kind"]
        busy = (r.get("inference") or {}).get("machine") or {}
        plain = _("%(device)s, batch %(batch)s", device=device, batch=r["eval"].get("batch_size"))
        if contended(busy, runner=True):  # a slowed measurement is not capacity: said where the figure is shown
            flags = contention_text(busy, runner=True)
            where = _(
                "%(device)s, batch %(batch)s (timed on a contended machine: %(flags)s)",
                device=device,
                batch=r["eval"].get("batch_size"),
                flags=flags,
            )
        else:
            where = plain
        deployment = deployment or Deployment()
        cap = r.get("capacity")
        if cap and cap.get("price_per_hour") is not None:
            if device_price(deployment, cap.get("profile"), float(cap["price_per_hour"]))[1]:
                why = unpriced_text(deployment, cap.get("profile"))
        served = self_hosting(r, deployment)
        monthly = monthly or _DEFAULT_MONTHLY  # no volume given: the report's default assumption
        if served is not None:
            per_1k = 1000.0 * monthly_self_cost(monthly, *served, deployment) / monthly
            span = capacity_range(r, deployment)
            if span is not None:  # more capacity costs less: the interval's ends swap
                high = 1000.0 * monthly_self_cost(monthly, span[0], *served[1:], deployment) / monthly
                # no upper end to the capacity: the cost's lower end is what unlimited capacity would cost (the
                # minimum replicas always on; per second, the starts alone)
                top = math.inf if span[1] is None else span[1]
                low = min(per_1k, 1000.0 * monthly_self_cost(monthly, top, *served[1:], deployment) / monthly)
            n = replicas_needed(monthly, served[0], deployment) if deployment.kind == "dedicated" else None
            p = {
                "deployment": deployment.name,
                "n": integer(n),
                "monthly": integer(monthly),
                "capacity": integer(served[0]),
                "basis": capacity_basis(r),
            }
            basis = (
                _(
                    "%(deployment)s, %(n)s replica(s) at %(monthly)s queries a month; capacity %(capacity)s "
                    "queries/h (%(basis)s)",
                    **p,
                )
                if n
                else _(
                    "%(deployment)s at %(monthly)s queries a month; busy seconds at the lowest level's rate, %(capacity)s "
                    "queries/h (load %(load)s; its %(basis)s)",
                    **p,
                    load=(r.get("capacity") or {}).get("load_id", "")[:8],
                )
            )
    lat = r.get("one_user") or {}
    missing = None if per_1k is not None else ("no deployment price" if why else cost_missing(r))
    return {
        "cost_per_1k": per_1k,
        # its 95 % interval, from the capacity's (None: a single measurement, or an API's metered cost)
        "cost_low": low,
        "cost_high": high,
        # why there is no cost, a code ("unpriced" | "not measured" | "not at a target" | "no deployment
        # price"); the page shows cost_missing_label
        "cost_missing": missing,
        "cost_missing_label": None if per_1k is not None else (why or missing_label(missing)),
        "currency": cost.get("currency", "USD"),
        "training_cost": cost.get("training"),
        "cost_basis": basis,
        # a self-hosted row's device price over its evaluation's batch throughput: what the device does flat out,
        # not a cost anyone was served at (shown beside, labelled; never in a verdict)
        "batch_per_1k": batch_per_1k,
        # per request at one user (load level 1), every row kind alike; None: not measured at one user
        "p50_s": lat.get("p50_s"),
        "p95_s": lat.get("p95_s"),
        "ttft_p50_s": lat.get("ttft_p50_s"),
        "ttft_p95_s": lat.get("ttft_p95_s"),
        "latency_load_id": lat.get("load_id"),
        # a local evaluation's wall time of the batch each query was in (not a per-request latency)
        "batch_p50_s": batch.get("p50"),
        "batch_p95_s": batch.get("p95"),
        "measured_on": where,
        # the same without the contention clause, and that clause alone (the compact table's note)
        "measured_device": plain,
        "contention": flags,
        # capacity per replica measured under load at a latency target (None: not measured for this row)
        "capacity_qph": (r.get("capacity") or {}).get("queries_per_hour"),
        "capacity_low_qph": (r.get("capacity") or {}).get("queries_per_hour_low"),
        "capacity_high_qph": (r.get("capacity") or {}).get("queries_per_hour_high"),
        # what one replica answers per hour, for the gate: at the target when measured under load, else batch
        "throughput_qph": (r.get("capacity") or {}).get("queries_per_hour")
        or (r.get("inference") or {}).get("queries_per_hour"),
        "batch_qph": (r.get("inference") or {}).get("queries_per_hour"),  # the evaluation's batch throughput
        "capacity_basis": capacity_basis(r) if r.get("capacity") else None,
    }


def earlier_latency(lat: dict[str, Any]) -> str:
    """ "; 30 of 50 latencies measured in an earlier run at concurrency 8": cached answers keep the timings of
    the run that fetched them, at that run's concurrency ("" when every latency was measured in this run)."""
    note = earlier_latency_note(lat)
    return f"; {note}" if note else ""


def earlier_latency_note(lat: dict[str, Any]) -> str:
    """earlier_latency's note on its own ("" when every latency was measured in this run)."""
    k = lat.get("from_earlier_runs") or 0
    if not k:
        return ""
    at = lat.get("earlier_concurrency") or []
    if at:
        return _(
            "%(k)s of %(n)s latencies measured in an earlier run at concurrency %(at)s (answers from the cache)",
            k=integer(k),
            n=integer(lat.get("n")),
            at=", ".join(map(str, at)),
        )
    return _(
        "%(k)s of %(n)s latencies measured in an earlier run at a concurrency not recorded (answers from the cache)",
        k=integer(k),
        n=integer(lat.get("n")),
    )


def cost_missing(r: dict[str, Any]) -> str:
    """Why a row has no cost per query: "unpriced" (no price for its model or device), "not measured" (an API
    cell whose every request failed) or "not at a target" (a self-hosted row with no capacity measured under load
    within the latency target)."""
    api = r.get("api")
    if api:
        from harness.api.pricing import is_priced

        return "unpriced" if not is_priced(api["cost"].get("price") or {}) else "not measured"
    if (r.get("hardware") or {}).get("price_per_hour") is None and not (r.get("capacity") or {}).get("price_per_hour"):
        return "unpriced"
    return "not at a target"  # a price, but no capacity measured under load within the latency target


def monthly_curve(
    served: tuple[float, float, int],
    training_per_month: float,
    api_per_1k: float,
    d: Deployment,
    around: float,
) -> list[list[float]]:
    """Monthly cost against monthly volume, for the chart: 1,000 to 100x `around` (the assumed volume or the
    break-even), log-spaced, plus both sides of every replica step in that range."""
    from harness.compare.deployment import monthly_self_cost, replica_volume

    top = 100 * max(around, 1000.0)
    volumes = {1000.0 * (top / 1000.0) ** (i / 119) for i in range(120)}
    if d.kind == "dedicated":
        for r in range(d.min_replicas, d.min_replicas + 400):
            edge = replica_volume(r, served[0], d)
            if edge > top:
                break
            volumes |= {edge, edge * (1 + 1e-9)}
    return [
        [v, monthly_self_cost(v, *served, d) + training_per_month, api_per_1k * v / 1000.0] for v in sorted(volumes)
    ]


def break_even(
    records: list[dict[str, Any]], monthly_queries: float, months: float, deployment: Deployment | None = None
) -> pd.DataFrame:
    """break_even_rows as a DataFrame."""
    return pd.DataFrame(break_even_rows(records, monthly_queries, months, deployment))


def break_even_rows(
    records: list[dict[str, Any]], monthly_queries: float, months: float, deployment: Deployment | None = None
) -> list[dict[str, Any]]:
    """Each fine-tuned model (on the task it was trained for) against each API baseline on the same task and
    items: the monthly volumes where fine-tuning is cheaper, training amortised over `months`, the self-hosted
    model served as `deployment` (harness.compare.deployment) on its capacity at the latency target. A record
    without one has no break-even ("not measured at a target"): batch throughput prices nobody's traffic.
    `by_months`: the break-even with training amortised over 1, 6 and 12 months."""
    from harness.compare.cost import amortised_per_1k
    from harness.compare.deployment import break_even as deployment_break_even
    from harness.compare.deployment import break_even_by_months, monthly_self_cost

    deployment = deployment or Deployment()
    tuned = [
        r for r in records if r["finetune"]["method"] != "none" and r["task"]["name"] == r["finetune"].get("train_task")
    ]
    apis: dict[tuple[str, int], list[tuple[dict, dict]]] = {}  # (task, n) -> [(record, its cost and latency)]
    for r in records:
        if r.get("api"):
            apis.setdefault((task_label(r), r["task"]["n"]), []).append((r, cost_and_latency(r)))
    rows = []
    described = deployment_text(deployment)  # one phrase for every row (24,000 calls took 1.5 s of a 10,000-row report)
    unknown: dict[frozenset[str], str] = {}
    for t in tuned:
        tc = cost_and_latency(t, deployment, monthly_queries)
        served = self_hosting(t, deployment)
        # the tuned row's own figures, once for all its API pairs (a 10,000-row board has 25,000 pairs)
        mine = {
            "tuned": row_label(t["model"]["display_name"], variant_text(method_label(t))),
            "task": task_label(t),
            **{k: v for k, v in train_data_columns(t).items() if k.startswith("data_cost")},
            "tuned_measured_on": clauses(tc["measured_on"], tc["cost_basis"]),
            "capacity_basis": capacity_basis(t) if served is not None else None,
        }
        for a, ac in apis.get((mine["task"], t["task"]["n"]), []):
            known = None not in (tc["cost_per_1k"], tc["training_cost"], ac["cost_per_1k"])
            first, self_monthly, how, curve, marks = None, None, described, None, []
            by_months: dict[str, str] = {}
            if known and served is not None:
                by_months = {
                    f"{m:g}": break_even_text(b)
                    for m, b in break_even_by_months(
                        tc["training_cost"], *served, ac["cost_per_1k"], deployment
                    ).items()
                }
                be = deployment_break_even(tc["training_cost"], months, *served, ac["cost_per_1k"], deployment)
                text, first = break_even_text(be), be.first
                kind = (
                    "never"
                    if not be.cheaper
                    else "always"
                    if be.cheaper == ((0.0, None),)
                    else "above"
                    if len(be.cheaper) == 1 and be.cheaper[0][1] is None
                    else "ranges"
                )
                # every crossing is marked on the chart: each interval's start and (finite) end
                marks = sorted({v for span in be.cheaper for v in span if v is not None and v > 0})
                self_monthly = monthly_self_cost(monthly_queries, *served, deployment) + tc["training_cost"] / months
                curve = monthly_curve(
                    served,
                    tc["training_cost"] / months,
                    ac["cost_per_1k"],
                    deployment,
                    max(monthly_queries, *marks, 0.0),
                )
            else:
                why = frozenset({tc["cost_missing"], ac["cost_missing"]} - {None})
                if why not in unknown:  # a handful of reasons across 25,000 pairs: each written once
                    unknown[why] = unknown_text(set(why))
                text, kind = unknown[why], "unknown"
            rows.append(
                {
                    "tuned": mine["tuned"],
                    "api": a["model"]["display_name"],
                    "task": mine["task"],
                    "tuned_score": (t.get("primary") or {}).get("value"),
                    "api_score": (a.get("primary") or {}).get("value"),
                    "tuned_per_1k": tc["cost_per_1k"],
                    "tuned_missing": tc["cost_missing"],  # codes; shown: the *_label fields
                    "tuned_missing_label": tc["cost_missing_label"],
                    "api_per_1k": ac["cost_per_1k"],
                    "api_missing": ac["cost_missing"],
                    "api_missing_label": ac["cost_missing_label"],
                    "training_cost": tc["training_cost"],
                    # of which the training data (None, and data_cost_unknown, when a synthetic set is unpriced)
                    **{k: v for k, v in mine.items() if k.startswith("data_cost")},
                    "amortised_per_1k": amortised_per_1k(tc["training_cost"], monthly_queries, months)
                    if known
                    else None,
                    "break_even": text,  # in the report's language
                    "break_even_kind": kind,  # never | always | above (break_even_first) | ranges | unknown
                    "break_even_first": first,
                    "break_even_marks": marks,  # volumes where the cheaper side changes (the chart marks each)
                    "by_months": by_months,  # "1" / "6" / "12" months of amortisation -> the break-even in words
                    "capacity_basis": mine["capacity_basis"],
                    "deployment": how,
                    "self_monthly": self_monthly,
                    "api_monthly": ac["cost_per_1k"] * monthly_queries / 1000
                    if ac["cost_per_1k"] is not None
                    else None,
                    "curve": curve,  # [[monthly volume, self-hosted monthly cost incl. training, API monthly cost], ...]
                    "currency": ac["currency"],
                    "tuned_measured_on": mine["tuned_measured_on"],
                    "tuned_cell_id": t["cell_id"],
                    "api_cell_id": a["cell_id"],
                    "api_stand_in": a["model"].get("stand_in"),
                }
            )
    return rows


def unknown_text(missing: set[str]) -> str:
    """The break-even of a pair whose costs are not all known, and why: cost_missing's codes of both rows (none:
    the training is unpriced)."""
    if "not at a target" in missing:
        return _("unknown (not measured at a latency target)")
    if "no deployment price" in missing:
        return _("unknown (no price under this deployment)")
    if missing == {"unpriced"}:
        return _("unknown (unpriced)")
    if missing == {"not measured"}:
        return _("unknown (not measured)")
    if missing:
        return _("unknown (not measured, unpriced)")
    return _("unknown (training unpriced)")


def unique_labels(df: pd.DataFrame) -> list[str]:
    """Each row's name in the report (model · variant), made unique within its task by the cell id when two
    rows would read the same (e.g. two learning rates): tables, charts and the summary never mix them up."""
    shown = df["variant_label"] if "variant_label" in df else df["variant"]
    labels = [row_label(m, v) for m, v in zip(df["model"], shown, strict=True)]
    seen = pd.Series(list(zip(df["task"], labels, strict=True))).duplicated(keep=False)
    return [f"{lab} #{cid[:6]}" if dup else lab for lab, cid, dup in zip(labels, df["cell_id"], seen, strict=True)]


def usage_source_text(source: str) -> str:
    """Where an API row's token counts come from: the server's `usage`, or an estimate (and how)."""
    if source == "server":
        return _("the server's usage")
    if source.endswith("(the server's usage was implausible)"):
        return _("estimated from the request and the answer (the server's usage was implausible)")
    if source.startswith("estimated: characters"):
        return _("estimated from characters / 4 (the server sent no usage)")
    if source.startswith("estimated: ") and source.endswith(" tokenizer"):
        return _(
            "estimated with the %(tokenizer)s tokenizer (the server sent no usage)",
            tokenizer=source[len("estimated: ") : -len(" tokenizer")],
        )
    return source


def contention_text(machine: dict[str, Any], runner: bool = False) -> str:
    """Why a timing is flagged as contended, in the report's language, rebuilt from the stored shares (the
    record's `flags` are the English sentences of the moment, kept for a record that lacks the shares). `runner`:
    the section is a local evaluation's or training's, where the process is the measurement (busy.py: role)."""
    from harness.busy import OTHER_MAX, OWN_CPU_MAX, STEAL_MAX

    parts = []
    if (machine.get("other_share") or 0) > OTHER_MAX:
        parts.append(
            _(
                "other work used %(share)s of the machine's CPU while this was timed",
                share=percent(machine["other_share"]),
            )
        )
    if (machine.get("steal_share") or 0) > STEAL_MAX:
        parts.append(_("the hypervisor took %(share)s of the CPU time (steal)", share=percent(machine["steal_share"])))
    client = machine.get("role", "runner" if runner else "client") == "client"
    if client and (machine.get("own_cpu") or 0) > OWN_CPU_MAX:
        parts.append(
            _(
                "the measuring process used %(share)s of a core: it may have been the bottleneck",
                share=percent(machine["own_cpu"]),
            )
        )
    if not parts and "other_share" not in machine:
        parts = [str(f) for f in machine.get("flags") or []]
    return _("%(first)s; %(then)s", first=parts[0], then="; ".join(parts[1:])) if len(parts) > 1 else "".join(parts)


def shape_columns(shape: dict[str, Any] | None) -> dict[str, Any]:
    """A record's eval.answer_shape as flat columns (exports are tables): the count, the share, the flag and the
    first off-shape answer."""
    shape = shape or {}
    return {
        "off_shape": shape.get("off_shape"),
        "off_shape_share": shape.get("share"),
        "off_shape_flagged": bool(shape.get("flagged")),
        "off_shape_example": (shape.get("examples") or [{}])[0].get("answer"),
    }


def egress_columns(r: dict[str, Any]) -> dict[str, Any]:
    """Where the row's prompts and answers go (harness/report/egress.py): `egress` is the filter's value (in_house |
    third_party, never translated), `egress_text` the sentence, the rest the column's parts."""
    from harness.report.egress import TRAINING_LABELS, describe, egress, kind_label

    e = egress(r)
    return {
        "egress": e["kind"],
        "egress_text": describe(e),
        "egress_label": kind_label(e["kind"]),
        "egress_provider": e["provider"],
        "egress_region": e["region"],
        "egress_device": e.get("device"),
        "egress_training": e["trains_on_inputs"],
        "egress_training_label": label(TRAINING_LABELS, e["trains_on_inputs"]),
        "egress_source": e["source"],
        "egress_region_source": e["region_source"],
        "egress_checked": e["checked"],
    }


def leaderboard(
    records: list[dict[str, Any]],
    samples: Callable[[str], list[dict]] | None = None,
    deployment: Deployment | None = None,
    monthly: float | None = None,
) -> pd.DataFrame:
    """One row per cell. With `samples` (cell id -> per-sample rows) rows of a task are ranked on paired item
    scores (harness.compare.ranking: Holm-corrected tests, tiers in score order; rows of a tier are "tied")."""
    rows = []
    items: dict[str, dict[str, float] | None] = {}  # cell id -> its primary metric's item scores (read once)
    for r in records:
        primary = r.get("primary") or {}
        value = primary.get("value")
        metric = primary.get("metric")
        items[r["cell_id"]] = item_scores(samples(r["cell_id"]), metric) if samples and metric else None
        scores = items[r["cell_id"]]
        binary = all(v in (0.0, 1.0) for v in scores.values()) if scores else None  # read from the items
        ci = ci95(value, primary.get("stderr"), r["task"]["n"], binary) if value is not None else None
        rows.append(
            {
                "task": task_label(r),
                "model": r["model"]["display_name"],
                "model_key": r["model"]["name"],
                "source": r["model"]["source"],
                "params_m": None if r["model"].get("n_params") is None else r["model"]["n_params"] / 1e6,
                "method": r["finetune"]["method"],
                "variant": (key := method_label(r)),  # in English: the row's key in exports and comparisons
                "variant_label": variant_text(key),  # as the report shows it
                # domain training examples: 0 for a base model, none for an API
                "n_train": None
                if r["model"].get("source") == "api"
                else ((r["finetune"].get("data") or {}).get("n_domain") or 0),
                "train_s": (r["finetune"].get("metering") or {}).get("train_seconds"),
                "metric": primary.get("metric"),
                "score": value,
                "ci_low": None if ci is None else ci[0],
                "ci_high": None if ci is None else ci[1],
                "n": r["task"]["n"],
                **{f"m:{k}": v["value"] for k, v in r["metrics"].items()},
                "eval_s": r["timings"].get("evaluate_s"),
                "items_per_s": r["timings"].get("items_per_s"),
                "device": r["eval"]["device"]["kind"],
                # the Python environment it ran in (records before runtimes existed ran in `main`)
                "runtime": (r["environment"].get("runtime") or {}).get("name", "main"),
                "transformers": r["environment"]["packages"].get("transformers"),
                "stand_in": r["model"].get("stand_in"),
                **cost_and_latency(r, deployment, monthly),
                # Format consistency, first-class where a task measures it (fixed-format JSON tasks)
                "n_failed": (r.get("api") or {}).get("n_failed") or 0,  # API requests that never got an answer
                "json_valid": (r["metrics"].get("json_valid") or {}).get("value"),
                "schema_valid": (r["metrics"].get("schema_valid") or {}).get("value"),
                # k sampled answers per item (eval.samples): share of items whose k answers all agree
                # how the prompt was sent (records before the field: from apply_chat_template; API rows were chat)
                "prompt_format": r["eval"].get("prompt_format")
                or ("chat" if r["eval"].get("apply_chat_template", True) else "plain"),
                # generative tasks: answers not in the references' shape (harness/compare/shape.py)
                **shape_columns(r["eval"].get("answer_shape")),
                "agree_all": (r.get("consistency") or {}).get("all_agree"),
                "agree_k": (r.get("consistency") or {}).get("k"),
                **egress_columns(r),
                # what it was trained on (task data, synthetic, a mix), its label noise, the data's cost
                **train_data_columns(r),
                "artifact_id": r["finetune"].get("artifact_id"),  # the trained model, shared by its task cells
                "cell_id": r["cell_id"],
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    from harness.compare.ranking import rank_rows

    def scores_of(row: dict[str, Any]) -> dict[str, float] | None:
        return items.get(row["cell_id"])

    df["label"] = unique_labels(df)
    # the rows as built (None for a missing value, which ranking reads as NaN): DataFrame.to_dict took 0.7 s of a
    # 10,000-row report (bench/report_10k.py)
    ranks = rank_rows([{**r, "label": lb} for r, lb in zip(rows, df["label"], strict=True)], scores_of)
    # the ids as one Python list: iterating pandas 3's arrow strings column by column was 0.1 s a pass
    ids = df["cell_id"].to_numpy(dtype=object).tolist()
    label_of = dict(zip(ids, df["label"].to_numpy(dtype=object).tolist(), strict=True))
    df["rank"] = [ranks[c]["rank"] for c in ids]
    df["tied_ids"] = [ranks[c]["tied_with"] for c in ids]
    df["tied_with"] = ["; ".join(label_of[t] for t in ranks[c]["tied_with"]) for c in ids]
    df["rank_paired"] = [ranks[c]["paired"] for c in ids]
    # in the top tiers by the conservative rule, but significantly below its tier's best row after correction
    df["below_leader"] = [ranks[c].get("below_leader", False) for c in ids]
    df["separated_ids"] = [ranks[c].get("separated_in_tier", []) for c in ids]
    # compact letter display: rows sharing a letter are not significantly different (None: not tested together)
    df["letters"] = [ranks[c].get("letters") for c in ids]
    df["not_separated_ids"] = [ranks[c].get("not_separated_from", []) for c in ids]
    # a pair significant against the score order: shown, never hidden as a tie (harness.compare.ranking)
    df["reversed_with"] = ["; ".join(label_of[t] for t in ranks[c].get("reversed_with", [])) for c in ids]
    return df.sort_values(["task", "rank", "score"], ascending=[True, True, False], kind="stable").reset_index(
        drop=True
    )


def api_usage(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per API-baseline cell: tokens, money and latency, all from its per-request meters."""
    rows = []
    for r in records:
        api = r.get("api")
        if not api:
            continue
        cost, price, tok = api["cost"], api["cost"]["price"], api["tokens"]
        rows.append(
            {
                "model": r["model"]["display_name"],
                "stand_in": r["model"].get("stand_in"),
                "task": task_label(r),
                "n": api["n_requests"],
                "failed": api["n_failed"],
                "from_cache": api["n_from_cache"],
                "prompt_per_sample": tok["prompt_per_sample"],
                "cached_per_sample": tok["cached"] / api["n_answered"] if api["n_answered"] else None,
                "completion_per_sample": tok["completion_per_sample"],
                "reasoning_per_sample": tok.get("reasoning_per_sample"),  # of completion; absent in older records
                "usage_source": ", ".join(api["usage_source"]),
                "usage_source_label": ", ".join(usage_source_text(u) for u in api["usage_source"]),
                "usage_warnings": api.get("usage_warnings") or [],
                "n_usage_warned": api.get("n_usage_warned") or 0,
                "currency": cost["currency"],
                "cost_per_sample": cost["per_sample"],
                "cost_per_1k": cost["per_1k_queries"],
                "cost_total": cost["total"],
                "p50_s": api["latency_s"]["p50"],
                "p95_s": api["latency_s"]["p95"],
                "latency_note": earlier_latency_note(api["latency_s"]),
                "ttft_p50_s": api["ttft_s"]["p50"],
                "out_tps_p50": api["output_tokens_per_s"]["p50"],
                "concurrency": r["eval"].get("transport", {}).get("concurrency"),
                "price": price,
                "cell_id": r["cell_id"],
            }
        )
    return pd.DataFrame(rows)


def item_scores(samples: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """{item key: score} for one metric; the key is lm-eval's doc_id (within its subtask for groups)."""
    name = metric.split("[")[0]
    return {f"{s.get('subtask', '')}/{s['doc_id']}": float(s["scores"][name]) for s in samples if name in s["scores"]}


def tuning_effect(records: list[dict[str, Any]], samples: Callable[[str], list[dict]] | None = None) -> pd.DataFrame:
    """One row per fine-tuned cell beside its base model on the same items: the gain on the domain task, and
    on the general suite the change that shows forgetting (negative = ability lost). With `samples` (cell id ->
    per-sample rows) each change gets a paired bootstrap 95 % interval and McNemar's p-value over the items."""
    by_id = {r["cell_id"]: r for r in records}
    rows = []
    for r in records:
        f = r["finetune"]
        base = by_id.get(f.get("base_cell_id") or "")
        if f["method"] == "none" or base is None:
            continue
        tuned_v, base_v = (r.get("primary") or {}).get("value"), (base.get("primary") or {}).get("value")
        m = f.get("metering") or {}
        metric = (r.get("primary") or {}).get("metric")
        paired, items_note = None, None
        if samples is not None and metric:
            from harness.compare.stats import compare

            a = item_scores(samples(base["cell_id"]), metric)
            b = item_scores(samples(r["cell_id"]), metric)
            paired = compare(a, b)
            if paired.n and set(a) != set(b):
                items_note = _(
                    "items differ: base on %(base)s, tuned on %(tuned)s; the change is on the %(n)s both answered",
                    base=integer(len(a)),
                    tuned=integer(len(b)),
                    n=integer(paired.n),
                )
            if not paired.n:  # no per-item scores on both sides: untested, not "tied"
                paired = None
        if paired is not None:  # the change and its interval on the same items, with n = the paired count
            base_v, tuned_v, n, delta = paired.mean_a, paired.mean_b, paired.n, paired.delta
        else:  # not paired: the records' scores, comparable only on the same item count
            n = r["task"]["n"]
            same = base["task"]["n"] == n
            delta = tuned_v - base_v if tuned_v is not None and base_v is not None and same else None
            if not same:
                items_note = _(
                    "items differ: base on %(base)s, tuned on %(tuned)s; no per-item scores to pair",
                    base=integer(base["task"]["n"]),
                    tuned=integer(n),
                )
        domain = r["task"]["name"] == f.get("train_task")
        tested = paired is not None and paired.testable
        rows.append(
            {
                "model": r["model"]["display_name"],
                "variant": method_label(r),  # in English, a key; shown: variant_label
                "variant_label": variant_text(method_label(r)),
                "task": task_label(r),
                # a key (the summary and charts test `startswith("domain")`); the page shows role_label
                "role": "domain (trained on)" if domain else "other (forgetting check)",
                "role_label": label(ROLES, "domain (trained on)" if domain else "other (forgetting check)"),
                "metric": (r.get("primary") or {}).get("metric"),
                "base": base_v,  # on the paired items when paired
                "tuned": tuned_v,
                "delta": delta,
                "n": n,
                "items_note": items_note,
                "n_paired": paired.n if paired else None,
                "ci_low": paired.ci_low if tested else None,
                "ci_high": paired.ci_high if tested else None,
                "p_mcnemar": paired.p_mcnemar if paired else None,
                "significant": paired.significant if tested else None,
                "forgetting": (not domain) and tested and paired.significant and paired.delta < 0,
                "train_s": m.get("train_seconds"),
                "train_tokens": m.get("train_tokens"),
                "tokens_per_s": m.get("tokens_per_s"),
                "peak_gib": (m.get("peak_memory_bytes") or 0) / 1024**3,
                "val_loss": m.get("validation_loss"),
                "device": (m.get("device") or {}).get("kind"),
                # training timed on a contended machine: its time and tokens/s are not the device's speed
                "train_contended": contended(m.get("machine") or {}, runner=True),
                "artifact_id": f.get("artifact_id"),
                "cell_id": r["cell_id"],
                "base_cell_id": base["cell_id"],
            }
        )
    df = pd.DataFrame(rows)
    return df.sort_values(["model", "variant", "role", "task"], kind="stable").reset_index(drop=True) if len(df) else df


def judge_table(records: list[dict[str, Any]], judgements: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per judgement: the judge's score of a cell's answers beside the task metric's, and the judge's own
    cost (apart from the candidate's)."""
    by_id = {r["cell_id"]: r for r in records}
    rows = []
    for j in judgements:
        r = by_id.get(j["cell_id"])
        if r is None:
            continue
        cost = j["api"]["cost"]
        rows.append(
            {
                "model": r["model"]["display_name"],
                "variant": method_label(r),  # in English, a key; shown: variant_label
                "variant_label": variant_text(method_label(r)),
                "task": task_label(r),
                "metric": (r.get("primary") or {}).get("metric"),
                "metric_score": (r.get("primary") or {}).get("value"),
                "judge": j["judge"]["display_name"],
                "judge_stand_in": j["judge"].get("stand_in"),
                "prompt": j["judge"]["prompt"]["version"],
                "prompt_sha": j["judge"]["prompt"]["sha256"][:12],
                "judge_score": j["score"]["value"],
                "ci_low": j["score"]["ci_low"],
                "ci_high": j["score"]["ci_high"],
                "n_judged": j["n_judged"],
                "n_unparsed": j["n_unparsed"],
                "n_failed": j["n_failed"],
                "agreement": j["agreement_with_metric"]["rate"],
                "judge_cost_total": cost["total"],
                "judge_cost_per_1k": cost["per_1k_queries"],
                "currency": cost["currency"],
                "cell_id": r["cell_id"],
                "judgement_id": j["judgement_id"],
            }
        )
    return pd.DataFrame(rows)
