"""Reject a bad configuration at composition, before any model is loaded, with one message.

Hydra's struct mode already rejects `task.limmit=3`, but its own hint, `+task.limmit=3`, *adds* the key and the
job then silently runs with the default. And types alone let `task.limit=0`, `eval.batch_size=0` or
`task.split=bogus` through, to fail after the model loaded (or to be stored as they are). This module checks
every composed job: keys against the dataclass schema, values against their ranges, the split against the task's
data files. harness.app.compose composes each job of a command line and calls `validate` once per job; a sweep's
jobs are all checked before the first starts (hydra_plugins/harness_launcher).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.config.schema import REPORT_LANGS, TRAINING_USE, HarnessConfig
from harness.errors import HarnessError, did_you_mean


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass inside a field type (`X`, `X | None`, "X | None")."""
    if dataclasses.is_dataclass(tp):
        return tp
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return next((a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)), None)
    return None


def _fields(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def unknown_keys(node: Any, cls: type, prefix: str = "") -> list[str]:
    """Keys of `node` that the schema `cls` does not have (added with `+key=...` or by a YAML)."""
    if not isinstance(node, DictConfig):
        return []
    hints = _fields(cls)
    out = []
    for key in node.keys():
        key = str(key)
        if not prefix and key == "hydra":
            continue
        if key not in hints:
            out.append(did_you_mean(f"{prefix}{key}", [f"{prefix}{k}" for k in hints], "key"))
            continue
        sub = _dataclass_of(hints[key])
        if sub is not None:
            out += unknown_keys(node._get_node(key), sub, f"{prefix}{key}.")  # noqa: SLF001 - no resolution
    return out


def _finite(value: Any) -> bool:
    """A real number: not a bool, not NaN (which passes every `<` test) and not infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _at_least(value: Any, low: float, name: str, allow_none: bool = False, hint: str = "") -> str | None:
    if value is None:
        return None if allow_none else f"{name}: must be set"
    if not _finite(value) or value < low:
        return f"{name}={value}: must be at least {low:g}{hint}"
    return None


def _positive(value: Any, name: str) -> str | None:
    if not _finite(value) or value <= 0:
        return f"{name}={value}: must be greater than 0"
    return None


def _within(value: Any, low: float, high: float, name: str, high_open: bool = False) -> str | None:
    if value is None:
        return None
    bad = not _finite(value) or value < low or (value >= high if high_open else value > high)
    return f"{name}={value}: must be in [{low:g}, {high:g}{')' if high_open else ']'}" if bad else None


def _prices(price: Any, name: str) -> list[str | None]:
    """A price rewrites stored costs (re-pricing): negative, NaN or infinite ones never get that far."""
    fields = ("input_per_1m", "cached_input_per_1m", "output_per_1m")
    return [_at_least(price[f], 0, f"{name}.{f}", allow_none=True) for f in fields]


def value_problems(cfg: Any) -> list[str]:
    t, e, f, b, r = cfg.task, cfg.eval, cfg.finetune, cfg.baseline, cfg.report
    checks = [
        _at_least(t.limit, 1, "task.limit", allow_none=True, hint=" (or null: every item)"),
        _at_least(t.num_fewshot, 0, "task.num_fewshot"),
        _at_least(e.batch_size, 1, "eval.batch_size"),
        _at_least(e.samples, 1, "eval.samples"),
        _at_least(e.sample_temperature, 0, "eval.sample_temperature"),
        _positive(f.epochs, "finetune.epochs"),
        _positive(f.learning_rate, "finetune.learning_rate"),
        _at_least(f.batch_size, 1, "finetune.batch_size"),
        _at_least(f.grad_accum, 1, "finetune.grad_accum"),
        _at_least(
            f.micro_batch_size, 1, "finetune.micro_batch_size", allow_none=True, hint=" (or null: whole batches)"
        ),
        None
        if not f.micro_batch_size or f.micro_batch_size < 1 or f.batch_size % f.micro_batch_size == 0
        else f"finetune.micro_batch_size={f.micro_batch_size}: must divide finetune.batch_size={f.batch_size} "
        "(each batch is computed in equal micro-batches)",
        _at_least(f.max_length, 16, "finetune.max_length"),
        _at_least(f.n_train, 1, "finetune.n_train", allow_none=True, hint=" (or null: the whole train split)"),
        _within(f.warmup_ratio, 0, 1, "finetune.warmup_ratio", high_open=True),
        _at_least(f.replay.ratio, 0, "finetune.replay.ratio"),
        _at_least(f.lora.r, 1, "finetune.lora.r"),
        _at_least(f.save_steps, 1, "finetune.save_steps"),
        _at_least(f.save_every_s, 0, "finetune.save_every_s"),
        _at_least(f.logging_steps, 1, "finetune.logging_steps"),
        _at_least(f.val_examples, 0, "finetune.val_examples"),
        _at_least(b.concurrency, 1, "baseline.concurrency"),
        _at_least(b.max_retries, 0, "baseline.max_retries"),
        _positive(b.timeout_s, "baseline.timeout_s"),
        _positive(b.deadline_s, "baseline.deadline_s"),
        _positive(cfg.load.timeout_s, "load.timeout_s"),
        _positive(cfg.load.deadline_s, "load.deadline_s"),
        _at_least(b.temperature, 0, "baseline.temperature"),
        _at_least(b.max_tokens, 1, "baseline.max_tokens", allow_none=True),
        _at_least(b.requests_per_minute, 1, "baseline.requests_per_minute", allow_none=True),
        _at_least(b.tokens_per_minute, 1, "baseline.tokens_per_minute", allow_none=True),
        _within(b.max_failed_share, 0, 1, "baseline.max_failed_share"),
        *_prices(b.price, "baseline.price"),
        *_prices(cfg.judge.endpoint.price, "judge.endpoint.price"),
        None
        if r.target_score is None or _finite(r.target_score)
        else f"report.target_score={r.target_score}: must be a number",
        _at_least(r.monthly_queries, 1, "report.monthly_queries"),
        _positive(r.amortise_months, "report.amortise_months"),
        None
        if b.data_policy.trains_on_inputs in TRAINING_USE
        else f"baseline.data_policy.trains_on_inputs={b.data_policy.trains_on_inputs}: one of {', '.join(TRAINING_USE)}",
        None if r.lang in REPORT_LANGS else f"report.lang={r.lang}: the report is written in {', '.join(REPORT_LANGS)}",
    ]
    checks += [
        f"paths.{k}: is empty (an empty path means the current folder); name a folder"
        for k in ("results", "reports", "cache", "artifacts", "api_cache")
        if not str(cfg.paths[k]).strip()
    ]
    name = cfg.sweep.name
    if not isinstance(name, str) or not re.fullmatch(r"[\w][\w.=,+-]*", name) or ".." in name:
        # it names the report folder: reports/<sweep.name>/ must stay inside paths.reports
        checks.append(f"sweep.name={name}: use letters, digits and _ . = , + - only (it names a folder)")
    methods = ("none", "lora", "ptuning_v2", "full", "qlora")
    if f.method not in methods:
        checks.append(f"finetune.method={f.method}: " + did_you_mean(str(f.method), list(methods), "method"))
    if f.precision not in ("auto", "fp32", "bf16", "fp16"):
        checks.append(f"finetune.precision={f.precision}: must be auto, fp32, bf16 or fp16")
    if str(e.apply_chat_template).lower() not in ("auto", "true", "false"):
        checks.append(f"eval.apply_chat_template={e.apply_chat_template}: must be auto, true or false")
    from harness.tasks.parse import PROMPT_FORMATS as TASK_FORMATS

    t = cfg.task
    if t.prompt_format not in TASK_FORMATS:
        checks.append(
            f"task.prompt_format={t.prompt_format}: " + did_you_mean(str(t.prompt_format), list(TASK_FORMATS), "format")
        )
    if t.answer_pattern is not None:
        try:
            re.compile(str(t.answer_pattern))
        except re.error as err:
            checks.append(f"task.answer_pattern={t.answer_pattern}: not a regular expression ({err})")
    from harness.models.prompts import PROMPT_FORMATS

    fmt = cfg.model.prompt_format
    if cfg.model.name != "none" and fmt not in PROMPT_FORMATS:
        checks.append(f"model.prompt_format={fmt}: " + did_you_mean(str(fmt), list(PROMPT_FORMATS), "prompt format"))
    from harness.api.usage import ADAPTERS

    for key, endpoint in (("baseline.usage", b), ("judge.endpoint.usage", cfg.judge.endpoint)):
        if endpoint.usage not in ADAPTERS:
            checks.append(
                f"{key}={endpoint.usage}: " + did_you_mean(str(endpoint.usage), list(ADAPTERS), "usage adapter")
            )
    lc = cfg.load
    if cfg.sweep.stage not in ("cells", "load"):
        checks.append(f"sweep.stage={cfg.sweep.stage}: must be cells or load")
    if lc.device_profile is not None:
        from harness.config.options import option_files

        if lc.device_profile not in option_files("hardware"):
            checks.append(
                f"load.device_profile={lc.device_profile}: "
                + did_you_mean(str(lc.device_profile), list(option_files("hardware")), "hardware profile")
            )
    if lc.endpoint not in ("auto", "model", "baseline", "url"):
        checks.append(f"load.endpoint={lc.endpoint}: must be auto, model, baseline or url")
    if lc.with_cells not in ("none", "tuned", "all"):
        checks.append(
            f"load.with_cells={lc.with_cells}: must be none, tuned (the tuned model, served after its "
            "cells) or all (its base model too)"
        )
    if lc.mode not in ("closed", "open"):
        checks.append(f"load.mode={lc.mode}: must be closed (concurrent users) or open (Poisson arrivals)")
    checks += [f"load.levels: {v} is not a positive number" for v in lc.levels if not _finite(v) or v <= 0]
    if lc.mode == "closed":
        checks += [f"load.levels: {v} users is not a whole number" for v in lc.levels if _finite(v) and v != int(v)]
    checks += [
        c
        for c in (
            _at_least(lc.requests_per_level, 1, "load.requests_per_level"),
            _at_least(lc.n_prompts, 1, "load.n_prompts"),
            _at_least(lc.max_requests, 1, "load.max_requests"),
            _at_least(lc.max_in_flight, 1, "load.max_in_flight"),
            _within(lc.max_error_rate, 0, 1, "load.max_error_rate"),
        )
        if c
    ]
    for key in ("ttft_p95_s", "tpot_p95_s", "budget"):
        v = lc[key]
        if v is not None and (not _finite(v) or v <= 0):
            checks.append(f"load.{key}={v}: must be greater than 0 (or null: no bound)")
    checks += budget_problems(cfg)
    checks += gate_problems(cfg)
    d = cfg.deployment
    if d.kind not in ("dedicated", "per_second"):
        checks.append(f"deployment.kind={d.kind}: must be dedicated or per_second")
    if not d.hours_per_month > 0 or d.min_replicas < 1 or d.peak_to_mean < 1 or not 0 < d.target_utilisation <= 1:
        checks.append(
            "deployment: hours_per_month must be > 0, min_replicas >= 1, peak_to_mean >= 1 and "
            f"0 < target_utilisation <= 1 (got {d.hours_per_month}, {d.min_replicas}, {d.peak_to_mean}, "
            f"{d.target_utilisation})"
        )
    if min(d.cold_start_s, d.idle_timeout_s, d.cold_starts_per_month, d.min_billed_s) < 0:
        checks.append("deployment: cold_start_s, idle_timeout_s, cold_starts_per_month and min_billed_s must be >= 0")
    checks += deployment_price_problems(d)
    from harness.runtimes import names as runtime_names

    if cfg.model.name != "none" and cfg.model.runtime not in runtime_names():
        checks.append(
            f"model.runtime={cfg.model.runtime}: "
            + did_you_mean(str(cfg.model.runtime), runtime_names(), "runtime")
            + " (`harness runtime list`)"
        )
    return [c for c in checks if c]


def deployment_price_problems(d: Any) -> list[str]:
    """deployment.prices: each key a hardware profile (conf/hardware/), each price per device-second > 0."""
    from harness.config.options import option_files

    profiles = [n for n in option_files("hardware") if n != "auto"]
    out = []
    for name, price in (d.prices or {}).items():
        if name not in profiles:
            out.append(f"deployment.prices.{name}: " + did_you_mean(str(name), profiles, "hardware profile"))
        elif not _finite(price) or price <= 0:
            out.append(f"deployment.prices.{name}={price}: must be a price per device-second greater than 0")
    return out


def gate_problems(cfg: Any) -> list[str]:
    """report.gate (a run id, `previous` or a readable earlier leaderboard.json) and its thresholds."""
    from harness.app.gate import check_gate_settings

    r = cfg.report
    try:
        check_gate_settings(r.gate, r.gate_max_cost_increase, r.gate_max_p95_increase, r.gate_max_throughput_drop)
    except HarnessError as e:
        return [str(e)]
    return []


def budget_problems(cfg: Any) -> list[str]:
    """Money caps (harness.api.budget): each null or a finite number above 0, in USD, and set only on
    priced endpoints (a cap cannot be checked without a price)."""
    from harness.api.pricing import is_priced

    run_cap = cfg.budget.max_usd
    out = []
    endpoints = [
        ("baseline", cfg.baseline, bool(cfg.baseline.name)),
        ("judge.endpoint", cfg.judge.endpoint, bool(cfg.judge.name)),
    ]
    caps = [("budget.max_usd", run_cap)] + [(f"{k}.budget_usd", e.budget_usd) for k, e, _ in endpoints]
    for key, value in caps:
        if value is not None and (not _finite(value) or value <= 0):
            out.append(f"{key}={value}: must be greater than 0 (or null: no cap)")
    if cfg.sweep.stage == "load":  # a load test is capped by load.budget
        return out
    for key, e, used in endpoints:
        own = (f"{key}.budget_usd", e.budget_usd)
        capped = [k for k, v in (("budget.max_usd", run_cap), own) if v is not None]
        if not used or not capped:
            continue
        if not is_priced(e.price):
            out.append(
                f"{' and '.join(capped)}: {key} {e.name} is unpriced, and a cap cannot be checked without "
                f"a price: set {key}.price.input_per_1m and output_per_1m, or drop the cap"
            )
        elif e.price.currency != "USD":
            out.append(f"{' and '.join(capped)}: caps are in USD, but {key} {e.name} is priced in {e.price.currency}")
    return out


def split_problem(task: Any) -> str | None:
    """task.split must be one of the task folder's data files (lm-eval's own tasks are checked by lm-eval)."""
    if not task.dir or task.split == "test":
        return None
    from harness.tasks import load_task, load_task_yaml

    spec = load_task(OmegaConf.to_object(task) if OmegaConf.is_config(task) else task)
    files = (load_task_yaml(spec.yaml_file).get("dataset_kwargs") or {}).get("data_files")
    known = set(files) if isinstance(files, dict) else None
    if known is not None and task.split not in known:
        return f"task.split={task.split}: " + did_you_mean(str(task.split), sorted(known), f"split of {task.name}")
    return None


def train_data_problem(cfg: DictConfig) -> str | None:
    """finetune.train_data and label_noise, checked before the base cell runs: a data set that is not there (or
    is another task's) would otherwise fail only when its tuned cell starts."""
    f = cfg.finetune
    if f.method == "none" or (f.train_data == "task" and not f.label_noise):
        return None
    from harness.data.sets import datasets_root, resolve_sources
    from harness.paths import resolve
    from harness.spec.finetune import check_finetune

    try:
        check_finetune(OmegaConf.to_object(f))
        sources = resolve_sources(
            str(f.train_data), str(f.train_task or cfg.task.name), datasets_root(resolve(cfg.paths.results))
        )
    except HarnessError as e:
        return str(e)
    if f.n_train is None or not sources:
        return None
    from harness.finetune.data import shares_to_counts

    for s, k in zip(sources, shares_to_counts(int(f.n_train), [s.share for s in sources]), strict=True):
        have = sum(1 for line in open(s.path, encoding="utf-8") if line.strip()) if s.path else None
        if have is not None and k > have:
            return (
                f"finetune.n_train={f.n_train} with a share of {s.share:g} needs {k} examples from data set "
                f"{s.dataset_id[:8]}, which has {have}. Use finetune.n_train=null (all of it), lower it, or "
                "generate a bigger set."
            )
    return None


def resolution_problems(cfg: DictConfig) -> list[str]:
    """Every `${...}` must resolve now (not in the report at the end), and the sweep's name, which becomes folder
    names and is printed, must be written out: an interpolation there could put an environment value (a key)
    into a path, where no file redaction reaches."""
    from omegaconf.errors import OmegaConfBaseException

    out = []
    raw = OmegaConf.to_container(cfg.sweep, resolve=False) if "sweep" in cfg else {}
    if isinstance(raw, dict) and "${" in str(raw.get("name", "")):
        out.append(f"sweep.name={raw['name']}: write the name out (no ${{...}}): it names folders")
    for key in cfg:
        if key == "hydra":
            continue
        try:
            OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]
        except OmegaConfBaseException as e:
            where = getattr(e, "full_key", None) or key
            out.append(f"{where}: cannot be resolved ({str(e).splitlines()[0]})")
    return out


