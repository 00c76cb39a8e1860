"""Per-provider usage adapters (harness/api/usage.py): each provider's documented `usage` shape read into
exact numbers, DeepSeek's cache hits billed at the cached price (by hand), reasoning tokens billed but kept out of
the decode rate, clamps and warnings carried into the meters and the aggregate, and the real client against a
tiny local server answering as DeepSeek and Moonshot do (loopback only, no provider, about a second)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness.api.cache import ResponseCache, request_key
from harness.api.client import ApiCaller, Settings
from harness.api.meter import Meter, aggregate, decode_rate
from harness.api.pricing import cost
from harness.api.usage import ADAPTERS, parse
from harness.errors import HarnessError
from harness.paths import CONF_DIR
from tests.support.provider import LoopbackServer, send_body
from tests.support.run import compose_cfg


def numbers(usage: Any, name: str) -> tuple[int, int, int, int]:
    u = parse(usage, name)
    assert u.reported
    return u.prompt_tokens, u.cached_tokens, u.completion_tokens, u.reasoning_tokens


# -- each provider's documented shape -----------------------------------------------------------------------------
# Field names and nesting as in each provider's documented response (URLs in usage.py and conf/baseline/*.yaml);
# the counts are chosen so that every field is told apart from every other.

OPENAI_CHAT_OBJECT = {  # the chat completion object's example (no cache hit, no reasoning)
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
OPENAI_CACHED = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
OPENAI_REASONING = {
    "prompt_tokens": 25,
    "completion_tokens": 1200,
    "total_tokens": 1225,  # o-series: inside
    "completion_tokens_details": {"reasoning_tokens": 1024},
}
DEEPSEEK_CHAT = {  # a deepseek-chat response: both spellings of the cache, hit + miss = prompt
    "prompt_tokens": 1500,
    "completion_tokens": 50,
    "total_tokens": 1550,
    "prompt_tokens_details": {"cached_tokens": 1280},
    "prompt_cache_hit_tokens": 1280,
    "prompt_cache_miss_tokens": 220,
}
DEEPSEEK_OLD = {
    "prompt_tokens": 1500,
    "completion_tokens": 50,
    "total_tokens": 1550,  # only DeepSeek's own names
    "prompt_cache_hit_tokens": 1280,
    "prompt_cache_miss_tokens": 220,
}
DEEPSEEK_REASONER = {
    "prompt_tokens": 1500,
    "completion_tokens": 350,
    "total_tokens": 1850,
    "prompt_cache_hit_tokens": 1280,
    "prompt_cache_miss_tokens": 220,
    "completion_tokens_details": {"reasoning_tokens": 300},
}
DASHSCOPE_CACHED = {
    "prompt_tokens": 3019,
    "completion_tokens": 104,
    "total_tokens": 3123,
    "prompt_tokens_details": {"cached_tokens": 2048},
}
DASHSCOPE_THINKING = {
    "prompt_tokens": 24,
    "completion_tokens": 1236,
    "total_tokens": 1260,
    "completion_tokens_details": {"reasoning_tokens": 1100},
}
ZHIPU_CACHED = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 800},
}
MOONSHOT_TOP_LEVEL = {"prompt_tokens": 2989, "completion_tokens": 64, "total_tokens": 3053, "cached_tokens": 2048}
MOONSHOT_BOTH = {**MOONSHOT_TOP_LEVEL, "prompt_tokens_details": {"cached_tokens": 2048}}


@pytest.mark.parametrize(
    "name, usage, expected",
    [
        ("openai", OPENAI_CHAT_OBJECT, (19, 0, 10, 0)),
        ("openai", OPENAI_CACHED, (2006, 1920, 300, 0)),
        ("openai", OPENAI_REASONING, (25, 0, 1200, 1024)),  # reasoning is inside the billed 1200
        ("deepseek", DEEPSEEK_CHAT, (1500, 1280, 50, 0)),
        ("deepseek", DEEPSEEK_OLD, (1500, 1280, 50, 0)),
        ("deepseek", DEEPSEEK_REASONER, (1500, 1280, 350, 300)),
        ("dashscope", DASHSCOPE_CACHED, (3019, 2048, 104, 0)),
        ("dashscope", DASHSCOPE_THINKING, (24, 0, 1236, 1100)),
        ("zhipu", ZHIPU_CACHED, (1200, 800, 300, 0)),
        ("moonshot", MOONSHOT_TOP_LEVEL, (2989, 2048, 64, 0)),
        ("moonshot", MOONSHOT_BOTH, (2989, 2048, 64, 0)),
    ],
)
def test_each_provider_documented_usage_reads_exactly(name, usage, expected):
    assert numbers(usage, name) == expected
    assert parse(usage, name).warnings == ()  # a well-formed response needs no correction


def test_deepseek_cache_hits_read_as_openai_are_lost_and_said_so():
    """The bug this fixes: OpenAI's names find no cache hit in DeepSeek's own fields; the warning names it."""
    u = parse(DEEPSEEK_OLD, "openai")
    assert (u.prompt_tokens, u.cached_tokens) == (1500, 0)
    assert u.warnings == (
        "usage: the response reports 1280 cached prompt tokens where the 'openai' adapter does "
        "not look (is baseline.usage right for this provider?)",
    )
    kimi_as_glm = parse(MOONSHOT_TOP_LEVEL, "zhipu")
    assert kimi_as_glm.cached_tokens == 0 and "2048 cached prompt tokens" in kimi_as_glm.warnings[0]


def test_deepseek_sum_stands_in_for_a_missing_prompt_count_and_a_mismatch_is_named():
    split_only = {"prompt_cache_hit_tokens": 1280, "prompt_cache_miss_tokens": 220}
    assert numbers(split_only, "deepseek") == (1500, 1280, 0, 0)
    u = parse({**DEEPSEEK_OLD, "prompt_cache_miss_tokens": 200}, "deepseek")
    assert u.warnings == ("usage: prompt_cache_hit_tokens 1280 + prompt_cache_miss_tokens 200 != prompt_tokens 1500",)


def test_dashscope_explicit_cache_write_is_named():
    u = parse(
        {**DASHSCOPE_CACHED, "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_input_tokens": 1500}},
        "dashscope",
    )
    assert u.cached_tokens == 0 and "1500 prompt tokens written to an explicit cache" in u.warnings[0]


# -- robustness ---------------------------------------------------------------------------------------------------


def test_missing_fields_are_zero_and_non_integers_are_absent():
    assert numbers({"prompt_tokens": 7}, "openai") == (7, 0, 0, 0)
    nulls = {"prompt_tokens": 7, "completion_tokens": None, "prompt_tokens_details": None}
    assert numbers(nulls, "openai") == (7, 0, 0, 0)
    weird = {
        "prompt_tokens": 7,
        "completion_tokens": "3",
        "prompt_tokens_details": {"cached_tokens": 2.0},
        "completion_tokens_details": {"reasoning_tokens": True},
    }
    assert numbers(weird, "openai") == (7, 0, 0, 0)
    assert numbers({"prompt_tokens": 7, "completion_tokens": -2}, "openai") == (7, 0, 0, 0)
    # without the prompt's count the usage is not used at all: the client estimates instead
    unusable = [None, {}, "n/a", {"prompt_tokens": "1500", "completion_tokens": 5}, {"prompt_tokens": True}]
    assert [parse(u, "deepseek").reported for u in unusable] == [False] * 5


def test_cached_above_prompt_is_clamped_with_a_warning():
    u = parse(
        {"prompt_tokens": 1500, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 2000}}, "openai"
    )
    assert (u.prompt_tokens, u.cached_tokens) == (1500, 1500)
    assert u.warnings == ("usage: cached_tokens 2000 > prompt_tokens 1500, clamped",)


def test_reasoning_reported_beside_completion_is_added_to_billed_output():
    """xAI's shape: total = prompt + completion + reasoning. Billed output is visible + reasoning."""
    u = parse(
        {
            "prompt_tokens": 32,
            "completion_tokens": 9,
            "total_tokens": 135,
            "completion_tokens_details": {"reasoning_tokens": 94},
        },
        "openai",
    )
    assert (u.completion_tokens, u.reasoning_tokens) == (103, 94)
    assert "reasoning_tokens 94 are not in completion_tokens 9" in u.warnings[0]
    # inside (total = prompt + completion): nothing added
    assert numbers(OPENAI_REASONING, "openai")[2] == 1200
    u = parse(
        {"prompt_tokens": 5, "completion_tokens": 10, "completion_tokens_details": {"reasoning_tokens": 40}}, "openai"
    )
    assert (u.completion_tokens, u.reasoning_tokens) == (10, 10)
    assert u.warnings == ("usage: reasoning_tokens 40 > completion_tokens 10, clamped",)


