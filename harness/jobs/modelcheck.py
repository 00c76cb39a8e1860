"""`harness model check PATH_OR_NAME`: will this model run here, in the runtime it would use, before a sweep (or a
rented GPU) depends on it?

One process of the model's runtime (`legacy` for ChatGLM2 / Baichuan2 / Qwen remote code, else `main`) runs the
steps in order and reports each as it ends: tokenizer (zh + en round trip, the eos the harness resolves), load,
log-likelihood (the README reference probe of ../shared/seed_arch, as lm-eval's hf backend encodes it), padded
batch (each row equals the row alone), generation (stops at that eos), then one optimizer step of each
fine-tuning method on one example as the harness builds it (harness.finetune.train.wrap; P-tuning v2 on the
family's own path). Each step has its seconds, the peak memory while it ran and a one-line cause when it fails.
Exit 0: nothing failed (a step that cannot run here, such as QLoRA without CUDA, is `refused` with its reason);
1: a step failed; 2: the model cannot be checked at all (no such folder or name, no weights, no runtime).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.memory import PeakMemory

STEPS = ("tokenizer", "load", "loglik", "batch", "generate", "lora", "ptuning_v2", "full", "qlora")
METHODS = ("lora", "ptuning_v2", "full", "qlora")
LEGACY_TYPES = {
    "chatglm",
    "qwen",
    "baichuan",
}  # remote code written for transformers 4.33 (runtimes/legacy.yaml)
# ../shared/seed_arch/README.md's reference: log p(" Paris" | context), context with the tokenizer's own special
# tokens, continuation without
CONTEXT, CONTINUATION = "Question: what is the capital of France?\nAnswer:", " Paris"
ROUND_TRIP = ("The printer on floor 3 is out of toner.", "三楼的打印机没有墨粉了。")
PREFIX = "STEP "  # the inner process's report lines


# -- inside the runtime ------------------------------------------------------------------------------------------


class Refused(Exception):
    """A step that cannot run on this machine, for a reason that is not a fault of the model."""


class Checker:
    def __init__(self, folder: str, trust_remote_code: bool, device: str) -> None:
        import torch

        self.folder, self.trust = folder, trust_remote_code
        self.cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        self.device = "cuda" if self.cuda else "cpu"
        self.dtype = torch.bfloat16 if self.cuda else torch.float32
        self.tokenizer: Any = None
        self.model: Any = None
        self.config: Any = None

    def _load(self, **extra: Any) -> Any:
        from transformers import AutoModelForCausalLM

        from harness.compat import dtype_kwarg

        kw = {dtype_kwarg(): self.dtype, "trust_remote_code": self.trust, **extra}
        return AutoModelForCausalLM.from_pretrained(self.folder, **kw).to(self.device)

    def _need(self, *what: str) -> None:
        for w in what:
            if getattr(self, w) is None:
                raise Refused(f"needs the {w} step, which did not pass")

    def tokenizer_step(self) -> str:
        from transformers import AutoConfig, AutoTokenizer

        from harness.evaluate.guards import ensure_eos, folder_configs

        self.config = AutoConfig.from_pretrained(self.folder, trust_remote_code=self.trust)
        tok = AutoTokenizer.from_pretrained(self.folder, trust_remote_code=self.trust)
        ensure_eos(tok, folder_configs(self.folder, self.trust), self.folder)
        counts = []
        for text in ROUND_TRIP:
            ids = tok.encode(text, add_special_tokens=False)
            back = tok.decode(ids, skip_special_tokens=True)
            if back.strip() != text:
                raise AssertionError(f"round trip changed the text: {text!r} -> {back!r}")
            counts.append(len(ids))
        self.tokenizer = tok
        return f"en {counts[0]} + zh {counts[1]} tokens round-trip; eos {tok.eos_token!r} (id {tok.eos_token_id})"

    def load_step(self) -> str:
        self._need("tokenizer")
        self.model = self._load().eval()
        n = sum(p.numel() for p in self.model.parameters())
        return (
            f"{type(self.model).__name__}, {n:,} parameters, {str(self.dtype).replace('torch.', '')} on {self.device}"
        )

    def loglik_step(self) -> str:
        self._need("model")
        import torch

        ctx = self.tokenizer(CONTEXT)["input_ids"]
        cont = self.tokenizer(CONTINUATION, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([ctx + cont], device=self.device)
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=ids).logits[0].float(), dim=-1)
        value = float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))
        if not math.isfinite(value):
            raise AssertionError(f"log-likelihood is {value}")
        self.loglik = value
        return f"log p({CONTINUATION!r} | reference question) = {value:.4f} ({len(cont)} token(s))"

    def batch_step(self) -> str:
        """Two rows of different lengths, padded the tokenizer's way, against each row alone."""
        self._need("model")
        import torch

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        rows = [tok(t)["input_ids"] for t in ("Hello, how can I help you today?", "Hi")]
        width = max(map(len, rows))
        left = getattr(tok, "padding_side", "right") == "left"
        ids, mask = [], []
        for r in rows:
            fill = [pad] * (width - len(r))
            ids.append(fill + r if left else r + fill)
            mask.append([0] * len(fill) + [1] * len(r) if left else [1] * len(r) + [0] * len(fill))
        with torch.no_grad():
            both = self.model(
                input_ids=torch.tensor(ids, device=self.device), attention_mask=torch.tensor(mask, device=self.device)
            ).logits.float()
            worst = 0.0
            for i, r in enumerate(rows):
                alone = self.model(input_ids=torch.tensor([r], device=self.device)).logits[0].float()
                part = both[i, width - len(r) :] if left else both[i, : len(r)]
                worst = max(worst, float((part - alone).abs().max()))
        limit = 1e-3 if not self.cuda else 5e-2  # fp32 on CPU; bf16 kernels differ by batch shape
        if worst > limit:
            raise AssertionError(f"a padded row's logits differ from the row alone by {worst:.2e} (> {limit})")
        return f"{'left' if left else 'right'}-padded rows of {len(rows[0])} and {len(rows[1])} tokens equal each alone (max diff {worst:.1e})"

    def generate_step(self) -> str:
        """Greedy generation with the eos forced as the third new token: it must stop there (the cache path of
        the model's own code, and the eos id the harness resolved)."""
        self._need("model")
        import torch
        from transformers import LogitsProcessor, LogitsProcessorList

        eos = self.tokenizer.eos_token_id
        prompt = self.tokenizer(CONTEXT, return_tensors="pt")["input_ids"].to(self.device)

        class ForceEos(LogitsProcessor):
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                if input_ids.shape[1] - prompt.shape[1] == 2:
                    scores = torch.full_like(scores, -float("inf"))
                    scores[:, eos] = 0.0
                return scores

        with torch.no_grad():
            out = self.model.generate(
                prompt,
                max_new_tokens=8,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=eos,
                logits_processor=LogitsProcessorList([ForceEos()]),
            )
        new = out[0, prompt.shape[1] :].tolist()
        if len(new) != 3 or new[-1] != eos:
            raise AssertionError(f"generation did not stop at eos id {eos}: new tokens {new}")
        return f"greedy, stopped at eos (id {eos}) after 3 new tokens"

    def method_step(self, method: str) -> str:
        """One optimizer step on one example, the model loaded and wrapped as the harness trains it."""
        self._need("tokenizer")
        import gc

        import torch

        if self.model is not None:  # the checks of the loaded model are done: its memory goes to the methods
            self.model = None
            gc.collect()
            if self.cuda:
                torch.cuda.empty_cache()
        from harness.config.options import load_option
        from harness.config.schema import FinetuneConfig
        from harness.finetune import prefix
        from harness.finetune.train import wrap

        f = load_option("finetune", method, FinetuneConfig)
        path = prefix.path_for(getattr(self.config, "model_type", None)) if method == "ptuning_v2" else None
        extra: dict[str, Any] = {}
        if method == "qlora":
            if not self.cuda:
                raise Refused("QLoRA needs a CUDA GPU: bitsandbytes' 4-bit (nf4) kernels do not run on a CPU")
            try:
                from transformers import BitsAndBytesConfig
            except ImportError as e:
                raise Refused(f"this transformers has no BitsAndBytesConfig: {e}") from None
            extra = {
                "quantization_config": BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=self.dtype,
                ),
                "device_map": {"": 0},
            }
        if path == prefix.CHATGLM2:
            extra.update(prefix.native_load_kwargs(f.prefix))
        started = time.perf_counter()
        if method == "qlora":
            from transformers import AutoModelForCausalLM

            from harness.compat import dtype_kwarg

            base = AutoModelForCausalLM.from_pretrained(
                self.folder, trust_remote_code=self.trust, **{dtype_kwarg(): self.dtype}, **extra
            )
        else:
            base = self._load(**extra)
        loaded = time.perf_counter() - started
        model = wrap(base, f, path)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        n = sum(p.numel() for p in trainable)
        ids = self.tokenizer(CONTEXT + CONTINUATION)["input_ids"]
        batch = torch.tensor([ids], device=self.device)
        optim = torch.optim.AdamW(trainable, lr=f.learning_rate)
        t = time.perf_counter()
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optim.step()
        step_s = time.perf_counter() - t
        value = float(loss)
        if not math.isfinite(value):
            raise AssertionError(f"loss is {value}")
        del model, base, optim, loss
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
        via = f", path {path}" if path else ""
        return f"loss {value:.4f}, {n:,} trainable parameters{via}; load {loaded:.1f} s, step {step_s:.2f} s"


