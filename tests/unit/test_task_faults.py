"""Broken task files and bad data: reported with file:line, skipped, never a traceback, never scored.

Each fault of the reliability issue is replayed by hand first; then a seeded fuzz runs discovery and the real
`harness task check` (in-process) over a few hundred generated broken task folders. Fast: no model, no lm-eval.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

import harness.app.cli as cli
import harness.tasks as tasks
from harness.app.register import register_configs
from harness.config.schema import TaskConfig
from harness.errors import HarnessError
from harness.paths import CONF_DIR
from harness.tasks import discover, discovery_problems, load_task, load_yaml, task_config
from harness.tasks.check import MAX_LINE_BYTES, check_cell_rows, check_task, read_rows
from tests.support.run import run_harness

ROWS = [
    {"id": "r1", "question": "What colour is the sky?", "answer": "blue"},
    {"id": "r2", "question": "How many days are in a week?", "answer": "7"},
    {"id": "r3", "question": "What is frozen water?", "answer": "ice"},
]


def task_doc(name: str, data: Path, **harness: Any) -> dict[str, Any]:
    return {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "output_type": "generate_until",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0, "harness": {"description": "a tiny task", "language": "en", **harness}},
    }


def dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000).encode()


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def write_task(folder: Path, name: str, rows: list[Any] = ROWS, **harness: Any) -> Path:
    """A sound one-file task folder; returns its YAML."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "test.jsonl").write_bytes(jsonl(rows))
    path = folder / f"{name}.yaml"
    path.write_bytes(dump(task_doc(name, folder / "data" / "test.jsonl", **harness)))
    return path


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """tasks/ replaced by a tmp folder with two sound tasks, and an empty HARNESS_TASKS_PATH folder; the working
    directory is tmp too, so anything written to a relative path (results/, outputs/) lands where we look."""
    repo_tasks, extra = tmp_path / "repo_tasks", tmp_path / "extra"
    write_task(repo_tasks / "keep", "keep_a")
    write_task(repo_tasks / "keep", "keep_b")
    extra.mkdir()
    monkeypatch.setattr(tasks, "TASKS_DIR", repo_tasks)
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(extra))
    monkeypatch.chdir(tmp_path)
    return repo_tasks, extra


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """`harness ARGS` in-process through cli.main (HarnessError -> exit 2 as for a user)."""
    capsys.readouterr()
    old_term = signal.getsignal(signal.SIGTERM)
    argv, sys.argv = sys.argv, ["harness", *args]
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
        signal.signal(signal.SIGTERM, old_term)
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- 1. task files are data: never interpolated ----


@pytest.fixture
def clean_store():
    """Task options registered by a test are removed again: the ConfigStore is process-wide."""
    before = set(ConfigStore.instance().repo.get("task", {}))
    yield
    group = ConfigStore.instance().repo.get("task", {})
    for key in set(group) - before:
        del group[key]


SECRET_DESCRIPTIONS = [
    "key=${oc.env:SENTINEL_VAR,unset}",
    "costs ${price} per call",
    r"a backslash \${oc.env:SENTINEL_VAR} and \\${oc.env:SENTINEL_VAR,x} too",
]


@pytest.mark.parametrize("where", ["tasks/", "HARNESS_TASKS_PATH"])
def test_task_text_is_never_interpolated(where, tmp_path, monkeypatch, clean_store):
    monkeypatch.setenv("SENTINEL_VAR", "s3cr3t-sentinel")
    repo = tmp_path / "repo"
    parent = repo / "tasks" if where == "tasks/" else tmp_path / "extra"
    monkeypatch.setattr(tasks, "REPO_ROOT", repo)
    monkeypatch.setattr(tasks, "TASKS_DIR", repo / "tasks")
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path / "extra"))
    for i, text in enumerate(SECRET_DESCRIPTIONS):
        write_task(parent / f"secret{i}", f"secret_{i}", description=text, primary_metric="exact_match")
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for i, text in enumerate(SECRET_DESCRIPTIONS):
            cfg = compose("config", overrides=[f"task=secret_{i}"])
            resolved = OmegaConf.to_container(cfg, resolve=True)
            assert resolved["task"]["description"] == text == cfg.task.description
            assert resolved["task"]["primary_metric"] == "exact_match"
            assert "s3cr3t-sentinel" not in json.dumps(resolved) + OmegaConf.to_yaml(cfg, resolve=True)
            spec = load_task(OmegaConf.to_object(cfg.task))  # the folder resolves as written
            assert spec.yaml_file == parent / f"secret{i}" / f"secret_{i}.yaml"
    if where == "tasks/":
        assert cfg.task.dir == "tasks/secret2"  # relative to the repository, as for the shipped tasks


