"""The report's interactive plotly charts, each a pure function of the report's tables.

Every chart states what a point is in its title; charts with one panel per task get a task drop-down (one
figure, so plotly.js and the data are embedded once).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from harness.report.labels import row_label

API, LOCAL = "API baseline", "self-hosted"
COLORS = {API: "#d64545", LOCAL: "#2680c2"}
MAX_LINES = 40  # lines in one chart before it stops being readable


def _label(df: pd.DataFrame) -> list[str]:
    if "label" in df:  # the leaderboard's unique row names
        return list(df["label"])
    return [row_label(m, v) for m, v in zip(df["model"], df["variant"], strict=True)]


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
    fig.update_layout(
        updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15, "yanchor": "top"}]
    )


def tradeoff_chart(df: pd.DataFrame, x: str, x_title: str, title: str, frontier: bool) -> go.Figure | None:
    """Score against a cost (money or latency), per task, API and self-hosted rows apart; with `frontier`, the
    Pareto frontier (nothing both cheaper and better) drawn as a line."""
    rows = df[df[x].notna() & df["score"].notna()]
    if rows.empty:
        return None
    fig = go.Figure()
    tasks = sorted(rows["task"].unique())
    for t_i, task in enumerate(tasks):
        part = rows[rows["task"] == task]
        for kind in (LOCAL, API):
            sel = part[(part["source"] == "api") == (kind == API)]
            fig.add_scatter(
                x=sel[x], y=sel["score"], mode="markers", name=f"{kind}", legendgroup=kind,
                marker={"color": COLORS[kind], "size": 11, "symbol": "diamond" if kind == API else "circle"},
                error_y={"type": "data", "symmetric": False, "array": sel["ci_high"] - sel["score"],
                         "arrayminus": sel["score"] - sel["ci_low"], "thickness": 1},
                text=_label(sel), hovertemplate="%{text}<br>score %{y:.3f}<br>" + x_title + " %{x:.4g}<extra></extra>",
                visible=t_i == 0, showlegend=t_i == 0,
            )  # fmt: skip
        if frontier:
            pts = list(zip(part[x], part["score"], strict=True))
            front = part.iloc[pareto_front(pts)]
            # the frontier's points ringed and joined: nothing is both cheaper and better than them
            fig.add_scatter(x=front[x], y=front["score"], mode="lines+markers", name="Pareto frontier",
                            line={"color": "#1f2933", "dash": "dot"}, hoverinfo="skip", visible=t_i == 0,
                            marker={"symbol": "circle-open", "size": 20, "color": "#1f2933", "line": {"width": 2}},
                            showlegend=t_i == 0)  # fmt: skip
        else:
            fig.add_scatter(
                x=[], y=[], visible=t_i == 0, showlegend=False, hoverinfo="skip"
            )  # keeps 3 per task
    _task_dropdown(fig, tasks, 3)
    fig.update_layout(title=f"{title}<br><sup>task: {tasks[0]}{' (pick another above)' if len(tasks) > 1 else ''}"
                      "</sup>", xaxis={"title": x_title, "type": "log", "tickformat": ".2g"},
                      yaxis={"title": "score", "range": [0, 1.05]}, height=440, margin={"t": 90})  # fmt: skip
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
            x=part["delta_d"], y=part["delta_g"], mode="markers+text", name=f"general suite: {task}",
            marker={"size": 12}, textposition="top right",
            error_x={"type": "data", "symmetric": False, "array": part["ci_high_d"] - part["delta_d"],
                     "arrayminus": part["delta_d"] - part["ci_low_d"]},
            error_y={"type": "data", "symmetric": False, "array": part["ci_high_g"] - part["delta_g"],
                     "arrayminus": part["delta_g"] - part["ci_low_g"]},
            text=[row_label(m, v) for m, v in zip(part["model"], part["variant"], strict=True)],
            hovertemplate="%{text}<br>domain gain %{x:+.3f}<br>general change %{y:+.3f}<extra></extra>",
        )  # fmt: skip
    fig.add_hline(y=0, line={"color": "#9aa5b1", "width": 1})
    fig.add_vline(x=0, line={"color": "#9aa5b1", "width": 1})
    fig.update_layout(title="Forgetting: domain gain (x) against general-ability change (y), paired 95 % intervals"
                      "<br><sup>below the line = general ability lost</sup>",
                      xaxis={"title": "domain gain (tuned - base)"}, yaxis={"title": "general change (tuned - base)"},
                      height=440, margin={"t": 90})  # fmt: skip
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
    for variant, part in dom.groupby("variant", sort=True):
        part = part.sort_values("params_m")
        fig.add_scatter(
            x=part["params_m"], y=part["delta"], mode="markers+lines", name=variant,
            error_y={"type": "data", "symmetric": False, "array": part["ci_high"] - part["delta"],
                     "arrayminus": part["delta"] - part["ci_low"]},
            text=list(part["model"]), hovertemplate="%{text}: %{x:.0f}M params<br>gain %{y:+.3f}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(title="Scaling: fine-tuning gain against base model size", height=420, margin={"t": 70},
                      xaxis={"title": "base parameters (millions)", "type": "log", "tickformat": ".3g"},
                      yaxis={"title": "domain gain (tuned - base)"})  # fmt: skip
    return fig


def data_size_chart(df: pd.DataFrame) -> go.Figure | None:
    """Score against the number of domain training examples (0 = the base model), one line per model, method
    and task."""
    local = df[(df["source"] != "api") & df["score"].notna()]
    tuned = local[local["method"] != "none"]
    if tuned.empty:
        return None
    groups = list(tuned.groupby(["model", "method", "task"], sort=True))
    shown = sorted(groups, key=lambda g: -len(g[1]))[:MAX_LINES]  # the lines with the most data sizes
    fig = go.Figure()
    for (model, method, task), part in sorted(shown, key=lambda g: g[0]):
        base = local[(local["model"] == model) & (local["method"] == "none") & (local["task"] == task)]
        pts = pd.concat([base.assign(n_train=0), part]).sort_values("n_train")
        fig.add_scatter(
            x=pts["n_train"], y=pts["score"], mode="lines+markers", name=f"{model} {method} - {task}",
            error_y={"type": "data", "symmetric": False, "array": pts["ci_high"] - pts["score"],
                     "arrayminus": pts["score"] - pts["ci_low"], "thickness": 1},
            hovertemplate="%{x} examples: %{y:.3f}<extra>" + f"{model} {method} - {task}" + "</extra>",
        )  # fmt: skip
    cut = (
        f" ({MAX_LINES} of {len(groups)} lines: those with the most sizes)" if len(groups) > MAX_LINES else ""
    )
    fig.update_layout(title="Data size: score against domain training examples (0 = base model)" + cut, height=420,
                      xaxis={"title": "training examples"}, yaxis={"title": "score", "range": [0, 1.05]},
                      margin={"t": 70})  # fmt: skip
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
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=list(table.columns), y=list(table.index), zmin=0, zmax=1,
                               colorscale="Blues", text=text, texttemplate="%{text}",
                               hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>"))  # fmt: skip
    fig.update_layout(title="Every model on every task (primary metric)", height=max(300, 40 + 28 * len(table)),
                      margin={"t": 60, "l": 260})  # fmt: skip
    return fig


def monthly_cost_chart(breakeven: list[dict[str, Any]], deployment: str) -> go.Figure | None:
    """Monthly cost against monthly volume: each API baseline a line, each fine-tuned model a (step) curve under
    the deployment, break-even points marked. Log-log, so a step shows as a jump."""
    pairs = [b for b in breakeven if b.get("curve")][: MAX_LINES // 2]
    if not pairs:
        return None
    fig = go.Figure()
    seen: set[str] = set()
    for b in pairs:
        v, own, api = zip(*b["curve"], strict=True)
        name = f"{b['tuned']} ({b['task']})"
        if name not in seen:
            seen.add(name)
            fig.add_scatter(x=v, y=own, mode="lines", name=f"{name}, self-hosted", line={"shape": "hv"},
                            hovertemplate=f"{name}<br>%{{x:,.0f}} queries/month: %{{y:,.2f}} {b['currency']}<extra></extra>")  # fmt: skip
        fig.add_scatter(x=v, y=api, mode="lines", name=f"{b['api']} ({b['task']}), API", line={"dash": "dash"},
                        hovertemplate=f"{b['api']}<br>%{{x:,.0f}} queries/month: %{{y:,.2f}} {b['currency']}<extra></extra>")  # fmt: skip
        marks = [v for v in (b.get("break_even_marks") or []) if v == v]
        if marks:
            fig.add_scatter(x=marks, y=[b["api_per_1k"] * v / 1000.0 for v in marks], mode="markers", showlegend=False,
                            marker={"size": 12, "symbol": "x", "color": "#1f2933"},
                            hovertemplate=f"break-even {b['tuned']} vs {b['api']}: %{{x:,.0f}} a month<extra></extra>")  # fmt: skip
    fig.update_layout(title=f"Monthly cost against monthly volume<br><sup>self-hosted as {deployment}; x: break-even"
                      "</sup>", xaxis={"title": "queries a month", "type": "log"},
                      yaxis={"title": f"cost a month ({pairs[0]['currency']})", "type": "log"}, height=460,
                      margin={"t": 90})  # fmt: skip
    return fig


def load_label(ld: dict[str, Any]) -> str:
    """A load record's name in the report: what answered, on which task, in which mode."""
    e = ld["identity"]["endpoint"]
    what = e.get("baseline") or e.get("model") or e.get("url") or "endpoint"
    return f"{what} on {ld['identity']['task']['name']} ({ld['identity']['mode']} loop)"


