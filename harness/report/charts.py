"""The report's interactive plotly charts, each a pure function of the report's tables.

Every chart states what a point is in its title; charts with one panel per task get a task drop-down (one
figure, so plotly.js and the data are embedded once).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from harness.report.i18n import N_, _
from harness.report.i18n import label as translated
from harness.report.labels import row_label, with_data
from harness.report.training_data import noise_lines

# Chart text is in the report's language (harness/report/i18n.py). Plotly's hover templates hold `%{x}`
# placeholders, so a hover text is built from translated words around them, never passed through _() whole.
API, LOCAL = "API baseline", "self-hosted"
KIND_LABELS = {API: N_("API baseline"), LOCAL: N_("self-hosted")}
COLORS = {API: "#d64545", LOCAL: "#2680c2"}
MAX_LINES = 40  # lines in one chart before it stops being readable


def _label(df: pd.DataFrame) -> list[str]:
    if "label" in df:  # the leaderboard's unique row names
        return list(df["label"])
    return [row_label(m, v) for m, v in zip(df["model"], df["variant"], strict=True)]


def _variants(part: pd.DataFrame, suffix: str = "") -> list[str]:
    """The rows' fine-tuning labels as the report shows them (variant_label), else their English codes."""
    col = f"variant_label{suffix}"
    return list(part[col]) if col in part else list(part[f"variant{suffix}"])


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower x (cost) and higher y (score). Sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _task_dropdown(fig: go.Figure, tasks: list[str], per_task: int) -> None:
    """One button per task: show that task's `per_task` traces only."""
    if len(tasks) < 2:
        return
    buttons = []
    for t_i, task in enumerate(tasks):
        visible = [t_i == j // per_task for j in range(len(tasks) * per_task)]
        buttons.append({"label": task, "method": "update", "args": [{"visible": visible}]})
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}])


def tradeoff_chart(df: pd.DataFrame, x: str, x_title: str, title: str, frontier: bool) -> go.Figure | None:
    """Score against a cost (money or latency), per task, API and self-hosted rows apart; with `frontier`, the
    Pareto frontier (nothing both cheaper and better) drawn as a line."""
    keep = [
        c
        for c in dict.fromkeys([x, "score", "ci_low", "ci_high", "task", "source", "label", "model", "variant"])
        if c in df
    ]  # the columns drawn: each row filter below copies every column it keeps
    rows = df.loc[df[x].notna() & df["score"].notna(), keep]
    if rows.empty:
        return None
    fig = go.Figure()
    tasks = sorted(rows["task"].unique())
    by_task = dict(tuple(rows.groupby("task", sort=False)))
    for t_i, task in enumerate(tasks):
        part = by_task[task]
        for kind in (LOCAL, API):
            sel = part[(part["source"] == "api") == (kind == API)]
            fig.add_scatter(
                x=sel[x],
                y=sel["score"],
                mode="markers",
                name=translated(KIND_LABELS, kind),
                legendgroup=kind,
                marker={"color": COLORS[kind], "size": 11, "symbol": "diamond" if kind == API else "circle"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": sel["ci_high"] - sel["score"],
                    "arrayminus": sel["score"] - sel["ci_low"],
                    "thickness": 1,
                },
                text=_label(sel),
                hovertemplate="%{text}<br>" + _("score") + " %{y:.3f}<br>" + x_title + " %{x:.4g}<extra></extra>",
                visible=t_i == 0,
                showlegend=t_i == 0,
            )
        if frontier:
            pts = list(zip(part[x], part["score"], strict=True))
            front = part.iloc[pareto_front(pts)]
            # the frontier's points ringed and joined: nothing is both cheaper and better than them
            fig.add_scatter(
                x=front[x],
                y=front["score"],
                mode="lines+markers",
                name=_("Pareto frontier"),
                line={"color": "#1f2933", "dash": "dot"},
                hoverinfo="skip",
                visible=t_i == 0,
                marker={"symbol": "circle-open", "size": 20, "color": "#1f2933", "line": {"width": 2}},
                showlegend=t_i == 0,
            )
        else:
            fig.add_scatter(x=[], y=[], visible=t_i == 0, showlegend=False, hoverinfo="skip")  # keeps 3 per task
    _task_dropdown(fig, tasks, 3)
    sub = (
        _("task: %(task)s (pick another above)", task=tasks[0])
        if len(tasks) > 1
        else _("task: %(task)s", task=tasks[0])
    )
    fig.update_layout(
        title=f"{title}<br><sup>{sub}</sup>",
        xaxis={"title": x_title, "type": "log", "tickformat": ".2g"},
        yaxis={"title": _("score"), "range": [0, 1.05]},
        height=440,
        margin={"t": 90},
    )
    return fig


