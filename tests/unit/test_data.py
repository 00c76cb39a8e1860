"""The data stage on hand-made cases: parsing teacher replies, each filter, counts, label noise, train_data.

The served end-to-end path (a real teacher, fine-tuning on its set, a re-run that pays nothing) is in
test_data_served.py."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.config.schema import DataConfig, FinetuneConfig
from harness.data import filters as F
from harness.data.sets import DataSource, find_set, parse_train_data, resolve_sources
from harness.errors import HarnessError
from harness.finetune.data import shares_to_counts
from harness.finetune.noise import corrupt
from harness.jobs.synth import parse_reply, request_bodies

KEYS = ["answer", "context", "question"]


def test_a_reply_becomes_a_row_only_when_it_is_one_json_object_with_every_key():
    good = (
        '```json\n{"context": "1. Badges at reception.", "question": "Where are badges?", "answer": "reception"}\n```'
    )
    row, why = parse_reply(good, KEYS, "answer", False)
    assert row == {
        "context": "1. Badges at reception.",
        "question": "Where are badges?",
        "answer": "reception",
    }
    assert why == ""
    assert parse_reply("no json here", KEYS, "answer", False) == (None, "no JSON object in the reply")
    assert parse_reply('{"context": "a", "question": "b"}', KEYS, "answer", False)[1] == "missing key(s) answer"
    dup = '{"context": "a", "question": "b", "answer": "c", "answer": "d"}'
    assert parse_reply(dup, KEYS, "answer", False)[1].startswith("not valid JSON (the key 'answer' appears twice")
    nested = '{"context": {"question": "x"}, "question": "b", "answer": "c"}'
    assert parse_reply(nested, KEYS, "answer", False) == (None, "`context` is dict, not text")
    # a JSON task's answer written as an object is stored as its JSON text, key order kept
    row, _ = parse_reply('{"text": "Order LH-1", "answer": {"b": 1, "a": null}}', ["answer", "text"], "answer", True)
    assert row == {"text": "Order LH-1", "answer": '{"b": 1, "a": null}'}


def test_each_request_shows_its_own_seed_draw_and_the_task_prompt():
    seeds = [{"id": str(i), "question": f"q{i}", "answer": f"a{i}"} for i in range(6)]
    d = DataConfig(n=4, seeds=6, shots=2, temperature=0.5, max_tokens=99)
    bodies = request_bodies(
        "P:{instruction}|{shots}|{examples}|{keys}",
        "Q: {{question}}",
        seeds,
        ["answer", "question"],
        "answer",
        False,
        d,
    )
    texts = [b["messages"][0]["content"] for b in bodies]
    assert all(t.startswith("P:Q: {{question}}|2|") and t.endswith("|answer, question") for t in texts)
    assert len(set(texts)) > 1  # different draws
    shown = texts[0].split("|")[2].splitlines()
    assert len(shown) == 2 and all(json.loads(s)["question"] in {f"q{i}" for i in range(6)} for s in shown)
    assert bodies[0]["temperature"] == 0.5 and bodies[0]["max_tokens"] == 99
    assert request_bodies("{examples}", "", seeds, ["answer", "question"], "answer", False, d)[2] == bodies[2] | {
        "messages": [{"role": "user", "content": texts[2].split("|")[2]}]
    }  # the same seed gives the same draw


def _ctx(**kw) -> F.Context:
    base = dict(
        key_field="question",
        fields=KEYS,
        target="answer",
        train=[{"question": "How many monitors may I order?", "answer": "2", "context": "c"}],
        held_out=[{"question": "When is the nightly laptop backup?", "answer": "1:00", "context": "c"}],
    )
    return F.Context(**{**base, **kw})


def _cand(i: int, question: str, answer: str = "x", context: str = "c") -> F.Candidate:
    return F.Candidate(i, {"id": f"s{i}", "question": question, "answer": answer, "context": context})


def test_filters_remove_leaks_duplicates_bad_formats_and_lengths_and_the_counts_add_up():
    ctx = _ctx()
    ctx.length = F.length_bounds(ctx, None, None)
    # by hand: train input "How many monitors may I order?" is 30 chars, its answer "2" is 1 char
    assert ctx.length == {"input": (15, 60), "answer": (0, 2)}
    cands = [
        _cand(0, "When is the nightly laptop backup?"),  # a test item exactly (case and spaces aside)
        _cand(1, "When is the nightly laptop backup ?"),  # near-duplicate of it
        _cand(2, "How many monitors may I order?"),  # a train item exactly
        _cand(3, "Which room holds the first-aid kits?", answer=""),  # empty answer
        _cand(4, "Which room holds the first-aid kits?"),  # kept
        _cand(5, "Which room holds the first-aid kits!"),  # near-duplicate of 4
        _cand(6, "Short?"),  # input of 6 characters, below 15
        _cand(7, "Who approves overtime for the night shift?", answer="team"),  # answer of 4 characters, above 2
    ]
    counts = F.apply(cands, ["format", "dedup", "length"], ctx)
    assert counts == {"leakage": 2, "format": 1, "dedup": 2, "length": 2}
    assert [c.removed_by for c in cands] == ["leakage", "leakage", "dedup", "format", None, "dedup", "length", "length"]
    assert cands[0].reason == "repeats a validation/test item exactly"
    assert cands[1].reason.startswith("near-duplicate (0.") and "validation/test" in cands[1].reason
    assert cands[5].reason == "duplicate of an earlier synthetic example"
    assert cands[7].reason == "answer has 4 characters, outside [0, 2]"
    assert sum(counts.values()) + sum(c.removed_by is None for c in cands) == len(cands)


def test_leakage_is_removed_even_with_no_filter_chosen():
    cands = [_cand(0, "When is the nightly laptop backup?"), _cand(1, "Where do I park my bike?")]
    assert F.apply(cands, [], _ctx()) == {"leakage": 1}
    assert cands[1].removed_by is None


def test_the_format_filter_checks_json_answers_against_the_task_schema():
    import jsonschema

    from harness.paths import TASKS_DIR

    schema = json.loads((TASKS_DIR / "extract_format" / "schema.json").read_text())
    ctx = _ctx(
        key_field="text",
        fields=["answer", "text"],
        reference_json=True,
        validator=jsonschema.Draft202012Validator(schema),
        train=[],
        held_out=[],
    )
    ok = {
        "amount": 12.5,
        "currency": "EUR",
        "customer": "Ann Lee",
        "date": None,
        "doc_type": "email",
        "order_id": "LH-12345",
        "priority": "normal",
    }
    cands = [
        F.Candidate(0, {"text": "t0", "answer": json.dumps(ok)}),
        F.Candidate(1, {"text": "t1", "answer": "{not json"}),
        F.Candidate(2, {"text": "t2", "answer": json.dumps({**ok, "currency": "GBP"})}),
    ]
    assert F.apply(cands, ["format"], ctx) == {"leakage": 0, "format": 2}
    assert cands[1].reason == "`answer` is not valid JSON"
    assert cands[2].reason.startswith("`answer` does not conform to the schema: 'GBP' is not one of")


def test_the_judge_filter_keeps_only_correct_verdicts():
    ctx = _ctx(judge=lambda cs: [(1, "CORRECT"), (0, "INCORRECT"), (None, "maybe")][: len(cs)])
    cands = [_cand(i, f"Question number {i} about parking?") for i in range(3)]
    assert F.apply(cands, ["judge"], ctx) == {"leakage": 0, "judge": 2}
    assert [c.reason for c in cands] == [
        None,
        "the judge graded it INCORRECT",
        "no verdict from the judge ('maybe')",
    ]


def test_label_noise_corrupts_the_stated_share_with_plausible_wrong_answers():
    docs = [{"q": f"q{i}", "answer": a} for i, a in enumerate(["10 days", "2", "Keystone", "25th", "FollowMe"] * 2)]
    out, kinds = corrupt(docs, "answer", 0.2, seed=7)
    changed = [i for i, (a, b) in enumerate(zip(docs, out, strict=True)) if a != b]
    assert len(changed) == 2 and kinds == Counter({"answer": 2})  # round(0.2 x 10)
    for i in changed:
        assert out[i]["answer"] != docs[i]["answer"]
        assert out[i]["answer"] in {"10 days", "2", "Keystone", "25th", "FollowMe"}  # another real answer
        assert out[i]["q"] == docs[i]["q"]
    assert docs[0]["answer"] == "10 days"  # the input list is untouched
    assert corrupt(docs, "answer", 0.2, seed=7) == (out, kinds)  # fixed by the seed
    assert corrupt(docs, "answer", 0.5, seed=7)[1] == Counter({"answer": 5})
    assert corrupt(docs, "answer", 0.0, seed=7) == (docs, Counter())


def test_label_noise_on_json_answers_changes_one_leaf_to_a_value_it_has_elsewhere():
    rows = [
        ({"intents": ["book_hotel"], "slots": {"city": "Paris", "guests": 2}}),
        ({"intents": ["ask_price", "book_hotel"], "slots": {"city": "Rome", "guests": 2}}),
        ({"intents": ["cancel_booking"], "slots": {"city": None, "guests": 3}}),
        ({"intents": ["book_hotel"], "slots": {"city": "Oslo", "guests": 1}}),
    ]
    docs = [{"message": f"m{i}", "answer": json.dumps(r)} for i, r in enumerate(rows)]
    out, kinds = corrupt(docs, "answer", 0.5, seed=3)
    assert sum(kinds.values()) == 2 and set(kinds) <= {
        "answer.intents",
        "answer.slots.city",
        "answer.slots.guests",
    }
    for before, after in zip(docs, out, strict=True):
        a, b = json.loads(before["answer"]), json.loads(after["answer"])
        diff = [k for k in ("intents",) if a[k] != b[k]] + [
            f"slots.{k}" for k in a["slots"] if a["slots"][k] != b["slots"][k]
        ]
        assert len(diff) in (0, 1)  # at most one leaf changed
        if diff:
            path = diff[0]
            new = b["intents"] if path == "intents" else b["slots"][path.split(".")[1]]
            seen = [r["intents"] for r in rows] if path == "intents" else [r["slots"][path.split(".")[1]] for r in rows]
            assert new in seen  # a value that leaf really takes in the data


def test_train_data_names_sources_with_shares_that_add_up():
    assert parse_train_data("task") == [("task", 1.0)]
    assert parse_train_data("task:1,3f9a1c2e:3") == [("task", 0.25), ("3f9a1c2e", 0.75)]
    for bad in ("", "task:0", "task:x", "task,task", ":1"):
        with pytest.raises(HarnessError, match="finetune.train_data"):
            parse_train_data(bad)
    assert shares_to_counts(64, [0.5, 0.5]) == [32, 32]
    assert shares_to_counts(10, [1 / 3, 1 / 3, 1 / 3]) == [4, 3, 3]
    assert sum(shares_to_counts(7, [0.25, 0.75])) == 7


def _store_set(root: Path, did: str, task: str, kept: int = 3, cost: float | None = 0.5) -> Path:
    folder = root / did
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"question": "q", "answer": "a", "context": "c"}\n')
    rec = {
        "dataset_id": did,
        "task": {"name": task},
        "counts": {"kept": kept},
        "teacher": {"name": "local-smollm2", "display_name": "SmolLM2", "stand_in": None},
        "cost": {"currency": "USD", "total": cost},
    }
    (folder / "dataset.json").write_text(json.dumps(rec))
    return folder


def test_a_data_set_is_found_by_id_or_unique_prefix_and_must_fit_the_task(tmp_path):
    _store_set(tmp_path, "3f9a1c2e5b0000000000", "helpdesk_en")
    _store_set(tmp_path, "3f9a1c77770000000000", "helpdesk_en")
    _store_set(tmp_path, "aaaaaa00000000000000", "ota_intent_en", kept=0)
    assert find_set(tmp_path, "3f9a1c2e").name == "3f9a1c2e5b0000000000"
    with pytest.raises(HarnessError, match="is a prefix of 2 data sets"):
        find_set(tmp_path, "3f9a1c")
    with pytest.raises(HarnessError, match="a prefix needs at least 6 characters"):
        find_set(tmp_path, "3f9a")
    (src,) = resolve_sources("3f9a1c2e", "helpdesk_en", tmp_path)
    assert src.kind == "synthetic" and src.share == 1.0 and src.cost == 0.5 and src.teacher == "local-smollm2"
    mix = resolve_sources("task:0.5,3f9a1c2e:0.5", "helpdesk_en", tmp_path)
    assert [s.kind for s in mix] == ["task", "synthetic"] and mix[0].identity() == {
        "source": "task",
        "share": 0.5,
    }
    assert resolve_sources("task", "helpdesk_en", tmp_path) == ()
    with pytest.raises(HarnessError, match="generated for task helpdesk_en, but this run trains on ota_intent_en"):
        resolve_sources("3f9a1c2e", "ota_intent_en", tmp_path)
    with pytest.raises(HarnessError, match="kept no examples"):
        resolve_sources("aaaaaa", "ota_intent_en", tmp_path)


def test_artifact_ids_change_with_the_data_and_stay_the_same_without_it():
    from harness.config.schema import ModelConfig, TaskConfig
    from harness.spec.finetune import TrainSpec
    from harness.tasks import load_task

    task = load_task(TaskConfig(name="helpdesk_en", dir="tasks/helpdesk", primary_metric="contains"))
    plain = TrainSpec(ModelConfig(name="m"), {"name": "m"}, FinetuneConfig(method="lora"), task, None, True)
    assert "sources" not in plain.identity()["data"] and "label_noise" not in plain.identity()["data"]
    noisy = TrainSpec(
        ModelConfig(name="m"), {"name": "m"}, FinetuneConfig(method="lora", label_noise=0.2), task, None, True
    )
    assert noisy.identity()["data"]["label_noise"] == 0.2
    src = DataSource("synthetic", 1.0, "3f9a", "/x/train.jsonl", "ab" * 32)
    synth = TrainSpec(ModelConfig(name="m"), {"name": "m"}, FinetuneConfig(method="lora"), task, None, True, (src,))
    assert synth.identity()["data"]["sources"] == [
        {"source": "synthetic", "dataset_id": "3f9a", "sha256": "ab" * 32, "share": 1.0}
    ]
    assert len({str(s.identity()) for s in (plain, noisy, synth)}) == 3


def test_bad_label_noise_and_filters_are_refused_with_the_key():
    from harness.config.schema import JudgeConfig
    from harness.jobs.synth import check_data_config
    from harness.spec.finetune import check_finetune

    with pytest.raises(HarnessError, match=r"finetune.label_noise=1.0: use a share in \[0, 1\)"):
        check_finetune(FinetuneConfig(method="lora", label_noise=1.0))
    with pytest.raises(HarnessError, match="data.filters: unknown"):
        check_data_config(DataConfig(filters=["fromat"]), JudgeConfig())
    with pytest.raises(HarnessError, match="data.filters has judge but no judge is set"):
        check_data_config(DataConfig(filters=["judge"]), JudgeConfig())
    with pytest.raises(HarnessError, match="data.shots=9 must be between 1 and data.seeds=4"):
        check_data_config(DataConfig(seeds=4, shots=9), JudgeConfig())


def test_the_data_command_says_what_is_wrong_in_one_line(tmp_path):
    from tests.support.run import run_harness

    store = f"paths.results={tmp_path}"
    r = run_harness("data", "synth", "task=helpdesk_en", store)
    assert r.returncode == 2 and "needs teacher=<a conf/baseline/ entry>" in r.stderr and "Traceback" not in r.stderr
    r = run_harness("data", "synth", "task=helpdesk_en", "teacher=local-smollm2", "data.mode=copy", store)
    assert r.returncode == 2 and "data.mode='copy': use new" in r.stderr
    r = run_harness("data", "synth", "task=helpdesk_en", "teacher=local-smolm2", store)
    assert r.returncode == 2 and "local-smollm2" in r.stderr  # did you mean
    r = run_harness("data", "synt")
    assert r.returncode == 2 and "synth" in r.stderr
    r = run_harness("data", "list", "--results", str(tmp_path))
    assert r.returncode == 0 and r.stdout == ""
    r = run_harness("finetune=lora", "task=helpdesk_en", "model=smollm2-135m", "finetune.train_data=feedbeef", store)
    assert r.returncode == 2 and "finetune.train_data: no data set 'feedbeef'" in r.stderr
    assert "Traceback" not in r.stderr
