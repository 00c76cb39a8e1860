"""How a prompt is sent (issue 36): the task's metadata.harness.prompt_format, a run's eval.apply_chat_template and
the model's own default, in that order of precedence (harness/plan/cells.py prompt_choice); the choice in the cell
id; a bad declaration named file:line; answers in the wrong shape counted by hand (harness/compare/shape.py)."""

from __future__ import annotations

import pytest

from harness.compare.shape import answer_shape
from harness.config.schema import EvalConfig, ModelConfig, TaskConfig
from harness.errors import HarnessError
from harness.plan.cells import prompt_choice
from harness.tasks.parse import load_task_doc
from tests.support.run import compose_cfg


def _task(fmt: str) -> TaskConfig:
    return TaskConfig(name="t", dir="tasks/t", primary_metric="exact_match", prompt_format=fmt)


def _model(fmt: str) -> ModelConfig:
    m = ModelConfig()
    m.prompt_format = fmt
    return m


@pytest.mark.parametrize(
    ("model", "run", "task", "want"),
    [
        ("chat_template", "auto", "model", (True, "model")),  # a chat model's default: its template
        ("chat_template", "auto", "plain", (False, "task")),
        ("chat_template", "auto", "chat", (True, "task")),
        ("chat_template", "false", "chat", (False, "run")),  # the run overrides the task
        ("chat_template", False, "chat", (False, "run")),  # `=false` on the command line arrives as a bool
        ("chatml", "true", "plain", (True, "run")),
        ("plain", "auto", "chat", (False, "model")),  # no chat format to apply: a task cannot ask for one
        ("plain", "true", "model", (True, "run")),  # the run can: its tokenizer's own template, if it has one
        (None, "auto", "model", (True, "model")),  # a chat API: messages
        (None, "auto", "plain", (False, "task")),  # the rendered text as one user message
    ],
)
def test_who_decides_the_prompt_format(model, run, task, want):
    ev = EvalConfig(apply_chat_template=run)
    assert prompt_choice(None if model is None else _model(model), ev, _task(task)) == want


def test_the_format_used_is_in_the_cell_id_and_chat_ids_do_not_move():
    from harness.plan.cells import plan_baseline, plan_cell

    base = ["model=smollm2-135m", "task=helpdesk_en", "finetune=none"]
    chat, plain = (plan_cell(compose_cfg([*base, f"eval.apply_chat_template={v}"])) for v in ("true", "false"))
    auto = plan_cell(compose_cfg(base))
    assert auto.id == chat.id != plain.id and plain.identity["eval"]["apply_chat_template"] is False
    assert (plain.apply_chat_template, plain.prompt_decided_by) == (False, "run")
    api = ["baseline=local-smollm2", "task=helpdesk_en"]
    b_auto, b_plain = (plan_baseline(compose_cfg([*api, *x])) for x in ([], ["eval.apply_chat_template=false"]))
    # a chat baseline's identity has no such key, as before the option; a plain one says so
    assert "apply_chat_template" not in b_auto.identity["eval"] and b_auto.apply_chat_template is True
    assert b_auto.id == "dd5210c505aabfcd4b33"  # its id before prompt formats existed (as test_plan pins a local one)
    assert b_plain.identity["eval"]["apply_chat_template"] is False and b_plain.id != b_auto.id


def test_a_bad_prompt_format_or_answer_pattern_is_named_file_and_line(tmp_path):
    path = tmp_path / "t.yaml"
    body = "task: t\ndataset_path: json\nmetadata:\n  harness:\n    primary_metric: exact_match\n"
    path.write_text(body + "    prompt_format: chatty\n")
    with pytest.raises(HarnessError) as e:
        load_task_doc(path)
    assert str(e.value).startswith(f"{path}:6: `metadata.harness.prompt_format: chatty` must be chat")
    path.write_text(body + "    answer_pattern: '[a-z'\n")
    with pytest.raises(HarnessError, match=rf"{path}:6: `metadata.harness.answer_pattern` is not a regular"):
        load_task_doc(path)


def test_answer_shape_by_hand():
    rows = [
        {"doc_id": 0, "reference": "Dublin", "output": " Dublin"},
        {"doc_id": 1, "reference": ["Rio de Janeiro", "Rio"], "output": "Rio de Janeiro"},
        # 14 characters is the longest reference: max(2 x 14, 14 + 20) = 34 characters at most
        {"doc_id": 2, "reference": "Lisbon", "output": "The city you are referring to is Lisbon."},  # 40
        {"doc_id": 3, "reference": "Osaka", "output": "x" * 34},  # exactly the limit: in shape
    ]
    s = answer_shape(rows, "generate_until", None)
    assert (s["longest_reference_chars"], s["max_chars"], s["off_shape"], s["too_long"]) == (14, 34, 1, 1)
    assert s["share"] == 0.25 and not s["flagged"]  # flagged above a quarter, not at it
    assert s["pattern_failed"] is None and s["examples"] == [{"doc_id": 2, "answer": rows[2]["output"]}]
    # the task's own pattern, capitalised words only: doc 2 (its full stop) and doc 3 fail it, 2 and 3 are off
    p = answer_shape(rows, "generate_until", r"[A-Z][a-z]+( [a-z]+)*( [A-Z][a-z]+)*")
    assert (p["pattern_failed"], p["off_shape"], p["share"], p["flagged"]) == (2, 2, 0.5, True)
    assert answer_shape(rows, "multiple_choice", None) is None and answer_shape([], "generate_until", None) is None
    # `contains` looks for the reference inside the answer: a sentence is its shape, only a pattern can say no
    assert answer_shape(rows, "generate_until", None, "contains") is None
    c = answer_shape(rows, "generate_until", r"[A-Z][a-z]+( [a-z]+)*( [A-Z][a-z]+)*", "contains")
    assert (c["max_chars"], c["too_long"], c["pattern_failed"], c["off_shape"]) == (None, 0, 2, 2)


