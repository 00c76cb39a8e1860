"""A completion-style task on the chat-template model (issue 36): SmolLM2-135M-Instruct answers "City:" with a
sentence when the prompt goes inside a chat turn, and with the city when it goes as text.

`harness task preview` shows the wrapped prompt and the sentence-shaped answers; the run flags the row for answer
shape (record, summary line, report); with `metadata.harness.prompt_format: plain` the same task's scores equal
raw `lm_eval` without `--apply_chat_template` on the same prepared folder, item by item, and with `chat` they equal
raw `lm_eval` with it. Everything runs through the `harness` command and the `lm_eval` command, as a task author
would."""

from __future__ import annotations

import html
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from harness.store import Store
from tests.support.run import run_harness

ROWS = [
    ("Please ship the replacement laptop to our office in Dublin by Friday.", "Dublin"),
    ("The conference next month will be held in Lisbon, can you book a room?", "Lisbon"),
    ("Our warehouse in Rotterdam has not received the pallets yet.", "Rotterdam"),
    ("I am flying to Toronto on Monday and need the invoice before then.", "Toronto"),
    ("Send two technicians to the branch in Nairobi to fix the router.", "Nairobi"),
    ("Deliver the printer cartridges to the school in Melbourne.", "Melbourne"),
]

TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Extract the city named in the request. Answer with the city name only.\\nRequest: {{{{request}}}}\\nCity:"
doc_to_target: "{{{{city}}}}"
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  max_gen_toks: 24
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    regexes_to_ignore: ["^\\\\s+", "\\\\s+$", "\\\\.$"]
metadata:
  version: 1
  harness:
    primary_metric: exact_match
{format}"""


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """Two tasks on the same items: `city_chat` declares chat, `city_plain` plain."""
    root = tmp_path_factory.mktemp("tasks")
    folder = root / "city"
    (folder / "data").mkdir(parents=True)
    data = folder / "data" / "test.jsonl"
    data.write_text(
        "".join(json.dumps({"id": f"c{i}", "request": r, "city": c}) + "\n" for i, (r, c) in enumerate(ROWS))
    )
    for name, fmt in (("city_chat", "chat"), ("city_plain", "plain")):
        text = TASK.format(name=name, data=data, format=f"    prompt_format: {fmt}\n")
        (folder / f"{name}.yaml").write_text(text)
    return {"HARNESS_TASKS_PATH": str(root)}


def _run(task: str, env: dict[str, str], results: Path) -> tuple[subprocess.CompletedProcess, dict, list[dict]]:
    reports = f"paths.reports={results.parent / 'reports'}"
    ran = run_harness("sweep=smoke", f"task={task}", f"paths.results={results}", reports, env=env)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    store = Store(results)
    [record] = [r for r in store.all_records() if r["task"]["name"] == task]
    return ran, record, store.load_samples(record["cell_id"])


def _raw_lm_eval(record: dict, out: Path, env: dict[str, str]) -> dict[int, tuple[str, float]]:
    """The record's own reproducing command (lm_eval's CLI, the prepared folder): each item's answer and score."""
    cmd = shlex.split(record["eval"]["lm_eval_cli"]) + ["--output_path", str(out), "--log_samples"]
    cmd[0] = str(Path(sys.executable).with_name("lm_eval"))
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert p.returncode == 0, p.stderr[-3000:]
    task = record["task"]["name"]
    rows = [json.loads(line) for line in next(out.rglob(f"samples_{task}_*.jsonl")).open()]
    return {s["doc_id"]: (s["filtered_resps"][0], s["exact_match"]) for s in rows}


def test_preview_shows_the_wrapped_prompt_and_the_sentence_answers(tasks):
    shown = run_harness("task", "preview", "city_chat", "model=smollm2-135m", "n=2", env=tasks)
    assert shown.returncode == 0, shown.stderr[-3000:]
    out = shown.stdout
    assert "prompt format: chat turn: the prompt goes through the model's chat template" in out
    assert "decided by the task's metadata.harness.prompt_format: chat" in out
    assert 'stop sequences: "\\n"' in out
    # the prompt as SmolLM2 receives it: its chat template around the task's text, the "City:" cue inside the turn
    assert "    <|im_start|>user\n    Extract the city named in the request." in out
    assert "    City:<|im_end|>\n    <|im_start|>assistant" in out
    answers = [
        json.loads(line.split("answer: ", 1)[1].split("   <-")[0]) for line in out.splitlines() if "answer: " in line
    ]
    assert len(answers) == 2 and all(len(a.split()) >= 4 for a in answers), answers  # sentences, not a city
    assert out.count("<- off shape") == 2
    assert (
        "ANSWER SHAPE: 2 of 2 answers (100%) are not in the task's answer shape (longer than 26 characters)" in out
    )  # Dublin, Lisbon: max(12, 26)
    assert "eval.apply_chat_template=false" in out and "(a preview: nothing was stored)" in out