def forgetting_chart(effects: pd.DataFrame) -> go.Figure | None:
    """One point per fine-tuned model: its gain on the task it was trained for (x) against its change on the
    general-ability suite (y, below 0 = forgetting), both with paired 95 % intervals."""
    if effects.empty:
        return None
    dom = effects[effects["role"].str.startswith("domain")]
    oth = effects[~effects["role"].str.startswith("domain")]
    pairs = dom.merge(oth, on=["model", "variant"], suffixes=("_d", "_g"))
    if pairs.empty:
        return None
    fig = go.Figure()
    for task, part in pairs.groupby("task_g", sort=True):
        fig.add_scatter(
            x=part["delta_d"],
            y=part["delta_g"],
            mode="markers+text",
            name=_("general suite: %(task)s", task=task),
            marker={"size": 12},
            textposition="top right",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": part["ci_high_d"] - part["delta_d"],
                "arrayminus": part["delta_d"] - part["ci_low_d"],
            },
            error_y={
                "type": "data",
                "symmetric": False,
                "array": part["ci_high_g"] - part["delta_g"],
                "arrayminus": part["delta_g"] - part["ci_low_g"],
            },
            text=[row_label(m, v) for m, v in zip(part["model"], _variants(part, "_d"), strict=True)],
            hovertemplate="%{text}<br>"
            + _("domain gain")
            + " %{x:+.3f}<br>"
            + _("general change")
            + " %{y:+.3f}<extra></extra>",
        )
    fig.add_hline(y=0, line={"color": "#9aa5b1", "width": 1})
    fig.add_vline(x=0, line={"color": "#9aa5b1", "width": 1})
    fig.update_layout(
        title=_("Forgetting: domain gain (x) against general-ability change (y), paired 95 %% intervals")
        + "<br><sup>"
        + _("below the line = general ability lost")
        + "</sup>",
        xaxis={"title": _("domain gain (tuned - base)")},
        yaxis={"title": _("general change (tuned - base)")},
        height=440,
        margin={"t": 90},
    )
    return fig


def scaling_chart(effects: pd.DataFrame, params: dict[str, float]) -> go.Figure | None:
    """Fine-tuning gain on the domain task against the base model's parameter count: does a bigger base gain
    more? One point per fine-tuned model, paired 95 % interval bars."""
    dom = effects[effects["role"].str.startswith("domain")].copy() if not effects.empty else effects
    if dom.empty:
        return None
    dom["params_m"] = [params.get(m) for m in dom["model"]]
    dom = dom[dom["params_m"].notna()]
    if dom.empty:
        return None
    fig = go.Figure()
    for _variant, part in dom.groupby("variant", sort=True):
        part = part.sort_values("params_m")
        fig.add_scatter(
            x=part["params_m"],
            y=part["delta"],
            mode="markers+lines",
            name=_variants(part)[0],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": part["ci_high"] - part["delta"],
                "arrayminus": part["delta"] - part["ci_low"],
            },
            text=list(part["model"]),
            hovertemplate="%{text}: %{x:.0f}M<br>" + _("gain") + " %{y:+.3f}<extra></extra>",
        )
    fig.update_layout(
        title=_("Scaling: fine-tuning gain against base model size"),
        height=420,
        margin={"t": 70},
        xaxis={"title": _("base parameters (millions)"), "type": "log", "tickformat": ".3g"},
        yaxis={"title": _("domain gain (tuned - base)")},
    )
    return fig


def task_menu(fig: go.Figure, tasks: list[str], owner: list[str]) -> str:
    """A drop-down that shows one task's traces at a time (`owner`: each trace's task), when there are several;
    returns the subtitle naming the task shown first."""
    if len(tasks) > 1:
        buttons = [{"label": t, "method": "update", "args": [{"visible": [o == t for o in owner]}]} for t in tasks]
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}])
    return (
        _("task: %(task)s (pick another above)", task=tasks[0])
        if len(tasks) > 1
        else _("task: %(task)s", task=tasks[0])
    )