def test_escape_round_trips_every_mix_of_backslashes_dollars_and_braces(clean_store):
    """OmegaConf reads `\\${` as a literal `${`, and backslashes just before it as escapes of each other."""
    rng = random.Random(7)
    parts = ["\\", "$", "{", "}", "${", "\\${", "oc.env:SENTINEL_VAR", "x", " "]
    texts = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 10))) for _ in range(500)]
    schema = OmegaConf.structured(TaskConfig)
    for text in texts:  # OmegaConf's own grammar: the same merge Hydra does with a ConfigStore node
        node = OmegaConf.merge(
            schema,
            TaskConfig("x", "d", "acc", description=tasks.escape_interpolation(text)),
        )
        assert OmegaConf.to_container(node, resolve=True)["description"] == text, text
    cs = ConfigStore.instance()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        # and the whole way, through a composed config (slow: 0.2 s each)
        for i, text in enumerate(texts[:8]):
            escaped = tasks.escape_interpolation(text)
            cs.store(group="task", name=f"esc_{i}", node=TaskConfig("x", "d", "acc", description=escaped))
            cfg = compose("config", overrides=[f"task=esc_{i}"])
            assert OmegaConf.to_container(cfg.task, resolve=True)["description"] == text, text


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ok.name-1_2", True),
        ("a/b", False),
        ("../x", False),
        ("..", False),
        ("x$y", False),
        ("${oc.env:HOME}", False),
        ("a b", False),
        ("", False),
        ("naïve", False),
        (".a", False),
        ("-x", False),
    ],
)
def test_task_names_from_yaml_are_checked(name, ok, roots):
    _, extra = roots
    path = write_task(extra / "named", "named")
    path.write_bytes(path.read_bytes().replace(b"task: named", f"task: {json.dumps(name)}".encode()))
    assert (name in discover()) is ok
    if not ok:
        [problem] = discovery_problems()
        assert problem.message.startswith(f"{path}:1: task name ")


# ---- 2. one bad task file breaks nothing else ----

BAD_YAML = {
    "malformed": (b"task: bad\nmetric_list:\n  - metric: [unclosed\n", r":4:|:3:", "malformed YAML"),
    "not_utf8": (b"task: bad\n# caf\xe9\n", ":2:", "not UTF-8 (byte 0xe9 at offset 15)"),
    "bad_include": (b"task: bad\ninclude: _missing.yaml\n", ":2:", "names a file that does not exist"),
    "task_int": (b"task: 123\n", ":1:", "`task` must be a task name, not a number"),
    "metadata_list": (b"task: bad\nmetadata: [a, b]\n", ":2:", "`metadata` must be a mapping, not a list"),
    "harness_text": (
        b"task: bad\nmetadata:\n  harness: oops\n",
        ":3:",
        "`metadata.harness` must be a mapping",
    ),
    "metric_item": (b"task: bad\nmetric_list:\n  - acc\n", ":2:", "`metric_list` must be a list of mappings"),
    "dataset_kwargs": (b"task: bad\ndataset_kwargs: [x]\n", ":2:", "`dataset_kwargs` must be a mapping"),
}


@pytest.mark.parametrize("kind", sorted(BAD_YAML))
def test_a_bad_task_file_is_skipped_with_one_warning(kind, roots, caplog, clean_store):
    _, extra = roots
    text, line, what = BAD_YAML[kind]
    bad = extra / "bad" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_bytes(text)
    with caplog.at_level(logging.WARNING, logger="harness.tasks"):
        assert set(discover()) == {"keep_a", "keep_b"}
        assert set(discover()) == {"keep_a", "keep_b"}
        register_configs()  # what `import harness.app.cli` runs: must not raise
        from harness.app.compose import group_options

        options = group_options("task")
        assert {"keep_a", "keep_b"} <= set(options) and "bad" not in options
    warnings = [r.getMessage() for r in caplog.records if str(bad) in r.getMessage()]
    assert len(warnings) == 1 and what in warnings[0]  # once, however often discovery runs
    [problem] = discovery_problems()
    assert problem.file == bad and re.search(re.escape(str(bad)) + f"({line})", problem.message)
    assert what in problem.message


def test_task_check_names_every_bad_file_and_exits_2(roots, capsys):
    _, extra = roots
    for kind in ("malformed", "not_utf8", "metadata_list"):
        (extra / kind).mkdir()
        (extra / kind / f"{kind}.yaml").write_bytes(BAD_YAML[kind][0])
    code, out, err = run_cli(["task", "check"], capsys)
    assert code == 2 and "Traceback" not in out + err
    assert "task check found problems in: " in err
    assert f"{extra / 'not_utf8' / 'not_utf8.yaml'}:2: not UTF-8 (byte 0xe9 at offset 15)" in out
    assert f"{extra / 'metadata_list' / 'metadata_list.yaml'}:2: `metadata` must be a mapping" in out
    assert re.search(re.escape(str(extra / "malformed" / "malformed.yaml")) + r":\d+:\d+", out)
    assert out.count("\n  ok") == 2  # keep_a and keep_b still pass


