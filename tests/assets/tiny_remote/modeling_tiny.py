"""A tiny causal LM (embedding -> one mixing layer -> LM head), so the remote-code path is exercised offline.

Its weights are random: it exists to prove that a `trust_remote_code` model folder (config + modeling file via
`auto_map`, as ChatGLM2, Baichuan2 and Qwen ship) loads and is evaluated through the same path, not to score.
"""

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_tiny import TinyRemoteConfig


class TinyRemoteForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = TinyRemoteConfig
    main_input_name = "input_ids"

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.mix = nn.Linear(config.hidden_size, config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        hidden = torch.tanh(self.mix(self.embed(input_ids)))
        # A running mean over positions: each position sees its prefix only (causal), with no cache to manage.
        steps = torch.arange(1, hidden.shape[1] + 1, device=hidden.device).view(1, -1, 1)
        logits = self.lm_head(hidden.cumsum(dim=1) / steps)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())
        return CausalLMOutput(loss=loss, logits=logits)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        # No KV cache: the whole sequence is recomputed each step (fine for a 32-wide model).
        return {"input_ids": input_ids, "attention_mask": attention_mask}
