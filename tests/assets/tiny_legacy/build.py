"""Write the legacy-only fixture: tiny_remote's model code + a pre-4.34 tokenizer + random weights.

python tests/assets/tiny_legacy/build.py OUT_DIR     (writes files only: it loads no tokenizer)
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
MODEL_CODE = HERE.parent / "tiny_remote"


def _tiny_remote_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_remote_build", MODEL_CODE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VOCAB = 4 + 256  # tokenization_tiny.SPECIALS + bytes


def build(out: Path, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for src in (
        MODEL_CODE / "configuration_tiny.py",
        MODEL_CODE / "modeling_tiny.py",
        HERE / "tokenization_tiny.py",
    ):
        shutil.copy(src, out / src.name)
    tokenizer_config = {
        "tokenizer_class": "TinyLegacyTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_tiny.TinyLegacyTokenizer", None]},
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    hidden = 32
    config = {
        "architectures": ["TinyRemoteForCausalLM"],
        "model_type": "harness_tiny_remote",
        "auto_map": {
            "AutoConfig": "configuration_tiny.TinyRemoteConfig",
            "AutoModelForCausalLM": "modeling_tiny.TinyRemoteForCausalLM",
        },
        "vocab_size": VOCAB,
        "hidden_size": hidden,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "max_position_embeddings": 2048,
        "use_cache": False,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    _tiny_remote_builder().save_weights(out, VOCAB, hidden, seed)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
