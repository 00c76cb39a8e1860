"""What a fine-tuning run is, as data: the typed input of the finetune stage, and its content hash.

Imports nothing heavy, so planning a sweep (and skipping stored cells) stays fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.config.schema import FinetuneConfig, ModelConfig, TaskConfig
from harness.data.sets import DataSource
from harness.errors import HarnessError
from harness.tasks import TaskSpec

METHODS = ("none", "lora", "ptuning_v2", "full", "qlora")
ADAPTER_METHODS = ("lora", "ptuning_v2", "qlora")  # saved as a peft adapter; `full` saves whole weights
# Bumped when the training code changes what an artifact contains (prompt rendering, masking, trainer setup).
TRAINER_VERSION = 1


def micro_split(f: Any) -> int:
    """How many passes each batch is computed in (finetune.micro_batch_size); 1 = the whole batch at once."""
    m = f.micro_batch_size
    return f.batch_size // m if m and m < f.batch_size else 1


@dataclass(frozen=True)
class TrainSpec:
    model: ModelConfig
    model_identity: dict[str, Any]
    finetune: FinetuneConfig
    train_task: TaskSpec
    replay_task: TaskSpec | None
    chat_template: bool  # prompts rendered with the model's chat template (as evaluation does)
    # finetune.train_data resolved: () = the train task's own split alone; else each source and its share
    sources: tuple[DataSource, ...] = ()

    def method_params(self) -> dict[str, Any]:
        f = self.finetune
        if f.method in ("lora", "qlora"):
            return {
                "lora": asdict(f.lora),
                **({"quant": "nf4", "double_quant": True} if f.method == "qlora" else {}),
            }
        if f.method == "ptuning_v2":
            path = self.prefix_path()
            # the family's path (harness/finetune/prefix.py), named only when it is not peft's own, so the ids of
            # artifacts trained before the other paths existed stay the same
            return {"prefix": {**asdict(f.prefix), **({"path": path} if path != "peft" else {})}}
        return {}

    def prefix_path(self) -> str | None:
        """P-tuning v2's path for this model's family (None for other methods), as planned from its config."""
        if self.finetune.method != "ptuning_v2":
            return None
        from harness.models.family import planned_path

        return planned_path(self.model)

    def identity(self) -> dict[str, Any]:
        """Everything that changes the trained weights: base model, method, data slice, hyperparameters, seed."""
        f = self.finetune
        replay = None
        if self.replay_task is not None and f.replay.ratio > 0:
            r = self.replay_task
            replay = {"task": r.name, "content_sha256": r.content_sha256, "ratio": f.replay.ratio}
        t = self.train_task
        return {
            "trainer_version": TRAINER_VERSION,
            "base": self.model_identity,
            "method": f.method,
            "params": self.method_params(),
            "data": {
                "task": t.name,
                "task_version": t.version,
                "content_sha256": t.content_sha256,
                "n_train": f.n_train,
                "replay": replay,
                "chat_template": self.chat_template,
                "max_length": f.max_length,
                # only when set, so the artifacts of runs from before these options keep their ids
                **({"sources": [s.identity() for s in self.sources]} if self.sources else {}),
                **({"label_noise": f.label_noise} if f.label_noise else {}),
            },
            "optim": {
                "epochs": f.epochs,
                "learning_rate": f.learning_rate,
                "batch_size": f.batch_size,
                "grad_accum": f.grad_accum,
                # only when it splits the batch, so artifacts from before the option keep their ids
                **({"micro_batch_size": f.micro_batch_size} if micro_split(f) > 1 else {}),
                "weight_decay": f.weight_decay,
                "warmup_ratio": f.warmup_ratio,
                "precision": f.precision,
            },
            "seed": f.seed,
        }


def check_finetune(f: FinetuneConfig) -> None:
    if f.method not in METHODS:
        from harness.errors import did_you_mean

        raise HarnessError(f"finetune.method: {did_you_mean(f.method, list(METHODS), 'method')}")
    if f.n_train is not None and f.n_train < 1:
        raise HarnessError(f"finetune.n_train={f.n_train}: use a positive number of examples, or null for all.")
    if not 0 <= f.replay.ratio <= 10:
        raise HarnessError(f"finetune.replay.ratio={f.replay.ratio}: use a ratio between 0 and 10.")
    if f.replay.ratio > 0 and not f.replay.task:
        raise HarnessError(
            "finetune.replay.ratio > 0 needs finetune.replay.task, e.g. finetune.replay.task=general_en."
        )
    if not 0 <= f.label_noise < 1:
        raise HarnessError(
            f"finetune.label_noise={f.label_noise}: use a share in [0, 1), e.g. 0.2 for one answer in five wrong."
        )
    if f.precision not in ("auto", "fp32", "bf16", "fp16"):
        raise HarnessError(f"finetune.precision={f.precision!r}: use auto, fp32, bf16 or fp16.")


def train_task_config(f: FinetuneConfig, eval_task: TaskConfig) -> TaskConfig:
    """The task whose train split is learned: finetune.train_task, or the evaluated task itself."""
    if not f.train_task or f.train_task == eval_task.name:
        return eval_task
    return named_task_config(f.train_task, "finetune.train_task")


def named_task_config(name: str, key: str) -> TaskConfig:
    from harness.errors import did_you_mean
    from harness.tasks import broken_note, discover, task_config

    found = discover()
    if name not in found:
        raise HarnessError(
            f"{key}: {did_you_mean(name, list(found), 'task')} (it must be a task folder with a train split)"
            + broken_note(name)
        )
    path, doc = found[name]
    return task_config(name, path, doc)


def make_train_spec(
    model: ModelConfig,
    model_identity: dict[str, Any],
    f: FinetuneConfig,
    eval_task: TaskConfig,
    chat: bool,
    datasets: Path | None = None,
) -> TrainSpec | None:
    """The training run a cell needs, or None for finetune=none. `datasets`: where generated data sets are
    stored (<paths.results>/datasets), for finetune.train_data."""
    from harness.data.sets import resolve_sources
    from harness.tasks import load_task

    check_finetune(f)
    if f.method == "none":
        return None
    train_cfg = train_task_config(f, eval_task)
    replay = load_task(named_task_config(f.replay.task, "finetune.replay.task")) if f.replay.ratio > 0 else None
    train = load_task(train_cfg)
    if f.label_noise:
        _check_noise_task(train)
    sources = resolve_sources(f.train_data, train.name, datasets or Path("results/datasets"))
    return TrainSpec(model, model_identity, f, train, replay, chat, sources)


def _check_noise_task(t: TaskSpec) -> None:
    """label_noise corrupts one answer field: refused up front for a task whose answer is not one."""
    from harness.data.shape import target_field
    from harness.tasks import load_task_doc

    if t.yaml_file is None:
        raise HarnessError(f"finetune.label_noise: task {t.name} ships with lm-eval; use a project task.")
    target_field(load_task_doc(t.yaml_file), t.name, "finetune.label_noise")
