"""lm-eval's `hf` backend with a stopwatch around each model batch: self-hosted inference speed, measured.

Scoring is untouched (same class, same calls), so scores still equal raw `lm_eval --model hf`. What it adds:
the wall time of every forward/generate batch and its size. From these: inference seconds (model loading and
scoring excluded), queries per hour at the batch size used, and per-query latency for generation tasks, where
a query's latency is the time of the batch it was answered in (no streaming, so no time to first token).

Log-likelihood batches ask the model for the logits lm-eval reads and no more (issue 34). lm-eval right-pads a
batch of (context + continuation) rows, projects every position onto the vocabulary and log-softmaxes it all,
then keeps each row's continuation positions: for Gemma-3 (262,144 entries) a batch of 8 x 100 tokens is 0.8 GB
of logits and as much again of log-probabilities, the largest allocation of the default job. Here the model
returns only the last K positions (`logits_to_keep`), K reaching back to the earliest continuation of the batch.
lm-eval's own slicing already allows a shorter tensor (`ctx_len = inplen + logits.shape[0] - padding_len_inp`),
so the rows it reads are the same positions. On a CPU the values are the same bits (both embedded models,
tests/integration/test_eval_suffix.py); on a GPU the output layer's matrix product may pick another kernel for
fewer rows, so a log-likelihood can differ in its last bits, as it already does between batch sizes. A model
whose forward takes no `logits_to_keep` (remote code, the legacy runtime) gets the whole sequence, as before.
"""

from __future__ import annotations

import time
from typing import Any

from lm_eval.models.huggingface import HFLM

from harness.api.meter import percentile
from harness.compat import cache_class_for_peft, ensure_chat_template, without_none_gguf
from harness.evaluate.guards import ensure_eos, neutral_generation_config, nonempty_stops


class _KeepVocabulary:
    """lm-eval resizes the model's embeddings to the tokenizer's length before it loads a peft adapter ("for LoRAs
    with added tokens"). The harness adds no tokens, and a model whose vocabulary is padded past its tokenizer
    (Qwen: 151,936 rows for 151,851 tokens; ChatGLM2: 65,024 for 64,794) would lose its last output rows, so its
    log-likelihoods would be normalised over another vocabulary than its base's and than the model trained
    (measured on the tiny Qwen copy: -751.6266 instead of -751.6619 for a 64-token probe). The loaded model keeps
    its own vocabulary: resize is a no-op while lm-eval builds it."""

    def __init__(self, cls: Any):
        self._cls = cls

    def from_pretrained(self, *args: Any, **kwargs: Any) -> Any:
        model = self._cls.from_pretrained(*args, **kwargs)
        model.resize_token_embeddings = lambda *a, **k: model.get_input_embeddings()
        return model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


