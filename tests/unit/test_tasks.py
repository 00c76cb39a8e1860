"""The task suite: reproducible data, sizes, checks that catch broken copies, metrics on hand-made cases."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from harness.config.schema import TaskConfig
from harness.errors import HarnessError
from harness.paths import TASKS_DIR
from harness.tasks import discover, load_task, load_yaml
from harness.tasks.check import check_task
from harness.tasks.new import new_task

FOLDERS = ["helpdesk", "ota_intent", "extract_format", "general", "general_replay"]
DOMAIN = ["helpdesk", "ota_intent", "extract_format"]


def module(folder: str, name: str = "utils"):
    spec = importlib.util.spec_from_file_location(f"{folder}_{name}", TASKS_DIR / folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rows(folder: str, lang: str, split: str) -> list[dict]:
    with (TASKS_DIR / folder / "data" / lang / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("folder", DOMAIN)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_domain_task_sizes(folder, lang):
    assert len(rows(folder, lang, "test")) >= 300
    assert len(rows(folder, lang, "train")) >= 1000
    assert len(rows(folder, lang, "validation")) >= 100


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_helpdesk_has_60_facts_and_handoff_items(lang):
    facts = module("helpdesk", "facts")
    assert len(facts.FACTS) >= 60
    test = rows("helpdesk", lang, "test")
    assert {r["fact_id"] for r in test if r["in_scope"]} == {f[0] for f in facts.FACTS}  # every fact is tested
    oos = [r for r in test if not r["in_scope"]]
    assert 20 <= len(oos) < len(test) // 4
    assert len({r["answer"] for r in oos}) == 1  # the fixed hand-off
    sentences = {f[0]: f[2 if lang == "en" else 6] for f in facts.FACTS}
    for r in test:
        excerpts = [line.split(". ", 1)[1] for line in r["context"].splitlines()]
        assert len(excerpts) == 3 and set(excerpts) <= set(sentences.values())
        # in scope: the right excerpt was retrieved; out of scope: excerpts that do not answer
        assert (sentences[r["fact_id"]] in excerpts) if r["in_scope"] else r["fact_id"] is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_general_suite_size_and_categories(lang):
    test = rows("general", lang, "test")
    assert len(test) >= 400
    cats = Counter(r["category"] for r in test)
    assert set(cats) == {"world_knowledge", "science", "arithmetic", "commonsense", "reading"}
    assert min(cats.values()) >= 60
    for r in test:
        assert len(r["choices"]) == 4 == len(set(r["choices"])) and 0 <= r["label"] < 4


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_replay_data_is_not_the_forgetting_suite(lang):
    """Replaying the general suite's own test items would hide forgetting rather than prevent it."""
    from harness.tasks.check import similarity
    from harness.tasks.datagen import NEAR_DUPLICATE

    replay = [r["question"] for r in rows("general_replay", lang, "train")]
    suite = [r["question"] for r in rows("general", lang, "test")]
    assert len(replay) == 600 and not set(replay) & set(suite)
    assert similarity(replay, suite).max() < NEAR_DUPLICATE
    cats = Counter(r["category"] for r in rows("general_replay", lang, "train"))
    assert cats == {c: 120 for c in ("largest", "weekday", "opposite", "units", "sequence")}


def test_arithmetic_items_are_right():
    for r in rows("general", "en", "test"):
        q = r["question"]
        if q.startswith("What is ") and (" plus " in q or " minus " in q or " times " in q):
            a, op, b = q[len("What is ") : -1].split(" ")
            want = {"plus": int(a) + int(b), "minus": int(a) - int(b), "times": int(a) * int(b)}[op]
            assert r["choices"][r["label"]] == str(want), q


@pytest.mark.parametrize("name", sorted(discover()))
def test_every_task_passes_its_check(name):
    report = check_task(name)
    assert report.ok, report.text()


@pytest.fixture
def broken_copy(tmp_path, monkeypatch):
    """A copy of extract_format under another name, outside the repository, with its data paths rewritten."""
    folder = tmp_path / "extract_copy"
    shutil.copytree(TASKS_DIR / "extract_format", folder, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    for y in folder.glob("*.yaml"):
        text = y.read_text(encoding="utf-8").replace("tasks/extract_format/data", str(folder / "data"))
        y.write_text(text.replace("task: extract_format_", "task: extract_copy_"), encoding="utf-8")
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path))
    return folder


def _edit_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("".join(lines), encoding="utf-8")


