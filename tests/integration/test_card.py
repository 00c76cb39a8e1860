"""The committed data card of general_en names a cell; computing that cell afresh gives the same numbers."""

from __future__ import annotations

import re

from harness.jobs.run_cell import run_cell
from harness.paths import TASKS_DIR
from harness.store import Store
from tests.support.run import compose_cfg


def test_committed_card_matches_a_fresh_run(tmp_path):
    """The general_en card row of SmolLM2 names a cell; computing that cell afresh gives the same numbers."""
    card = (TASKS_DIR / "general" / "README.md").read_text(encoding="utf-8")
    block = card.split("<!-- scores:general_en -->")[1].split("<!-- /scores:general_en -->")[0]
    row = next(line for line in block.splitlines() if line.startswith("| SmolLM2-135M-Instruct"))
    limit = int(re.search(r"\(first (\d+)\)", row).group(1))
    acc = float(row.split("|")[3].split()[0])  # columns: model | items | acc [CI] | ...
    cell_id = row.split("`")[1]
    outcome = run_cell(
        compose_cfg(
            [
                "model=smollm2-135m",
                "finetune=none",
                "task=general_en",
                f"task.limit={limit}",
                f"paths.results={tmp_path}",
            ]
        )
    )[-1]
    assert outcome.cell_id == cell_id  # same content-addressed cell as the card's
    fresh = Store(tmp_path).load(outcome.cell_id)
    assert f"{fresh['metrics']['acc']['value']:.3f}" == f"{acc:.3f}"