def test_an_unknown_adapter_is_refused_with_the_known_names():
    with pytest.raises(
        HarnessError,
        match=r"baseline.usage=deepseak: unknown usage adapter 'deepseak'. Did you "
        r"mean 'deepseek'\?",
    ):
        parse({}, "deepseak")


def test_validation_names_the_key_the_known_names_and_a_close_one():
    from harness.app.validate import validate

    cfg = compose_cfg(["baseline=deepseek-chat", "baseline.usage=deepseak", "model=none"])
    with pytest.raises(HarnessError) as e:
        validate(cfg)
    assert (
        "baseline.usage=deepseak: unknown usage adapter 'deepseak'. Did you mean 'deepseek'? Known: dashscope, "
        "deepseek, moonshot, openai, zhipu."
    ) in str(e.value)


def test_every_provider_baseline_names_its_adapter_and_cites_the_documentation():
    for path in sorted((CONF_DIR / "baseline").glob("*.yaml")):
        b = compose_cfg([f"baseline={path.stem}"]).baseline
        if b.provider in ("", "local"):
            assert b.usage == "openai"  # none, and the local stand-in (transformers serve: OpenAI's usage)
            continue
        assert b.usage == b.provider and b.usage in ADAPTERS, path.name
        lines = path.read_text().splitlines()
        above = lines[lines.index(f"usage: {b.usage}") - 1]
        assert above.startswith("# ") and "https://" in above, path.name


