"""Train one artifact with transformers' Trainer and peft, resumably, and meter it.

An artifact is a folder `<artifacts>/<model>-<method>-<id>/` named by the content hash of its TrainSpec. Its
`harness_artifact.json` (written last, then the folder is renamed into place) says it is finished; a finished
artifact is reused and never retrained. Work in progress lives in `.<name>.partial/` with Trainer checkpoints
every `save_steps`, every `save_every_s` seconds and at each epoch end, so a killed run resumes from its last
complete checkpoint when started again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compat import dtype_kwarg, rng_state_loadable, tokens_seen, training_args
from harness.dist import is_main, main_lock, world_size
from harness.errors import HarnessError
from harness.finetune import lora_dropout, prefix
from harness.finetune.data import IGNORE, Example, build_domain, build_examples, mix_replay
from harness.finetune.loss import AnswerLoss, answer_only_supported, collate, probe_row
from harness.spec.finetune import ADAPTER_METHODS, TrainSpec, micro_split
from harness.util import content_id

log = logging.getLogger(__name__)
MARKER = "harness_artifact.json"
# Inside each checkpoint, written last and atomically: its presence says the checkpoint is complete. It holds the
# training wall time up to the checkpoint (the loss history is in Trainer's trainer_state.json beside it).
METER_FILE = "harness_meter.json"


@dataclass(frozen=True)
class Artifact:
    id: str
    path: Path
    kind: str  # adapter (peft folder, evaluated on top of the base) | full (a whole model folder)
    info: dict[str, Any]  # the marker's content: spec identity, data counts, metering
    reused: bool


def artifact_id(spec: TrainSpec) -> str:
    return content_id(spec.identity())


def artifact_dir(spec: TrainSpec, root: Path) -> Path:
    return root / f"{spec.model.name}-{spec.finetune.method}-{artifact_id(spec)}"


def find_artifact(spec: TrainSpec, root: Path) -> Artifact | None:
    final = artifact_dir(spec, root)
    marker = final / MARKER
    if not marker.exists():
        return None
    info = json.loads(marker.read_text(encoding="utf-8"))
    return Artifact(artifact_id(spec), final, info["kind"], info, reused=True)


def _estimate(
    spec: TrainSpec,
    base: str,
    precision: str,
    device_kind: str,
    examples: list[Example],
    answer_only: bool,
    chunk: int | None = None,
) -> dict[str, int] | None:
    """harness/models/footprint.py's estimate for this run's longest pass (None without a readable config)."""
    from harness.models.folder import folder_facts
    from harness.models.footprint import architecture, training_bytes

    arch, facts = architecture(base), folder_facts(Path(base))
    if arch is None or facts is None or not examples:
        return None
    f = spec.finetune
    rows = f.batch_size // micro_split(f)
    longest = max(len(e.input_ids) for e in examples)
    answer = max(sum(1 for x in e.labels if x != IGNORE) for e in examples) + 1
    weight_bytes = 0.5 if f.method == "qlora" else {"fp32": 4, "bf16": 2, "fp16": 2}[precision]
    kept = rows * (answer if answer_only else longest)
    if chunk:  # chunked cross-entropy: one chunk's logits at a time
        kept = min(kept, chunk)
    return training_bytes(
        arch,
        facts.n_params,
        weight_bytes,
        f.method,
        rows * longest,
        kept,
        device_kind,
        f.lora.r,
        f.gradient_checkpointing,
    )


def _answer_loss(model: Any, examples: list[Example], rows: int, pad_id: int, f: Any, final: Path) -> AnswerLoss:
    """The answer-only loss, hooked for chunked cross-entropy when this run's largest pass could exceed
    finetune.loss_chunk_mb of logits and the model's output layer is checked to allow it (harness/finetune/loss.py)."""
    loss = AnswerLoss(int(f.loss_chunk_mb * 2**20))
    answer = max(sum(1 for x in e.labels if x != IGNORE) for e in examples) + 1
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = getattr(head, "out_features", None) or 0
    if loss.chunk_bytes <= 0 or rows * answer * vocab * 4 <= loss.chunk_bytes:
        return loss  # every pass's logits fit under the threshold: nothing hooked
    if world_size() > 1:
        log.info("%s: the loss's logits stay whole: chunking is not wired for several processes", final.name)
        return loss
    probe = collate(pad_id, True)([probe_row(examples[0].input_ids)])
    why = loss.install(model, probe)
    if why:
        log.info("%s: the loss's logits stay whole (finetune.loss_chunk_mb): %s", final.name, why)
    else:
        log.info(
            "%s: passes above %g MB of logits are scored %d positions at a time",
            final.name,
            f.loss_chunk_mb,
            loss.chunk_positions(),
        )
    return loss


