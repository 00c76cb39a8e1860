"""LoRA's dropout with a one-bit mask: the same masks and numbers as peft's, a third of the saved activations.

peft computes `lora_B(lora_A(dropout(x)))` in every adapted layer. On a CPU, torch's dropout draws a float mask
(`empty_like(x).bernoulli_(1 - p)`, divided by 1 - p) and multiplies: autograd then keeps that float mask for the
dropout's backward and the float product for lora_A's weight gradient, 8 bytes per input element in each of the
seven adapted linears of a layer, although x itself is often kept anyway (it feeds q, k and v alike). Measured on
SmolLM2-135M (200 tokens, all-linear, dropout 0.05): 2.03 MB of saved activations per token, 1.18 MB with dropout 0.

Here dropout and lora_A are one autograd function: forward draws the mask exactly as torch does (same generator,
same shape, same order, so the same masks), keeps x and the mask packed 8 elements to a byte, and backward
unpacks it to form both gradients. A one-byte mask cost 20 MB more at SmolLM2's longest training row (163
tokens); drawing the mask again in backward from the generator's saved state instead cost 15-35 % of a step.
The results equal peft's own path (tests/integration/test_train_memory.py); only the
saved tensors change. Layers peft computes another way (DoRA and other variants, a dropout that is not
nn.Dropout, no dropout at all) are left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def _function() -> Any:
    import torch

    shifts = torch.arange(8, dtype=torch.uint8)

    def pack(keep: Any) -> Any:
        """A bool mask as 1 bit per element (8 elements a byte)."""
        flat = keep.reshape(-1)
        if flat.numel() % 8:
            flat = torch.cat([flat, flat.new_zeros(8 - flat.numel() % 8)])
        return (flat.view(torch.uint8).view(-1, 8) << shifts.to(flat.device)).sum(-1, dtype=torch.uint8)

    def unpack(packed: Any, like: Any) -> Any:
        bits = (packed.unsqueeze(-1) >> shifts.to(packed.device)) & 1
        return bits.reshape(-1)[: like.numel()].view(like.shape)

    class DropoutLinear(torch.autograd.Function):
        """y = (x * mask / (1 - p)) @ A^T, saving x and the mask's bits instead of the float mask and the
        product."""

        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, p: float) -> Any:
            # torch's CPU dropout: noise = empty_like(x).bernoulli_(1 - p); noise.div_(1 - p); x * noise
            noise = torch.empty_like(x).bernoulli_(1 - p)
            bits = pack(noise.bool())
            noise.div_(1 - p)
            dropped = x * noise
            ctx.save_for_backward(x, bits, weight)
            ctx.p = p
            return torch.nn.functional.linear(dropped, weight)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            x, bits, weight = ctx.saved_tensors
            noise = unpack(bits, x).to(x.dtype).div_(1 - ctx.p)
            grad_x = grad_w = None
            if ctx.needs_input_grad[0]:
                grad_x = (grad @ weight) * noise
            if ctx.needs_input_grad[1]:
                flat = grad.reshape(-1, grad.shape[-1])
                grad_w = flat.t() @ (x * noise).reshape(-1, x.shape[-1])
            return grad_x, grad_w, None

    return DropoutLinear


class _FusedA:
    """lora_A's forward while training: dropout inside (see the module's docstring); plain when evaluating."""

    def __init__(self, linear: Any, p: float, fn: Any) -> None:
        self.linear, self.p, self.fn = linear, p, fn
        self.plain = linear.forward

    def __call__(self, x: Any) -> Any:
        if not self.linear.training or not self.p:
            return self.plain(x)
        return self.fn.apply(x, self.linear.weight, self.p)


def install(model: Any) -> int:
    """Fuse dropout into lora_A in every vanilla LoRA linear of a peft model; returns how many were fused. The
    state dict and the adapter's saved config (its dropout included) are unchanged."""
    import torch.nn as nn

    try:
        from peft.tuners.lora.layer import Linear as LoraLinear
    except ImportError:  # no peft LoRA here (an older peft): nothing to fuse
        return 0
    fn, fused, kept = _function(), 0, 0
    for module in model.modules():
        if not isinstance(module, LoraLinear):
            continue
        for name, drop in list(module.lora_dropout.items()):
            a = module.lora_A[name]
            plain = (
                isinstance(drop, nn.Dropout)
                and name not in getattr(module, "lora_variant", {})
                and isinstance(a, nn.Linear)
                and a.bias is None
            )
            if not plain:
                kept += not isinstance(drop, nn.Identity)
                continue
            a.forward = _FusedA(a, drop.p, fn)
            module.lora_dropout[name] = nn.Identity()
            fused += 1
    if kept:
        log.info("LoRA dropout: %d layer(s) keep peft's own dropout (a variant or another dropout module)", kept)
    return fused