# -- money: DeepSeek by hand ----------------------------------------------------------------------------------------


def test_deepseek_cache_hits_billed_at_the_cached_price_by_hand():
    """1,500 prompt tokens, 1,280 of them cache hits, 50 output, at conf/baseline/price/deepseek-chat.yaml."""
    price = dict(compose_cfg(["baseline=deepseek-chat"]).baseline.price)
    assert [price[k] for k in ("input_per_1m", "cached_input_per_1m", "output_per_1m")] == [0.28, 0.028, 0.42]
    u = parse(DEEPSEEK_OLD, "deepseek")
    per_1k = 1000 * cost(u.prompt_tokens, u.cached_tokens, u.completion_tokens, price)
    # (220 x 0.28 + 1280 x 0.028 + 50 x 0.42) / 1e6 = (61.6 + 35.84 + 21) / 1e6 per query
    assert per_1k == pytest.approx(0.11844)
    # read with OpenAI's names, every prompt token is at the cache-miss price: (1500 x 0.28 + 21) / 1e6
    wrong = parse(DEEPSEEK_OLD, "openai")
    wrong_per_1k = 1000 * cost(wrong.prompt_tokens, wrong.cached_tokens, wrong.completion_tokens, price)
    assert wrong_per_1k == pytest.approx(0.441)
    assert wrong_per_1k / per_1k == pytest.approx(3.72, abs=0.005)


# -- decode rate ------------------------------------------------------------------------------------------------------


def test_reasoning_tokens_are_billed_but_left_out_of_the_decode_rate():
    # 350 completion tokens of which 300 reasoning; the answer's 50 tokens: the first at t=10, 49 more by t=11
    assert decode_rate(350, 300, first=10.0, ended=11.0) == pytest.approx(49.0)
    assert decode_rate(350, None, first=10.0, ended=11.0) == pytest.approx(349.0)  # no reasoning measured
    assert decode_rate(301, 300, first=10.0, ended=11.0) is None  # one answer token: no rate
    assert decode_rate(350, 300, first=None, ended=11.0) is None  # not streamed
    assert decode_rate(350, 300, first=11.0, ended=11.0) is None
    price = {"currency": "USD", "input_per_1m": 0.28, "cached_input_per_1m": 0.028, "output_per_1m": 0.42}
    # billed output is all 350 tokens: (220 x 0.28 + 1280 x 0.028 + 350 x 0.42) / 1e6
    u = parse(DEEPSEEK_REASONER, "deepseek")
    assert cost(u.prompt_tokens, u.cached_tokens, u.completion_tokens, price) == pytest.approx(244.44e-6)