def test_task_check_of_a_name_whose_file_is_broken_says_so(roots, capsys):
    _, extra = roots
    (extra / "bad").mkdir()
    (extra / "bad" / "mytask.yaml").write_bytes(b"task: mytask\nmetadata: [x]\n")
    code, out, err = run_cli(["task", "check", "mytask"], capsys)
    assert code == 2 and "Traceback" not in out + err
    assert f"broken task file: {extra / 'bad' / 'mytask.yaml'}:2: `metadata` must be a mapping" in out
    with pytest.raises(HarnessError, match=r"unknown task 'mytsk'.*Skipped broken task files: .*mytask\.yaml"):
        check_task("mytsk")
    with pytest.raises(HarnessError, match=r"task 'mytask' is defined by a broken file: .*mytask\.yaml:2"):
        load_task(TaskConfig(name="mytask", dir=str(extra / "bad"), primary_metric="acc"))


def test_a_broken_sibling_does_not_stop_load_task(roots):
    repo_tasks, _ = roots
    (repo_tasks / "keep" / "sibling.yaml").write_bytes(b"task: [oops\n")
    spec = load_task(task_config("keep_a", *discover()["keep_a"]))
    assert spec.name == "keep_a" and spec.metrics == ("exact_match",)


def test_duplicate_task_names_keep_the_first_and_report_the_second(roots):
    _, extra = roots
    dup = write_task(extra / "dup", "keep_a")
    assert discover()["keep_a"][0].parent.name == "keep"
    [problem] = discovery_problems()
    assert problem.message.startswith(f"{dup}:1: task 'keep_a' is already defined by ")


