"""Evaluate one cell through lm-eval's Python API, and say the equivalent `lm_eval` command.

The harness adds nothing to scoring: prompts, generation and metrics are lm-eval's and the task YAML's, so a
score here equals raw `lm_eval` on the same model, task and settings (tests/integration/test_models.py checks it).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import time
from dataclasses import dataclass
from typing import Any

from harness.paths import REPO_ROOT
from harness.spec.cell import Cell

log = logging.getLogger(__name__)


@dataclass
class EvalOutput:
    metrics: dict[str, dict[str, Any]]
    samples: list[dict[str, Any]]
    n: int
    seconds: float
    model_args: dict[str, Any]
    cli: str
    inference: dict[str, Any] | None = None  # measured model time: queries/hour, latency (TimedHFLM)
    # a trained artifact, reloaded, against the model it was trained as (reload_check below)
    reload_check: dict[str, Any] | None = None


def model_args(cell: Cell, pretrained: str, artifact: Any = None) -> dict[str, Any]:
    """lm-eval `hf` model_args: the base weights, plus a peft adapter, or a fully fine-tuned folder instead."""
    if artifact is not None and artifact.kind == "full":
        pretrained = str(artifact.path)
    if artifact is not None and artifact.kind == "prefix":  # ChatGLM2's own prefix encoder on its base
        from harness.finetune.prefix import view

        hub = cell.model.source == "hub" and not cell.model.local_path
        pretrained = str(view(pretrained, artifact.path, cell.model.revision if hub else None))
    args: dict[str, Any] = {"pretrained": pretrained, "dtype": cell.model.dtype}
    if artifact is not None and artifact.kind == "adapter":
        args["peft"] = str(artifact.path)
    if cell.model.trust_remote_code:
        args["trust_remote_code"] = True
    if cell.model.source == "hub" and not cell.model.local_path and cell.model.revision:
        args["revision"] = cell.model.revision
    return args


def include_args(spec: Any) -> list[str]:
    """`--include_path` of a project task for a reproducing command run from the repository root (or from
    harness/_data when installed: the same layout); nothing for a task that ships with lm-eval."""
    if spec.dir is None:
        return []
    inside = spec.dir.is_relative_to(REPO_ROOT)
    return ["--include_path", str(spec.dir.relative_to(REPO_ROOT)) if inside else str(spec.dir)]


def cli_command(cell: Cell, margs: dict[str, Any], device: str) -> str:
    """The raw lm-eval command (run from the repository root) that reproduces this cell's scores."""
    spec = cell.task_spec
    parts = [
        "lm_eval",
        "--model",
        "hf",
        "--model_args",
        ",".join(f"{k}={v}" for k, v in margs.items()),
        "--tasks",
        spec.name,
    ]
    parts += include_args(spec)
    parts += [
        "--batch_size",
        str(cell.eval.batch_size),
        "--num_fewshot",
        str(cell.task.num_fewshot),
        "--seed",
        str(cell.eval.seed),
        "--device",
        device,
    ]
    if cell.apply_chat_template:
        parts.append("--apply_chat_template")
    if cell.task.limit is not None:
        parts += ["--limit", str(cell.task.limit)]
    cmd = shlex.join(parts)
    if cell.task.split != "test":  # the CLI has no split flag: say what to change
        cmd += f"  # with test_split: {cell.task.split} in the task YAML"
    if cell.apply_chat_template and cell.model.prompt_format not in ("plain", "chat_template"):
        cmd += f"  # with the tokenizer's chat_template set to the {cell.model.prompt_format} format of harness/models/prompts.py"
    if cell.eval.samples > 1:  # the CLI has no flag for lm-eval's `repeats` either
        cmd += (
            f"  # with repeats: {cell.eval.samples} and generation_kwargs: {{do_sample: true, temperature: "
            f"{cell.eval.sample_temperature}}} in the task YAML"
        )
    return cmd


def _metrics(results: dict[str, Any], task: str, n: int) -> dict[str, dict[str, Any]]:
    """lm-eval's flat `metric,filter` keys -> {metric: {value, stderr, n, filter, higher_is_better}}."""
    raw = results["results"][task]
    better = results.get("higher_is_better", {}).get(task, {})
    out: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if "," not in key or "_stderr," in key:
            continue
        metric, filt = key.split(",", 1)
        stderr = raw.get(f"{metric}_stderr,{filt}")
        name = metric if filt == "none" else f"{metric}[{filt}]"
        out[name] = {
            "value": value,
            "stderr": stderr if isinstance(stderr, (int, float)) else None,
            "n": n,
            "filter": filt,
            "higher_is_better": better.get(metric),
        }
    return out