# -- meters and the aggregate -----------------------------------------------------------------------------------------


def test_aggregate_totals_reasoning_and_keeps_the_first_distinct_warnings():
    w1, w2 = "usage: cached_tokens 2000 > prompt_tokens 1500, clamped", "usage: other"
    meters = [
        Meter(prompt_tokens=1500, cached_tokens=1500, completion_tokens=350, reasoning_tokens=300, usage_warnings=[w1]),
        Meter(prompt_tokens=100, cached_tokens=0, completion_tokens=10, reasoning_tokens=0, usage_warnings=[w1, w2]),
        Meter(prompt_tokens=100, cached_tokens=0, completion_tokens=10, reasoning_tokens=0),
        Meter(error="HTTP 500", usage_source="none"),
    ]
    a = aggregate(meters, {"currency": "USD"})
    assert a["tokens"]["reasoning"] == 300 and a["tokens"]["reasoning_per_sample"] == 100.0
    assert a["tokens"]["completion"] == 370  # reasoning is inside the billed completion tokens
    assert a["usage_warnings"] == [w1, w2] and a["n_usage_warned"] == 2
    json.dumps(a)  # the record is JSON
    # eight distinct warnings: the first five are kept
    many = [Meter(prompt_tokens=1, completion_tokens=1, usage_warnings=[f"w{i}"]) for i in range(8)]
    assert aggregate(many, {})["usage_warnings"] == ["w0", "w1", "w2", "w3", "w4"]


def test_old_records_without_the_new_fields_stay_readable():
    old_row = {
        "prompt_tokens": 100,
        "cached_tokens": 0,
        "completion_tokens": 10,
        "usage_source": "server",
        "latency_s": 1.0,
        "ttft_s": 0.1,
        "output_tokens_per_s": 9.0,
        "cost": 1e-6,
        "billed": 1e-6,
        "from_cache": False,
        "attempts": 1,
        "waited_s": 0.0,
        "error": None,
        "finish_reason": "stop",
    }
    m = Meter(**old_row)  # what execute/api.py's re-pricing does with a stored row
    assert m.reasoning_tokens is None and m.usage_warnings == []
    a = aggregate([m], {"currency": "USD"})
    assert "reasoning" not in a["tokens"]  # not measured: absent, as in the old record, never a made-up 0
    assert a["usage_warnings"] == [] and a["tokens"]["prompt_per_sample"] == 100.0


# -- the real client against a local server answering like DeepSeek and Moonshot ------------------------------------


