"""docs/metrics.md and the code agree: every function its "figure -> function" table names exists, and the
constants and formulas the text states are the ones the code uses."""

from __future__ import annotations

import importlib
import re

import pytest

from harness.paths import REPO_ROOT

METRICS = (REPO_ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")


def _table_names() -> list[str]:
    table = METRICS.split("## Figure → function", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| figure") or line.startswith("|---"):
            continue
        computed_by = line.split("|")[2]  # the "computed by" column
        found = re.findall(r"`([a-z_]+(?:\.[A-Za-z_0-9]+)+)`", computed_by)
        names += [n for n in found if not n.endswith(".py")]  # a task's own file, not a harness function
    return names


def test_every_function_the_figure_table_names_exists():
    names = _table_names()
    assert len(names) > 30
    modules: dict[str, str] = {}  # short module name (`stats`) -> its full path, as the table abbreviates
    for name in names:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable prefix is the module
            head = ".".join(parts[:cut])
            try:
                obj = importlib.import_module(f"harness.{head}")
            except ModuleNotFoundError:
                if cut == 1 and head in modules:
                    obj = importlib.import_module(modules[head])
                else:
                    continue
            modules[parts[cut - 1]] = obj.__name__
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"docs/metrics.md names {name}: no {attr} in {obj.__name__}"
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"docs/metrics.md names {name}, which is not under harness/")


def test_the_stated_constants_are_the_codes():
    from harness.compare import ranking, stats

    assert "19,999 random" in METRICS and ranking.N_PERM == 19_999
    assert "never fewer than 1,999" in METRICS and ranking.N_PERM_MIN == 1_999
    assert "fixed seed 1234" in METRICS and stats.SEED == 1234
    assert "fewer than **10** paired items" in METRICS and stats.MIN_PAIRED_BOOTSTRAP == 10
    assert "10,000 times (fixed" in METRICS and stats.N_BOOT == 10_000


def test_the_decode_rate_is_the_stated_formula():
    """(completion tokens - reasoning tokens - 1) / (last byte - first content token): 101 tokens of which 20
    reasoning, first content token at 0.5 s, last byte at 2.5 s -> 80 / 2.0 = 40 tokens/s."""
    from harness.evaluate.api.meter import decode_rate

    assert "(completion tokens − reasoning tokens − 1) / (last byte − first" in METRICS
    assert decode_rate(101, 20, 0.5, 2.5) == pytest.approx(40.0)
    assert decode_rate(101, None, 0.5, 2.5) == pytest.approx(50.0)
    assert decode_rate(21, 20, 0.5, 2.5) is None  # one visible token: no rate


def test_the_readmes_ci_time_is_the_measured_one():
    """The README quotes bench/results/ci_time.json (bench/ci_time.py: `.ci/run` in a fresh clone with an empty
    harness cache), never a figure typed by hand: its minutes, test count, date, machine and exit code."""
    import json

    run = json.loads((REPO_ROOT / "bench" / "results" / "ci_time.json").read_text())
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    row = next(
        line for line in readme.splitlines() if line.startswith("| `make test` / `.ci/run` in a fresh clone")
    )
    minutes, seconds = divmod(run["wall_s"], 60)
    assert f"**{minutes} min {seconds} s**" in row and run["date"] in row, row
    assert f"for {run['tests'].split(',')[0]} tests, exit {run['exit_code']}" in row  # "618 passed"
    assert ("AVX-512" if run["cpu"]["avx512"] else "AVX2-only") in row
    assert run["exit_code"] == 0 and run["wall_s"] <= run["goal_s"]
