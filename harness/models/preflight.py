"""Checks that run before any model is loaded, so a cell that cannot work here fails in seconds, readably.

Each check returns a problem string or None; `preflight` raises one PreflightError listing all problems.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.config.schema import FinetuneConfig, ModelConfig, TaskConfig
from harness.errors import PreflightError

BYTES_PER_PARAM = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "int4": 0.5}

# Memory needed per parameter, as a multiple of the weights' own size. `none` (inference) adds ~20 % for
# activations and KV cache at short contexts. `full` fine-tuning with AdamW in mixed precision keeps fp32
# master weights, gradients and two moments: ~16 bytes/param, i.e. 8x a 2-byte weight. The numbers are the
# usual rules of thumb (e.g. the HF "model memory" calculator), an estimate stated as such in the message.
METHOD_FACTOR = {"none": 1.2, "lora": 1.4, "ptuning_v2": 1.3, "qlora": 0.45, "full": 8.0}


@dataclass(frozen=True)
class Device:
    kind: str  # cpu | cuda
    name: str
    memory_bytes: int
    count: int = 1


def detect_device(requested: str = "auto") -> Device:
    import psutil

    if requested != "cpu":
        try:
            import torch

            if torch.cuda.is_available():
                index = int(requested.split(":")[1]) if ":" in requested else 0
                props = torch.cuda.get_device_properties(index)
                return Device("cuda", props.name, props.total_memory, torch.cuda.device_count())
        except ImportError:
            pass
    return Device("cpu", "cpu", psutil.virtual_memory().available)


def params_of(model: ModelConfig) -> tuple[int, str]:
    """(parameter count, where it comes from): a local folder's own safetensors headers when they can be read,
    else the YAML's `n_params` (the published model's size)."""
    if model.local_path:
        from harness.models.folder import folder_facts

        facts = folder_facts(Path(model.local_path).expanduser().resolve())
        if facts is not None:
            return facts.n_params, f"counted in {model.local_path} ({facts.stored_dtype} as stored)"
    return model.n_params, "n_params of its YAML"


def estimate_memory_bytes(model: ModelConfig, method: str) -> int:
    """Weights in the dtype they are loaded in (model.dtype) x the method's factor: the rule of thumb used when the
    model's architecture is not readable here (a hub model not yet downloaded)."""
    return round(params_of(model)[0] * BYTES_PER_PARAM[model.dtype] * METHOD_FACTOR[method])


def model_folder(model: ModelConfig, cache: Path | None) -> Path | None:
    """The folder whose config.json gives the architecture: model.local_path, or an embedded model's prepared one."""
    if model.local_path:
        return Path(model.local_path).expanduser()
    if model.source == "embedded" and cache is not None:
        from harness.models.embedded import prepared_dir

        return prepared_dir(model, cache)
    return None


def footprint_estimate(
    model: ModelConfig, f: FinetuneConfig, device: Device, cache: Path | None
) -> dict[str, int] | None:
    """harness/models/footprint.py's terms for a training pass of micro-batch x max_length tokens, every position's
    logits kept (an upper bound: the run itself stores the estimate for its real longest pass); None when the
    architecture is not readable."""
    from harness.models.footprint import architecture, evaluation_bytes, training_bytes

    arch = architecture(model_folder(model, cache))
    if arch is None:
        return None
    n = params_of(model)[0]
    weight = BYTES_PER_PARAM[model.dtype] if f.method != "qlora" else 0.5
    if f.method == "none":
        return evaluation_bytes(arch, n, weight, 8, f.max_length, device.kind)
    rows = min(f.micro_batch_size or f.batch_size, f.batch_size)  # rows per forward/backward pass
    tokens = rows * f.max_length
    return training_bytes(arch, n, weight, f.method, tokens, tokens, device.kind, f.lora.r, f.gradient_checkpointing)