def _sample_row(s: dict[str, Any], metric_names: list[str]) -> dict[str, Any]:
    args = s.get("arguments") or {}
    calls = list(args.values()) if isinstance(args, dict) else list(args)
    first = calls[0] if calls else {}
    prompt = first.get("arg_0") if isinstance(first, dict) else (first[0] if first else None)
    filtered = s.get("filtered_resps") or []
    resps = s.get("resps") or []
    row: dict[str, Any] = {
        "doc_id": s["doc_id"],
        "item_id": (s.get("doc") or {}).get("id"),
        "input": prompt,
        "reference": s.get("target"),
        "output": filtered[0] if len(filtered) == 1 else filtered,
        "scores": {m: s[m] for m in metric_names if m in s},
        "doc": s.get("doc"),
    }
    if len(resps) == 1 and isinstance(resps[0], list) and len(resps[0]) > 1 and not calls[1:]:
        row["answers"] = resps[0]  # k sampled answers (eval.samples > 1); `output` is the first, filtered
    # Multiple choice: one (log-likelihood, is-greedy) pair per option. The answer the model gave is the option
    # with the highest log-likelihood; keep all of them for drill-down.
    if len(filtered) > 1 and all(isinstance(f, (list, tuple)) and len(f) == 2 for f in filtered):
        options = [c.get("arg_1") if isinstance(c, dict) else c[1] for c in calls]
        lls = [float(f[0]) for f in filtered]
        best = max(range(len(lls)), key=lls.__getitem__)
        row["output"] = options[best].strip() if best < len(options) and options[best] else best
        row["loglikelihoods"] = lls
        row["options"] = [o.strip() if isinstance(o, str) else o for o in options]
    return row


def run_lm_eval(cell: Any, model: Any, margs: dict[str, Any] | None, device: str | None) -> tuple[Any, float]:
    """lm-eval's simple_evaluate on the cell's task and settings; `model` is a registry name or an LM instance.
    Returns (lm-eval's results, or None on a non-zero rank, and the seconds it took)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    # Task YAMLs name data files relative to the repository root (lm-eval resolves them against the cwd).
    with contextlib.chdir(REPO_ROOT):
        spec = cell.task_spec
        # A project task: index only its folder (fast). lm-eval's own task: index lm-eval's task library.
        manager = TaskManager(include_path=str(spec.dir) if spec.dir else None, include_defaults=spec.dir is None)
        tasks: list[Any] = [spec.name]
        k = cell.eval.samples
        if cell.task.split != "test" or k > 1:
            task_obj = manager.load([spec.name])["tasks"][spec.name]
            if cell.task.split != "test":
                # lm-eval scores `test_split`; point the Task at the other split (docs are read lazily by split).
                task_obj.config.test_split = cell.task.split
            if k > 1:
                # lm-eval's own `repeats`: k generations per item, scored on the first (its take_first filter);
                # all k are logged in the sample's `resps`.
                task_obj.set_config("repeats", k)
                sampling = {"do_sample": True, "temperature": cell.eval.sample_temperature}
                task_obj.set_config("generation_kwargs", sampling, update=True)
            tasks = [task_obj]
        results = lm_eval.simple_evaluate(
            model=model,
            model_args=margs,
            device=device,
            tasks=tasks,
            task_manager=manager,
            num_fewshot=cell.task.num_fewshot,
            batch_size=cell.eval.batch_size,
            limit=cell.task.limit,
            apply_chat_template=cell.apply_chat_template,
            log_samples=True,
            random_seed=cell.eval.seed,
            numpy_random_seed=cell.eval.seed,
            torch_random_seed=cell.eval.seed,
            fewshot_random_seed=cell.eval.seed,
        )
    return results, time.perf_counter() - started


def primary_filter(primary: str | None) -> str:
    """`exact_match[strict-match]` -> `strict-match`; a metric without a filter -> lm-eval's `none`."""
    return primary.split("[", 1)[1].rstrip("]") if primary and "[" in primary else "none"


