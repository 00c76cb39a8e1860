"""docs/metrics.md and the code agree: every function its "figure -> function" table names exists, and the
constants and formulas the text states are the ones the code uses."""

from __future__ import annotations

import importlib
import json
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
    from harness.api.meter import decode_rate

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
    row = next(line for line in readme.splitlines() if line.startswith("| `make test` / `.ci/run` in a fresh clone"))
    minutes, seconds = divmod(run["wall_s"], 60)
    assert f"**{minutes} min {seconds} s**" in row and run["date"] in row, row
    assert f"for {run['tests'].split(',')[0]} tests, exit {run['exit_code']}" in row  # "618 passed"
    assert ("AVX-512" if run["cpu"]["avx512"] else "AVX2-only") in row
    assert run["exit_code"] == 0 and run["wall_s"] <= run["goal_s"]


def test_the_readmes_default_job_time_is_the_measured_one():
    """The README's `make run` row quotes bench/results/default_job_time.json (bench/default_job_time.py: a fresh
    clone, an empty harness cache and results store, set-up included): its minutes, set-up seconds, date, machine
    and exit code, within the issue's 15 minutes, and the memory peak of its process tree."""
    import json

    run = json.loads((REPO_ROOT / "bench" / "results" / "default_job_time.json").read_text())
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `make run` in a fresh clone"))
    minutes, seconds = divmod(run["wall_s"], 60)
    assert f"**{minutes} min {seconds} s**" in row and run["date"] in row, row
    assert f"set-up {run['setup_s']} s" in row and f"exit {run['exit_code']}" in row
    assert ("AVX-512" if run["cpu"]["avx512"] else "AVX2-only") in row
    assert run["exit_code"] == 0 and run["wall_s"] <= run["goal_s"] == 15 * 60
    peak = run["memory"]["tree_peak_gib"]  # the whole process tree's resident memory (bench/proctree.py)
    assert f"memory peak **{peak:.2f} GiB**" in row, row


def _readme_results():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_results", REPO_ROOT / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readmes_results_are_the_committed_examples(capsys):
    """README.md's results block is what scripts/readme_results.py writes from docs/example/leaderboard.json,
    and it states the example's own figures: each tuned row's base -> tuned score, the API row's cost."""
    import json

    rr = _readme_results()
    assert rr.main(["--check"]) == 0, capsys.readouterr().out
    doc = json.loads((REPO_ROOT / "docs" / "example" / "leaderboard.json").read_text(encoding="utf-8"))
    block = rr.split((REPO_ROOT / "README.md").read_text(encoding="utf-8"))[1]
    rows = doc["rows"]
    tuned = [r for r in rows if r["method"] != "none"]
    assert tuned
    for r in tuned:
        base = next(
            b
            for b in rows
            if b["model_key"] == r["model_key"]
            and b["task"] == r["task"]
            and b["method"] == "none"
            and b["source"] != "api"
        )
        assert f"{base['score']:.3f} → {r['score']:.3f}" in block
    api = next(r for r in rows if r["source"] == "api")
    assert f"scored {api['score']:.3f} on {api['task']}" in block
    assert f"{api['cost_per_1k']:.4f} {api['currency']} per 1,000 queries" in block
    assert f"p95 {api['p95_s']:.2f} s" in block