def hub_weights_present(model: ModelConfig) -> bool:
    """Whether the hub weights are in the local HF cache (this machine may never reach the hub)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model.hub_id, "config.json", revision=model.revision or "main")
    return isinstance(found, str)


def check_weights(model: ModelConfig, cache: Path | None = None) -> str | None:
    if model.source == "embedded":
        from harness.models.embedded import MARKER, package_dir, prepared_dir

        if cache is not None and (prepared_dir(model, cache) / MARKER).exists():
            return None  # prepared already (a runtime's worker gets it prepared by the main environment)
        try:
            package_dir(model.embedded)
        except Exception as e:  # noqa: BLE001 - the message is the point
            return str(e)
        return None
    if model.local_path:
        if not (Path(model.local_path).expanduser() / "config.json").exists():
            return f"model.local_path={model.local_path} has no config.json; point it at a Hugging Face model folder."
        return None
    if model.source == "hub" and not hub_weights_present(model):
        rev = model.revision or "main"
        return (
            f"weights for {model.hub_id} (revision {rev}) are not available offline: they are not in the local "
            f"Hugging Face cache and this machine cannot reach the hub. On a machine with hub access run "
            f"`huggingface-cli download {model.hub_id} --revision {rev}`, or set model.local_path=/path/to/folder."
        )
    return None


def check_transformers(model: ModelConfig, installed: str | None = None) -> str | None:
    if not model.constraints.transformers:
        return None
    if installed is None:
        import transformers

        installed = transformers.__version__
    spec = SpecifierSet(model.constraints.transformers)
    if Version(installed) in spec:
        return None
    from harness.store.record import current_runtime

    here = current_runtime()["name"]
    fits = [n for n, v in runtime_transformers().items() if v is not None and Version(v) in spec and n != here]
    fix = (
        f"Run it in the runtime {fits[0]} (transformers {runtime_transformers()[fits[0]]}): set `runtime: {fits[0]}` "
        f"in its YAML, or add model.runtime={fits[0]}; `harness runtime create {fits[0]}` creates it ahead of time."
        if fits
        else f"No runtime in runtimes/ has one: add a runtime whose lock pins transformers{spec} (docs/guide-sweep-operator.md, "
        '"Adding a runtime").'
    )
    return (
        f"{model.name}'s remote code needs transformers{spec}, but the runtime {here} has {installed} "
        f"({(model.constraints.notes or 'known incompatibility').rstrip('.')}). {fix}"
    )


def runtime_transformers() -> dict[str, str | None]:
    """Each defined runtime's pinned transformers (main: the installed one)."""
    import transformers

    from harness.runtimes import MAIN, load, names

    found: dict[str, str | None] = {MAIN: transformers.__version__}
    for name in names():
        if name != MAIN:
            found[name] = load(name).pins().get("transformers")
    return found


def in_runtime_hint(modules: list[str]) -> str | None:
    """In a runtime other than main, what installs a missing module: its lock, not pip in this environment."""
    from harness.store.record import current_runtime

    name = current_runtime()["name"]
    if name == "main":
        return None
    return (
        f"This cell runs in the runtime {name}: add {', '.join(modules)} with exact versions to "
        f"runtimes/{name}.lock (a new lock creates a new runtime on the next run)."
    )