def inside(spec: dict[str, Any]) -> None:
    """The runtime's side: run the steps, one report line each on stdout."""
    import transformers

    checker = Checker(spec["folder"], spec["trust_remote_code"], spec["device"])
    print(
        PREFIX + json.dumps({"runtime": {"transformers": transformers.__version__, "device": checker.device}}),
        flush=True,
    )
    for step in spec["steps"]:
        fn = (lambda s=step: checker.method_step(s)) if step in METHODS else getattr(checker, f"{step}_step")
        with PeakMemory(checker.cuda) as peak:
            started = time.perf_counter()
            try:
                status, detail = "ok", fn()
            except Refused as e:
                status, detail = "refused", str(e)
            except Exception as e:  # noqa: BLE001 (the step's cause is what the user needs, in one line)
                first = (str(e).strip().splitlines() or [""])[0]
                status, detail = "failed", f"{type(e).__name__}: {first}"[:300]
            seconds = time.perf_counter() - started
        print(
            PREFIX
            + json.dumps(
                {
                    "step": step,
                    "status": status,
                    "seconds": round(seconds, 3),
                    "peak_bytes": int(peak.peak),
                    "peak_kind": peak.kind,
                    "detail": detail,
                }
            ),
            flush=True,
        )


# -- the command -------------------------------------------------------------------------------------------------


