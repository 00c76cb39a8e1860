"""The seed families' tiny remote-code folders (../shared/seed_arch/, read in place, never copied into the
repository) and the figures their README pins."""

from __future__ import annotations

import pytest

from harness.paths import REPO_ROOT
from tests.support import background

SEED = REPO_ROOT.parent / "shared" / "seed_arch"
absent = pytest.mark.skipif(not SEED.is_dir(), reason=f"{SEED} is absent (seed-model remote code, beside the checkout)")

# ../shared/seed_arch/README.md: log p(" Paris" | "Question: what is the capital of France?\nAnswer:"), fp32
REFERENCE = {
    "chatglm2-6b": -27.5995,
    "baichuan2-7b": -12.9814,
    "baichuan2-13b": -12.9803,
    "qwen-14b": -11.9305,
}
# P-tuning v2's path per family (harness/finetune/prefix.py)
PATHS = {
    "chatglm2-6b": "chatglm2-native",
    "baichuan2-7b": "peft+baichuan",
    "baichuan2-13b": "peft+baichuan",
    "qwen-14b": "peft+qwen",
}


@pytest.fixture(scope="module")
def legacy():
    """The legacy runtime, created in the background when the session began (tests/support/background.py)."""
    out = background.result("legacy", background.create_legacy)
    assert out.returncode == 0, out.stderr
