"""`harness task new NAME`: write a working task folder (YAML + three data splits + data card) to edit.

The skeleton passes `harness task check` and runs as it is, so a new user starts from something that works and
changes it one step at a time. Only lm-eval's built-in metrics are used: a new task needs no Python.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import IN_CHECKOUT, REPO_ROOT, TASKS_DIR
from harness.tasks import discover

KINDS = ("generate", "choice")

GENERATE_ROWS = {
    "train": [
        ("What colour is the sky on a clear day?", "blue"),
        ("How many days are in a week?", "7"),
        ("What is the opposite of hot?", "cold"),
    ],
    "validation": [
        ("What do bees make?", "honey"),
        ("How many legs does a cat have?", "4"),
        ("What is frozen water called?", "ice"),
    ],
    "test": [
        ("Which planet do we live on?", "Earth"),
        ("How many hours are in a day?", "24"),
        ("What colour is grass?", "green"),
    ],
}
CHOICE_ROWS = {
    "train": [
        ("Which animal barks?", ["dog", "cat", "fish", "bird"], 0),
        ("Which is a fruit?", ["stone", "apple", "chair", "shoe"], 1),
        ("Which one is a colour?", ["table", "run", "red", "seven"], 2),
    ],
    "validation": [
        ("Which of these can fly?", ["rock", "bird", "car", "tree"], 1),
        ("What do you drink?", ["water", "sand", "paper", "iron"], 0),
        ("Which is a number?", ["blue", "dog", "five", "fast"], 2),
    ],
    "test": [
        ("Which is the largest?", ["ant", "mouse", "elephant", "cat"], 2),
        ("What do you wear on your feet?", ["hat", "shoes", "gloves", "scarf"], 1),
        ("Which season is the coldest?", ["winter", "summer", "spring", "autumn"], 0),
    ],
}


# Why the skeleton's prompt is sent as plain text (its prompt_format), per kind.
PROMPT_NOTES = {
    "generate": """# The prompt, completion-style: it ends with a cue ("Answer:") that the model continues. Sent as plain text
# (prompt_format: plain below), every model, base or chat, continues the cue, and the rows of one task compare.
# Inside a chat turn (prompt_format: chat, or a chat model's default with `model`) the cue is part of the user's
# message, and a small chat model answers with a sentence, which exact match scores as wrong; a prompt for a chat
# turn asks the question and says what shape the answer takes.
""",
    "choice": """# The prompt: each option is scored by its log-likelihood right after it ("Answer: dog"). Sent as plain text
# (prompt_format: plain below), every model, base or chat, scores the options as a continuation of the cue; in a
# chat turn (prompt_format: chat) they are scored as the start of the assistant's reply instead.
""",
}


def _yaml(name: str, kind: str, data_prefix: str) -> str:
    files = "\n".join(f"    {s}: {data_prefix}/{s}.jsonl" for s in ("train", "validation", "test"))
    head = f"""# {name}: describe what this task measures in one line.
#   harness task check {name}        # validate the data
#   harness task={name} sweep=smoke  # run it on the smallest model
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:  # lm-eval resolves these against the working directory (the harness runs it from the repository root)
{files}
training_split: train
validation_split: validation
test_split: test
{PROMPT_NOTES[kind]}# See it as a model gets it: `harness task preview {name}` (add eval.apply_chat_template=true for a chat turn).
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
"""
    if kind == "generate":
        body = """output_type: generate_until
doc_to_target: "{{answer}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 32
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
"""
        primary, leak = "exact_match", "question"
    else:
        body = """output_type: multiple_choice
doc_to_choice: "{{choices}}"
doc_to_target: "{{label}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""
        primary, leak = "acc", "question"
    meta = f"""metadata:
  version: 1.0
  harness:
    primary_metric: {primary}
    description: One sentence a decision-maker understands.
    language: en
    leakage_field: {leak}  # checked: no validation/test {leak} may repeat or nearly repeat a train {leak}
    # plain (the text as it is), chat (a chat turn: the chat template) or model (each model's own default)
    prompt_format: plain
"""
    if kind == "generate":  # the shape every answer should have, in full; off-shape answers are flagged
        meta += "    # answer_pattern: '[^\\n]{1,40}'\n"
    return head + body + meta


CARD = """# {name}

**What it measures and why it matters.** (Replace: who asks these questions, what a right answer is worth.)

| | |
|---|---|
| Splits | train / validation / test (`data/`) |
| Language | en |
| Metric | `{primary}` |

**Known limits.** (Replace: what this task does not cover.)

## Measured scores
Filled in from stored results by `harness task card {name}`.
"""


def default_parent() -> Path:
    """Where `harness task new` writes without --dir: the checkout's tasks/ when the harness runs from one, else
    ./tasks in the working directory (an installed package's own tasks/ lies in site-packages, which is neither
    the user's to edit nor kept across upgrades). Tasks there are found once HARNESS_TASKS_PATH names the folder."""
    return TASKS_DIR if IN_CHECKOUT else Path.cwd() / "tasks"


def new_task(name: str, kind: str = "generate", where: Path | None = None) -> Path:
    """Write the skeleton of task `name` into `where`/name (default: default_parent()). Data paths in its YAML are
    relative to REPO_ROOT inside the checkout, absolute elsewhere (lm-eval reads them from REPO_ROOT)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise HarnessError(f"task name {name!r}: use lower-case letters, digits and _ (it becomes `task={name}`).")
    if kind not in KINDS:
        raise HarnessError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}.")
    from harness.paths import CONF_DIR

    if name in discover() or (CONF_DIR / "task" / f"{name}.yaml").exists() or name == "none":
        # a name of lm-eval's own benchmarks (conf/task/) would be checked here but another task would run
        raise HarnessError(f"a task named {name!r} already exists; pick another name.")
    folder = (where or default_parent()).resolve() / name
    if folder.exists():
        raise HarnessError(f"{folder} already exists; pick another name or remove it.")
    data = folder / "data"
    data.mkdir(parents=True)
    inside = folder.is_relative_to(REPO_ROOT)
    prefix = data.relative_to(REPO_ROOT).as_posix() if inside else data.as_posix()
    (folder / f"{name}.yaml").write_text(_yaml(name, kind, prefix), encoding="utf-8")
    rows = GENERATE_ROWS if kind == "generate" else CHOICE_ROWS
    for split, items in rows.items():
        with (data / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for i, item in enumerate(items):
                row = (
                    {"id": f"{split}-{i}", "question": item[0], "answer": item[1]}
                    if kind == "generate"
                    else {"id": f"{split}-{i}", "question": item[0], "choices": item[1], "label": item[2]}
                )
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    primary = "exact_match" if kind == "generate" else "acc"
    (folder / "README.md").write_text(CARD.format(name=name, primary=primary), encoding="utf-8")
    return folder