def test_include_cycles_and_bad_targets_name_the_include_line(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"# a\ninclude: _b.yaml\ntask: a\n")
    (tmp_path / "_b.yaml").write_bytes(b"include: a.yaml\n")
    (tmp_path / "self.yaml").write_bytes(b"include: self.yaml\n")
    (tmp_path / "list.yaml").write_bytes(b"include: [x]\n")
    (tmp_path / "dir.yaml").write_bytes(b"include: sub\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "bytes.yaml").write_bytes(b"include: _bad.yaml\n")
    (tmp_path / "_bad.yaml").write_bytes(b"a: 1\nb: \xff\n")
    found, problems = tasks.scan(sorted(tmp_path.glob("*.yaml")))
    got = {p.file.name: p.message for p in problems}
    assert not found
    assert got["a.yaml"].startswith(f"{tmp_path / 'a.yaml'}:2: `include: _b.yaml`: {tmp_path / '_b.yaml'}:1: ")
    assert "makes a cycle (a.yaml -> _b.yaml -> a.yaml)" in got["a.yaml"]
    assert "makes a cycle (self.yaml -> self.yaml)" in got["self.yaml"]
    assert got["list.yaml"] == f"{tmp_path / 'list.yaml'}:1: `include: ['x']` must name a YAML file."
    assert "names a file that does not exist" in got["dir.yaml"]
    assert got["bytes.yaml"].endswith(
        f"{tmp_path / '_bad.yaml'}:2: not UTF-8 (byte 0xff at offset 8). Save it as UTF-8."
    )


def test_not_utf8_yaml_is_one_message_with_line_and_offset(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_bytes(b"task: x\ndescription: caf\xe9\n")
    with pytest.raises(HarnessError) as e:
        load_yaml(bad)
    assert str(e.value) == f"{bad}:2: not UTF-8 (byte 0xe9 at offset 24). Save it as UTF-8."
    from harness.tasks import _hashed_files

    assert _hashed_files(tmp_path) == [bad]  # hashing reads YAML bytes without decoding them strictly


# ---- 3. bad data is never scored silently ----


def data_file(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_read_rows_names_each_bad_line(tmp_path):
    good = json.dumps(ROWS[0]).encode() + b"\n"
    path = data_file(
        tmp_path,
        [
            good,
            b"\n",
            b"[1, 2]\n",
            b'{"a": "caf\xe9"}\n',
            b"{oops\n",
            b"1" * 5000 + b"\n",
            b"[" * 200_000 + b"\n",
            good,
        ],
    )
    problems: list[str] = []
    rows = read_rows(path, problems)
    assert [n for n, _ in rows] == [1, 8]  # the blank line 2 is no row
    assert problems[0] == f"{path}:3: a row must be a JSON object, not list."
    assert problems[1] == f"{path}:4: not UTF-8 (byte 0xe9 at offset {len(good) + 1 + 7 + 10}). Save it as UTF-8."
    assert problems[2].startswith(f"{path}:5: not valid JSON (Expecting property name")
    assert problems[3].startswith(f"{path}:6: not valid JSON (Exceeds the limit")
    assert problems[4].startswith(f"{path}:7: not valid JSON")
    assert len(problems) == 5


def test_an_oversize_line_is_skipped_unread(tmp_path):
    good = json.dumps(ROWS[0]).encode() + b"\n"
    at_limit = b'{"question": "' + b"x" * (MAX_LINE_BYTES - 16) + b'"}'
    assert len(at_limit) == MAX_LINE_BYTES
    huge = b'{"question": "' + b"y" * (20 << 20) + b'"}\n'  # 20 MB: the line was 50 MB
    path = data_file(tmp_path, [at_limit + b"\n", at_limit + b" \n", huge, good])
    problems: list[str] = []
    tracemalloc.start()
    rows = read_rows(path, problems)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [n for n, _ in rows] == [1, 4]
    assert problems == [
        f"{path}:2: line is {MAX_LINE_BYTES + 1:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one row "
        "(not read). Split or shorten it.",
        f"{path}:3: line is {len(huge) - 1:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit for one row (not read). "
        "Split or shorten it.",
    ]
    assert peak < 8 * MAX_LINE_BYTES  # the 20 MB line never sat in memory (it would be 20x the limit)


@pytest.fixture
def cell_task(roots):
    repo_tasks, _ = roots

    def make(rows: list[Any] | list[bytes]):
        folder = repo_tasks / "cell"
        path = write_task(folder, "cell_t")
        if rows and isinstance(rows[0], bytes):
            (folder / "data" / "test.jsonl").write_bytes(b"".join(rows))
        else:
            (folder / "data" / "test.jsonl").write_bytes(jsonl(rows))
        spec = load_task(task_config("cell_t", path, discover()["cell_t"][1]))
        return spec, folder / "data" / "test.jsonl"

    return make


def test_check_cell_rows_catches_missing_and_null_template_fields(cell_task):
    spec, data = cell_task([ROWS[0], {"id": "r2", "answer": "7"}, {**ROWS[2], "question": None}])
    with pytest.raises(HarnessError) as e:
        check_cell_rows(spec, "test", None)
    msg = str(e.value)
    assert msg.startswith("task 'cell_t': split 'test' cannot be scored as they are")
    assert f"  - {data}:2: missing field(s) question used by the prompt templates" in msg
    assert f"  - {data}:3: field(s) question used by the prompt templates are null" in msg
    check_cell_rows(spec, "test", 1)  # lm-eval's limit=1 scores only the first, sound row
    with pytest.raises(HarnessError, match=r"the first 2 rows of split 'test' .*\n  - .*:2: missing field"):
        check_cell_rows(spec, "test", 2)


def test_check_cell_rows_reads_only_the_rows_a_limit_scores(cell_task):
    bad = [
        b'{"question": "caf\xe9", "answer": "x"}\n',
        b"[" * 10 + b"\n",
        b"z" * (MAX_LINE_BYTES + 5) + b"\n",
    ]
    spec, data = cell_task([jsonl(ROWS), b"\n", *bad])
    check_cell_rows(spec, "test", 3)  # the blank line is no doc: the first 3 docs are sound
    with pytest.raises(HarnessError) as e:
        check_cell_rows(spec, "test", None)
    lines = str(e.value).splitlines()[1:]
    assert [ln.split(": ", 1)[0] for ln in lines] == [f"  - {data}:5", f"  - {data}:6", f"  - {data}:7"]
    assert "not UTF-8 (byte 0xe9 at offset" in lines[0] and "over the 1,048,576-byte limit" in lines[2]


def test_check_cell_rows_split_and_empty_and_lm_eval_tasks(cell_task):
    spec, data = cell_task([])
    with pytest.raises(HarnessError, match=re.escape(f"{data}: split 'test' has no rows")):
        check_cell_rows(spec, "test", None)
    with pytest.raises(HarnessError, match=r"has no split 'validation': its data_files .* are test\."):
        check_cell_rows(spec, "validation", 5)
    data.unlink()
    with pytest.raises(HarnessError, match=re.escape(f"data file {data} of split 'test' does not exist")):
        check_cell_rows(spec, "test", None)
    mmlu = load_task(TaskConfig(name="mmlu", dir=None, primary_metric="acc"))
    check_cell_rows(mmlu, "test", None)  # lm-eval's own task: its data is lm-eval's business


def test_check_cell_rows_is_fast_on_the_shipped_tasks(monkeypatch):
    monkeypatch.delenv("HARNESS_TASKS_PATH", raising=False)
    found = discover()
    files = {n: d["dataset_kwargs"]["data_files"] for n, (_, d) in found.items()}
    specs = [load_task(task_config(n, *found[n])) for n in found if "test" in files[n]]
    check_cell_rows(specs[0], "test", None)  # imports and caches warm
    start = time.perf_counter()
    for spec in specs:
        check_cell_rows(spec, "test", None)
    per_task = (time.perf_counter() - start) / len(specs)
    print(f"\ncheck_cell_rows: {per_task * 1000:.1f} ms per task (all test rows, {len(specs)} tasks)")
    assert per_task < 0.25  # measured 3-6 ms on 2 shared cores; the bound only catches a gross slowdown


def test_task_check_reports_empty_splits_and_bad_templates(roots):
    repo_tasks, _ = roots
    (repo_tasks / "keep" / "data" / "test.jsonl").write_bytes(b"\n\n")
    report = check_task("keep_a")
    assert f"{repo_tasks / 'keep' / 'data' / 'test.jsonl'}: split 'test' has no rows" in report.text()
    path = repo_tasks / "keep" / "keep_b.yaml"
    path.write_bytes(path.read_bytes().replace(b"{{answer}}", b"{{answer"))
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("doc_to_target"))
    assert f"{path}:{line}: `doc_to_target` is not a valid Jinja template" in check_task("keep_b").text()


# ---- fuzz: seeded broken task folders through discovery and `harness task check` ----


@dataclass
class Case:
    kind: str
    files: dict[str, bytes]  # relative to the case folder
    blame: str  # the file the message must name
    line: int | None = None  # the exact line, where the fault sits on one
    line_has: str | None = None  # else: text that the named line must contain
    has_line: bool = True  # False where no line applies (a missing key, an empty split)


WRONG = {
    "text": [123, 1.5, True, [1, 2], {"a": 1}],
    "mapping": [123, "text", [1], True],
    "name": [123, True, [1], {"a": 1}, None],
}
FIELDS = {  # dotted key -> (kind of value it needs, text the reported line contains)
    "task": ("name", "task"),
    "metadata": ("mapping", "metadata"),
    "metadata.harness": ("mapping", "harness"),
    "metadata.harness.description": ("text", "description"),
    "metadata.harness.language": ("text", "language"),
    "metadata.harness.primary_metric": ("text", "primary_metric"),
    "dataset_kwargs": ("mapping", "dataset_kwargs"),
    "metadata.harness.leakage_field": ("text", "leakage_field"),
    "dataset_kwargs.data_files": ("mapping", "data_files"),
    "generation_kwargs": ("mapping", "generation_kwargs"),
    "output_type": ("text", "output_type"),
    "dataset_path": ("text", "dataset_path"),
    "test_split": ("text", "test_split"),
}
BAD_YAML_LINES = [
    "key: [unclosed",
    "key: 'unterminated",
    "a: b: c",
    "- item",
    "key: @reserved",
    "{",
    "key: !unknown x",
    "key: !!python/object:os.system x",
    "key: *undefined",
    "\tkey: tab",
    "---\nsecond: document",
    "key: \x07bell",
    'key: "x\\q"',
]
BAD_BYTES = [b"\xff", b"\xfe", b"\x80", b"\xc3(", b"\xe9", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88"]
BAD_JSON = [
    b'{"question": "x", "answer": "y"',
    b'{"question": "x",}',
    b"{'question': 'x'}",
    b"{",
    b"}",
    b"question: x",
    b'{"a": 1} {"b": 2}',
    b'{"question": "x\x01"}',
    b"nul",
    b'{"question": "\\ud800"',
]
NOT_OBJECTS = [b"[1, 2]", b'"text"', b"3", b"null", b"true", b"[]", b"1.5e3"]
BAD_NAMES = [
    "a/b",
    "../x",
    "..",
    "x$y",
    "${oc.env:HOME}",
    "a b",
    "",
    "naïve",
    "x:y",
    "a\\b",
    "-",
    ".",
    "-x",
    ".a",
]


def set_dotted(doc: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    doc[last] = value


def line_of(text: bytes, startswith: bytes) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if t.lstrip().startswith(startswith))


def gen_case(rng: random.Random, kind: str, data: Path) -> Case:
    """One broken task folder `broken/` (its data file at `data`) for the fault `kind`."""
    doc = task_doc("broken_t", data)
    rows = [dict(r) for r in ROWS] + [
        {"id": f"g{i}", "question": f"q{i}?", "answer": f"a{i}"} for i in range(rng.randint(0, 4))
    ]
    good = jsonl(rows)
    y = "broken.yaml"
    if kind == "wrong_type":
        dotted = rng.choice(sorted(FIELDS))
        need, has = FIELDS[dotted]
        set_dotted(doc, dotted, rng.choice(WRONG[need]))
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has=has)
    if kind == "wrong_list":
        value = rng.choice(
            [{"metric": "acc"}, "acc", 5, [["acc"]], [{"metric": 3}], [{"aggregation": "mean"}], ["acc"]]
        )
        doc["metric_list"] = value
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="metric_list")
    if kind == "wrong_version":
        doc["metadata"]["version"] = rng.choice([[1], {"a": 1}])
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="version")
    if kind == "wrong_data_file":
        doc["dataset_kwargs"]["data_files"] = rng.choice(
            [{"test": 3}, {"test": [str(data)]}, {1: str(data)}, {"test": None}]
        )
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="data_files")
    if kind == "missing_field":
        key = rng.choice(["task", "dataset_path", "dataset_kwargs", "doc_to_text", "doc_to_target"])
        del doc[key]
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, has_line=False)
    if kind == "missing_data":
        doc["dataset_kwargs"]["data_files"]["test"] = str(data.parent / rng.choice(["nope.jsonl", "", "sub"]))
        return Case(kind, {y: dump(doc), "data/test.jsonl": good, "data/sub/x": b""}, y, line_has="test:")
    if kind == "split_not_in_files":
        doc[rng.choice(["test_split", "validation_split", "training_split"])] = "validation"
        text = dump(doc)
        return Case(kind, {y: text, "data/test.jsonl": good}, y, line_has="_split: validation")
    if kind == "truncated_yaml":
        template = json.dumps(doc.pop("doc_to_text")).encode()  # JSON text is a double-quoted YAML scalar
        text = dump(doc) + b"doc_to_text: " + template + b"\n"
        start = text.index(b'doc_to_text: "') + len(b'doc_to_text: "')  # cut inside it: never valid YAML
        return Case(kind, {y: text[: rng.randint(start, text.index(b"\n", start) - 1)], "data/test.jsonl": good}, y)
    if kind == "invalid_yaml":
        lines = dump(doc).splitlines(keepends=True)
        # before a top-level key (not line 1, where `---` starts the only document) or at the end: never inside
        # a multi-line scalar, where any text is valid
        at = rng.choice([i for i, t in enumerate(lines) if i and not t[:1].isspace()] + [len(lines)])
        lines.insert(at, rng.choice(BAD_YAML_LINES).encode() + b"\n")
        return Case(kind, {y: b"".join(lines), "data/test.jsonl": good}, y)
    if kind == "not_mapping":
        text = rng.choice([b"- a\n- b\n", b"just text\n", b"42\n", b"[task, x]\n"])
        return Case(kind, {y: text, "data/test.jsonl": good}, y, line=1)
    if kind == "empty_yaml":
        return Case(
            kind,
            {y: rng.choice([b"", b"\n", b"# nothing\n", b"~\n"]), "data/test.jsonl": good},
            y,
            has_line=False,
        )
    if kind == "yaml_bytes":
        lines = dump(doc).splitlines(keepends=True)
        at = rng.randrange(len(lines))
        lines[at] = rng.choice(BAD_BYTES) + lines[at]
        return Case(kind, {y: b"".join(lines), "data/test.jsonl": good}, y, line=at + 1)
    if kind == "include_missing":
        text = b"include: " + rng.choice([b"_gone.yaml", b"../nowhere.yaml", b"sub", b"''"]) + b"\n" + dump(doc)
        return Case(kind, {y: text, "data/test.jsonl": good, "sub/x": b""}, y, line=1)
    if kind == "include_type":
        text = dump(doc) + b"include: " + rng.choice([b"[a, b]", b"3", b"{a: 1}", b"true"]) + b"\n"
        return Case(kind, {y: text, "data/test.jsonl": good}, y, line_has="include")
    if kind == "include_cycle":
        n = rng.randint(1, 4)
        names = [y] + [f"_base{i}.yaml" for i in range(1, n)]
        files = {names[i]: f"include: {names[(i + 1) % n]}\n".encode() for i in range(n)}
        files[y] = files[y] + dump(doc)
        return Case(kind, {**files, "data/test.jsonl": good}, y, line=1)
    if kind == "include_broken":
        base = rng.choice([b"a: [1\n", b"x: 1\nb: \xff\n", b"- a list\n", b"metadata: 3\n"])
        text = b"include: _base.yaml\n" + dump(doc)
        if base == b"metadata: 3\n":  # the base is fine YAML; the merged doc has the bad type... unless overridden
            base = b"generation_kwargs: 3\n"
            return Case(kind, {y: text, "_base.yaml": base, "data/test.jsonl": good}, "_base.yaml", line=1)
        return Case(kind, {y: text, "_base.yaml": base, "data/test.jsonl": good}, y, line=1)
    if kind == "bad_name":
        name = rng.choice(BAD_NAMES)
        doc["task"] = name
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="task")
    if kind == "duplicate_name":
        doc["task"] = "keep_a"
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="task")
    if kind == "bad_template":
        doc["doc_to_text"] = rng.choice(["{{question", "{% if %}", "{{ question | }}", "{% for x in %}{% endfor %}"])
        return Case(kind, {y: dump(doc), "data/test.jsonl": good}, y, line_has="doc_to_text")
    if kind == "yaml_is_a_folder":
        return Case(kind, {"data/test.jsonl": good, "other.yaml/x": b""}, "other.yaml", has_line=False)
    # data faults: one bad line among sound rows
    lines = good.splitlines(keepends=True)
    at = rng.randint(0, len(lines))
    d = "data/test.jsonl"
    if kind == "empty_split":
        return Case(kind, {y: dump(doc), d: rng.choice([b"", b"\n", b"\n \n\t\n"])}, d, has_line=False)
    if kind == "data_bytes":
        row = json.dumps(rows[0]).encode()
        cut = rng.randint(1, len(row) - 1)
        bad = row[:cut] + rng.choice(BAD_BYTES) + row[cut:]
    elif kind == "huge_line":
        bad = b'{"question": "' + b"x" * (MAX_LINE_BYTES + rng.choice([0, 1, 1000, 3 << 20])) + b'"}'
    elif kind == "non_object":
        bad = rng.choice(NOT_OBJECTS)
    elif kind == "invalid_json":
        form = rng.choice(["text", "deep", "long_number"])  # each form as often: each fails differently
        deep, long_number = b"[" * rng.randint(2000, 100_000), b"9" * rng.randint(4301, 9000)
        bad = {"text": rng.choice(BAD_JSON), "deep": deep, "long_number": long_number}[form]
    elif kind in ("missing_template_field", "null_template_field"):
        row = dict(rows[0], id="m")
        field = rng.choice(["question", "answer"])
        if kind == "missing_template_field":
            del row[field]
        else:
            row[field] = None
        bad = json.dumps(row).encode()
    elif kind == "bad_reference":
        doc["metadata"]["harness"]["reference_json"] = "answer"
        rows = [dict(r, answer=json.dumps({"n": i})) for i, r in enumerate(rows)]
        lines = jsonl(rows).splitlines(keepends=True)
        bad = json.dumps(dict(rows[0], id="b", answer=rng.choice(["{oops", "", "nul"]))).encode()
    else:
        raise AssertionError(kind)
    lines.insert(at, bad + b"\n")
    return Case(kind, {y: dump(doc), d: b"".join(lines)}, d, line=at + 1)