def test_chat_and_plain_equal_raw_lm_eval_with_and_without_the_chat_template(tasks, tmp_path):
    chat_run, chat, chat_samples = _run("city_chat", tasks, tmp_path / "results")
    plain_run, plain, plain_samples = _run("city_plain", tasks, tmp_path / "results")

    assert (chat["eval"]["prompt_format"], chat["eval"]["prompt_format_from"]) == ("chat", "task")
    assert (plain["eval"]["prompt_format"], plain["eval"]["prompt_format_from"]) == ("plain", "task")
    assert chat["eval"]["apply_chat_template"] is True and plain["eval"]["apply_chat_template"] is False
    assert "--apply_chat_template" in chat["eval"]["lm_eval_cli"]
    assert "--apply_chat_template" not in plain["eval"]["lm_eval_cli"]

    # item by item: the harness's answers and scores are raw lm-eval's, with and without the chat template
    for record, samples in ((chat, chat_samples), (plain, plain_samples)):
        raw = _raw_lm_eval(record, tmp_path / record["task"]["name"], tasks)
        assert raw == {s["doc_id"]: (s["output"], s["scores"]["exact_match"]) for s in samples}
        assert record["metrics"]["exact_match"]["value"] == pytest.approx(sum(v for _, v in raw.values()) / len(raw))

    # the format decides the score: the cities as text, sentences in a chat turn
    assert plain["metrics"]["exact_match"]["value"] >= 5 / 6
    assert chat["metrics"]["exact_match"]["value"] <= 1 / 6

    # the chat row is flagged for answer shape, in its record and in the run's summary line; the plain row is not
    shape = chat["eval"]["answer_shape"]
    assert (shape["n"], shape["longest_reference_chars"], shape["max_chars"]) == (6, 9, 29)
    assert shape["off_shape"] == sum(len(s["output"].strip()) > 29 for s in chat_samples) >= 5 and shape["flagged"]
    assert plain["eval"]["answer_shape"]["off_shape"] == 0 and not plain["eval"]["answer_shape"]["flagged"]
    assert "ANSWER SHAPE: smollm2-135m x city_chat:" in chat_run.stdout
    assert "see `harness task preview city_chat model=smollm2-135m`" in chat_run.stdout
    assert "ANSWER SHAPE" not in plain_run.stdout

    # the report: the Prompt column says which format each row used, the chat row's score carries the flag
    chat_page, plain_page = (
        html.unescape(next((tmp_path / "reports").glob(f"*task={t}*/index.html")).read_text())
        for t in ("city_chat", "city_plain")
    )
    assert "are not in the shape the task's answers have" in chat_page
    assert "See the prompts as the model got them: harness task preview city_chat model=smollm2-135m" in chat_page
    assert "not in the shape" not in plain_page
    assert '"chat turn"' in chat_page and '"plain text"' in plain_page  # the Prompt column's cells


def test_preview_of_an_api_baseline_shows_its_chat_messages_and_its_meter(tasks, tmp_path):
    """The stand-in API (transformers serve, the real openai client): the preview sends through the response
    cache and the meter, so a second preview answers from the cache and pays nothing."""
    args = ["task", "preview", "city_chat", "baseline=local-smollm2", "n=2", f"paths.results={tmp_path}"]
    first = run_harness(*args, env=tasks)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "prompt format: chat turn: the prompt goes as chat messages" in first.stdout
    assert "    [user] Extract the city named in the request." in first.stdout  # the messages, not a template
    assert "API: 2 request(s), 0 from the response cache, 0 failed;" in first.stdout
    again = run_harness(*args, env=tasks)
    assert "API: 2 request(s), 2 from the response cache, 0 failed;" in again.stdout
    assert "0.000000 USD billed" in again.stdout
    assert not (tmp_path / "records").exists()  # a preview is not a measurement: nothing stored