def collect(
    results: dict[str, Any], task: str, primary: str | None = None
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    """(metrics, per-sample rows, n) from lm-eval's results. lm-eval logs an item once per filter (gsm8k has two);
    the rows keep the primary metric's filter, so each item appears once with the answer that was scored."""
    # A group (mmlu, cmmlu...) reports its aggregate under its own name and items under each subtask.
    subtasks = sorted(results["samples"])
    n = sum(int(results["n-samples"][t]["effective"]) for t in subtasks)
    metrics = _metrics(results, task, n)
    names = [m.split("[")[0] for m in metrics]
    want = primary_filter(primary)

    def kept(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        filters = {s.get("filter") for s in rows}
        return [s for s in rows if s.get("filter") == want] if len(filters) > 1 and want in filters else rows

    samples = [
        {**_sample_row(s, names), **({"subtask": t} if t != task else {})}
        for t in subtasks
        for s in sorted(kept(results["samples"][t]), key=lambda s: s["doc_id"])
    ]
    return metrics, samples, n


def evaluate(cell: Cell, pretrained: str, device: str, artifact: Any = None) -> EvalOutput | None:
    """None on a non-zero rank of a multi-process run (lm-eval returns results on rank 0 only)."""
    from harness.evaluate.timed import TimedHFLM
    from harness.models.prompts import use_format

    margs = model_args(cell, pretrained, artifact)
    # lm-eval's hf backend itself (a subclass that only times its batches), built as simple_evaluate would.
    lm = TimedHFLM.create_from_arg_obj(margs, {"batch_size": cell.eval.batch_size, "device": device})
    use_format(lm.tokenizer, cell.model.prompt_format)  # a chat format from the model's remote code, if any
    check = reload_check(lm.model, artifact, cell.model.dtype)
    results, seconds = run_lm_eval(cell, lm, None, device)
    per_process = lm.process_seconds()  # on every rank (a collective), before the non-zero ranks leave
    if results is None:
        return None
    metrics, samples, n = collect(results, cell.task_spec.name, cell.task.primary_metric)
    inference = lm.inference(n * cell.eval.samples, cell.eval.batch_size, per_process)  # k generations per item
    cli = cli_command(cell, margs, device)
    path = (artifact.info.get("prefix_path") if artifact is not None else None) or "peft"
    if path not in ("peft", "chatglm2-native"):  # the native one is a plain folder (prefix.view): no note
        cli += f"  # with harness/finetune/prefix.py's {path} fixes installed: peft's prefix does not run on this family as it is"
    return EvalOutput(metrics, samples, n, seconds, margs, cli, inference, check)


RELOAD_TOLERANCE = 1e-3  # absolute, on a sum of up to 64 log-probabilities; fp32 reloads agree to ~1e-5


def reload_check(model: Any, artifact: Any, dtype: str) -> dict[str, Any] | None:
    """The reloaded artifact's log-likelihood of its probe (the first training example) against the figure the
    in-memory model gave right after training. A mismatch means the evaluation would score another model than
    the one trained (a prefix not restored, an adapter on the wrong layers): refused, with both figures. Compared
    when both sides are fp32 (CPU runs, finetune.precision=fp32 with an fp32 model dtype); otherwise both figures
    are stored and not compared. First installs a prefix artifact's
    family fixes (harness/finetune/prefix.py), which generation needs as much as the check."""
    if artifact is None:
        return None
    from harness.finetune.prefix import install, peft_prefix_path

    path = peft_prefix_path(model)
    if path is not None:
        install(model, path)
    probe = artifact.info.get("probe")
    if not probe:
        return None  # an artifact trained before the probe existed
    from harness.errors import HarnessError
    from harness.finetune.train import probe_loglik

    got = probe_loglik(model, probe["input_ids"])
    # Compared in fp32 only: in bf16/fp16 one rounding step of one logit moves a log-probability by ~0.01, and
    # kernels differ between a training process and an evaluating one; a QLoRA probe ran on 4-bit weights that
    # evaluation does not load.
    compared = probe["precision"] == "fp32" and dtype == "float32" and probe.get("method") != "qlora"
    diff = abs(got - probe["loglik"])
    out = {
        "trained": probe["loglik"],
        "reloaded": round(got, 6),
        "abs_diff": round(diff, 6),
        "tokens": len(probe["input_ids"]),
        "compared": compared,
        "tolerance": RELOAD_TOLERANCE,
    }
    if compared and not diff <= RELOAD_TOLERANCE:
        raise HarnessError(
            f"artifact {artifact.path.name} does not reload to the model that was trained: its probe "
            f"log-likelihood was {probe['loglik']:.4f} after training and is {got:.4f} reloaded (tolerance "
            f"{RELOAD_TOLERANCE}); the evaluation would score another model. Delete the artifact folder to retrain "
            "it, and report this with the model's name."
        )
    return out