def data_size_chart(df: pd.DataFrame) -> go.Figure | None:
    """Score against the number of domain training examples (0 = the base model), one line per model, method,
    task, training data (the task's own, a synthetic set, a mix) and label-noise share: a synthetic set is never
    drawn as more of the task's own data."""
    keep = [
        c
        for c in (
            "model",
            "method",
            "task",
            "train_data",
            "label_noise",
            "train_task",
            "n_train",
            "score",
            "ci_low",
            "ci_high",
        )
        if c in df
    ]
    local = df.loc[(df["source"] != "api") & df["score"].notna(), keep]  # the drawn columns: filtered per line
    tuned = local[local["method"] != "none"]
    if tuned.empty:
        return None
    # hand-built tables (and records without train_data): the task's own clean data
    tuned = tuned.assign(
        **{
            c: tuned[c].fillna(v) if c in tuned else v
            for c, v in (("train_data", ""), ("label_noise", 0.0), ("train_task", ""))
        }
    )
    by = tuned.groupby(["model", "method", "task", "train_data", "label_noise"], sort=True)
    sizes = by.size()  # counted first: splitting 1,000 groups into frames to keep 12 took 1 s (bench/report_10k.py)
    keep = sorted(sizes.sort_values(ascending=False, kind="stable").index[:MAX_LINES])  # the most data sizes
    fig = go.Figure()
    for (model, method, task, data, noise), part in ((k, by.get_group(k)) for k in keep):
        base = local[(local["model"] == model) & (local["method"] == "none") & (local["task"] == task)]
        pts = pd.concat([base.assign(n_train=0), part]).sort_values("n_train")
        own = data in ("", part["train_task"].iloc[0])  # the task's own data: the line is named as before
        name = with_data(f"{model} {method} - {task}", None if own else data, noise)
        fig.add_scatter(
            x=pts["n_train"],
            y=pts["score"],
            mode="lines+markers",
            name=name,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": pts["ci_high"] - pts["score"],
                "arrayminus": pts["score"] - pts["ci_low"],
                "thickness": 1,
            },
            hovertemplate="%{x} " + _("examples") + ": %{y:.3f}<extra>" + name + "</extra>",
        )
    title = _("Data size: score against domain training examples (0 = base model)")
    if len(sizes) > MAX_LINES:
        title = _(
            "Data size: score against domain training examples (0 = base model) (%(shown)s of %(all)s lines: "
            "those with the most sizes)",
            shown=MAX_LINES,
            all=len(sizes),
        )
    fig.update_layout(
        title=title,
        height=420,
        xaxis={"title": _("training examples")},
        yaxis={"title": _("score"), "range": [0, 1.05]},
        margin={"t": 70},
    )
    return fig


def noise_chart(lines: list[dict[str, Any]]) -> go.Figure | None:
    """Score against the share of training answers corrupted on purpose (training_data.noise_lines): one line
    per model, variant and training data at two or more noise levels, with 95 % interval bars; a task
    drop-down."""
    if not lines:
        return None
    fig = go.Figure()
    tasks = sorted({ln["task"] for ln in lines})
    owner: list[str] = []
    for ln in lines[:MAX_LINES]:
        pts = ln["points"]
        y = [p["score"] for p in pts]
        hi = [None if p["ci_high"] is None else p["ci_high"] - p["score"] for p in pts]
        lo = [None if p["ci_low"] is None else p["score"] - p["ci_low"] for p in pts]
        fig.add_scatter(
            x=[p["noise"] for p in pts],
            y=y,
            mode="lines+markers",
            name=ln["name"],
            visible=ln["task"] == tasks[0],
            error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo, "thickness": 1},
            hovertemplate="%{x:.0%} " + _("label noise") + ": %{y:.3f}<extra>" + ln["name"] + "</extra>",
        )
        owner.append(ln["task"])
    sub = task_menu(fig, tasks, owner)
    fig.update_layout(
        title=_("Label noise: score against the share of training answers corrupted, 95 %% intervals")
        + f"<br><sup>{sub}</sup>",
        height=420,
        margin={"t": 90},
        xaxis={"title": _("training answers corrupted"), "tickformat": ".0%"},
        yaxis={"title": _("score"), "range": [0, 1.05]},
    )
    return fig


def heatmap_chart(df: pd.DataFrame) -> go.Figure | None:
    """Score of every model (rows) on every task (columns); empty where not measured."""
    if df.empty:
        return None
    d = df.assign(row=_label(df))
    table = d.pivot_table(index="row", columns="task", values="score", aggfunc="max")
    if len(table) > 60:  # a heatmap of hundreds of rows is unreadable: the best 60 by mean score
        table = table.loc[table.mean(axis=1).sort_values(ascending=False).index[:60]]
    text = [["" if pd.isna(v) else f"{v:.2f}" for v in row] for row in table.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=list(table.columns),
            y=list(table.index),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=_("Every model on every task (primary metric)"),
        height=max(300, 40 + 28 * len(table)),
        margin={"t": 60, "l": 260},
    )
    return fig


