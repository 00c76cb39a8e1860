"""The endpoint layer: every OpenAI-compatible endpoint the harness talks to (an API baseline, the LLM judge, a
data teacher, a load test's target), opened by one function, metered per request.

open.py      open_endpoint: key, response cache, server (when the entry serves a local model), metered caller
             with the run's money caps, for every purpose
endpoint.py  where an entry answers: a provider's URL, or `transformers serve` for the length of a `with`
lm.py        the lm-eval backend `harness-chat-api` (chat messages in, text out, a meter per request)
client.py    async requests: concurrency, client-side rate limits, retries with backoff, streaming timings
cache.py     SQLite response cache and cost ledger: nothing is sent, or paid for, twice
budget.py    money caps: the run's and each endpoint's, checked before each request
limits.py    requests/tokens-per-minute limiter, backoff delays, Retry-After parsing
usage.py     each provider's `usage` object -> prompt, cached, completion and reasoning tokens (baseline.usage)
pricing.py   usage x dated price -> money
meter.py     per-request meters -> the cell's aggregates (tokens, latency percentiles, cost)
serve.py     start and stop `transformers serve` on a loopback port (the local stand-in for an API)
"""