KINDS = [
    "wrong_type",
    "wrong_list",
    "wrong_version",
    "wrong_data_file",
    "missing_field",
    "missing_data",
    "split_not_in_files",
    "truncated_yaml",
    "invalid_yaml",
    "not_mapping",
    "empty_yaml",
    "yaml_bytes",
    "include_missing",
    "include_type",
    "include_cycle",
    "include_broken",
    "bad_name",
    "duplicate_name",
    "bad_template",
    "yaml_is_a_folder",
    "empty_split",
    "data_bytes",
    "huge_line",
    "non_object",
    "invalid_json",
    "missing_template_field",
    "null_template_field",
    "bad_reference",
]
# HARNESS_FUZZ_SEED=N explores other cases; the default keeps the suite reproducible.
# the kinds whose rows check_cell_rows (the run path) must refuse as well
ROW_KINDS = {
    "empty_split",
    "data_bytes",
    "huge_line",
    "non_object",
    "invalid_json",
    "missing_template_field",
    "null_template_field",
}
FUZZ_SEED, FUZZ_PER_KIND = int(os.environ.get("HARNESS_FUZZ_SEED", "20240611")), 16


def problem_lines(out: str, path: Path) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("  - ") and str(path) in ln]


def judge(case: Case, folder: Path, code: int, out: str, err: str) -> str | None:
    """Why the `task check` run of a case is wrong, or None."""
    if code != 2:
        return f"exit code {code}"
    if "Traceback" in out + err:
        return "a traceback"
    if "task check found problems in:" not in err:
        return "no closing error line"
    blame = folder / case.blame
    named = problem_lines(out, blame)
    if not named:
        return f"no problem names {blame}"
    if case.line is not None:
        hits = [ln for ln in named if f"{blame}:{case.line}:" in ln or f"{blame}:{case.line})" in ln]
        return None if len(hits) == 1 else f"{len(hits)} problems name {case.blame}:{case.line}: {named}"
    if not case.has_line:
        return None
    m = re.search(re.escape(str(blame)) + r":(\d+)", "\n".join(named))
    if not m:
        return f"no line number: {named}"
    text = blame.read_bytes().splitlines()
    line = int(m.group(1))
    if not 1 <= line <= len(text) + 1:
        return f"line {line} is not in the file"
    if case.line_has and case.line_has.encode() not in text[line - 1]:
        return f"line {line} ({text[line - 1][:60]!r}) does not hold {case.line_has!r}"
    return None


