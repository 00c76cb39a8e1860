"""Serving under load (`harness load`): latency percentiles per load level and capacity at a latency target,
for an API, the locally served stand-in, or any OpenAI-compatible server.

busy.py       how busy the machine was while something was timed (also used by evaluation and training)
generator.py  the load generator: closed loop (N users) and open loop (Poisson arrivals), per-token timings
summary.py    per-request rows -> per-level figures, goodput, capacity at the target (pure functions)
run.py        the stage: prompts from a task, the endpoint, level-by-level storage and resume, a paid API's money
              cap (checked before each level), the load record
"""