def sse(chunks: list[dict[str, Any]]) -> list[bytes]:
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def chunk(choice: dict[str, Any] | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAI-style stream chunk: one choice, or none with the usage (what stream_options asks for)."""
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "choices": [choice] if choice else [],
        **({"usage": usage} if usage else {}),
    }


def delta(**d: Any) -> dict[str, Any]:
    return chunk({"index": 0, "delta": d, "finish_reason": None})


STOP = chunk({"index": 0, "delta": {}, "finish_reason": "stop"})
CLAMPED = {"prompt_tokens": 1500, "completion_tokens": 5, "prompt_cache_hit_tokens": 2000}
ANSWERS = {
    # deepseek-reasoner: reasoning streamed apart, then the answer, then a usage-only chunk
    "reasoner": sse(
        [
            delta(reasoning_content="Let me think."),
            delta(reasoning_content=" Done."),
            delta(content="Hello"),
            delta(content=" there"),
            STOP,
            chunk(usage=DEEPSEEK_REASONER),
        ]
    ),
    "clamp": sse([delta(content="ok"), STOP, chunk(usage=CLAMPED)]),  # cached above prompt
    # Moonshot: the usage inside the last chunk's choice, with its cache hits at the top level of it
    "kimi": sse(
        [delta(content="Hi"), chunk({"index": 0, "delta": {}, "finish_reason": "stop", "usage": MOONSHOT_TOP_LEVEL})]
    ),
    # GLM-style: reasoning streamed, but the usage does not say how much of the output it was
    "glm": sse(
        [delta(reasoning_content="hmm"), delta(content="A"), delta(content="B"), STOP, chunk(usage=ZHIPU_CACHED)]
    ),
}


class ScriptedServer(LoopbackServer):
    """Answers /v1/chat/completions with the scripted event stream named by the last message's content; the
    first two events are sent, then a pause, then the rest (so the first content token and the end differ)."""

    def __init__(self) -> None:
        def answer(body: dict[str, Any], handler: Any) -> None:
            events = ANSWERS[body["messages"][-1]["content"]]
            payload = b"".join(events)
            send_body(handler, payload, "text/event-stream")
            cut = len(b"".join(events[:3]))
            handler.wfile.write(payload[:cut])
            handler.wfile.flush()
            time.sleep(0.05)
            handler.wfile.write(payload[cut:])

        super().__init__(answer)

    def __enter__(self) -> str:  # type: ignore[override]  # the tests need the URL only
        return super().__enter__().url


PRICE = {"currency": "USD", "input_per_1m": 0.28, "cached_input_per_1m": 0.028, "output_per_1m": 0.42}


def caller(url: str, cache: ResponseCache, usage: str) -> ApiCaller:
    return ApiCaller(
        base_url=url,
        api_key="EMPTY",
        model="m",
        endpoint_id="scripted",
        price=PRICE,
        settings=Settings(concurrency=2, max_retries=0, timeout_s=10.0),
        cache=cache,
        usage=usage,
    )


# The scripted usages report prompts of 1,200-3,000 tokens: the requests carry a context of that size (about 1,500
# tokens at 4 characters each), or the client would take their usage as implausible (test_api_faults.py).
CONTEXT = "The customer's ticket history follows. " * 150


def body(name: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": CONTEXT}, {"role": "user", "content": name}]
    return {"messages": messages, "max_tokens": 400}


def test_the_client_meters_a_deepseek_reasoner_stream_and_the_cache_replays_it(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedServer() as url:
        [(text, m), (_, clamp)] = caller(url, cache, "deepseek").run([body("reasoner"), body("clamp")])
        assert text == "Hello there"  # the reasoning is not the answer
        assert (m.prompt_tokens, m.cached_tokens) == (1500, 1280)
        assert (m.completion_tokens, m.reasoning_tokens) == (350, 300)
        assert m.cost == pytest.approx(244.44e-6) and m.billed == m.cost and m.usage_warnings == []
        # the decode rate counts the 50 answer tokens only, over first content token -> last byte
        assert m.output_tokens_per_s == pytest.approx(49 / (m.latency_s - m.ttft_s))
        assert (clamp.prompt_tokens, clamp.cached_tokens) == (1500, 1500)
        assert clamp.usage_warnings == ["usage: cached_tokens 2000 > prompt_tokens 1500, clamped"]
        a = aggregate([m, clamp], PRICE)
        assert a["tokens"]["reasoning"] == 300 and a["tokens"]["cached"] == 2780
        assert a["usage_warnings"] == ["usage: cached_tokens 2000 > prompt_tokens 1500, clamped"]
        # the cache keeps the counts, the warnings and the provider's own usage object
        stored = cache.get(request_key("scripted", "m", body("reasoner")))
        assert stored["reasoning_tokens"] == 300 and stored["usage"] == DEEPSEEK_REASONER
        assert cache.ledger()["requests"] == 2
    # served again from the cache with no server at all: the same meters, not billed again
    [(text2, m2), (_, clamp2)] = caller(url, cache, "deepseek").run([body("reasoner"), body("clamp")])
    assert text2 == text and m2.from_cache and m2.billed == 0.0 and m2.cost == m.cost
    assert (m2.completion_tokens, m2.reasoning_tokens) == (350, 300)
    # its latency is the first run's, measured at that run's concurrency (2), and labelled so
    assert m2.latency_s == m.latency_s and m.concurrency == m2.concurrency == 2
    assert aggregate([m2], PRICE)["latency_s"]["earlier_concurrency"] == [2]
    assert clamp2.usage_warnings == clamp.usage_warnings
    assert cache.ledger()["requests"] == 2


def test_the_client_reads_moonshot_usage_inside_the_choice_and_flags_unseparated_reasoning(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedServer() as url:
        [(text, kimi)] = caller(url, cache, "moonshot").run([body("kimi")])
        [(ab, glm)] = caller(url, cache, "zhipu").run([body("glm")])
    assert text == "Hi" and kimi.usage_source == "server"  # not estimated: the usage was found in the choice
    assert (kimi.prompt_tokens, kimi.cached_tokens, kimi.completion_tokens) == (2989, 2048, 64)
    assert ab == "AB" and (glm.prompt_tokens, glm.cached_tokens, glm.completion_tokens) == (1200, 800, 300)
    assert glm.output_tokens_per_s is None and glm.reasoning_tokens == 0
    assert glm.usage_warnings == [
        "usage: the answer streamed reasoning but no reasoning token count came with it; decode rate not computed"
    ]


def test_an_answer_cached_before_reasoning_was_metered_replays_as_unmeasured(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    old = {
        "text": "old answer",
        "prompt_tokens": 100,
        "cached_tokens": 0,
        "completion_tokens": 10,
        "usage_source": "server",
        "latency_s": 1.0,
        "ttft_s": 0.1,
        "output_tokens_per_s": 9.0,
        "finish_reason": "stop",
    }
    cache.put(request_key("scripted", "m", body("x")), "scripted", "m", body("x"), old, "c", 1e-6, "USD")
    [(text, m)] = caller("http://127.0.0.1:9/v1", cache, "deepseek").run([body("x")])  # nothing is sent
    assert text == "old answer" and m.from_cache and m.reasoning_tokens is None
    # cached before the provider's usage object was kept: not re-read as DeepSeek's, and said so
    assert m.usage_warnings == [
        "usage: answer cached before usage adapters, counted with OpenAI's field names, "
        "not re-read as deepseek (its prompt-cache hits may be billed at the input price)"
    ]
    [(_, m)] = caller("http://127.0.0.1:9/v1", cache, "openai").run([body("x")])
    assert m.usage_warnings == []  # read as OpenAI's it always was


def test_a_cached_answer_is_billed_as_its_provider_reported_it_under_the_baselines_adapter(tmp_path):
    """A DeepSeek answer cached while the baseline still said `usage: openai` (1,500 prompt tokens, 1,280 cache
    hits in DeepSeek's own field, read then as 0 cached) is re-read from the stored usage object when the baseline
    names `deepseek`: 1,280 cached, billed (220 x 0.28 + 1,280 x 0.028 + 50 x 0.42) / 1e6 = 118.44e-6 USD."""
    cache = ResponseCache(tmp_path / "cache.sqlite")
    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 50,
        "total_tokens": 1550,
        "prompt_cache_hit_tokens": 1280,
        "prompt_cache_miss_tokens": 220,
    }
    first = {
        "text": "hi",
        "prompt_tokens": 1500,
        "cached_tokens": 0,
        "completion_tokens": 50,
        "reasoning_tokens": 0,
        "usage_warnings": [],
        "usage_source": "server",
        "latency_s": 1.0,
        "ttft_s": 0.1,
        "output_tokens_per_s": 9.0,
        "finish_reason": "stop",
        "usage": usage,
    }
    cache.put(request_key("scripted", "m", body("y")), "scripted", "m", body("y"), first, "c", 1e-6, "USD")
    [(_, m)] = caller("http://127.0.0.1:9/v1", cache, "deepseek").run([body("y")])  # nothing is sent
    assert (m.prompt_tokens, m.cached_tokens, m.completion_tokens) == (1500, 1280, 50)
    assert m.cost == pytest.approx(118.44e-6) and m.billed == 0.0
