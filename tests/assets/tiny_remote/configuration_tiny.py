"""A tiny causal-LM config written by this project, loaded only through trust_remote_code (auto_map)."""

from transformers import PretrainedConfig


class TinyRemoteConfig(PretrainedConfig):
    model_type = "harness_tiny_remote"

    def __init__(
        self, vocab_size=49152, hidden_size=32, num_hidden_layers=1, num_attention_heads=1, **kwargs
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        # generate() sizes its (unused) cache from these, as for any decoder
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        super().__init__(**kwargs)
