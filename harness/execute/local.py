"""The local hf backend: prepare the weights, train (or reuse) the artifact, score with lm-eval's hf backend."""

from __future__ import annotations

import logging
import time
from typing import Any

from harness.dist import devices_used
from harness.execute.base import Execution
from harness.spec.cell import Cell
from harness.store.record import build_record

log = logging.getLogger(__name__)


def finetune_section(cell: Cell, artifact: Any, reload_check: dict[str, Any] | None = None) -> dict[str, Any]:
    if artifact is None:
        return {"method": "none"}
    info = artifact.info
    return {
        "method": cell.finetune.method,
        "artifact_id": artifact.id,
        "artifact_path": str(artifact.path),
        "artifact_kind": artifact.kind,
        "artifact_reused": artifact.reused,
        "base_cell_id": cell.base_id,  # the base model on the same items: the comparison every tuned cell needs
        "train_task": info["data"]["train_task"],
        "n_train": cell.finetune.n_train,
        "replay": {
            "task": info["data"]["replay_task"],
            "ratio": cell.finetune.replay.ratio,
            "n_examples": info["data"]["n_replay"],
        },
        "data": info["data"],
        "train_data": train_data_section(cell, info["data"]),
        "trainable_params": info["trainable_params"],
        "params": info["identity"]["params"],
        "optim": info["identity"]["optim"],
        "seed": cell.finetune.seed,
        "metering": info["metering"],
        "prefix_path": info.get("prefix_path"),  # P-tuning v2's path for the family (harness/finetune/prefix.py)
        "reload_check": reload_check,
    }


def train_data_section(cell: Cell, data: dict[str, Any]) -> dict[str, Any]:
    """What the model was trained on, for the report: the sources and their shares, the teacher and money of
    each generated set, and the label noise. The data's money is the sum over its generated sets (None when one
    is unpriced); the task's own split costs nothing here."""
    task = data["train_task"]
    given = {s.dataset_id: s for s in (cell.train.sources if cell.train else ()) if s.kind == "synthetic"}
    sources = []
    for t in data.get("sources") or [{"source": "task", "task": task, "share": 1.0, "n": data["n_domain"]}]:
        s = given.get(t.get("dataset_id"))
        sources.append(
            t
            if s is None
            else {
                **t,
                "teacher": s.teacher,
                "teacher_display": s.teacher_display,
                "stand_in": s.stand_in,
                "cost": {"currency": s.currency, "total": s.cost},
            }
        )
    label = " + ".join(
        (task if t["source"] == "task" else f"synthetic {t['dataset_id'][:8]}")
        + (f" {round(100 * t['share'])}%" if len(sources) > 1 else "")
        for t in sources
    )
    costs = [t["cost"]["total"] for t in sources if t["source"] == "synthetic"]
    currency = next((t["cost"]["currency"] for t in sources if t["source"] == "synthetic"), "USD")
    return {
        "label": label,
        "sources": sources,
        "label_noise": data.get("label_noise", 0.0),
        "n_corrupted": data.get("n_corrupted", 0),
        "cost": {"currency": currency, "total": None if None in costs else round(sum(costs), 10)},
    }


def model_section(cell: Cell, pretrained: str) -> dict[str, Any]:
    m = cell.model
    section = {
        "name": m.name,
        "display_name": m.display_name,
        "source": m.source,
        "hub_id": m.hub_id,
        "revision": m.revision,
        "gguf_sha256": m.embedded.sha256 if m.embedded else None,
        "n_params": m.n_params,
        "dtype": m.dtype,
        "prompt_format": m.prompt_format,
        "license": m.license,
        "weights": pretrained,
    }
    if m.source == "hub" and not m.revision and not m.local_path:  # whatever the hub had when it was fetched
        section["warning"] = (
            f"revision not pinned: {m.hub_id} was evaluated at whatever commit the local cache "
            "holds; pin `revision` in its YAML to make the row reproducible"
        )
    return section


def eval_section(cell: Cell, out: Any, device: Any, memory: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        # peak while lm-eval loaded and ran the model (harness/memory.py): what evaluation needs on this device
        "memory": memory,
        "backend": "lm-eval/hf",
        "model_args": out.model_args,
        "batch_size": cell.eval.batch_size,
        "apply_chat_template": cell.apply_chat_template,
        **prompt_section(cell, out.samples),
        "num_fewshot": cell.task.num_fewshot,
        "limit": cell.task.limit,
        "seeds": seeds(cell.eval.seed),
        "device": {
            "kind": device.kind,
            "name": device.name,
            "count": device.count,
            "used": devices_used(device.kind),
        },
        "lm_eval_cli": out.cli,
    }