def resolve(target: str, runtime: str | None) -> tuple[str, bool, str, str]:
    """(folder, trust_remote_code, runtime, what it is) for a folder or a model name (conf/model/)."""
    path = Path(target).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise HarnessError(f"{path}: no config.json; give a model folder (as `huggingface-cli download` makes).")
        doc = json.loads(config.read_text(encoding="utf-8"))
        remote = "auto_map" in doc
        chosen = runtime or ("legacy" if remote and doc.get("model_type") in LEGACY_TYPES else "main")
        return str(path.resolve()), remote, chosen, f"folder, model_type {doc.get('model_type')!r}"
    from harness.config.options import option_files

    if target not in option_files("model"):
        from harness.errors import did_you_mean

        raise HarnessError(
            f"{target!r} is neither a folder nor a model name: "
            + did_you_mean(target, list(option_files("model")), "model")
        )
    from harness.models import model_config, weights_location
    from harness.models.preflight import check_weights

    m = model_config(target)
    cache = Path(os.environ.get("HARNESS_CACHE", "~/.cache/harness")).expanduser()  # paths.cache's default
    problem = check_weights(m, cache)
    if problem:
        raise HarnessError(problem)
    where = weights_location(m, cache)
    if not Path(where).is_dir():
        from huggingface_hub import snapshot_download

        where = snapshot_download(where, revision=m.revision, local_files_only=True)
    return where, m.trust_remote_code, runtime or m.runtime, f"model {m.name} ({m.display_name})"