def monthly_cost_chart(breakeven: list[dict[str, Any]], deployment: str) -> go.Figure | None:
    """Monthly cost against monthly volume: each API baseline a line, each fine-tuned model a (step) curve under
    the deployment, break-even points marked. Log-log, so a step shows as a jump."""
    pairs = [b for b in breakeven if b.get("curve")][: MAX_LINES // 2]
    if not pairs:
        return None
    fig = go.Figure()
    seen: set[str] = set()
    per_month, unit = _("queries a month"), _("queries/month")  # the axis title; the unit after a number
    for b in pairs:
        v, own, api = zip(*b["curve"], strict=True)
        name = f"{b['tuned']} ({b['task']})"
        if name not in seen:
            seen.add(name)
            fig.add_scatter(
                x=v,
                y=own,
                mode="lines",
                name=_("%(row)s, self-hosted", row=name),
                line={"shape": "hv"},
                hovertemplate=f"{name}<br>%{{x:,.0f}} {unit}: %{{y:,.2f}} {b['currency']}<extra></extra>",
            )
        fig.add_scatter(
            x=v,
            y=api,
            mode="lines",
            name=_("%(api)s (%(task)s), API", api=b["api"], task=b["task"]),
            line={"dash": "dash"},
            hovertemplate=f"{b['api']}<br>%{{x:,.0f}} {unit}: %{{y:,.2f}} {b['currency']}<extra></extra>",
        )
        marks = [v for v in (b.get("break_even_marks") or []) if v == v]
        if marks:
            fig.add_scatter(
                x=marks,
                y=[b["api_per_1k"] * v / 1000.0 for v in marks],
                mode="markers",
                showlegend=False,
                marker={"size": 12, "symbol": "x", "color": "#1f2933"},
                hovertemplate=_("break-even %(tuned)s vs %(api)s", tuned=b["tuned"], api=b["api"])
                + f": %{{x:,.0f}} {unit}<extra></extra>",
            )
    fig.update_layout(
        title=_("Monthly cost against monthly volume")
        + "<br><sup>"
        + _("self-hosted as %(deployment)s; x: break-even", deployment=deployment)
        + "</sup>",
        xaxis={"title": per_month, "type": "log"},
        yaxis={"title": _("cost a month (%(currency)s)", currency=pairs[0]["currency"]), "type": "log"},
        height=460,
        margin={"t": 90},
    )
    return fig


# capability categories of the project's tasks (items' `category`) as the report names them; others as they are
CATEGORIES = {
    "world_knowledge": N_("world knowledge"),
    "science": N_("science"),
    "arithmetic": N_("arithmetic"),
    "commonsense": N_("commonsense"),
    "reading": N_("reading"),
}


def capability_chart(caps: list[dict[str, Any]]) -> go.Figure | None:
    """Per task a radar: every row's score on each of the task's capabilities (item categories, or its metrics;
    harness/report/capability.py), base models solid and tuned ones dashed, a task drop-down."""
    caps = [c for c in caps if c["series"]]
    if not caps:
        return None
    fig = go.Figure()
    owner: list[str] = []
    for t_i, cap in enumerate(caps):
        theta = [translated(CATEGORIES, a) for a in cap["axes"]]
        for s in cap["series"][:MAX_LINES]:
            r = [v if v is not None else 0.0 for v in s["values"]]  # a missing axis drawn at 0, said in hover
            fig.add_trace(
                go.Scatterpolar(
                    r=[*r, r[0]],
                    theta=[*theta, theta[0]],
                    mode="lines+markers",
                    name=s["label"],
                    line={"dash": "dash" if s["tuned"] else "solid"},
                    visible=t_i == 0,
                    text=[
                        *["-" if v is None else f"{v:.3f}" for v in s["values"]],
                        "-" if s["values"][0] is None else f"{s['values'][0]:.3f}",
                    ],
                    hovertemplate="%{theta}: %{text}<extra>" + s["label"] + "</extra>",
                )
            )
            owner.append(cap["task"])
    tasks = [c["task"] for c in caps]
    sub = task_menu(fig, tasks, owner)
    fig.update_layout(
        title=_("Capabilities: each row's score per category or metric (tuned dashed, base solid)")
        + f"<br><sup>{sub}</sup>",
        polar={"radialaxis": {"range": [0, 1]}},
        height=520,
        margin={"t": 100},
    )
    return fig


def load_label(ld: dict[str, Any]) -> str:
    """A load record's name in the report: what answered, on which task, in which mode."""
    e = ld["identity"]["endpoint"]
    what = e.get("baseline") or e.get("model") or e.get("url") or "endpoint"
    if isinstance(what, dict):  # a model the harness served: its identity; named by its key (+ trained artifact)
        what = e.get("model_key") or what.get("name") or "model"
        if e.get("artifact_id"):  # (its id is in the load record; the reader needs to know it was tuned)
            what = _("%(model)s, fine-tuned", model=what)
    if ld["identity"]["mode"] == "open":
        return _("%(endpoint)s on %(task)s (open loop)", endpoint=what, task=ld["identity"]["task"]["name"])
    return _("%(endpoint)s on %(task)s (closed loop)", endpoint=what, task=ld["identity"]["task"]["name"])


def _target_lines(loads: list[dict[str, Any]], key: str) -> dict[float, list[str]]:
    """One target line per distinct bound (`key` of each record's target), with the records measured against it:
    records with different targets are each read against their own line."""
    lines: dict[float, list[str]] = {}
    for ld in loads:
        value = ld["identity"]["slo"].get(key)
        if value is not None:
            lines.setdefault(value, []).append(load_label(ld))
    return lines


def load_chart(loads: list[dict[str, Any]]) -> go.Figure | None:
    """Latency against throughput under load: per load record, p95 TTFT (solid) and p95 time per output token
    (dotted, right axis) against answered requests/s at each level; each distinct target's bounds as lines
    (named with their records when the records have different targets); the capacity at the target ringed."""
    loads = [ld for ld in loads if ld.get("levels")][: MAX_LINES // 2]
    if not loads:
        return None
    fig = go.Figure()
    for ld in loads:
        name = load_label(ld)
        lv = [x for x in ld["levels"] if x["figures"]["requests_per_s"]]
        x = [v["figures"]["requests_per_s"] for v in lv]
        fig.add_scatter(
            x=x,
            y=[v["figures"]["ttft_s"]["p95"] for v in lv],
            mode="lines+markers",
            name=f"{name}: p95 TTFT",
            text=[_("level %(level)s", level=f"{v['level']:g}") for v in lv],
            hovertemplate="%{text}: %{x:.2f} req/s, p95 TTFT %{y:.3f} s<extra></extra>",
        )
        fig.add_scatter(
            x=x,
            y=[v["figures"]["tpot_s"]["p95"] for v in lv],
            mode="lines+markers",
            yaxis="y2",
            name=f"{name}: p95 TPOT",
            line={"dash": "dot"},
            text=[_("level %(level)s", level=f"{v['level']:g}") for v in lv],
            hovertemplate="%{text}: %{x:.2f} req/s, p95 TPOT %{y:.3f} s<extra></extra>",
        )
        cap = ld.get("capacity")
        if cap:
            at = next(v for v in lv if v["level"] == cap["level"])
            fig.add_scatter(
                x=[cap["requests_per_s"]],
                y=[at["figures"]["ttft_s"]["p95"]],
                mode="markers",
                showlegend=False,
                marker={"size": 16, "symbol": "circle-open", "color": "#1f2933"},
                hovertemplate=_("capacity at the target") + f": %{{x:.2f}} req/s ({name})<extra></extra>",
            )
    for axis, key, what, dash in (("y", "ttft_p95_s", "TTFT", "dash"), ("y2", "tpot_p95_s", "TPOT", "dot")):
        lines = _target_lines(loads, key)
        shared = len({ld["identity"]["slo"].get(key) for ld in loads}) == 1
        for value, names in lines.items():
            # records with different bounds (or none): each line names the records to read against it
            text = _("target p95 %(what)s %(value)s s", what=what, value=f"{value:g}")
            if not shared:
                text = _("%(target)s: %(rows)s", target=text, rows="; ".join(names))
            fig.add_hline(y=value, yref=axis, line={"dash": dash, "color": "#b42318"}, annotation_text=text)
    fig.update_layout(
        title=_("Latency against throughput under load") + "<br><sup>" + _("o: capacity at the target") + "</sup>",
        xaxis={"title": _("answered requests per second")},
        yaxis={"title": _("p95 time to first token (s)"), "rangemode": "tozero"},
        yaxis2={"title": _("p95 time per output token (s)"), "overlaying": "y", "side": "right", "rangemode": "tozero"},
        height=460,
        margin={"t": 90},
    )
    return fig


def history_chart(hist: pd.DataFrame) -> go.Figure | None:
    """Each row's score (with its 95 % interval), cost per 1,000 queries and p95 latency in every run that had
    it, one line per row, a task drop-down: a step in a line is a change of model, data or price."""
    if hist.empty:
        return None
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(_("score (95 %% interval)"), _("cost per 1,000 queries"), _("p95 latency (s)")),
    )
    tasks = sorted(hist["task"].unique())
    owner: list[str] = []
    for task in tasks:
        for label, g in hist[hist["task"] == task].groupby("label", sort=True):
            hover = [_("run %(run)s", run=r) for r in g["run_id"]]
            err = {
                "type": "data",
                "symmetric": False,
                "array": g["ci_high"] - g["score"],
                "arrayminus": g["score"] - g["ci_low"],
            }
            for i, (col, extra) in enumerate((("score", {"error_y": err}), ("cost_per_1k", {}), ("p95_s", {})), 1):
                fig.add_trace(
                    go.Scatter(
                        x=g["started_at"],
                        y=g[col],
                        mode="lines+markers",
                        name=str(label),
                        legendgroup=f"{task}|{label}",
                        showlegend=i == 1,
                        text=hover,
                        visible=task == tasks[0],
                        **extra,
                    ),
                    row=i,
                    col=1,
                )
                owner.append(task)
    if len(tasks) > 1:
        buttons = [{"label": t, "method": "update", "args": [{"visible": [o == t for o in owner]}]} for t in tasks]
        fig.update_layout(
            updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.08, "yanchor": "bottom"}]
        )
    fig.update_layout(title=_("Each row over the recorded runs"), height=720, xaxis3_title=_("run started (UTC)"))
    return fig