def check_modules(model: ModelConfig) -> str | None:
    missing = [m for m in model.constraints.python_modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    extra = f" Install them with `pip install -e '.[{model.constraints.extra}]'`." if model.constraints.extra else ""
    extra = f" {in_runtime_hint(missing)}" if in_runtime_hint(missing) else extra
    return f"{model.name} needs the Python modules {', '.join(missing)}, which are not installed.{extra}"


def _fits(model: ModelConfig, method: str, device: Device) -> bool:
    return (method != "qlora" or device.kind == "cuda") and estimate_memory_bytes(model, method) <= device.memory_bytes


def nearest_option(model: ModelConfig, method: str, device: Device) -> str:
    """What would run here instead: the cheapest-to-change method that fits, else say a bigger device."""
    gib = 1024**3
    # Closest in spirit first: an adapter method stays an adapter method; full fine-tuning falls back to LoRA.
    order = {
        "full": ["lora", "ptuning_v2"],
        "lora": ["ptuning_v2", "qlora"],
        "qlora": ["lora", "ptuning_v2"],
        "ptuning_v2": ["lora", "qlora"],
        "none": [],
    }.get(method, [])
    for alt in order:
        if _fits(model, alt, device):
            need = estimate_memory_bytes(model, alt) / gib
            return f"Nearest option that fits here: finetune={alt} (about {need:.1f} GiB)."
    return "No fine-tuning method fits this device for this model: use a larger device or a smaller model."


def check_method(model: ModelConfig, method: str, device: Device) -> str | None:
    """QLoRA's 4-bit kernels (bitsandbytes) run on CUDA only."""
    if method != "qlora":
        return None
    problems = []
    if device.kind != "cuda":
        problems.append(
            f"finetune=qlora needs a CUDA GPU (4-bit bitsandbytes kernels), but this machine has {device.kind}"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        problems.append(
            "finetune=qlora needs bitsandbytes, which is not installed ("
            + (in_runtime_hint(["bitsandbytes"]) or "`pip install -e '.[gpu]'`")
            + ")"
        )
    if not problems:
        return None
    return "; ".join(problems) + ". " + nearest_option(model, method, device)


def check_memory(
    model: ModelConfig, method: str, device: Device, f: FinetuneConfig | None = None, cache: Path | None = None
) -> str | None:
    if method == "qlora" and device.kind != "cuda":
        return None  # check_method already says why, and what to use instead
    terms = footprint_estimate(model, f, device, cache) if f is not None and f.method == method else None
    if terms is not None:
        if terms["total"] <= device.memory_bytes:
            return None
        from harness.models.footprint import describe

        gib = 1024**3
        smaller = (
            " A smaller finetune.micro_batch_size or finetune.max_length lowers the activations and output layer;"
            " finetune.gradient_checkpointing=true lowers the activations at the cost of time."
            if method != "none"
            else ""
        )
        return (
            f"{model.name} with finetune={method} needs about {describe(terms)} (estimate from its config.json, "
            f"at most {f.max_length} tokens a row), but the {device.kind} device ({device.name}) has "
            f"{device.memory_bytes / gib:.1f} GiB available.{smaller}"
        )
    need = estimate_memory_bytes(model, method)
    if need <= device.memory_bytes:
        return None
    gib = 1024**3
    n, where = params_of(model)
    hint = nearest_option(model, method, device) if method != "none" else "Use a larger device or a smaller model."
    return (
        f"{model.name} with finetune={method} needs about {need / gib:.1f} GiB (estimate: {n / 1e9:.2f}B "
        f"params, {where}, x {BYTES_PER_PARAM[model.dtype]} bytes ({model.dtype}) x {METHOD_FACTOR[method]} for {method}), "
        f"but the {device.kind} device ({device.name}) has {device.memory_bytes / gib:.1f} GiB available. {hint}"
    )


def preflight(
    model: ModelConfig,
    finetune: FinetuneConfig,
    device: Device,
    task: TaskConfig | None = None,
    cache: Path | None = None,
    packages: bool = True,
) -> None:
    """Every check, or with `packages=False` only those that do not depend on this environment's packages
    (weights, memory, data sets): what the parent checks before it creates or starts a model's runtime."""
    from harness.tasks import check_hub_datasets

    checks = [
        check_weights(model, cache),
        check_transformers(model) if packages else None,
        check_modules(model) if packages else None,
        check_method(model, finetune.method, device) if packages else None,
        check_memory(model, finetune.method, device, finetune, cache),
        check_hub_datasets(task) if task is not None else None,
    ]
    problems = [p for p in checks if p]
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        what = f"model={model.name}, finetune={finetune.method}" + (f", task={task.name}" if task else "")
        raise PreflightError(f"preflight failed for {what}:\n{lines}")
