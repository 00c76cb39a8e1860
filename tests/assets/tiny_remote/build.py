"""Write the tiny remote-code model folder: these .py files + config.json with auto_map + random weights.

python tests/assets/tiny_remote/build.py OUT_DIR TOKENIZER_DIR
"""

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer

HERE = Path(__file__).parent


def save_weights(out: Path, vocab: int, hidden: int, seed: int) -> None:
    """Random weights for modeling_tiny.TinyRemoteForCausalLM."""
    g = torch.Generator().manual_seed(seed)
    weights = {
        "embed.weight": torch.randn(vocab, hidden, generator=g) * 0.02,
        "mix.weight": torch.randn(hidden, hidden, generator=g) * 0.2,
        "mix.bias": torch.zeros(hidden),
        "lm_head.weight": torch.randn(vocab, hidden, generator=g) * 0.02,
    }
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})


def build(out: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("configuration_tiny.py", "modeling_tiny.py"):
        shutil.copy(HERE / name, out / name)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.chat_template = None  # behave like the seed base models: plain prompts
    tokenizer.save_pretrained(out)
    hidden, vocab = 32, len(tokenizer)
    config = {
        "architectures": ["TinyRemoteForCausalLM"],
        "model_type": "harness_tiny_remote",
        "auto_map": {
            "AutoConfig": "configuration_tiny.TinyRemoteConfig",
            "AutoModelForCausalLM": "modeling_tiny.TinyRemoteForCausalLM",
        },
        "vocab_size": vocab,
        "hidden_size": hidden,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
        "max_position_embeddings": 2048,
        "use_cache": False,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_weights(out, vocab, hidden, seed)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
