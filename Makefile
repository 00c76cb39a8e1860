# The two commands of the README. Both set up .venv first (idempotent, see scripts/setup.sh).
.PHONY: setup run test test-fast lint lock

setup:
	scripts/setup.sh

# The default job: embedded models on the helpdesk task -> reports/default/index.html
run: setup
	.venv/bin/harness

# Everything: fast unit tests and the slow real-model tests.
test:
	scripts/setup.sh --browser
	.venv/bin/pytest -m "slow or not slow" -v -rs --durations=15

test-fast: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check harness tests tasks && .venv/bin/ruff format --check harness tests tasks

# Rewrite runtimes/main.lock (the exact versions setup installs) from pyproject.toml's ranges, newest allowed.
lock:
	scripts/lock.sh