def test_fuzz_broken_task_folders(roots, capsys):
    repo_tasks, extra = roots
    write_task(extra / "keep_c", "keep_c")
    results = roots[0].parent / "results"  # a store that was there before: it must stay byte-identical
    (results / "records").mkdir(parents=True)
    (results / "records" / "cell.json").write_text('{"cell_id": "c1", "score": 0.5}')
    rng = random.Random(FUZZ_SEED)
    tried, failures, folder = 0, [], extra / "broken"
    for kind in KINDS:
        for _ in range(FUZZ_PER_KIND):
            seed = rng.randrange(1 << 30)
            case = gen_case(random.Random(seed), kind, folder / "data" / "test.jsonl")
            shutil.rmtree(folder, ignore_errors=True)
            for rel, data in case.files.items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(data)
            before = snapshot(roots[0].parent)
            tried += 1
            try:
                found = discover()
                assert {"keep_a", "keep_b", "keep_c"} <= set(found), "the other tasks were lost"
                assert found["keep_c"][0] == extra / "keep_c" / "keep_c.yaml"
                code, out, err = run_cli(["task", "check"], capsys)
                why = judge(case, folder, code, out, err)
                assert why is None, why
                assert out.count("\n  ok") == 3, "a sound task did not pass"
                if kind in ROW_KINDS:  # the run path refuses the same rows before any model would load
                    spec = load_task(task_config("broken_t", *found["broken_t"]))
                    with pytest.raises(HarnessError) as e:
                        check_cell_rows(spec, "test", None)
                    where = f"{folder / case.blame}" + (f":{case.line}:" if case.line else "")
                    assert where in str(e.value), f"check_cell_rows does not name {where}: {e.value}"
                assert snapshot(roots[0].parent) == before, "task check wrote or changed a file"
            except Exception as e:  # noqa: BLE001 - a crash is a failed case too: count it, report its seed
                failures.append(f"{kind} seed={seed}: {type(e).__name__}: {str(e)[:300]}")
    passed = tried - len(failures)
    summary = f"task fault fuzz: {tried} cases tried, {passed} passed ({len(KINDS)} kinds, seed {FUZZ_SEED})"
    print("\n" + summary)
    assert not failures, summary + "\n" + "\n".join(failures[:20])
    assert tried >= 400