class TimedHFLM(HFLM):
    def _create_model(self, *args: Any, **kwargs: Any) -> None:
        real = self.AUTO_MODEL_CLASS
        self.AUTO_MODEL_CLASS = _KeepVocabulary(without_none_gguf(real))
        try:
            super()._create_model(*args, **kwargs)
        finally:
            self.AUTO_MODEL_CLASS = real
        model = getattr(self, "_model", None)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        if base is not None:
            base.__dict__.pop("resize_token_embeddings", None)  # the method again, outside lm-eval's set-up

    def __init__(self, *args: Any, **kwargs: Any):
        cache_class_for_peft()
        super().__init__(*args, **kwargs)
        ensure_chat_template(self.tokenizer, getattr(self.tokenizer, "name_or_path", None))
        self.batches: list[tuple[str, float, int]] = []  # (kind, seconds, batch size)
        # harness/evaluate/guards.py: the task, not the model folder, decides how generation runs and stops
        ensure_eos(self.tokenizer, self.model, str(kwargs.get("pretrained") or "the model"))
        neutral_generation_config(self.model)

    def _loglikelihood_tokens(self, requests: Any, disable_tqdm: bool = False, override_bs: Any = None) -> Any:
        # each distinct model input -> the earliest position whose logits lm-eval reads for it
        self._reads_from = _first_read_positions(requests, self.max_length) if _keeps_logits(self.model) else None
        try:
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        finally:
            self._reads_from = None

    def _suffix_call(self, inps: Any) -> Any:
        """The batch's logits from the earliest position any of its rows reads, or None (the whole sequence)."""
        table = getattr(self, "_reads_from", None)
        if not table:
            return None
        starts = [table.get(_unpadded(row)) for row in inps.tolist()]
        if None in starts or min(starts) <= 0:  # a batch lm-eval did not build from these requests (auto batch size)
            return None
        import torch

        dtype = getattr(self, "mixed_precision_dtype", None)
        with (
            torch.no_grad(),
            torch.autocast(device_type=self.device.type, dtype=dtype, enabled=dtype is not None),
        ):
            return self.model(inps, logits_to_keep=int(inps.shape[1]) - min(starts)).logits

    def _sync(self) -> None:
        import torch

        if torch.cuda.is_available() and str(self.device).startswith("cuda"):
            torch.cuda.synchronize()  # kernels are asynchronous: time the work, not its launch

    def _model_call(self, inps: Any, attn_mask: Any = None, labels: Any = None) -> Any:
        t = time.perf_counter()
        out = self._suffix_call(inps) if attn_mask is None and labels is None else None
        if out is None:
            out = super()._model_call(inps, attn_mask, labels)
        self._sync()
        self.batches.append(("forward", time.perf_counter() - t, int(inps.shape[0])))
        return out

    def _model_generate(self, context: Any, max_length: int, stop: list[str], **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = super()._model_generate(context, max_length, nonempty_stops(stop), **kwargs)
        self._sync()
        self.batches.append(("generate", time.perf_counter() - t, int(context.shape[0])))
        return out

    def process_seconds(self) -> list[float]:
        """Inference seconds of every process of a multi-process run (one entry when there is one). A collective
        call: every rank must make it, before rank 0 alone goes on to write the record."""
        mine = sum(s for _, s, _ in self.batches)
        from harness.dist import world_size

        if world_size() == 1:
            return [mine]
        import torch.distributed as td

        if not (td.is_available() and td.is_initialized()):
            return [mine]
        out: list[Any] = [None] * td.get_world_size()
        td.all_gather_object(out, mine)
        return [float(x) for x in out]

    def inference(self, n_queries: int, batch_size: int, per_process: list[float] | None = None) -> dict[str, Any]:
        """`n_queries`: answered by all processes together; `per_process`: each process's inference seconds
        (process_seconds()). The processes work at once, so the run answered n_queries in the slowest one's time:
        queries_per_hour is the throughput of all of them (of all the devices the cell is priced for)."""
        per_process = per_process or [sum(s for _, s, _ in self.batches)]
        return measured(n_queries, batch_size, per_process, self.batches)


def _unpadded(row: list[int]) -> int:
    """A model input as a lookup key: the hash of its tokens, lm-eval's right padding (zeros) removed (a hash,
    not the tokens: 56,000 MMLU requests of 500 tokens would hold a gigabyte of tuples). Two inputs that share a
    key (a real input ending in token 0, or a hash collision) share the earlier of their starts: more logits are
    kept, never fewer."""
    end = len(row)
    while end and row[end - 1] == 0:
        end -= 1
    return hash(tuple(row[:end]))


def _first_read_positions(requests: Any, max_length: int) -> dict[int, int]:
    """For each model input lm-eval will build from `requests` (its own truncation rule: the last max_length
    tokens of context + continuation, minus the last token), the first position whose logits it reads."""
    table: dict[int, int] = {}
    for _, context, continuation in requests:
        inp = (list(context) + list(continuation))[-(max_length + 1) :][:-1]
        key, start = _unpadded(inp), len(inp) - len(continuation)
        table[key] = min(start, table.get(key, start))
    return table


def _keeps_logits(model: Any) -> bool:
    """Whether the (possibly peft-wrapped) model's forward can return only its last K positions' logits."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def measured(
    n_queries: int, batch_size: int, per_process: list[float], batches: list[tuple[str, float, int]]
) -> dict[str, Any]:
    """The record's `inference` section from the timings (a pure function: tested by hand)."""
    seconds = max(per_process)
    gen = [(s, b) for kind, s, b in batches if kind == "generate"]
    per_query = [s for s, b in gen for _ in range(b)]  # each query waited for its whole batch (this process's)
    return {
        "seconds": seconds,
        "processes": len(per_process),
        "seconds_per_process": per_process,
        "n_batches": len(batches),
        "batch_size": batch_size,
        "queries": n_queries,
        "queries_per_hour": 3600 * n_queries / seconds if seconds else None,
        "latency_s": {
            "p50": percentile(per_query, 50),
            "p95": percentile(per_query, 95),
            "p99": percentile(per_query, 99),
            "n": len(per_query),
        },
        "latency_basis": "wall time of the batch each query was answered in" if per_query else None,
    }
