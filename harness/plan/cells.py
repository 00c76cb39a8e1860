"""Plan: turn one composed config into the cell specs it asks for (harness.spec.cell), with content-addressed ids.

The id is the SHA-256 of exactly the fields that change a cell's result (model identity and weights digest,
fine-tuning config, task version and content hash, evaluation settings, result-schema version). Paths, sweep
names and output folders are left out, so the same cell planned from two sweeps is computed once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import OmegaConf

from harness.config.schema import (
    BaselineConfig,
    EvalConfig,
    FinetuneConfig,
    ModelConfig,
    TaskConfig,
)
from harness.errors import HarnessError
from harness.models.prompts import is_chat
from harness.paths import absolute, resolve
from harness.spec.cell import BaselineCell, Cell, CellSpec, Endpoint
from harness.spec.finetune import make_train_spec, train_task_config
from harness.store.record import SCHEMA_VERSION
from harness.tasks import TaskSpec, load_task
from harness.util import content_id  # noqa: F401 - re-exported


def prompt_choice(model: ModelConfig | None, ev: EvalConfig, task: TaskConfig) -> tuple[bool, str]:
    """(whether the prompt goes in a chat turn, who decided: run | task | model). `model` None: a chat API,
    whose own default is a chat turn (plain sends the rendered text as one user message). A model without a
    chat format (prompt_format: plain) gets plain text unless the run itself asks for its tokenizer's template."""
    asked = str(ev.apply_chat_template).lower()  # `=false` on the command line arrives as False, then "False"
    if asked in ("true", "false"):
        return asked == "true", "run"
    if model is not None and not is_chat(model.prompt_format):
        return False, "model"
    if task.prompt_format in ("chat", "plain"):
        return task.prompt_format == "chat", "task"
    return True, "model"  # the tokenizer's own template, a seed model's format, or a chat API's messages


def model_identity(m: ModelConfig) -> dict[str, Any]:
    """Another runtime is another stack (its own numerics): part of the id, added only when it is not `main`
    so that the ids of cells planned before runtimes existed stay the same."""
    runtime = {} if m.runtime == "main" else {"runtime": m.runtime}
    return {
        **runtime,
        "name": m.name,
        "source": m.source,
        "hub_id": m.hub_id,
        "revision": m.revision,
        "local_path": m.local_path,
        "gguf_sha256": m.embedded.sha256 if m.embedded else None,
        "dtype": m.dtype,
        "trust_remote_code": m.trust_remote_code,
    }


def sampling_identity(ev: EvalConfig, spec: TaskSpec) -> dict[str, Any]:
    """k sampled answers per item change the answers, so they are part of the cell id (only when k > 1, so
    cells planned before the option existed keep their ids)."""
    if ev.samples == 1:
        return {}
    if ev.samples < 1 or ev.sample_temperature <= 0:
        raise HarnessError(
            f"eval.samples={ev.samples}, eval.sample_temperature={ev.sample_temperature}: k answers per item need "
            "k >= 2 and a temperature > 0 (at temperature 0 the k answers would be the same one)."
        )
    if spec.output_type != "generate_until":
        raise HarnessError(
            f"eval.samples={ev.samples}: task {spec.name} is scored by log-likelihood ({spec.output_type}), "
            "which samples nothing; k answers per item apply to generative tasks."
        )
    return {"samples": ev.samples, "sample_temperature": ev.sample_temperature}


def plan_cell(cfg: Any) -> Cell:
    """cfg: the composed HarnessConfig (DictConfig or the dataclass)."""
    model: ModelConfig = OmegaConf.to_object(cfg.model) if OmegaConf.is_config(cfg) else cfg.model
    task: TaskConfig = OmegaConf.to_object(cfg.task) if OmegaConf.is_config(cfg) else cfg.task
    finetune: FinetuneConfig = OmegaConf.to_object(cfg.finetune) if OmegaConf.is_config(cfg) else cfg.finetune
    ev: EvalConfig = OmegaConf.to_object(cfg.eval) if OmegaConf.is_config(cfg) else cfg.eval
    spec = load_task(task)
    chat, decided_by = prompt_choice(model, ev, task)
    from harness.data.sets import datasets_root

    # the training prompts are formatted as the task trained on asks (finetune.train_task), so one fine-tune is
    # one artifact whichever task it is evaluated on (its own, or the general suite for forgetting)
    train_chat = chat if finetune.method == "none" else prompt_choice(model, ev, train_task_config(finetune, task))[0]
    train = make_train_spec(
        model, model_identity(model), finetune, task, train_chat, datasets_root(resolve(cfg.paths.results))
    )
    ft_identity: dict[str, Any] = {"method": finetune.method}
    if train is not None:
        ft_identity["artifact"] = content_id(train.identity())
    eval_identity: dict[str, Any] = {
        "backend": "lm-eval/hf",
        "limit": task.limit,
        "num_fewshot": task.num_fewshot,
        "batch_size": ev.batch_size,
        "apply_chat_template": chat,
        "seed": ev.seed,
    }
    if task.split != "test":  # only when set, so cells planned before the option existed keep their ids
        eval_identity["split"] = task.split
    eval_identity.update(sampling_identity(ev, spec))
    identity = {
        "schema_version": SCHEMA_VERSION,
        "model": model_identity(model),
        "finetune": ft_identity,
        "task": {"name": spec.name, "version": spec.version, "content_sha256": spec.content_sha256},
        "eval": eval_identity,
    }
    snapshot = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else {}
    return Cell(
        id=content_id(identity),
        identity=identity,
        model=model,
        task=task,
        task_spec=spec,
        finetune=finetune,
        train=train,
        eval=ev,
        apply_chat_template=chat,
        prompt_decided_by=decided_by,
        results_dir=resolve(cfg.paths.results),
        cache_dir=resolve(cfg.paths.cache),
        artifacts_dir=resolve(cfg.paths.artifacts),
        config_snapshot=snapshot,
        hardware=_obj(cfg.hardware) if "hardware" in cfg else None,
    )


