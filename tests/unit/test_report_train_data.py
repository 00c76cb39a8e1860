"""The report on what a fine-tuned row was trained on (finetune.train_data): the task's own data, a synthetic set
from a teacher model, label noise. Every record here is a made-up test input (tests.support.records)."""

from __future__ import annotations

import json

import pytest

from harness.report.analysis import build_board
from harness.report.charts import all_charts, data_size_chart
from harness.report.render import write_report
from harness.report.table import method_label
from tests.support import page
from tests.support.records import make_record, synthetic_data

Z = 1.959964  # the normal interval's factor: these scores are not 0/1 means, so ci = score +- Z x stderr
HW = {"profile": "cpu-2vcpu", "kind": "cpu", "count": 1, "price_per_hour": 0.0832, "currency": "USD"}
INF = {"latency_s": {"p50": 0.5, "p95": 0.9}, "queries_per_hour": 3600.0}


def base(score: float = 0.5) -> dict:
    return make_record("ba" * 10, score=score, stderr=0.05, hardware=HW, inference=INF).to_json()


def tuned(
    cid: str,
    score: float,
    *,
    n_train: int = 64,
    data: dict | None = None,
    stderr: float = 0.05,
    training: float | None = 0.0014,
) -> dict:
    """A LoRA row on `helpdesk`; without `data` a record of the shape written before train_data (task data)."""
    ft = {
        "method": "lora",
        "train_task": "helpdesk",
        "data": {"n_domain": n_train, "n_replay": 0},
        "artifact_id": cid[:20],
    }
    rec = make_record(
        cid * (20 // len(cid)),
        score=score,
        stderr=stderr,
        finetune=ft,
        train_data=data,
        hardware=HW,
        inference=INF,
        cost={"training": training},
    )
    return rec.to_json()


def api(score: float = 0.85) -> dict:
    return make_record("ap" * 10, source="api", model="gpt-4o-mini", score=score).to_json()


def noise_rows(scores: tuple[float, ...], stderr: float, prefix: str = "n") -> list[dict]:
    """The same synthetic set at 0 %, 20 % and 50 % label noise."""
    return [
        tuned(f"{prefix}{i}", s, stderr=stderr, data=synthetic_data(noise=noise))
        for i, (noise, s) in enumerate(zip((0.0, 0.2, 0.5), scores, strict=True))
    ]


def findings(records: list[dict], kind: str, lang: str = "en") -> list:
    return [f for f in build_board(records, [], settings={"lang": lang}).findings if f.kind == kind]


def chart(records: list[dict], cid: str):
    board = build_board(records, [])
    return next((fig for i, _q, fig in all_charts(board.table, board.effects_table) if i == cid), None)


def test_the_rows_key_names_its_data_and_noise_and_older_records_keep_theirs():
    assert method_label(tuned("o", 0.7)) == "lora on helpdesk, 64 ex."  # before train_data: unchanged key
    assert method_label(tuned("t", 0.7, data=synthetic_data(noise=0.2))) == (
        "lora on helpdesk, 64 ex. [data: synthetic 3f9a1c2e; noise 20%]"
    )
    mix = tuned("m", 0.7, data=synthetic_data(task_share=0.5))
    assert method_label(mix) == "lora on helpdesk, 64 ex. [data: helpdesk 50% + synthetic 3f9a1c2e 50%]"
    own_noisy = {
        "label": "helpdesk",
        "sources": [{"source": "task", "task": "helpdesk", "share": 1.0, "n": 64}],
        "label_noise": 0.5,
        "n_corrupted": 32,
        "cost": {"currency": "USD", "total": 0.0},
    }
    assert method_label(tuned("q", 0.7, data=own_noisy)) == "lora on helpdesk, 64 ex. [noise 50%]"
    board = build_board([tuned("o", 0.7), mix], [], settings={"lang": "zh"})
    rows = {r["cell_id"][:2]: r for r in board.rows}
    assert (
        rows["mm"]["variant_label"]
        == "lora，训练于 helpdesk，64 条样本；训练数据：helpdesk 50% + 合成数据集 3f9a1c2e 50%"
    )
    assert rows["oo"]["variant_label"] == "lora，训练于 helpdesk，64 条样本"
    old = rows["oo"]
    assert (old["train_data"], old["label_noise"], old["train_data_note"]) == ("helpdesk", 0.0, None)


def test_leaderboard_row_says_what_it_was_trained_on(tmp_path):
    records = [base(), tuned("o", 0.7), *noise_rows((0.8, 0.7, 0.5), 0.05)]
    row = next(r for r in build_board(records, []).rows if r["cell_id"] == "n1" * 10)
    assert row["variant_label"] == "lora on helpdesk, 64 ex.; trained on synthetic 3f9a1c2e, 20% label noise"
    assert row["train_data_note"] == "teacher: local-smollm2; 13 training answers corrupted on purpose"
    assert (row["train_data"], row["label_noise"], row["n_corrupted"]) == ("synthetic 3f9a1c2e", 0.2, 13)
    html = write_report(records, tmp_path, "t").read_text()
    assert '<option value="synthetic 3f9a1c2e">synthetic 3f9a1c2e</option>' in html
    rows = page.leaderboard(html)
    assert '<option value="0.2">20%</option>' in html and "0.5" in [r["filters"]["label-noise"] for r in rows]
    assert ["teacher: local-smollm2; 13 training answers corrupted on purpose"] in [
        r["notes"].get("variant") for r in rows
    ]


def test_data_size_chart_draws_a_synthetic_set_apart_from_the_tasks_own_data():
    records = [
        base(0.5),
        tuned("a", 0.6, n_train=32),
        tuned("b", 0.7, n_train=64),
        tuned("c", 0.55, n_train=32, data=synthetic_data()),
        tuned("d", 0.65, n_train=64, data=synthetic_data()),
        tuned("e", 0.4, n_train=64, data=synthetic_data(noise=0.5)),
    ]
    fig = data_size_chart(build_board(records, []).table)
    lines = {t.name: (list(t.x), [round(y, 3) for y in t.y]) for t in fig.data}
    assert lines == {
        "m-small lora - helpdesk": ([0, 32, 64], [0.5, 0.6, 0.7]),  # the base model at 0 on every line
        "m-small lora - helpdesk; trained on synthetic 3f9a1c2e": ([0, 32, 64], [0.5, 0.55, 0.65]),
        "m-small lora - helpdesk; trained on synthetic 3f9a1c2e, 50% label noise": ([0, 64], [0.5, 0.4]),
    }


def test_noise_chart_plots_score_against_noise_with_the_95_intervals():
    fig = chart([base(), *noise_rows((0.8, 0.7, 0.5), 0.05), tuned("o", 0.7)], "chart-noise")
    (line,) = fig.data  # the clean task-data row has one noise level: no line
    assert line.name == "m-small · lora on helpdesk, 64 ex.; trained on synthetic 3f9a1c2e"
    assert list(line.x) == [0.0, 0.2, 0.5] and list(line.y) == [0.8, 0.7, 0.5]
    assert line.error_y.array == pytest.approx([Z * 0.05] * 3, abs=1e-6)
    assert line.error_y.arrayminus == pytest.approx([Z * 0.05] * 3, abs=1e-6)
    assert chart([base(), tuned("o", 0.7), tuned("d", 0.6, data=synthetic_data())], "chart-noise") is None


def test_a_monotone_fall_is_said_with_the_scores_at_each_level():
    # the clean level from a record written before train_data (the task's own data) joins the noisy ones
    own = {
        "label": "helpdesk",
        "sources": [{"source": "task", "task": "helpdesk", "share": 1.0, "n": 64}],
        "cost": {"currency": "USD", "total": 0.0},
    }
    records = [
        tuned("c", 0.8),
        tuned("d", 0.7, data={**own, "label_noise": 0.2, "n_corrupted": 13}),
        tuned("e", 0.5, data={**own, "label_noise": 0.5, "n_corrupted": 32}),
    ]
    (f,) = findings(records, "noise")
    assert f.headline == (
        "Label noise on helpdesk (m-small · lora on helpdesk, 64 ex.): the score falls monotonically as noise grows"
    )
    assert f.detail == (
        "Scores by label-noise share (95 % intervals): 0%: 0.800 [0.702, 0.898]; "
        "20%: 0.700 [0.602, 0.798]; 50%: 0.500 [0.402, 0.598]."
    )
    assert not f.warn


def test_a_rise_within_overlapping_intervals_is_explained_by_sampling_noise():
    # 0.60 [0.443, 0.757] then 0.62 [0.463, 0.777]: the intervals overlap
    (f,) = findings(noise_rows((0.60, 0.62, 0.40), 0.08), "noise")
    assert f.headline.endswith("not monotone, within sampling noise") and not f.warn
    assert "20%: 0.620 [0.463, 0.777]" in f.detail
    assert f.detail.endswith(
        "Each rise (0% to 20%) is between overlapping 95 % intervals: sampling noise can explain it."
    )


def test_a_rise_beyond_the_intervals_is_flagged():
    # 0.30 [0.261, 0.339] then 0.80 [0.761, 0.839]: apart
    (f,) = findings(noise_rows((0.30, 0.80, 0.20), 0.02), "noise")
    assert f.warn and f.headline.endswith("more noise scored higher, beyond the 95 % intervals")
    assert "The rise from 0% to 20% is between 95 % intervals that do not overlap" in f.detail
    (zh,) = findings(noise_rows((0.30, 0.80, 0.20), 0.02), "noise", lang="zh")
    assert zh.detail.startswith("各标签噪声比例下的得分（95% 区间）：0%: 0.300 [0.261, 0.339]")


def test_the_data_cost_is_shown_where_the_training_cost_is(tmp_path):
    priced = tuned("p", 0.8, training=0.0026, data=synthetic_data(cost=0.0012))
    unpriced = tuned("u", 0.8, training=0.0014, data=synthetic_data("77aa" * 5, cost=None))
    own = tuned("o", 0.8, training=0.0014)
    board = build_board([base(), priced, unpriced, own, api()], [])
    notes = {b["tuned_cell_id"][:2]: (b["training_cost"], b["data_cost"], b["data_cost_note"]) for b in board.breakeven}
    assert notes == {
        "pp": (0.0026, 0.0012, "of which training data 0.0012 USD"),
        "uu": (0.0014, None, "training data unpriced: its cost is unknown and not included"),
        "oo": (0.0014, None, None),  # the task's own data: nothing to add
    }
    html = write_report([base(), priced, unpriced, own, api()], tmp_path, "t").read_text()
    table = html[html.index('<table id="break-even">') :]
    assert '0.00260 USD<br><small class="data-cost">of which training data 0.0012 USD</small>' in table
    assert "training data unpriced: its cost is unknown and not included" in table
    assert "of which training data 0.0000" not in html  # an unpriced set is never shown as free
    # a priced set trained on an unpriced device: the training total is unknown, the data's money is not
    device_unpriced = tuned("d", 0.8, training=None, data=synthetic_data(cost=0.0012))
    (row,) = [r for r in build_board([device_unpriced], []).rows]
    assert (row["data_cost"], row["data_cost_note"]) == (
        0.0012,
        "training data 0.0012 USD; the training device is unpriced",
    )


def test_the_cheapest_finding_says_what_of_the_training_was_the_data():
    from tests.support.loads import load_record

    settings = {"target_score": 0.7}
    # each tuned row measured under load at the latency target (a row without a capacity there has no cost)
    loads = [
        load_record(model_key="m-small", artifact_id=a, capacity_qph=3600.0, price_per_hour=0.0832, profile="cpu-2vcpu")
        for a in ("p", "u")
    ]
    (f,) = [
        f
        for f in build_board(
            [tuned("p", 0.8, training=0.0026, data=synthetic_data())], [], settings=settings, loads=loads
        ).findings
        if f.kind == "cheapest"
    ]
    assert "Of that training, 0.0012 USD is the training data." in f.detail
    (g,) = [
        f
        for f in build_board(
            [tuned("u", 0.8, training=0.0014, data=synthetic_data(cost=None))], [], settings=settings, loads=loads
        ).findings
        if f.kind == "cheapest"
    ]
    assert "Note: its training data is unpriced: that cost is unknown and not included." in g.detail


def test_older_records_without_train_data_still_render(tmp_path):
    records = [base(), tuned("o", 0.7), api()]
    for r in records:
        assert "train_data" not in r["finetune"] and "training_data" not in (r.get("cost") or {})
    html = write_report(records, tmp_path, "t").read_text()
    assert 'id="chart-noise"' not in html and 'id="filter-train-data"' not in html  # nothing to tell apart
    assert "lora on helpdesk, 64 ex." in [r["variant"] for r in page.leaderboard(html)]
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["rows"]
    row = next(r for r in rows if r["cell_id"] == "oo" * 10)
    assert (row["variant"], row["train_data"], row["label_noise"], row["data_cost"]) == (
        "lora on helpdesk, 64 ex.",
        "helpdesk",
        0.0,
        None,
    )


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_no_english_is_left_on_a_page_with_synthetic_data_and_noise(lang, tmp_path):
    from tests.unit.test_i18n import english_words, names_of

    records = [
        base(),
        *noise_rows((0.30, 0.80, 0.20), 0.02),
        api(),
        tuned("u", 0.8, data=synthetic_data("77aa" * 5, cost=None, stand_in="SmolLM2")),
    ]
    html = write_report(records, tmp_path, "Report", assumptions={"lang": lang}).read_text(encoding="utf-8")
    assert 'id="chart-noise"' in html and 'id="filter-label-noise"' in html
    assert english_words(html, names_of(records) | {"Report", "local-smollm2", "SmolLM2"}) == []


def test_base_sizes_are_compared_on_the_same_training_data_only():
    def pair(model: str, params: int, gain_own: float, gain_synth: float) -> list[dict]:
        base_id = f"b-{model}".ljust(20, "0")
        common = {"model": model, "n_params": params, "stderr": 0.05}
        ft = {"method": "lora", "train_task": "helpdesk", "base_cell_id": base_id}
        return [
            make_record(base_id, score=0.5, **common).to_json(),
            make_record(f"o-{model}".ljust(20, "0"), score=0.5 + gain_own, finetune=ft, **common).to_json(),
            make_record(
                f"s-{model}".ljust(20, "0"), score=0.5 + gain_synth, finetune=ft, train_data=synthetic_data(), **common
            ).to_json(),
        ]

    found = findings([*pair("m-small", 135_000_000, 0.1, 0.05), *pair("m-big", 360_000_000, 0.2, 0.0)], "scaling")
    assert [(f.headline, f.detail.split(" 2 sizes")[0]) for f in found] == [
        (
            "Bigger base, bigger gain (lora on helpdesk)? Too few sizes to say",
            "Gains: m-small (135M) +0.100; m-big (360M) +0.200.",
        ),
        (
            "Bigger base, bigger gain (lora; trained on synthetic 3f9a1c2e on helpdesk)? Too few sizes to say",
            "Gains: m-small (135M) +0.050; m-big (360M) +0.000.",
        ),
    ]
