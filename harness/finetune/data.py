"""Training examples from a task's train split, rendered exactly as evaluation renders the prompt.

The prompt comes from lm-eval's own Task object (doc_to_text, description, the model's chat template when
evaluation uses one), so a model is trained on the very strings it is later asked. The answer is the task's
doc_to_target (for multiple choice: the text of the right option), followed by what ends an answer at
evaluation: the chat template's end-of-turn token, or the task's first stop sequence for plain prompts.
Labels are -100 on prompt tokens: the loss is on answer tokens only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.tasks import TaskSpec

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    source: str  # task name (domain or replay)


def seeded_slice(docs: list[Any], n: int | None, seed: int) -> list[Any]:
    """First n of a fixed shuffle: n=100 is a subset of n=300, so the data-size axis is nested."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    picked = order if n is None else order[:n]
    return [docs[i] for i in picked]


def _target_text(task: Any, doc: Any) -> str:
    target = task.doc_to_target(doc)
    if task.OUTPUT_TYPE == "multiple_choice":
        choices = task.doc_to_choice(doc)
        return choices[target] if isinstance(target, int) else str(target)
    return target[0] if isinstance(target, list) else str(target)


def _stop(task: Any) -> str:
    until = (task.config.generation_kwargs or {}).get("until") or ["\n"]
    return until[0] if isinstance(until, list) else str(until)


