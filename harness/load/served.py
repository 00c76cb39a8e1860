"""A harness model as a server for the load stage: the base model's prepared folder, or a fine-tuned artifact
(a full fine-tune's own folder; a LoRA / QLoRA adapter merged into its base once, kept beside the artifact as
`<artifact>-merged`). The artifact must exist: the load stage measures a trained model, it never trains one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def servable_folder(cell: Any) -> tuple[str, str | None]:
    """(folder or hub id to serve, artifact id or None) of a planned model cell."""
    from harness.finetune.train import find_artifact
    from harness.models import weights_location

    base = weights_location(cell.model, cell.cache_dir)
    if cell.train is None:
        return base, None
    artifact = find_artifact(cell.train, cell.artifacts_dir)
    if artifact is None:
        raise HarnessError(
            f"{cell.model.name} + {cell.finetune.method} is not trained yet: the load stage measures "
            "a trained model and does not train one. Run the same model=/finetune=/task settings "
            "with `harness` first (it stores the artifact), then `harness load` again."
        )
    if artifact.kind == "full":
        return str(artifact.path), artifact.id
    if cell.finetune.method == "ptuning_v2":
        raise HarnessError(
            "a p-tuning v2 artifact adds learned prefixes at every layer and cannot be merged into "
            "the weights a server loads: load-test a LoRA, QLoRA or full fine-tune instead."
        )
    return str(merged(base, artifact.path, cell)), artifact.id


def merged(base: str, adapter: Path, cell: Any) -> Path:
    """The adapter merged into its base weights, saved once (atomically) beside the artifact, with the tokenizer
    and the chat template evaluation uses."""
    out = adapter.parent / f"{adapter.name}-merged"
    if (out / "config.json").is_file():
        return out
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.compat import dtype_kwarg
    from harness.models.prompts import use_format

    trust = cell.model.trust_remote_code
    model = AutoModelForCausalLM.from_pretrained(base, **{dtype_kwarg(): torch.float32}, trust_remote_code=trust)
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=trust)
    use_format(tokenizer, cell.model.prompt_format)  # the prompts evaluation renders (harness/models/prompts.py)
    staged = adapter.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    model.save_pretrained(str(staged))
    tokenizer.save_pretrained(str(staged))
    if out.exists():
        shutil.rmtree(out)
    os.replace(staged, out)
    return out