def load_chart(loads: list[dict[str, Any]]) -> go.Figure | None:
    """Latency against throughput under load: per load record, p95 TTFT (solid) and p95 time per output token
    (dotted, right axis) against answered requests/s at each level; the target's bounds as lines; the capacity
    at the target ringed."""
    loads = [ld for ld in loads if ld.get("levels")][: MAX_LINES // 2]
    if not loads:
        return None
    fig = go.Figure()
    for ld in loads:
        name = load_label(ld)
        lv = [x for x in ld["levels"] if x["figures"]["requests_per_s"]]
        x = [v["figures"]["requests_per_s"] for v in lv]
        fig.add_scatter(x=x, y=[v["figures"]["ttft_s"]["p95"] for v in lv], mode="lines+markers",
                        name=f"{name}: p95 TTFT", text=[f"level {v['level']:g}" for v in lv],
                        hovertemplate="%{text}: %{x:.2f} req/s, p95 TTFT %{y:.3f} s<extra></extra>")  # fmt: skip
        fig.add_scatter(x=x, y=[v["figures"]["tpot_s"]["p95"] for v in lv], mode="lines+markers", yaxis="y2",
                        name=f"{name}: p95 TPOT", line={"dash": "dot"}, text=[f"level {v['level']:g}" for v in lv],
                        hovertemplate="%{text}: %{x:.2f} req/s, p95 TPOT %{y:.3f} s<extra></extra>")  # fmt: skip
        cap = ld.get("capacity")
        if cap:
            at = next(v for v in lv if v["level"] == cap["level"])
            fig.add_scatter(x=[cap["requests_per_s"]], y=[at["figures"]["ttft_s"]["p95"]], mode="markers",
                            showlegend=False, marker={"size": 16, "symbol": "circle-open", "color": "#1f2933"},
                            hovertemplate=f"capacity at the target: %{{x:.2f}} req/s ({name})<extra></extra>")  # fmt: skip
    slo = loads[0]["identity"]["slo"]
    if slo.get("ttft_p95_s") is not None:
        fig.add_hline(y=slo["ttft_p95_s"], line={"dash": "dash", "color": "#b42318"},
                      annotation_text=f"target p95 TTFT {slo['ttft_p95_s']:g} s")  # fmt: skip
    if slo.get("tpot_p95_s") is not None:
        fig.add_hline(y=slo["tpot_p95_s"], yref="y2", line={"dash": "dot", "color": "#b42318"},
                      annotation_text=f"target p95 TPOT {slo['tpot_p95_s']:g} s")  # fmt: skip
    fig.update_layout(title="Latency against throughput under load<br><sup>o: capacity at the target</sup>",
                      xaxis={"title": "answered requests per second"},
                      yaxis={"title": "p95 time to first token (s)", "rangemode": "tozero"},
                      yaxis2={"title": "p95 time per output token (s)", "overlaying": "y", "side": "right",
                              "rangemode": "tozero"}, height=460, margin={"t": 90})  # fmt: skip
    return fig


def history_chart(hist: pd.DataFrame) -> go.Figure | None:
    """Each row's score (with its 95 % interval), cost per 1,000 queries and p95 latency in every run that had
    it, one line per row, a task drop-down: a step in a line is a change of model, data or price."""
    if hist.empty:
        return None
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("score (95 % interval)", "cost per 1,000 queries", "p95 latency (s)"))  # fmt: skip
    tasks = sorted(hist["task"].unique())
    owner: list[str] = []
    for task in tasks:
        for label, g in hist[hist["task"] == task].groupby("label", sort=True):
            hover = [f"run {r}" for r in g["run_id"]]
            err = {"type": "data", "symmetric": False, "array": g["ci_high"] - g["score"],
                   "arrayminus": g["score"] - g["ci_low"]}  # fmt: skip
            for i, (col, extra) in enumerate(
                (("score", {"error_y": err}), ("cost_per_1k", {}), ("p95_s", {})), 1
            ):
                fig.add_trace(go.Scatter(x=g["started_at"], y=g[col], mode="lines+markers", name=str(label),
                                         legendgroup=f"{task}|{label}", showlegend=i == 1, text=hover,
                                         visible=task == tasks[0], **extra), row=i, col=1)  # fmt: skip
                owner.append(task)
    if len(tasks) > 1:
        buttons = [
            {"label": t, "method": "update", "args": [{"visible": [o == t for o in owner]}]} for t in tasks
        ]
        fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.08,
                                        "yanchor": "bottom"}])  # fmt: skip
    fig.update_layout(title="Each row over the recorded runs", height=720, xaxis3_title="run started (UTC)")
    return fig


