"""Serving under load (`harness load`): latency percentiles per load level and capacity at a latency target,
for an API, the locally served stand-in, or any OpenAI-compatible server.

generator.py  the load generator: closed loop (N users) and open loop (Poisson arrivals), per-token timings
figures.py    per-request rows -> per-level figures, goodput, capacity at the target (pure functions)
served.py     serving a harness model (base or fine-tuned) with `transformers serve`
The job that runs it (prompts from a task, the endpoint, level-by-level storage and resume, a paid API's money
cap, the load record) is harness/jobs/load_job.py; how busy the machine was is harness/busy.py.
"""
