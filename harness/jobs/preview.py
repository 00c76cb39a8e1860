"""`harness task preview TASK [model=M | baseline=B] [n=3]`: a task's first items as the model receives them.

The one-minute loop of a task author: the rendered prompt (chat template applied or not, few-shot examples
included), the stop sequences, the model's answers and their scores, and whether the answers have the task's
shape (harness/compare/shape.py). It is the run's own path on `task.limit=n` items with `finetune=none`
(lm-eval renders and scores; an API baseline goes through its response cache, meter and budget), so what it
shows is what a run sends. Nothing is stored: a preview is not a measurement for the leaderboard (the command
points paths.results at a temporary folder, keeping the response cache).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.compare.shape import describe, preview_command
from harness.spec.cell import BaselineCell, CellSpec


@dataclass
class Preview:
    spec: CellSpec
    samples: list[dict[str, Any]]
    eval: dict[str, Any]  # the record's eval section: prompt_format, prompt_format_from, answer_shape
    stops: list[str] | None  # the task's generation_kwargs.until (None: lm-eval's own task, or not generative)
    api: dict[str, Any] | None = None  # an API baseline's meter: requests, cache hits, tokens, money


def run_preview(cfg: Any, baseline: bool = False) -> Preview:
    """cfg: one composed job with task.limit set; `baseline`: preview its API baseline, not its model."""
    from harness.errors import HarnessError
    from harness.execute import backend_for
    from harness.jobs.run_cell import preflight
    from harness.plan.cells import not_applicable, plan_baseline, plan_cell

    spec: CellSpec = plan_baseline(cfg) if baseline else plan_cell(cfg)
    why_not = not_applicable(spec)
    if why_not:
        raise HarnessError(f"nothing to preview: {why_not}")
    device = None
    if not isinstance(spec, BaselineCell):
        from harness.models.preflight import detect_device

        device = detect_device(spec.eval.device)
    backend = backend_for(spec)
    preflight(spec, device, backend)
    done = backend.execute(spec, device)
    if done is None:  # a non-zero rank under `accelerate launch`: rank 0 prints
        raise SystemExit(0)
    return Preview(spec, done.samples, done.record.eval, _stops(spec), done.record.api)


def _stops(spec: CellSpec) -> list[str] | None:
    if spec.task_spec.yaml_file is None or spec.task_spec.output_type != "generate_until":
        return None  # lm-eval's own task (its YAML is lm-eval's), or scored by log-likelihood
    from harness.tasks.parse import load_task_doc

    until = (load_task_doc(spec.task_spec.yaml_file).get("generation_kwargs") or {}).get("until")
    return [until] if isinstance(until, str) else list(until or [])


def _prompt_text(prompt: Any) -> str:
    """The prompt as sent: a string (a local model's rendered text, chat template included), or an API's chat
    messages (lm-eval hands them over as JSON), one `role: content` block each."""
    if isinstance(prompt, list | tuple) and len(prompt) == 1:
        prompt = prompt[0]
    prompt = getattr(prompt, "prompt", prompt)  # lm-eval's JsonChatStr: the messages as JSON
    if isinstance(prompt, str):
        try:
            messages = json.loads(prompt)
        except ValueError:
            return prompt
        if isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages):
            return "\n".join(f"[{m['role']}] {m.get('content', '')}" for m in messages)
    return str(prompt)


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.split("\n"))


def render(p: Preview) -> str:
    """The preview as the terminal shows it."""
    spec, ev = p.spec, p.eval
    api = isinstance(spec, BaselineCell)
    who = spec.baseline.name if api else spec.model.name
    fmt, by = ev.get("prompt_format"), ev.get("prompt_format_from")
    why = {
        "run": "this run's eval.apply_chat_template",
        "task": f"the task's metadata.harness.prompt_format: {spec.task.prompt_format}",
        "model": "the model's own default"
        + ("" if api else f" (model.prompt_format: {spec.model.prompt_format})")
        + ("; the task does not declare one" if spec.task.prompt_format == "model" else ""),
    }[by]
    what = (
        "chat turn: the prompt goes through the model's chat template"
        if fmt == "chat" and not api
        else "chat turn: the prompt goes as chat messages (few-shot examples as turns)"
        if fmt == "chat"
        else "plain text: the prompt goes as it is" + (" (one user message)" if api else "")
    )
    other = "plain" if fmt == "chat" else "chat"
    flag = f"eval.apply_chat_template={'false' if fmt == 'chat' else 'true'}"
    # a model without a chat format ignores the task's declaration: only the run's override switches it
    plain_model = by == "model" and fmt == "plain" and not api
    switch = flag if plain_model else f"metadata.harness.prompt_format: {other} in the task YAML, or {flag} for one run"
    generative = spec.task_spec.output_type == "generate_until"
    lines = [
        f"task {spec.task.name} x {'baseline ' if api else ''}{who}: first {len(p.samples)} item(s) of the "
        f"{spec.task.split} split, {spec.task.num_fewshot}-shot",
        f"prompt format: {what}",
        f"  decided by {why}; for {other}: {switch}",
        "stop sequences: "
        + (
            ", ".join(json.dumps(s) for s in p.stops)
            if p.stops
            else "none"
            if p.stops == []
            else "the task's own (lm-eval's task YAML)"
            if generative
            else "none: scored by the log-likelihood of each option, nothing is generated"
        ),
    ]
    shape = ev.get("answer_shape")
    limit = shape["max_chars"] if shape else None
    pattern = re.compile(shape["pattern"]) if shape and shape.get("pattern") else None
    for row in p.samples:
        lines += ["", f"--- item {row['doc_id']}" + (f" ({row['item_id']})" if row.get("item_id") else "")]
        lines += ["  prompt (as the model receives it):", _indent(_prompt_text(row.get("input")))]
        answer = row.get("output")
        note = ""
        if isinstance(answer, str) and limit is not None and len(answer.strip()) > limit:
            note = f"   <- off shape: {len(answer.strip())} characters, the references have at most {shape['longest_reference_chars']}"
        elif isinstance(answer, str) and pattern is not None and pattern.fullmatch(answer.strip()) is None:
            note = "   <- off shape: does not match the task's answer_pattern"
        lines += [f"  answer: {json.dumps(answer, ensure_ascii=False)}{note}"]
        lines += [f"  reference: {json.dumps(row.get('reference'), ensure_ascii=False)}"]
        lines += [f"  scores: {', '.join(f'{k}={v}' for k, v in (row.get('scores') or {}).items())}"]
    lines.append("")
    if shape:
        if shape["flagged"]:
            lines.append(
                "ANSWER SHAPE: " + describe(shape, preview_command(spec.task.name, who, api)).split("; see")[0]
            )
            lines.append(
                f"  try the other format: harness task preview {spec.task.name} "
                f"{'baseline' if api else 'model'}={who} eval.apply_chat_template={'false' if fmt == 'chat' else 'true'}"
            )
        else:
            lines.append(f"answer shape: {shape['off_shape']} of {shape['n']} answers off shape (fine)")
    if p.api:
        a, cost = p.api, p.api["cost"]
        money = f"{cost['billed_this_run']:.6f} {cost['currency']} billed" if cost["priced"] else "unpriced"
        lines.append(
            f"API: {a['n_requests']} request(s), {a['n_from_cache']} from the response cache, {a['n_failed']} failed; "
            f"{a['tokens']['prompt']} prompt + {a['tokens']['completion']} completion tokens; {money} "
            "(metered, cached and counted against budget.max_usd / baseline.budget_usd like any run)"
        )
    lines.append("(a preview: nothing was stored)")
    return "\n".join(lines)
