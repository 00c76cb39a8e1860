"""Closed-API (OpenAI-compatible) baselines: scored by lm-eval through a registered backend, metered per request.

lm.py       the lm-eval backend `harness-chat-api` (chat messages in, text out, a meter per request)
client.py   async requests: concurrency, client-side rate limits, retries with backoff, streaming timings
cache.py    SQLite response cache and cost ledger: nothing is sent, or paid for, twice
limits.py   requests/tokens-per-minute limiter, backoff delays, Retry-After parsing
usage.py    each provider's `usage` object -> prompt, cached, completion and reasoning tokens (baseline.usage)
pricing.py  usage x dated price -> money
meter.py    per-request meters -> the cell's aggregates (tokens, latency percentiles, cost)
serve.py    start and stop `transformers serve` on a loopback port (the local stand-in for an API)
"""