def test_the_report_names_each_rows_format_and_flags_off_shape_answers():
    """The Prompt column, the note on the scores of a task whose rows were prompted differently, and the note on
    an off-shape row's score with the preview command (harness/report/compact.py)."""
    from harness.report.compact import columns, table_data
    from harness.report.table import leaderboard
    from tests.support.records import make_record

    chat = make_record("a" * 20, model="m-chat", metric="exact_match").to_json()
    chat["eval"].update(prompt_format="chat", prompt_format_from="model")
    chat["eval"]["answer_shape"] = {
        "n": 50, "off_shape": 40, "share": 0.8, "flagged": True,
        "examples": [{"doc_id": 0, "answer": "The city you are referring to is Lisbon."}],
    }  # fmt: skip
    plain = make_record("b" * 20, model="m-base", metric="exact_match").to_json()
    plain["eval"].update(prompt_format="plain", prompt_format_from="model", answer_shape=None)
    rows = leaderboard([chat, plain]).to_dict("records")
    by_model = {r["model_key"]: r for r in rows}
    assert by_model["m-chat"]["off_shape_flagged"] and by_model["m-chat"]["off_shape_share"] == 0.8
    assert not by_model["m-base"]["off_shape_flagged"] and by_model["m-base"]["prompt_format"] == "plain"
    data = table_data(rows, False, False)
    keys = [c["key"] for c in columns(False, False)]
    cells = {r["c"][keys.index("model")][0] if isinstance(r["c"][keys.index("model")], list) else r["c"][keys.index("model")]: r["c"] for r in data["rows"]}  # fmt: skip
    notes = {n["n"]: n["text"] for n in data["notes"]}
    assert (
        cells["m-chat"][keys.index("prompt")] == "chat turn" and cells["m-base"][keys.index("prompt")] == "plain text"
    )
    chat_notes = [notes[i] for i in cells["m-chat"][keys.index("score")][2]]
    base_notes = [notes[i] for i in cells["m-base"][keys.index("score")][2]]
    assert any(t.startswith("Rows of this task were prompted in different formats") for t in base_notes)
    [shape_note] = [t for t in chat_notes if "not in the shape" in t]
    assert shape_note == (
        "40 of 50 answers (80%) are not in the shape the task's answers have (e.g. \"The city you are referring to "
        "is Lisbon.\"): the score may measure the prompt's format, not the model. See the prompts as the model got "
        "them: harness task preview helpdesk model=m-chat"
    )


def test_one_fine_tune_is_one_artifact_whichever_task_it_is_scored_on(tmp_path, monkeypatch):
    """Training prompts follow the task trained on (here declared plain), not the task evaluated: LoRA on my_gen
    scored on my_gen and on general_en (forgetting) is the same artifact, trained on plain prompts, while
    general_en itself is prompted in SmolLM2's chat turn."""
    from hydra.core.config_store import ConfigStore

    from harness.app.register import register_configs
    from harness.plan.cells import plan_cell
    from harness.tasks.new import new_task

    monkeypatch.setenv("HARNESS_TASKS_PATH", str(tmp_path))
    new_task("my_gen", "generate", tmp_path)
    register_configs()
    try:
        lora = ["model=smollm2-135m", "finetune=lora", "finetune.train_task=my_gen"]
        own, general = (plan_cell(compose_cfg([*lora, f"task={t}"])) for t in ("my_gen", "general_en"))
    finally:
        ConfigStore.instance().repo["task"].pop("my_gen.yaml", None)
    assert own.train.identity() == general.train.identity() and own.train.chat_template is False
    assert (own.apply_chat_template, general.apply_chat_template) == (False, True)
    assert own.identity["finetune"]["artifact"] == general.identity["finetune"]["artifact"]


def test_a_bad_prompt_format_or_pattern_on_the_command_line_is_refused_before_anything_runs():
    from harness.app.validate import value_problems

    cfg = compose_cfg(["task=helpdesk_en", "task.prompt_format=chatt", "task.answer_pattern='(a'"])
    problems = value_problems(cfg)
    assert problems == [
        "task.prompt_format=chatt: unknown format 'chatt'. Did you mean 'chat'? Known: chat, model, plain.",
        "task.answer_pattern=(a: not a regular expression (missing ), unterminated subpattern at position 0)",
    ]


def test_answer_shape_reads_numbers_as_text_and_leaves_failed_requests_out():
    rows = [
        {"doc_id": 0, "reference": 24, "output": "24"},
        {"doc_id": 1, "reference": [7, "seven"], "output": "The answer is seven, of course, my friend."},  # 42 > 25
        {"doc_id": 2, "reference": "5", "output": "", "api": {"error": "HTTP 500"}},  # not answered: left out
    ]
    s = answer_shape(rows, "generate_until", None)
    assert (s["n"], s["longest_reference_chars"], s["max_chars"], s["off_shape"]) == (2, 5, 25, 1)