def test_check_names_the_bad_lines_of_a_broken_copy(broken_copy):
    data = broken_copy / "data" / "en"
    train_text = json.loads((data / "train.jsonl").read_text(encoding="utf-8").splitlines()[4])["text"]
    _edit_line(data / "test.jsonl", 7, lambda line: line[:40] + "\n")  # truncated JSON
    _edit_line(data / "test.jsonl", 9, lambda line: json.dumps({**json.loads(line), "text": train_text}) + "\n")
    _edit_line(
        data / "test.jsonl",
        11,
        lambda line: json.dumps({k: v for k, v in json.loads(line).items() if k != "text"}) + "\n",
    )
    _edit_line(
        data / "validation.jsonl",
        3,
        lambda line: line.replace('\\"priority\\": \\"', '\\"priority\\": \\"very-'),
    )
    lines = (data / "validation.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "validation.jsonl").write_text(
        "".join(lines + [lines[5].replace('"id": "', '"id": "dup-')]), encoding="utf-8"
    )
    report = check_task("extract_copy_en")
    text = "\n".join(report.problems)
    assert not report.ok
    assert f"{data / 'test.jsonl'}:7: not valid JSON" in text
    assert "test.jsonl:9: `text` repeats" in text and "train.jsonl:5 exactly" in text
    assert f"{data / 'test.jsonl'}:11: missing field(s) text" in text
    assert f"{data / 'validation.jsonl'}:3: reference does not conform to schema.json" in text
    assert f"{data / 'validation.jsonl'}:{len(lines) + 1}: duplicates line 6" in text
    assert check_task("extract_copy_zh").ok  # the untouched language still passes


def test_cli_check_exits_nonzero_and_names_the_line(broken_copy):
    _edit_line(broken_copy / "data" / "zh" / "train.jsonl", 2, lambda line: "{oops\n")
    from tests.support.run import run_harness

    p = run_harness("task", "check", "extract_copy_zh", env={"HARNESS_TASKS_PATH": str(broken_copy.parent)})
    assert p.returncode == 2
    assert f"{broken_copy / 'data' / 'zh' / 'train.jsonl'}:2: not valid JSON" in p.stdout
    assert "Traceback" not in p.stderr


def test_new_task_skeleton_passes_check(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path))
    for kind in ("generate", "choice"):
        folder = new_task(f"my_{kind}", kind, tmp_path)
        assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
            "README.md",
            f"my_{kind}.yaml",
            "test.jsonl",
            "train.jsonl",
            "validation.jsonl",
        ]
        assert check_task(f"my_{kind}").ok
        # a completion-style prompt, declared plain: every model continues its "Answer:" cue (issue 36)
        from harness.tasks import task_config

        path, doc = discover()[f"my_{kind}"]
        assert task_config(f"my_{kind}", path, doc).prompt_format == "plain"
        assert "harness task preview" in (folder / f"my_{kind}.yaml").read_text()
    with pytest.raises(HarnessError, match="already exists"):
        new_task("my_generate", "generate", tmp_path)
    with pytest.raises(HarnessError, match="lower-case"):
        new_task("My-Task", "generate", tmp_path)


def test_discovered_tasks_become_options_with_their_metadata():
    cfgs = {name: (path, doc) for name, (path, doc) in discover().items()}
    assert {
        "helpdesk_en",
        "helpdesk_zh",
        "ota_intent_en",
        "ota_intent_zh",
        "extract_format_en",
        "extract_format_zh",
        "general_en",
        "general_zh",
    } <= set(cfgs)
    from harness.tasks import task_config

    ota = task_config("ota_intent_zh", *cfgs["ota_intent_zh"])
    assert (ota.dir, ota.primary_metric, ota.language) == ("tasks/ota_intent", "joint_exact_match", "zh")


def test_load_task_reads_version_and_hashes_what_lm_eval_reads(tmp_path):
    t = load_task(TaskConfig(name="helpdesk_en", dir="tasks/helpdesk", primary_metric="contains"))
    assert t.version == "2.0" and t.output_type == "generate_until" and len(t.content_sha256) == 64
    assert t.metrics == ("contains", "exact_match", "handoff_accuracy")
    from harness.tasks import _hashed_files

    names = {p.name for p in _hashed_files(TASKS_DIR / "helpdesk")}
    assert {"helpdesk_en.yaml", "_helpdesk_base.yaml", "utils.py", "test.jsonl"} <= names
    assert not names & {"README.md", "generate.py", "facts.py"}  # docs and generators do not change results


def test_unknown_task_name_in_folder_is_a_clear_error():
    with pytest.raises(HarnessError, match="no YAML under .* defines `task: helpdsk_en`"):
        load_task(TaskConfig(name="helpdsk_en", dir="tasks/helpdesk", primary_metric="contains"))