def render(task: Any, doc: Any, tokenizer: Any, chat: bool) -> tuple[str, str]:
    """(prompt, answer) strings for one doc, as lm-eval would prompt it with zero shots."""

    def chat_fn(history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        # Same call as lm-eval's HFLM.apply_chat_template.
        return tokenizer.apply_chat_template(
            history,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt,
        )

    prompt = task.fewshot_context(doc, num_fewshot=0, apply_chat_template=chat, chat_template=chat_fn if chat else None)
    target = _target_text(task, doc)
    if chat:
        end = tokenizer.eos_token or ""
        return prompt, target + end
    return prompt, task.config.target_delimiter + target + (_stop(task) if task.OUTPUT_TYPE == "generate_until" else "")


def tokenize(prompt: str, answer: str, tokenizer: Any, chat: bool, max_length: int, source: str) -> Example:
    # The chat template already writes BOS where the model wants it; plain prompts get the tokenizer's default.
    p = tokenizer(prompt, add_special_tokens=not chat)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if len(a) >= max_length:
        a = a[: max_length // 2]
    p = p[-(max_length - len(a)) :]  # keep the end of a long prompt: the question sits there
    return Example(p + a, [IGNORE] * len(p) + a, source)


def load_task_object(spec: TaskSpec) -> Any:
    """The lm-eval Task for a project task folder (datasets are read relative to the repository root)."""
    import contextlib

    from lm_eval.tasks import TaskManager

    from harness.paths import REPO_ROOT

    if spec.dir is None:
        raise HarnessError(f"task {spec.name} ships with lm-eval; fine-tune on a project task with a train split.")
    with contextlib.chdir(REPO_ROOT):
        loaded = TaskManager(include_path=str(spec.dir), include_defaults=False).load([spec.name])
    return loaded["tasks"][spec.name]


def split_docs(task: Any, split: str) -> list[Any]:
    has = {"train": task.has_training_docs, "validation": task.has_validation_docs}[split]()
    if not has:
        raise HarnessError(
            f"task {task.config.task} has no {split} split; add `{split if split != 'train' else 'training'}_split:` "
            f"and its data file to the task YAML, or pick another finetune.train_task."
        )
    docs = task.training_docs() if split == "train" else task.validation_docs()
    return list(docs)


def build_examples(
    spec: TaskSpec,
    tokenizer: Any,
    chat: bool,
    n: int | None,
    seed: int,
    max_length: int,
    split: str = "train",
) -> list[Example]:
    task = load_task_object(spec)
    docs = seeded_slice(split_docs(task, split), n, seed)
    return [tokenize(*render(task, d, tokenizer, chat), tokenizer, chat, max_length, spec.name) for d in docs]


def _rows_of(source: Any, task: Any) -> list[Any]:
    """A generated set's rows, as lm-eval would hand them to the task's templates (process_docs applied)."""
    import json
    from pathlib import Path

    rows = [json.loads(line) for line in Path(source.path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if getattr(task.config, "process_docs", None) is not None:
        from datasets import Dataset

        rows = list(task.config.process_docs(Dataset.from_list(rows)))
    return rows


def shares_to_counts(total: int, shares: list[float]) -> list[int]:
    """Split `total` by `shares` (adding up to 1), largest remainders first: the counts add up to `total`."""
    raw = [total * s for s in shares]
    counts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))[: total - sum(counts)]:
        counts[i] += 1
    return counts


def domain_docs(spec: Any, task: Any, n: int | None, seed: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """The domain training docs of a TrainSpec (its own split, a generated set, or a mix by shares) and what was
    taken from each source. Each source's docs are the first k of its own fixed shuffle, so sizes nest."""
    if not spec.sources:
        docs = seeded_slice(split_docs(task, "train"), n, seed)
        return docs, [{"source": "task", "task": spec.train_task.name, "share": 1.0, "n": len(docs)}]
    pools = [split_docs(task, "train") if s.kind == "task" else _rows_of(s, task) for s in spec.sources]
    total = n if n is not None else min(int(len(p) / s.share) for p, s in zip(pools, spec.sources, strict=True))
    counts = shares_to_counts(total, [s.share for s in spec.sources])
    docs: list[Any] = []
    taken = []
    for s, pool, k in zip(spec.sources, pools, counts, strict=True):
        if k > len(pool):
            what = "its train split" if s.kind == "task" else f"data set {s.dataset_id[:8]}"
            raise HarnessError(
                f"finetune.n_train={n} with a share of {s.share:g} needs {k} examples from {what}, which has "
                f"{len(pool)}. Use finetune.n_train=null (all of it), lower it, change the shares, or generate a bigger set."
            )
        docs += seeded_slice(pool, k, seed)
        taken.append(
            {
                "source": s.kind,
                "task": spec.train_task.name,
                "share": s.share,
                "n": k,
                **({"dataset_id": s.dataset_id} if s.dataset_id else {}),
            }
        )
    random.Random(f"{seed}:mix").shuffle(docs)
    return docs, taken


def build_domain(spec: Any, tokenizer: Any) -> tuple[list[Example], dict[str, Any]]:
    """A TrainSpec's domain examples, label noise applied, and how they were made (for the artifact's info)."""
    f = spec.finetune
    task = load_task_object(spec.train_task)
    docs, taken = domain_docs(spec, task, f.n_train, f.seed)
    kinds: dict[str, int] = {}
    if f.label_noise:
        from harness.data.shape import target_field
        from harness.finetune.noise import corrupt
        from harness.tasks import load_task_doc

        target = target_field(load_task_doc(spec.train_task.yaml_file), spec.train_task.name, "finetune.label_noise")
        docs, counted = corrupt([dict(d) for d in docs], target, f.label_noise, f.seed)
        kinds = dict(sorted(counted.items()))
    examples = [
        tokenize(
            *render(task, d, tokenizer, spec.chat_template),
            tokenizer,
            spec.chat_template,
            f.max_length,
            spec.train_task.name,
        )
        for d in docs
    ]
    info = {
        "sources": taken,
        "label_noise": f.label_noise,
        "n_corrupted": sum(kinds.values()),
        "corrupted": kinds,
    }
    return examples, info


def mix_replay(domain: list[Example], replay_pool: list[Example], ratio: float, seed: int) -> list[Example]:
    """domain + round(ratio x len(domain)) replay examples, interleaved by a seeded shuffle."""
    k = round(ratio * len(domain))
    if k > len(replay_pool):
        raise HarnessError(
            f"finetune.replay.ratio={ratio} asks for {k} replay examples but the replay task has {len(replay_pool)}."
        )
    mixed = domain + replay_pool[:k]
    random.Random(seed + 1).shuffle(mixed)
    return mixed