def test_a_changed_example_fails_the_readme_check(tmp_path, capsys):
    """One figure changed in a copy of the example: --check exits 1 and its diff shows the new figure; a missing
    field stops the script naming the field."""
    import json

    rr = _readme_results()
    doc = json.loads((REPO_ROOT / "docs" / "example" / "leaderboard.json").read_text(encoding="utf-8"))
    api = next(r for r in doc["rows"] if r["source"] == "api")
    api["cost_per_1k"] = 1.23456
    (tmp_path / "changed.json").write_text(json.dumps(doc), encoding="utf-8")
    assert rr.main(["--check", "--example", str(tmp_path / "changed.json")]) == 1
    out = capsys.readouterr().out
    assert "+" in out and "1.2346 USD per 1,000 queries" in out and "differs from" in out
    # without --check it rewrites the block of the README it is given, and the check then passes
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{rr.BEGIN}\nSTALE BLOCK\n{rr.END}\nrest\n", encoding="utf-8")
    assert rr.main(["--example", str(tmp_path / "changed.json"), "--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith(f"intro\n{rr.BEGIN}\n") and text.endswith(f"{rr.END}\nrest\n") and "STALE BLOCK" not in text
    assert rr.main(["--check", "--example", str(tmp_path / "changed.json"), "--readme", str(readme)]) == 0
    del api["p95_s"]
    (tmp_path / "missing.json").write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert rr.main(["--check", "--example", str(tmp_path / "missing.json")]) == 2
    assert "has no field `p95_s`" in capsys.readouterr().err


def test_the_readme_block_takes_the_exports_break_even_text(tmp_path):
    """With the report's breakeven, api_rows and provenance sections in the export, the block quotes them as they
    are: the break-even text, tokens per query, commit and machine."""
    import json

    rr = _readme_results()
    doc = json.loads((REPO_ROOT / "docs" / "example" / "leaderboard.json").read_text(encoding="utf-8"))
    api = next(r for r in doc["rows"] if r["source"] == "api")
    tuned = [r for r in doc["rows"] if r["method"] != "none" and r["task"] == api["task"]]
    doc["breakeven"] = [
        {
            "tuned": r["label"],
            "api": api["model"],
            "task": api["task"],
            "break_even": f"above {7 + i}",
            "deployment": "dedicated: test",
        }
        for i, r in enumerate(tuned)
    ]
    doc["api_rows"] = [
        {
            "model": api["model"],
            "task": api["task"],
            "prompt_per_sample": 165.75,
            "completion_per_sample": 45.0,
            "ttft_p50_s": 0.5123,
            "concurrency": 4,
        }
    ]
    doc["provenance"] = {"commits": ["abc123def456"], "dirty": False, "hardware": {"cpu-2vcpu": {}}}
    block = rr.render_block(doc)
    assert "commit abc123def456; on cpu-2vcpu" in block
    assert "166 prompt + 45 completion tokens" in block
    # latency: per request at one user (the row's load level 1), never the evaluation's at its concurrency
    assert "concurrency" not in block and "0.51 s" not in block
    assert "(dedicated: test)" in block
    assert len(tuned) == 2 and "**above 7**" in block and "**above 8**" in block
    del doc["breakeven"][0]["break_even"]
    with pytest.raises(rr.ExampleError, match="has no field `break_even`"):
        rr.render_block(doc)


def test_the_docs_index_lists_every_page():
    """docs/README.md is the index of docs/: every page under docs/ (but the index) is linked from it, and every
    link in it points at a file that exists."""
    import re

    index = REPO_ROOT / "docs" / "README.md"
    text = index.read_text(encoding="utf-8")
    links = {m.split("#")[0] for m in re.findall(r"\]\(([^)]+)\)", text) if not m.startswith("http")}
    for link in links:
        assert (index.parent / link).resolve().exists(), link
    pages = {p.relative_to(index.parent).as_posix() for p in index.parent.rglob("*.md") if p != index}
    assert pages <= links, pages - links


# Every command line of the README's ```bash blocks, and the test that runs it (the test adds its own store paths
# and runs the rest as written). `make run` and `make test` are run whole, in a fresh clone, by
# bench/default_job_time.py and bench/ci_time.py; the tests named for them check that the README quotes those
# recorded runs (exit 0, within their goals). A line no test runs says why: `# needs a GPU` or
# `# needs <NAME>_API_KEY` at its end.
COMMANDS_RUN_BY = {
    "make run": "tests/unit/test_docs.py::test_the_readmes_default_job_time_is_the_measured_one",
    "make test": "tests/unit/test_docs.py::test_the_readmes_ci_time_is_the_measured_one",
    "harness -m sweep=smoke model=smollm2-135m task=general_en task.limit=4 finetune=none baseline=none": (
        "tests/e2e/test_install.py::test_installed_smoke_cell_stores_a_record_and_writes_the_report"
    ),
    "harness plan model=smollm2-135m finetune=none baseline=none task=helpdesk_en task.limit=5": (
        "tests/unit/test_dryrun.py::test_dry_run_flag_and_plan_print_the_same"
    ),
    "harness report --results results --out reports/all": (
        "tests/unit/test_faults.py::test_harness_report_skips_a_damaged_cell_with_a_warning_naming_its_file"
    ),
}
NEEDS = re.compile(r"#.*\bneeds (a GPU|[A-Z][A-Z0-9_]*_API_KEY)\s*$")


def _readme_bash_lines() -> list[str]:
    """The command lines of README.md's ```bash blocks (comment-only lines left out), as written."""
    lines, inside = [], False
    for line in (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside and line.strip() == "```bash"
        elif inside and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


def _command(line: str) -> str:
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def _test_source(test: str) -> str:
    """The source of the test function `path::name`, which must exist."""
    import ast

    path, name = test.split("::")
    source = (REPO_ROOT / path).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    pytest.fail(f"COMMANDS_RUN_BY names {test}, but {path} has no `def {name}`")


def test_every_readme_command_is_run_by_a_test_or_marked():
    """Each README command line is a key of COMMANDS_RUN_BY or ends with a needs-marker; each key is still in the
    README; each named test exists, and passes the command's subcommand, options and overrides as written (a
    value after a `--flag` is a path the test replaces with its own)."""
    import shlex

    lines = _readme_bash_lines()
    assert len(lines) >= 5
    for line in lines:
        if not NEEDS.search(line):
            assert _command(line) in COMMANDS_RUN_BY, (
                f"README.md runs `{_command(line)}`: name the test that runs it in COMMANDS_RUN_BY, or end the "
                "line with `# needs a GPU` / `# needs NAME_API_KEY`"
            )
    assert set(COMMANDS_RUN_BY) <= {_command(line) for line in lines}, (
        "COMMANDS_RUN_BY names a command the README dropped"
    )
    for command, test in COMMANDS_RUN_BY.items():
        body = _test_source(test)
        words = shlex.split(command)
        if words[0] != "harness":
            continue
        after_flag = False
        for word in words[1:]:
            if not after_flag:
                assert f'"{word}"' in body, f"{test} does not pass {word!r} of `{command}`"
            after_flag = word.startswith("--")


def test_the_bench_readme_quotes_the_measured_harness_to_lm_eval_ratio():
    """bench/README.md's harness / lm_eval figure is bench/results/harness_vs_lmeval.json's median (the script
    writes it; nobody types it)."""
    result = json.loads((REPO_ROOT / "bench" / "results" / "harness_vs_lmeval.json").read_text())
    readme = (REPO_ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if "bench/harness_vs_lmeval.py" in line and line.startswith("| the")]
    assert f"median **{result['median_ratio']:.3f}**" in row
    pairs = ", ".join(f"{p['ratio']:.3f}" for p in result["pairs"])
    assert f"(pairs {pairs}:" in row
    assert result["median_ratio"] <= result["goal"] == 1.05


def test_the_bench_readme_quotes_the_measured_training_memory():
    """bench/README.md's training-memory table is bench/results/train_memory.json (bench/train_memory.py)."""
    result = json.loads((REPO_ROOT / "bench" / "results" / "train_memory.json").read_text())
    readme = (REPO_ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    names = {"smollm2-135m": "SmolLM2-135M", "gemma3-270m": "Gemma-3-270M"}
    for model, v in result["models"].items():
        assert training_memory_row(names[model], v) in readme, training_memory_row(names[model], v)


def test_the_bench_readme_quotes_the_measured_chunked_loss():
    """bench/README.md's chunked cross-entropy row is bench/results/chunked_loss.json (bench/chunked_loss.py), and
    the two losses it compares agree to fp32 rounding."""
    v = json.loads((REPO_ROOT / "bench" / "results" / "chunked_loss.json").read_text())
    readme = (REPO_ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert chunked_loss_row(v) in readme, chunked_loss_row(v)
    assert v["loss_rel_diff"] < 1e-5 and v["chunked"]["chunked_passes"] == 1


def chunked_loss_row(v: dict) -> str:
    """bench/README.md's chunked cross-entropy row, from bench/results/chunked_loss.json."""
    whole, chunked = v["whole"], v["chunked"]
    return (
        f"| {v['model']} | {whole['answer_tokens']} × {whole['vocab']:,} | {whole['pass_peak'] / 2**30:.2f} → "
        f"{chunked['pass_peak'] / 2**30:.2f} GiB (×{v['pass_peak_ratio']:.3f}) | {whole['seconds']:.1f} → "
        f"{chunked['seconds']:.1f} s (×{v['seconds_ratio']:.3f}) | {chunked['chunk_positions']} |"
    )


def training_memory_row(name: str, v: dict) -> str:
    """One row of bench/README.md's training-memory table (written from the JSON by the same function)."""
    whole, kept = v["before"], v["after"]
    row = (
        f"| {name} | {whole['peak_rss'] / 2**30:.2f} → {kept['peak_rss'] / 2**30:.2f} GiB "
        f"(×{v['peak_rss_ratio']:.3f}) | {whole['tokens_per_s']:.1f} → {kept['tokens_per_s']:.1f} "
        f"(×{v['tokens_per_s_ratio']:.3f}) | {v['estimate_over_measured']:.3f} |"
    )
    if "recompute" in v:  # finetune.gradient_checkpointing, against `after`
        rec = v["recompute"]
        row += (
            f" {rec['peak_rss'] / 2**30:.2f} GiB (×{v['recompute_peak_rss_ratio']:.3f}), "
            f"{rec['tokens_per_s']:.1f} tokens/s (×{v['recompute_tokens_per_s_ratio']:.3f}) |"
        )
    return row
