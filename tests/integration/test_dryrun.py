"""The dry run's API estimate against what the real stand-in then meters: within 20 %."""

from __future__ import annotations

import json

from harness.store import Store
from tests.support.run import run_harness


def test_dry_run_api_cost_is_within_20_percent_of_what_the_real_run_meters(tmp_path, standin_url, smol_dir):
    """The stand-in served for real (the session's shared server; its tokenizer counts): 6 items are run (a stored
    cell, and 6 answers in the response cache), then the dry run estimates the 20-item cell, then that cell really
    runs. The 14 new requests are what it pays (`billed_this_run`; the 6 cached ones cost 0 this run) and what the
    dry run's `billed` estimates."""
    common = [
        "model=none",
        "finetune=none",
        "baseline=local-smollm2",
        "baseline.serve=null",
        f"baseline.base_url={standin_url}",
        f"baseline.model={smol_dir}",
        "baseline.tokenizer=smollm2-135m",
        "task=helpdesk_en",
        "hydra.mode=RUN",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
    ]
    first = run_harness(*common, "task.limit=6", timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    est = tmp_path / "plan.json"
    planned = run_harness("plan", *common, "task.limit=20", "--json", str(est), timeout=120)
    assert planned.returncode == 0, planned.stderr[-3000:]
    (row,) = json.loads(est.read_text())["rows"]
    e = row["estimate"]
    assert (row["state"], e["from_cache"], e["new_requests"]) == ("to run", 6, 14)
    assert e["prompt_tokens"]["basis"] == "counted with the smollm2-135m tokenizer (chat template)"
    real = run_harness(*common, "task.limit=20", timeout=300)
    assert real.returncode == 0, real.stderr[-3000:]
    api = Store(tmp_path / "results").load(row["id"])["api"]
    new = [m for m in (s["api"] for s in Store(tmp_path / "results").load_samples(row["id"])) if not m["from_cache"]]
    # prompt tokens are counted exactly as the server counts them
    assert e["prompt_tokens"]["value"] == sum(m["prompt_tokens"] for m in new)
    metered = api["cost"]["billed_this_run"]
    print(f"estimate {e['billed']:.8f} USD, metered {metered:.8f} USD, upper bound {e['billed_upper']:.8f}")
    assert abs(e["billed"] - metered) <= 0.2 * metered
    assert e["billed_upper"] >= metered
    assert abs(e["cell_total"] - api["cost"]["total"]) <= 0.2 * api["cost"]["total"]