def _obj(node: Any) -> Any:
    return OmegaConf.to_object(node) if OmegaConf.is_config(node) else node


def plan_endpoint(b: BaselineConfig) -> Endpoint:
    """The endpoint of a conf/baseline/ entry, for a baseline cell and for a judge alike."""
    if b.serve is None:
        url = b.base_url or "https://api.openai.com/v1"
        return Endpoint(identity=url, id=url, served_model=None)
    from harness.models import model_config

    served = model_config(b.serve.model)
    return Endpoint(
        identity={"server": "transformers serve", "model": model_identity(served)},
        id=f"transformers-serve:{served.name}:{(served.embedded.sha256 if served.embedded else '')[:16]}",
        served_model=served,
    )


def plan_baseline(cfg: Any) -> BaselineCell:
    b: BaselineConfig = _obj(cfg.baseline)
    task: TaskConfig = _obj(cfg.task)
    ev: EvalConfig = _obj(cfg.eval)
    spec = load_task(task)
    endpoint = plan_endpoint(b)
    identity = {
        "schema_version": SCHEMA_VERSION,
        "baseline": {"name": b.name, "provider": b.provider, "model": b.model, "endpoint": endpoint.identity},
        "task": {"name": spec.name, "version": spec.version, "content_sha256": spec.content_sha256},
        "eval": {
            "backend": "lm-eval/harness-chat-api",
            "limit": task.limit,
            "num_fewshot": task.num_fewshot,
            "temperature": b.temperature,
            "max_tokens": b.max_tokens,
            "seed": ev.seed,
        },
    }
    if task.split != "test":
        identity["eval"]["split"] = task.split
    chat, decided_by = prompt_choice(None, ev, task)
    if not chat:  # only when plain, so the ids of chat cells (every one before the option) stay the same
        identity["eval"]["apply_chat_template"] = False
    identity["eval"].update(sampling_identity(ev, spec))
    return BaselineCell(
        id=content_id(identity),
        identity=identity,
        baseline=b,
        served_model=endpoint.served_model,
        endpoint_id=endpoint.id,
        task=task,
        task_spec=spec,
        eval=ev,
        results_dir=resolve(cfg.paths.results),
        cache_dir=resolve(cfg.paths.cache),
        api_cache=absolute(cfg.paths.api_cache),
        config_snapshot=OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else {},
        apply_chat_template=chat,
        prompt_decided_by=decided_by,
    )


def base_config(cfg: Any) -> Any:
    """The same job with finetune=none: the base model on the same items."""
    if not OmegaConf.is_config(cfg):
        return dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune, method="none"))
    return OmegaConf.merge(cfg, {"finetune": {"method": "none"}})


def plan_cells(cfg: Any) -> list[Cell]:
    """The model cells of one job: the cell, and for a tuned cell its base cell first (the comparison every
    tuned cell needs, on the same items), named by the tuned cell's `base_id`."""
    cell = plan_cell(cfg)
    if cell.train is None:
        return [cell]
    base = plan_cell(base_config(cfg))
    return [base, dataclasses.replace(cell, base_id=base.id)]


def plan(cfg: Any) -> list[CellSpec]:
    """Every cell one composed config asks for, in the order they run: the model cells (base before tuned),
    then the API baseline on the same task and items."""
    specs: list[CellSpec] = []
    if cfg.model.name != "none":
        specs += plan_cells(cfg)
    if cfg.baseline.name:
        specs.append(plan_baseline(cfg))
    return specs


def not_applicable(spec: CellSpec) -> str | None:
    """Why a planned cell cannot run at all (None: it can); the run and the dry run say the same."""
    if isinstance(spec, BaselineCell) and spec.task_spec.output_type in (
        "multiple_choice",
        "loglikelihood",
        "loglikelihood_rolling",
    ):
        return (
            f"{spec.task.name} is scored by log-likelihood ({spec.task_spec.output_type}); a chat API returns "
            "no log-probabilities of given answers, so API baselines run on generative tasks only."
        )
    return None
