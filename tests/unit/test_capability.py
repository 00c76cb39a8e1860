"""The capability view (harness/report/capability.py, charts.capability_chart): per task, each row's score on
every capability the task measures, computed by hand on a tiny case."""

from __future__ import annotations

import pytest

from harness.report.analysis import build_board
from harness.report.charts import capability_chart
from tests.unit.test_i18n import rich_board_records


def test_categories_of_the_items_and_metrics_of_a_format_task_become_the_radar_axes():
    """general_en: 10 items, category = item index mod 5 (arithmetic, science, reading, commonsense, world
    knowledge), so each category holds items i and i + 5. Base right on items 0-5: arithmetic (0, 5) 1.0, every
    other category 0.5. Tuned right on 0-3: arithmetic (0, 5) 0.5, world knowledge (4, 9) 0.0, others 0.5.
    extract_format_en has no categories: its three metrics in [0, 1] are the axes. helpdesk_en measures one
    metric only: no radar (a polygon needs 3 axes)."""
    records, samples, failed = rich_board_records()
    caps = {c["task"]: c for c in build_board(records, failed, samples=samples).capabilities}
    assert set(caps) == {"general_en", "extract_format_en"}
    g = caps["general_en"]
    assert g["basis"] == "categories"
    assert g["axes"] == ["arithmetic", "commonsense", "reading", "science", "world_knowledge"]
    base, tuned = g["series"]  # in score order: the base (0.6) above the tuned model (0.4)
    assert (base["tuned"], tuned["tuned"]) == (False, True)
    assert base["values"] == [1.0, 0.5, 0.5, 0.5, 0.5] and tuned["values"] == [0.5, 0.5, 0.5, 0.5, 0.0]
    f = caps["extract_format_en"]
    assert (f["basis"], f["axes"]) == ("metrics", ["field_accuracy", "json_valid", "schema_valid"])
    assert f["series"][0]["values"] == [0.5, 0.875, 0.75]


def test_the_radar_draws_base_solid_and_tuned_dashed_closed_polygons_with_a_task_dropdown():
    records, samples, failed = rich_board_records()
    fig = capability_chart(build_board(records, failed, samples=samples).capabilities)
    general = [t for t in fig.data if "world knowledge" in t.theta]
    assert len(general) == 2 and len(fig.data) == 3
    base, tuned = general
    assert list(base.r) == pytest.approx([1.0, 0.5, 0.5, 0.5, 0.5, 1.0])  # closed: the first axis again
    assert (base.line.dash, tuned.line.dash) == ("solid", "dash")
    assert [b["label"] for b in fig.layout.updatemenus[0].buttons] == ["extract_format_en", "general_en"]
    assert capability_chart([]) is None
