# The two commands of the README. Both set up .venv first (idempotent, see scripts/setup.sh).
.PHONY: setup run test test-fast lint lock

setup:
	scripts/setup.sh

# The default job: embedded models on the helpdesk task -> reports/default/index.html
run: setup
	.venv/bin/harness

# Every tier: unit (fast, offline), integration (real models, servers, chromium), e2e (the harness command as a
# user runs it), in two lanes of one core each, then the tests that time a server alone (scripts/test.sh). Each
# part lists its slowest tests.
test:
	scripts/setup.sh --browser
	scripts/test.sh

test-fast: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check harness hydra_plugins tests tasks bench scripts && .venv/bin/ruff format --check harness hydra_plugins tests tasks bench scripts

# Rewrite runtimes/main.lock (the exact versions setup installs) from pyproject.toml's ranges, newest allowed.
lock:
	scripts/lock.sh