# A parameter whose name says it holds a credential: one of its words (api_key -> api, key; X-Amz-Signature ->
# x, amz, signature; accessToken -> access, token) is one of these. Whole words: ?passage= and ?keyword= pass.
SECRET_WORDS = frozenset(
    "key apikey token accesstoken secret pass passwd password pwd pw passphrase jwt signature sig "
    "auth authorization credential credentials cred session sessionid jsessionid sid code bearer "
    "otp pin sas hmac k".split()
)
# A value shaped like a provider's key, wherever it sits in a URL (a path segment, any parameter) or in api_key_env
KEY_SHAPED = re.compile(
    r"(?<![A-Za-z0-9])(?:(?:sk|pk|rk)[-_](?:live|test|proj|ant)?[-_]?[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|"
    r"gh[pousr]_[A-Za-z0-9]{8,}|github_pat_\w{8,}|xox[abprs]-[\w-]{8,}|AKIA[0-9A-Z]{12,}|"
    r"AIza[\w-]{20,})"
)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _secret_name(name: str) -> bool:
    import unicodedata

    name = unicodedata.normalize("NFKC", name)
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())
    return any(w in SECRET_WORDS for w in words) or "".join(words) in SECRET_WORDS


def url_problem(url: str) -> str | None:
    """Why `url` may not be used as an endpoint URL (it carries a credential, or is not an http(s) URL), without
    echoing it; None when it may."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port  # noqa: F841 - a bad port raises here
    except ValueError:
        return "is not a URL that can be read (it is not written anywhere: fix it)"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or ";" in parts.netloc:
        return "must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "carries a credential (its user name and password before the host: user:secret@host)"
    if parts.fragment:
        return "carries a fragment (#...), which no API reads and a credential often hides in"
    query = unquote(parts.query).replace(";", "&")
    pairs = parse_qsl(query, keep_blank_values=True)
    pairs += [(k, v) for k, v in re.findall(r";([^;/=?#]+)=([^;/?#]*)", unquote(parts.path))]  # /v1;api_key=...
    named = [k for k, _ in pairs if _secret_name(k)]
    if named:
        return f"carries a credential (its parameter {', '.join(dict.fromkeys(named))}=)"
    if KEY_SHAPED.search(unquote(url)):
        return "holds what looks like an API key (sk-..., hf_..., ghp_...)"
    return None


def url_problems(node: Any, prefix: str = "") -> list[str]:
    """Every `url` / `base_url` of the config that carries a credential or is not a URL, and every
    `api_key_env` that is not a variable's name (a key pasted there). A URL is written where a key never is:
    logs, records, the run manifest, the response cache, the report's reproducing command, Hydra's own
    overrides.yaml and config.yaml, and a report folder's name. So these are refused before anything is written,
    naming the key and never echoing the value. Both the value as written and, for an interpolation
    (`${oc.env:MY_URL}`), its resolved value are checked."""
    out: list[str] = []
    if not isinstance(node, DictConfig):
        return out
    for key in node:
        name = f"{prefix}{key}"
        child = node._get_node(key)  # noqa: SLF001 - the raw value, then the resolved one
        if isinstance(child, DictConfig):
            out += url_problems(child, f"{name}.")
            continue
        if str(key) not in ("url", "base_url", "api_key_env"):
            continue
        values = [child._value() if child is not None else None]  # noqa: SLF001
        try:
            values.append(node[key])
        except Exception:  # noqa: BLE001 - an interpolation that does not resolve: resolution_problems says so
            pass
        for value in dict.fromkeys(v for v in values if isinstance(v, str) and "${" not in v):
            if str(key) == "api_key_env":
                if not ENV_NAME.fullmatch(value) or KEY_SHAPED.fullmatch(value):
                    out.append(
                        f"{name} must be the NAME of an environment variable (letters, digits and _), "
                        "not the key itself: export MY_KEY_VAR=<the key> and set "
                        f"{name}=MY_KEY_VAR. The value is not shown or written."
                    )
                continue
            why = url_problem(value)
            if why:
                env = "load.api_key_env" if name == "load.url" else f"{name.rsplit('.', 1)[0]}.api_key_env"
                out.append(
                    f"{name} {why}: a URL is written into logs, records, reports and Hydra's own files. "
                    f"Put the key in an environment variable and name it with {env}=MY_KEY_VAR."
                )
                break
    return out


def validate(cfg: DictConfig) -> None:
    """Raise one HarnessError listing every problem of a composed job's config."""
    problems = url_problems(cfg) + unknown_keys(cfg, HarnessConfig) + resolution_problems(cfg)
    if problems:  # values cannot be checked before they resolve
        raise HarnessError("invalid configuration (nothing was run):\n  " + "\n  ".join(dict.fromkeys(problems)))
    try:
        problems += value_problems(cfg)
        problems += [p for p in [split_problem(cfg.task), train_data_problem(cfg)] if p]
    except HarnessError as e:
        problems.append(str(e))
    if problems:
        raise HarnessError("invalid configuration (nothing was run):\n  " + "\n  ".join(dict.fromkeys(problems)))
    writable(cfg)


def writable(cfg: Any) -> None:
    """The folders a job writes: a read-only one is named now, not after an hour of evaluation."""
    from harness.paths import resolve

    folders = {"paths.results": cfg.paths.results, "paths.reports": cfg.paths.reports}
    if cfg.finetune.method != "none":
        folders["paths.artifacts"] = cfg.paths.artifacts
    for key, folder in folders.items():
        path = resolve(folder)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".harness-write-test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise HarnessError(
                f"cannot write to {path} ({key}): {e.strerror or e}. Make it writable, or choose another folder: "
                f"{key}=/some/writable/folder"
            ) from None
