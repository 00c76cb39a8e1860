"""harness: fine-tune open LLMs or call a closed API? Measured accuracy, cost, latency and forgetting."""

__version__ = "0.1.0"