def _interpreter(runtime: str) -> tuple[str, dict[str, str]]:
    from harness.execute.worker import worker_env

    if runtime == "main":
        return sys.executable, worker_env(None) | {"PYTHONSAFEPATH": "1"}
    from harness.execute.runtime import cache_root, worker_place

    place = worker_place(runtime, cache_root(), create_missing=False)
    return place.python, worker_env(place.pythonpath)


def _table_row(r: dict[str, Any]) -> str:
    mib = f"{r['peak_bytes'] / 2**20:,.0f}" if r.get("peak_bytes") else "-"
    return f"{r['step']:<11} {r['status']:<8} {r['seconds']:>8.2f} {mib:>9}  {r['detail']}"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="harness model check", description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="a model folder (weights of any size) or a model name from conf/model/")
    p.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated, in this order: {','.join(STEPS)} (default: all); "
        "the steps they need (tokenizer, load) run too",
    )
    p.add_argument("--runtime", default=None, help="run in this runtime (default: the one the model would use)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", default=None, help="also write the step results to this file")
    a = p.parse_args(argv)
    steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise HarnessError(f"--steps: unknown step(s) {unknown}; choose from {', '.join(STEPS)}")
    folder, trust, runtime, what = resolve(a.target, a.runtime)
    python, env = _interpreter(runtime)
    if set(steps) & {"loglik", "batch", "generate"}:  # what a step needs runs before it
        steps += ["tokenizer", "load"]
    if set(steps) & set(METHODS):
        steps.append("tokenizer")
    spec = {"folder": folder, "trust_remote_code": trust, "device": a.device, "steps": [s for s in STEPS if s in steps]}
    print(f"model check: {folder} ({what}), runtime {runtime}")
    cmd = [python, "-m", "harness.jobs.modelcheck", "--inside", json.dumps(spec)]
    env = {**env, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    import threading

    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)  # warnings, kept for a crash
    drain.start()
    results: list[dict[str, Any]] = []
    for line in proc.stdout:
        if not line.startswith(PREFIX):
            continue
        r = json.loads(line[len(PREFIX) :])
        if "runtime" in r:
            print(f"transformers {r['runtime']['transformers']} on {r['runtime']['device']}\n")
            print(f"{'step':<11} {'result':<8} {'seconds':>8} {'peak MiB':>9}  detail")
            continue
        results.append(r)
        print(_table_row(r), flush=True)
    rc = proc.wait()
    drain.join(timeout=5)
    if rc != 0 and len(results) < len(spec["steps"]):
        tail = (err[-1].strip() if err else "(no output)")[:300]
        done = {r["step"] for r in results}
        for step in spec["steps"]:
            if step not in done:
                r = {
                    "step": step,
                    "status": "failed",
                    "seconds": 0.0,
                    "peak_bytes": 0,
                    "detail": f"the check process ended (exit {rc}) before this step: {tail}",
                }
                results.append(r)
                print(_table_row(r))
                break
    failed = [r["step"] for r in results if r["status"] == "failed"]
    refused = [r["step"] for r in results if r["status"] == "refused"]
    print(
        f"\n{len(results) - len(failed) - len(refused)} ok, {len(refused)} refused, {len(failed)} failed"
        + (f": {', '.join(failed)}" if failed else "")
    )
    if a.json:
        Path(a.json).write_text(json.dumps({"folder": folder, "runtime": runtime, "steps": results}, indent=2))
    return 1 if failed or len(results) < len(spec["steps"]) else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        inside(json.loads(sys.argv[2]))
    else:
        sys.exit(main(sys.argv[1:]))