def all_charts(
    df: pd.DataFrame,
    effects: pd.DataFrame,
    breakeven: list[dict[str, Any]] | None = None,
    deployment: str = "",
    loads: list[dict[str, Any]] | None = None,
    hist: pd.DataFrame | None = None,
) -> list[tuple[str, str, go.Figure]]:
    """(element id, what it answers, figure) for each chart the data supports."""
    load = (
        "chart-load",
        "How much traffic does a replica take within the latency target?",
        load_chart(loads or []),
    )
    if df.empty:  # a sweep=load report may have load records and no cell
        return [load] if load[2] is not None else []
    params = {m: p for m, p in zip(df.get("model", []), df.get("params_m", []), strict=False) if p == p and p}
    made: list[tuple[str, str, Any]] = [
        ("chart-pareto", "Which option gives the most accuracy for the money?",
         tradeoff_chart(df, "cost_per_1k", "cost per 1,000 queries", "Accuracy against cost per 1,000 queries", True)),
        ("chart-latency", "Which option answers fast enough?",
         tradeoff_chart(df, "p95_s", "p95 latency (s)", "Accuracy against p95 latency per query", False)),
        ("chart-forgetting", "What does fine-tuning cost in general ability?", forgetting_chart(effects)),
        ("chart-scaling", "Do bigger base models gain more from fine-tuning?", scaling_chart(effects, params)),
        ("chart-datasize", "How much training data is enough?", data_size_chart(df)),
        ("chart-heatmap", "How does each model do across tasks?", heatmap_chart(df)),
        ("chart-monthly", "From what volume does fine-tuning pay?", monthly_cost_chart(breakeven or [], deployment)),
        load,
        ("chart-history", "Did a row drift after a model, data or price change?",
         history_chart(hist if hist is not None else pd.DataFrame())),
    ]  # fmt: skip
    return [(i, q, f) for i, q, f in made if f is not None]