def all_charts(
    df: pd.DataFrame,
    effects: pd.DataFrame,
    breakeven: list[dict[str, Any]] | None = None,
    deployment: str = "",
    loads: list[dict[str, Any]] | None = None,
    hist: pd.DataFrame | None = None,
    capabilities: list[dict[str, Any]] | None = None,
    noise: list[dict[str, Any]] | None = None,
) -> list[tuple[str, str, go.Figure]]:
    """(element id, what it answers, figure) for each chart the data supports. `noise`: the board's label-noise
    lines when it has them (else computed from `df`)."""
    load = (
        "chart-load",
        _("How much traffic does a replica take within the latency target?"),
        load_chart(loads or []),
    )
    if df.empty:  # a sweep=load report may have load records and no cell
        return [load] if load[2] is not None else []
    params = {m: p for m, p in zip(df.get("model", []), df.get("params_m", []), strict=False) if p == p and p}
    made: list[tuple[str, str, Any]] = [
        (
            "chart-pareto",
            _("Which option gives the most accuracy for the money?"),
            tradeoff_chart(
                df, "cost_per_1k", _("cost per 1,000 queries"), _("Accuracy against cost per 1,000 queries"), True
            ),
        ),
        (
            "chart-latency",
            _("Which option answers fast enough?"),
            tradeoff_chart(df, "p95_s", _("p95 latency (s)"), _("Accuracy against p95 latency per query"), False),
        ),
        ("chart-forgetting", _("What does fine-tuning cost in general ability?"), forgetting_chart(effects)),
        ("chart-scaling", _("Do bigger base models gain more from fine-tuning?"), scaling_chart(effects, params)),
        ("chart-datasize", _("How much training data is enough?"), data_size_chart(df)),
        (
            "chart-noise",
            _("How much does label noise in the training data cost?"),
            noise_chart(noise if noise is not None else noise_lines(df)),
        ),
        ("chart-heatmap", _("How does each model do across tasks?"), heatmap_chart(df)),
        (
            "chart-capability",
            _("Where is each model strong or weak within a task?"),
            capability_chart(capabilities or []),
        ),
        ("chart-monthly", _("From what volume does fine-tuning pay?"), monthly_cost_chart(breakeven or [], deployment)),
        load,
        (
            "chart-history",
            _("Did a row drift after a model, data or price change?"),
            history_chart(hist if hist is not None else pd.DataFrame()),
        ),
    ]
    return [(i, q, f) for i, q, f in made if f is not None]