def _as_rows(examples: list[Example]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX, as oneDNN sees it). Without it, bf16 is
    emulated: a bf16 matmul measured 50x slower than fp32 on an AVX2-only AMD EPYC (2026-12-03), and a
    64-example LoRA that takes about a minute in fp32 ran for over 13 minutes."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _precision(spec: TrainSpec, device_kind: str) -> str:
    """auto: bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on a CPU: the same numbers on every CPU (bf16
    autocast gave 1.2-1.5x fp32's tokens/s on AVX512-BF16 cores, but is emulated and many times slower on
    others). The resolved precision is stored in the metering."""
    p = spec.finetune.precision
    if p == "bf16" and device_kind == "cpu" and not cpu_has_native_bf16():
        log.warning(
            "finetune.precision=bf16 on a CPU without native bf16 is emulated and runs many times slower "
            "than fp32; finetune.precision=auto picks fp32 here"
        )
    if p != "auto":
        return p
    if device_kind == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def _load_model(spec: TrainSpec, base: str, precision: str, device_kind: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    kwargs: dict[str, Any] = {dtype_kwarg(): dtype, "trust_remote_code": spec.model.trust_remote_code}
    if spec.model.source == "hub" and not spec.model.local_path and spec.model.revision:
        kwargs["revision"] = spec.model.revision
    if spec.finetune.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    path = spec.prefix_path()
    if path == prefix.CHATGLM2:
        kwargs.update(prefix.native_load_kwargs(spec.finetune.prefix))  # its own encoder; the rest frozen
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    if path is not None:
        prefix.check_path(path, model.config, spec.model.name)
    model.config.use_cache = False  # caching is for generation; during training it only costs memory
    if spec.finetune.gradient_checkpointing:
        if getattr(model, "supports_gradient_checkpointing", False):
            # non-reentrant: the frozen embeddings' outputs need no requires_grad for the adapters' gradients
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            log.warning(
                "finetune.gradient_checkpointing: %s does not support it; training keeps every activation",
                spec.model.name,
            )
    return model


def _wrap(model: Any, spec: TrainSpec) -> Any:
    return wrap(model, spec.finetune, spec.prefix_path())


def wrap(model: Any, f: Any, path: str | None) -> Any:
    """The model as the method trains it: itself (full, ChatGLM2's own prefix encoder) or a peft model. `path`:
    P-tuning v2's family path (harness/finetune/prefix.py), None for other methods."""
    if path == prefix.CHATGLM2:
        # fp32 whatever the base's dtype, as its authors' code keeps it: an fp16 encoder cannot be unscaled by fp16
        # training's GradScaler, and its output is cast to the input's dtype anyway (get_prompt)
        model.transformer.prefix_encoder.float()
        return model
    if f.method == "full":
        return model
    from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if f.method == "qlora":
        model = prepare_model_for_kbit_training(model)
    if f.method in ("lora", "qlora"):
        targets = f.lora.target_modules
        config = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=f.lora.r,
            lora_alpha=f.lora.alpha,
            lora_dropout=f.lora.dropout,
            target_modules=targets[0] if targets == ["all-linear"] else list(targets),
        )
    else:
        config = PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=f.prefix.num_virtual_tokens,
            prefix_projection=f.prefix.prefix_projection,
        )
    wrapped = get_peft_model(model, config)
    if path is not None:
        prefix.install(wrapped, path)  # the family's layout and mask fixes (harness/finetune/prefix.py)
    elif f.method in ("lora", "qlora") and f.lora.dropout:
        wrapped.harness_fused_dropout = lora_dropout.install(wrapped)  # the same masks, a third of the activations
    return wrapped


