"""The data-quality sweep as a user runs it (`harness sweep=data-quality`): three LoRA trainings at 0, 20 and 50 %
label noise, their cells, and the report's noise curve with its verdict."""

from __future__ import annotations

import json
import math

import pytest

from tests.support import e2e_runs
from tests.support.shared import shared_root


def test_a_label_noise_sweep_gives_a_monotone_or_explained_curve_with_intervals(tmp_path_factory):
    """sweep=data-quality (0 / 0.2 / 0.5 label noise) as a user runs it, on 8 training examples and 16 test items
    instead of 64 and 100: the corrupted counts by hand, the rest of the training data the same, each point's
    Wilson interval by hand, and the report's verdict on the curve (tests/support/e2e_runs.py runs it)."""
    root = e2e_runs.data_quality(shared_root(tmp_path_factory.getbasetemp()))
    assert json.loads((root / "first.out").read_text())["rc"] == 0
    records = [json.loads(p.read_text()) for p in (root / "results" / "records").glob("*.json")]
    tuned = sorted(
        (r for r in records if r["finetune"]["method"] == "lora"),
        key=lambda r: r["finetune"]["train_data"]["label_noise"],
    )
    assert [r["finetune"]["train_data"]["label_noise"] for r in tuned] == [0.0, 0.2, 0.5]
    assert [r["finetune"]["train_data"]["n_corrupted"] for r in tuned] == [0, 2, 4]  # round(p x 8)
    assert {r["finetune"]["data"]["n_domain"] for r in tuned} == {8}
    assert len({r["finetune"]["artifact_id"] for r in tuned}) == 3
    # the report folder is named by the overrides: data-quality__task.limit=16,finetune.n_train=8
    (folder,) = [p.parent for p in (root / "reports").rglob("leaderboard.json")]
    board = json.loads((folder / "leaderboard.json").read_text())
    rows = board["rows"] if isinstance(board, dict) else board
    noisy = sorted((r for r in rows if r.get("label_noise") is not None), key=lambda r: r["label_noise"])
    assert [r["label_noise"] for r in noisy] == [0.0, 0.2, 0.5]
    for r in noisy:  # each point with its 95 % Wilson interval on 16 items, by hand: never a single point
        k, n, z = round(r["score"] * 16), 16, 1.959964
        centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert r["score"] == pytest.approx(k / n) and r["n"] == n
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)))
        assert r["ci_low"] <= r["score"] <= r["ci_high"] and r["ci_high"] - r["ci_low"] > 0.2
    html = (folder / "index.html").read_text()
    assert "chart-noise" in html
    verdicts = ("the score falls monotonically as noise grows", "not monotone, within sampling noise")
    assert any(v in html for v in verdicts), [(r["score"], r["ci_low"], r["ci_high"]) for r in noisy]