def prompt_section(cell: Any, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """How the prompts were sent and whether the answers came back in the task's shape (issue 36)."""
    from harness.compare.shape import answer_shape

    return {
        "prompt_format": "chat" if cell.apply_chat_template else "plain",
        "prompt_format_from": cell.prompt_decided_by,  # run (eval.apply_chat_template) | task | model
        "answer_shape": answer_shape(
            samples, cell.task_spec.output_type, cell.task.answer_pattern, cell.task.primary_metric
        ),
    }


def seeds(seed: int) -> dict[str, int]:
    return {"python": seed, "numpy": seed, "torch": seed, "fewshot": seed}


def hardware_section(cell: Cell, device: Any) -> dict[str, Any]:
    """The price profile of the device: refuses (HarnessError) a configured profile for other hardware."""
    from harness.compare.hardware import priced_as
    from harness.config.schema import HardwareConfig

    return priced_as(
        cell.hardware or HardwareConfig(), device.kind, device.name, device.count, devices_used(device.kind)
    )


def cost_section(
    hardware: dict[str, Any], inference: dict[str, Any] | None, artifact: Any, data_cost: float | None = 0.0
) -> dict[str, Any]:
    """Self-hosted money: the price of every device the cell used / the queries per hour all of them answered
    together; training priced as the device it trained on (its artifact's profile), plus what its training data
    cost to generate (`data_cost`: a teacher's tokens; None when unpriced, which leaves training unknown too)."""
    from harness.compare.cost import per_1k_from_rate
    from harness.compare.hardware import training_priced

    price, qph = hardware.get("price_per_hour"), (inference or {}).get("queries_per_hour")
    devices = int(hardware.get("devices") or 1)
    metering = artifact.info["metering"] if artifact is not None else None
    device_cost, training_basis = training_priced(metering, hardware) if metering is not None else (None, None)
    training = None if device_cost is None or data_cost is None else device_cost + data_cost
    return {
        "currency": hardware.get("currency", "USD"),
        "priced": price is not None,
        "per_1k_queries": per_1k_from_rate(price * devices, qph) if price is not None and qph else None,
        "basis": f"{hardware.get('profile')} at {price}/h x {devices} device(s) / queries per hour of all of them at "
        f"batch size {(inference or {}).get('batch_size')}"
        if price is not None
        else "unpriced: no hardware profile fits this device",
        "training": training,  # device + data
        "training_device": device_cost,
        "training_data": data_cost if metering is not None else None,
        "training_basis": training_basis,
    }


def finetune_data_cost(cell: Cell, artifact: Any) -> float | None:
    if artifact is None:
        return 0.0
    return train_data_section(cell, artifact.info["data"])["cost"]["total"]


def consistency_section(ev: Any, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With eval.samples = k > 1: how often the k answers per item agree (None for one greedy answer)."""
    if ev.samples == 1:
        return None
    from harness.compare.consistency import agreement

    return agreement(samples, ev.sample_temperature)


class LocalBackend:
    name = "local"

    def execute(self, cell: Cell, device: Any) -> Execution | None:
        """Prepare weights, train (or reuse) the artifact, evaluate. None on a non-zero rank."""
        from harness.evaluate.lmeval import evaluate
        from harness.models import weights_location

        t0 = time.perf_counter()
        hardware = hardware_section(cell, device)
        pretrained = weights_location(cell.model, cell.cache_dir)
        t1 = time.perf_counter()
        artifact = None
        if cell.train is not None:
            from harness.finetune.train import train

            artifact = train(cell.train, pretrained, cell.artifacts_dir, device.kind, hardware)
        t2 = time.perf_counter()
        log.info(
            "evaluating %s%s on %s (cell %s) on %s",
            cell.model.name,
            f" + {cell.finetune.method}" if artifact else "",
            cell.task.name,
            cell.id,
            device.kind,
        )
        from harness.busy import Busy
        from harness.memory import PeakMemory, release

        release()  # what training freed goes back first, so the evaluation's peak is its own
        # a timing is only as good as the machine was quiet: recorded with it (this process runs the model)
        with Busy(client=False) as busy, PeakMemory(cuda=device.kind == "cuda") as mem:
            out = evaluate(cell, pretrained, device.kind, artifact)
        release()
        if out is None:  # a non-zero rank under `accelerate launch`: lm-eval gathers the scores on rank 0
            return None
        if out.inference is not None:
            out.inference["machine"] = busy.section()
        timings = {
            "prepare_s": t1 - t0,
            "train_s": t2 - t1,
            "evaluate_s": out.seconds,
            "total_s": time.perf_counter() - t0,
        }
        record = build_record(
            cell,
            model=model_section(cell, pretrained),
            finetune=finetune_section(cell, artifact, out.reload_check),
            eval=eval_section(cell, out, device, mem.section()),
            metrics=out.metrics,
            n=out.n,
            timings=timings,
            eval_seconds=out.seconds,
            hardware=hardware,
            inference=out.inference,
            cost=cost_section(hardware, out.inference, artifact, finetune_data_cost(cell, artifact)),
            consistency=consistency_section(cell.eval, out.samples),
        )
        return Execution(record, out.samples)