def test_misspelt_primary_metric_is_caught_before_any_model_runs():
    with pytest.raises(HarnessError, match="primary_metric: unknown metric 'contain'. Did you mean 'contains'"):
        load_task(TaskConfig(name="helpdesk_en", dir="tasks/helpdesk", primary_metric="contain"))


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\nmetric_list:\n  - metric: [unclosed\n")
    with pytest.raises(HarnessError) as e:
        load_yaml(bad)
    assert f"{bad}:4:" in str(e.value) or f"{bad}:3:" in str(e.value)


# ---- metrics on hand-made cases ----

helpdesk = module("helpdesk")
ota = module("ota_intent")
extract = module("extract_format")


@pytest.mark.parametrize(
    ("in_scope", "answer", "output", "expected"),
    [
        (True, "22 days", "You get 22 days of paid leave.", (1, 0, 1)),
        (True, "22 days", "22 Days.", (1, 1, 1)),
        (True, "4357", "Call 43570.", (0, 0, 1)),  # a longer number is not the answer
        (True, "7:00 to 20:00", "It is open 7:00 to 20:00 on weekdays", (1, 0, 1)),
        (True, "3天", "连续病假超过13天", (0, 0, 1)),
        (True, "3天", "超过3天需要医生证明。", (1, 0, 1)),
        (
            True,
            "22 days",
            "I don't know. Please contact the People Desk at help@lumenharbor.example.",
            (0, 0, 0),
        ),
        (
            False,
            "I don't know. Please contact the People Desk at help@lumenharbor.example.",
            "I don't know. Please contact the People Desk at help@lumenharbor.example.",
            (1, 1, 1),
        ),
        (False, "我不知道，请联系员工服务台 help@lumenharbor.example。", "我不知道。", (1, 0, 1)),
        (
            False,
            "I don't know. Please contact the People Desk at help@lumenharbor.example.",
            "The dentist is Acme.",
            (0, 0, 0),
        ),
    ],
)
def test_helpdesk_metrics(in_scope, answer, output, expected):
    got = helpdesk.process_results({"in_scope": in_scope, "answer": answer}, [output])
    assert (got["contains"], got["exact_match"], got["handoff_accuracy"]) == expected


OTA_REF = json.dumps(
    {
        "intents": ["ask_price", "book_hotel"],
        "slots": {
            "budget": 150,
            "check_in": "2026-03-10",
            "check_out": "2026-03-12",
            "city": "Paris",
            "guests": 2,
            "hotel": None,
        },
    }
)


def test_ota_metrics_by_hand():
    assert ota.score(OTA_REF, OTA_REF) == {
        "json_valid": 1.0,
        "intent_f1": 1.0,
        "slot_f1": 1.0,
        "joint_exact_match": 1.0,
    }
    # one of two intents; slots budget/check_in/city right, guests wrong, check_out missing:
    # intent F1 = 2*1/(1+2) = 2/3; slot pairs: pred 4, gold 5, tp 3 -> 2*3/9 = 2/3
    out = 'Sure! ```json {"intents": ["book_hotel"], "slots": {"budget": "150", "check_in": "2026-03-10", "city": "paris", "guests": 3}} ```'
    got = ota.score(out, OTA_REF)
    assert got["json_valid"] == 1.0 and got["joint_exact_match"] == 0.0
    assert got["intent_f1"] == pytest.approx(2 / 3) and got["slot_f1"] == pytest.approx(2 / 3)
    assert ota.score('{"intents": "book_hotel"}', OTA_REF)["json_valid"] == 0.0
    assert ota.score("no json here", OTA_REF) == {
        "json_valid": 0.0,
        "intent_f1": 0.0,
        "slot_f1": 0.0,
        "joint_exact_match": 0.0,
    }


EX_REF = json.dumps(
    {
        "amount": 12.5,
        "currency": "EUR",
        "customer": "Anna Weber",
        "date": None,
        "doc_type": "email",
        "order_id": "LH-12345",
        "priority": "high",
    }
)


def test_extract_metrics_by_hand():
    assert extract.score(EX_REF, EX_REF) == {
        "schema_valid": 1.0,
        "field_accuracy": 1.0,
        "record_exact_match": 1.0,
    }
    wrong_enum = EX_REF.replace('"high"', '"urgent"')  # 6 of 7 fields right, and off-schema
    assert extract.score(wrong_enum, EX_REF) == {
        "schema_valid": 0.0,
        "field_accuracy": 6 / 7,
        "record_exact_match": 0.0,
    }
    partial = '{"amount": 12.50, "customer": "Anna Weber"}'  # amount, customer, and date (absent = null) match
    assert extract.score(partial, EX_REF)["field_accuracy"] == pytest.approx(3 / 7)
    assert extract.score('{"amount": true}', EX_REF)["field_accuracy"] == pytest.approx(1 / 7)  # True is not 12.5