SUBPROCESS_CASES = {  # file: (text, the name `task check` is asked for, what its message says after file)
    "malformed.yaml": (b"task: sp_bad\nmetric_list:\n  - metric: [unclosed\n", "sp_bad", ":4:"),
    "latin1.yaml": (b"task: sp_latin\n# caf\xe9\n", "sp_latin", ":2: not UTF-8 (byte 0xe9 at offset 20)"),
    "wrongtype.yaml": (b"task: sp_type\nmetadata: [a]\n", "sp_type", ":2: `metadata` must be a mapping"),
    "include.yaml": (
        b"task: sp_inc\ninclude: _nope.yaml\n",
        "sp_inc",
        ":2: `include: _nope.yaml` names a file",
    ),
    "name.yaml": (b"task: ../sp\n", "name", ":1: task name '../sp'"),
}


def test_the_real_cli_survives_broken_task_files(tmp_path):
    """The console script, end to end: `task list` works and warns, `task check [NAME]` names file:line."""
    for i, (file, (text, _, _)) in enumerate(SUBPROCESS_CASES.items()):
        (tmp_path / f"t{i}").mkdir()
        (tmp_path / f"t{i}" / file).write_bytes(text)
    huge = write_task(tmp_path / "huge", "sp_huge")
    (huge.parent / "data" / "test.jsonl").write_bytes(jsonl(ROWS) + b'"' + b"x" * (3 << 20) + b'"\n')
    env = {"HARNESS_TASKS_PATH": str(tmp_path)}
    p = run_harness("task", "list", env=env, timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stdout + p.stderr
    assert "helpdesk_en " in p.stdout and "sp_huge " in p.stdout
    for i, (file, (_, _, what)) in enumerate(SUBPROCESS_CASES.items()):
        assert f"{tmp_path / f't{i}' / file}{what}" in p.stderr  # the start-up warning
    for i, (file, (_, name, what)) in enumerate(SUBPROCESS_CASES.items()):
        p = run_harness("task", "check", name, env=env, timeout=120)
        assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
        assert "  - broken task file: " in p.stdout and f"{tmp_path / f't{i}' / file}{what}" in p.stdout
    p = run_harness("task", "check", "sp_huge", env=env, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr
    assert f"{huge.parent / 'data' / 'test.jsonl'}:4: line is {(3 << 20) + 2:,} bytes, over the" in p.stdout
    p = run_harness("task", "check", env=env, timeout=300)  # every task: the shipped ones pass, ours do not
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr
    assert "task helpdesk_en (" in p.stdout and p.stdout.count("\n  ok") >= 12
    assert all(f"{tmp_path / f't{i}' / file}" in p.stdout for i, file in enumerate(SUBPROCESS_CASES))