def _trainer_class(spec: TrainSpec) -> Any:
    """Trainer, or for ChatGLM2's own prefix encoder one whose checkpoints hold that encoder alone: the frozen
    base (12 GB for ChatGLM2-6B) is the base folder's, never re-saved at every checkpoint."""
    from transformers import Trainer

    if spec.prefix_path() != prefix.CHATGLM2:
        return Trainer
    params = spec.finetune.prefix

    class PrefixEncoderTrainer(Trainer):
        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            out = output_dir or self.args.output_dir
            prefix.save_native(self.model, out, params)
            import torch

            torch.save(self.args, os.path.join(out, "training_args.bin"))

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            prefix.load_native(model or self.model, resume_from_checkpoint)

    return PrefixEncoderTrainer


PROBE_TOKENS = 64


def probe_loglik(model: Any, input_ids: list[int]) -> float:
    """Sum of log p(token | tokens before it) over `input_ids` (one row, no padding), in eval mode: the figure a
    reloaded artifact must reproduce (harness/evaluate/lmeval.py checks it when the artifact is evaluated)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        ids = torch.tensor([input_ids], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1], dim=-1)
        return float(logp.gather(1, ids[0, 1:, None]).sum())
    finally:
        model.train(was_training)


def _step(ckpt: Path) -> int:
    return int(ckpt.name.split("-")[1])


def _drop(ckpt: Path) -> None:
    (ckpt / METER_FILE).unlink(missing_ok=True)  # unmarked first: a kill mid-delete leaves no marked half
    shutil.rmtree(ckpt, ignore_errors=True)


def resume_point(checkpoints: Path, prune: bool = True) -> Path | None:
    """The newest *marked* checkpoint, and (with `prune`) delete every other one.

    transformers' get_last_checkpoint takes the newest `checkpoint-N` folder however little of it was written, so
    a kill mid-save left a folder every later resume failed on. Here a checkpoint counts once its marker (written
    last, in on_save) exists; an unmarked folder is what a kill left half-written (or half-deleted). Called after
    each marker is written, this is also the rotation: the older checkpoint goes only once a newer one is complete.
    """
    found = sorted((p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[1].isdigit()), key=_step)
    marked = [p for p in found if (p / METER_FILE).exists()]
    newest = marked[-1] if marked else None
    for p in found if prune else []:
        if p not in marked:
            log.warning("deleting %s: incomplete, a kill interrupted it (no completion marker)", p.name)
        if p != newest:
            _drop(p)
    return newest


def loss_history(log_history: list[dict[str, Any]], logging_steps: int) -> tuple[list[dict[str, Any]], float | None]:
    """The loss curve (every `logging_steps` and at the last step) and the mean loss over every step of every run.

    Trainer logs the mean loss since its previous log, and its own `training_loss` covers only the steps of the
    last `train()` call. Logs are also forced at each checkpoint (a resumed run starts a fresh loss accumulator,
    so losses unlogged at the checkpoint would be lost); merging those extra intervals back gives the curve an
    uninterrupted run logs.
    """
    logged = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    curve: list[dict[str, Any]] = []
    total, prev, mark = 0.0, 0, (0, 0.0)
    for i, (step, loss) in enumerate(logged):
        total, prev = total + loss * (step - prev), step
        if step % logging_steps == 0 or i == len(logged) - 1:
            curve.append({"step": step, "loss": round((total - mark[1]) / (step - mark[0]), 4)})
            mark = (step, total)
    return curve, (total / prev if prev else None)


def _rank0_decides(flag: Any) -> Any:
    """Ranks that disagreed on saving would deadlock in the save's collectives, so rank 0's clock decides."""
    if world_size() == 1:
        return flag
    import torch.distributed as dist

    box = [flag]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class StopOnSigterm:
    """While training: SIGTERM or SIGUSR2 saves a checkpoint at the end of the current step, then stops.

    SIGTERM is how a scheduler stops a job: Slurm sends it on `scancel`, `scontrol requeue` and preemption, and
    SIGKILL after KillWait (30 s by default). submitit, which runs the harness's Slurm jobs, ignores it (it waits
    for USR2), so training went on and everything since the last timed checkpoint (finetune.save_every_s) was lost
    with the SIGKILL. USR2 is Slurm's warning before the time limit: submitit requeues the job and exits at once,
    losing the same. Here either signal first ends the step and saves it; then USR2 goes on to the handler that was
    there before (submitit's requeue), and SIGTERM ends the process with SystemExit, which leaves no result for
    submitit: a requeued job resumes from this checkpoint, a cancelled one is reported as ended without a result
    (harness.app.slurm). Every rank stops at the step rank 0 decides (the Meter's `_rank0_decides`); a second
    signal goes straight to the handler that was there before (the CLI's: stop now)."""

    def __init__(self) -> None:
        self.requested: int | None = None  # the signal received, if any
        self.acted = False  # training stopped for it (every rank at the same step)
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        if self.requested is not None:  # a second signal
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            return
        self.requested = signum
        name = signal.Signals(signum).name
        log.warning("%s: training saves a checkpoint at the end of this step and stops; a rerun resumes there", name)

    def __enter__(self) -> StopOnSigterm:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():  # Python handles signals there only
            for sig in (signal.SIGTERM, signal.SIGUSR2):
                previous = signal.signal(sig, self._handle)
                self._previous[sig] = signal.SIG_DFL if previous is None else previous  # None: set outside Python
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        if self.requested is None or exc[0] is not None:
            return
        previous = self._previous.get(self.requested)
        if self.acted:
            if self.requested == signal.SIGUSR2 and callable(previous):
                previous(self.requested, None)  # submitit: requeue, then exit
            raise SystemExit(128 + self.requested)
        # it came after the last step: what the process would have done with it without this block
        if callable(previous):
            previous(self.requested, None)
        elif previous == signal.SIG_DFL:
            raise SystemExit(128 + self.requested)


def _meter_callback(checkpoints: Path, already: float, resumed_step: int, every_s: float, stop: StopOnSigterm):
    from transformers import TrainerCallback

    class Meter(TrainerCallback):
        """Keeps wall time across resumes, checkpoints by time and at epoch ends as well as every `save_steps`,
        and marks each checkpoint complete."""

        def __init__(self) -> None:
            self.started = self.saved_at = self.save_began = time.perf_counter()
            self.saved_step, self.save_took = resumed_step, 0.0

        def seconds(self) -> float:
            return already + time.perf_counter() - self.started

        logged_step = resumed_step

        def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.logged_step = state.global_step

        def _saving(self, state: Any, control: Any) -> None:
            if control.should_save:
                # Log with every save: the checkpoint's log history must hold every step's loss (loss_history).
                control.should_log, self.save_began = True, time.perf_counter()
            if state.global_step >= state.max_steps:
                control.should_log = True  # the final loss is always in the curve
            if state.global_step <= self.logged_step:
                # transformers < 4.38 divides by the steps since the last log without checking it is > 0
                control.should_log = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # A slow save (a full model's weights and optimizer) stretches the interval: saving stays <= 10 % of
            # the wall time.
            due = time.perf_counter() - self.saved_at >= max(every_s, 9 * self.save_took)
            due, stopping = _rank0_decides((due, stop.requested is not None))
            control.should_save = control.should_save or due or stopping
            control.should_training_stop = control.should_training_stop or stopping
            stop.acted = stop.acted or stopping
            self._saving(state, control)

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step > self.saved_step:  # never rewrite the checkpoint of a step saved already
                control.should_save = True
            self._saving(state, control)

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Trainer calls this after _save_checkpoint has written everything (weights, optimizer, scheduler,
            # RNG, trainer_state.json), so the marker is the last file: temp file + rename, atomic under a kill.
            self.saved_at, self.saved_step = time.perf_counter(), state.global_step
            self.save_took = self.saved_at - self.save_began
            if not args.should_save:  # rank 0 writes
                return
            ckpt = checkpoints / f"checkpoint-{state.global_step}"
            tmp = ckpt / f"{METER_FILE}.tmp"
            tmp.write_text(json.dumps({"train_seconds": self.seconds(), "step": state.global_step}))
            os.replace(tmp, ckpt / METER_FILE)
            resume_point(checkpoints)

    return Meter()


def _device_info(device_kind: str) -> dict[str, Any]:
    if device_kind == "cuda":
        import torch

        # count: the devices training used (one per process), not every visible one; it multiplies the price
        return {
            "kind": "cuda",
            "name": torch.cuda.get_device_name(0),
            "count": world_size(),
            "visible": torch.cuda.device_count(),
        }
    return {"kind": "cpu", "name": "cpu", "count": 1, "threads": __import__("torch").get_num_threads()}


def train(spec: TrainSpec, base: str, root: Path, device_kind: str, hardware: dict[str, Any] | None = None) -> Artifact:
    """Return the finished artifact for `spec`, training it (or resuming it) only if it is not there yet.
    `hardware`: the price profile of the device it trains on (harness.compare.hardware.priced_as), stored with
    the artifact so training is priced as that device wherever the artifact is later evaluated."""
    found = find_artifact(spec, root)
    if found:
        log.info("artifact %s exists; reusing it (nothing is retrained)", found.path.name)
        return found
    final = artifact_dir(spec, root)
    root.mkdir(parents=True, exist_ok=True)
    with main_lock(str(final) + ".lock"):  # a second job with the same spec waits, then reuses
        found = find_artifact(spec, root)
        if found:
            return found
        return _train_locked(spec, base, final, device_kind, hardware)


def _train_locked(
    spec: TrainSpec, base: str, final: Path, device_kind: str, hardware: dict[str, Any] | None
) -> Artifact:
    import torch
    from transformers import AutoTokenizer

    from harness.models.prompts import use_format

    f = spec.finetune
    work = final.parent / f".{final.name}.partial"
    (work / "checkpoints").mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=spec.model.trust_remote_code)
    use_format(tokenizer, spec.model.prompt_format)  # the prompts evaluation will use (harness/models/prompts.py)
    from harness.evaluate.guards import ensure_eos, folder_configs

    hub_revision = spec.model.revision if spec.model.source == "hub" and not spec.model.local_path else None
    ensure_eos(tokenizer, folder_configs(base, spec.model.trust_remote_code, hub_revision), spec.model.name)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    domain, made = build_domain(spec, tokenizer)
    examples, n_replay = domain, 0
    if spec.replay_task is not None and f.replay.ratio > 0:
        pool = build_examples(spec.replay_task, tokenizer, spec.chat_template, None, f.seed, f.max_length)
        examples = mix_replay(domain, pool, f.replay.ratio, f.seed)
        n_replay = len(examples) - len(domain)
    try:
        val = build_examples(
            spec.train_task, tokenizer, spec.chat_template, f.val_examples, f.seed, f.max_length, "validation"
        )
    except HarnessError:
        val = []  # a task without a validation split: no validation loss, said so in the record

    precision = _precision(spec, device_kind)
    torch.manual_seed(f.seed)  # adapter initialisation
    model = _wrap(_load_model(spec, base, precision, device_kind), spec)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fused = getattr(model, "harness_fused_dropout", 0)  # LoRA layers whose dropout keeps a 1-bit mask

    last = resume_point(work / "checkpoints", prune=is_main())
    already = json.loads((last / METER_FILE).read_text())["train_seconds"] if last else 0.0
    resumed_from = _step(last) if last else 0
    sigterm = StopOnSigterm()
    meter = _meter_callback(work / "checkpoints", already, resumed_from, f.save_every_s, sigterm)
    args = training_args(
        output_dir=str(work / "checkpoints"),
        num_train_epochs=f.epochs,
        learning_rate=f.learning_rate,
        # a batch of f.batch_size rows in micro_split(f) passes: activation memory follows the micro-batch
        per_device_train_batch_size=f.batch_size // micro_split(f),
        per_device_eval_batch_size=f.batch_size // micro_split(f),
        gradient_accumulation_steps=f.grad_accum * micro_split(f),
        weight_decay=f.weight_decay,
        warmup_steps=f.warmup_ratio,  # a float in [0, 1) is a ratio of total steps (transformers 5)
        lr_scheduler_type="linear",
        logging_steps=f.logging_steps,
        save_strategy="steps",
        save_steps=f.save_steps,
        save_total_limit=None,  # Trainer rotates before the new checkpoint is marked; the Meter rotates after
        seed=f.seed,
        data_seed=f.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device_kind == "cpu",
        report_to="none",
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
        optim="adamw_torch",
        prediction_loss_only=True,  # the validation loss only: Trainer would otherwise gather every logit
    )
    why_not = answer_only_supported(model)  # logits only where the loss is (harness/finetune/loss.py)
    if why_not:
        log.info("%s: the loss reads logits of every position, not only the answer's: %s", final.name, why_not)
    loss_fn = None if why_not else _answer_loss(model, examples, f.batch_size // micro_split(f), pad_id, f, final)
    loss_kw = {"compute_loss_func": loss_fn} if loss_fn else {}
    trainer = _trainer_class(spec)(
        model=model,
        args=args,
        train_dataset=_as_rows(examples),
        eval_dataset=_as_rows(val) or None,
        data_collator=collate(pad_id, why_not is None),
        callbacks=[meter],
        **loss_kw,
    )
    if last:
        log.info("resuming %s from %s", final.name, last.name)
    else:
        log.info(
            "training %s: %s on %d examples (%d replay), %d trainable parameters",
            final.name,
            f.method,
            len(examples),
            n_replay,
            trainable,
        )
    from harness.busy import Busy
    from harness.memory import PeakMemory

    chunk = loss_fn.chunk_positions() if loss_fn and not loss_fn.why_not else None
    estimate = _estimate(spec, base, precision, device_kind, examples, why_not is None, chunk)

    with (
        PeakMemory(cuda=device_kind == "cuda") as mem,
        Busy(client=False) as busy,
    ):  # how busy the machine was while training was timed
        run_started = time.perf_counter()
        if last:
            rng_state_loadable()
        with sigterm:  # a SIGTERM: checkpoint, then SystemExit (nothing below runs)
            trainer.train(resume_from_checkpoint=str(last) if last else None)
        train_seconds = meter.seconds()
        this_run = time.perf_counter() - run_started
    val_loss = trainer.evaluate()["eval_loss"] if val else None
    if loss_fn:
        loss_fn.remove()  # the output layer is whole again for the probe and whoever reuses the model

    if not is_main():  # under `accelerate launch`, rank 0 saves; the others wait for it, then use its artifact
        trainer.accelerator.wait_for_everyone()
        found = find_artifact(spec, final.parent)
        assert found is not None, "rank 0 finished training without writing the artifact"
        return found
    staged = work / "weights"
    if staged.exists():
        shutil.rmtree(staged)
    unwrapped = trainer.accelerator.unwrap_model(model)
    native = spec.prefix_path() == prefix.CHATGLM2
    if native:
        prefix.save_native(unwrapped, staged, f.prefix)
    else:
        unwrapped.save_pretrained(str(staged))
    probe_ids = examples[0].input_ids[:PROBE_TOKENS]
    # the model's own forward, without the autocast wrapper mixed-precision training put around it (a reload
    # has none); saved above already
    plain = trainer.accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    probe = {
        "input_ids": probe_ids,
        "loglik": round(probe_loglik(plain, probe_ids), 6),
        "precision": precision,
        "method": f.method,
    }
    if f.method == "full":
        tokenizer.save_pretrained(str(staged))
    tokens = tokens_seen(trainer, examples, f.epochs)
    losses, mean_loss = loss_history(trainer.state.log_history, f.logging_steps)  # all runs, resumes included
    info = {
        "artifact_id": artifact_id(spec),
        # adapter: a peft folder on top of the base; prefix: ChatGLM2's own encoder (prefix.view); full: weights
        "kind": "prefix" if native else "adapter" if f.method in ADAPTER_METHODS else "full",
        "prefix_path": spec.prefix_path(),
        # the in-memory model's log-likelihood of its first training example after training: a reloaded
        # artifact must give the same (checked where it is evaluated)
        "probe": probe,
        "identity": spec.identity(),
        "data": {
            "train_task": spec.train_task.name,
            "n_domain": len(domain),
            "n_replay": n_replay,
            "replay_task": spec.replay_task.name if n_replay else None,
            "supervised_tokens_per_epoch": sum(sum(1 for x in e.labels if x != IGNORE) for e in examples),
            "n_validation": len(val),
            **made,  # sources (task / synthetic sets and how many of each), label_noise, n_corrupted
        },
        "trainable_params": trainable,
        "metering": {
            "train_tokens": tokens,  # non-padding tokens the model processed, all epochs (Trainer's count)
            "train_seconds": round(train_seconds, 3),
            "tokens_per_s": round(tokens / train_seconds, 2) if train_seconds else None,
            "this_run_seconds": round(this_run, 3),
            "resumed_from_step": resumed_from,
            "steps": trainer.state.global_step,
            "epochs": f.epochs,
            "peak_memory_bytes": mem.section()["peak_bytes"],
            "peak_memory_kind": mem.kind,
            # the peak, what the process held before training, the allocator, and the estimate to compare
            "memory": {**mem.section(), "estimate": estimate},
            "micro_batch_size": f.batch_size // micro_split(f),
            "gradient_checkpointing": bool(getattr(model, "is_gradient_checkpointing", False)),
            # this run's passes whose loss was computed in chunks of positions (finetune.loss_chunk_mb), and of
            # how many
            "loss_chunks": {
                "passes": loss_fn.chunked_passes if loss_fn else 0,
                "positions": chunk,
            },
            "lora_dropout_fused": fused,
            "precision": precision,
            "device": _device_info(device_kind),
            "hardware": hardware,  # price profile of the training device (null: unknown, e.g. an older caller)
            "machine": busy.section(),  # this run's: other work on the machine slows training (harness.busy)
            "loss_curve": losses,
            "final_train_loss": losses[-1]["loss"] if losses else None,
            "mean_train_loss": round(mean_loss, 4) if mean_loss is not None else None,
            "validation_loss": round(val_loss, 4) if val_loss is not None else None,
        },
    }
    (staged / MARKER).write_text(json.dumps(info, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)  # the artifact appears whole or not at all
    shutil.rmtree(work, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    log.info(
        "artifact %s: %d tokens in %.0f s (%.0f tokens/s), validation loss %s",
        final.name,
        tokens,
        train_seconds,
        tokens / max(train_seconds, 1e-9),
        info["metering"]["validation_loss"],
    )
    return Artifact(info["artifact_id"], final, info["kind"], info, reused=False)
