"""Autoregressive sampling (lecture 00:22:11, and 01:19:11 for cropping the context)."""

import torch
import torch.nn.functional as F


@torch.no_grad()
def generate(model, idx, max_new_tokens, block_size=None):
    """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; returns (B, T + max_new_tokens)."""
    for _ in range(max_new_tokens):
        idx_cond = idx if block_size is None else idx[:, -block_size:]  # (B, <=block_size)
        logits, _ = model(idx_cond)  # (B, T, V)
        logits = logits[:, -1, :]  # (B, V)
        probs = F.softmax(logits, dim=-1)  # (B, V)
        idx_next = torch.multinomial(probs, num_samples=1)  # (B, 1)
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T+1)
    return idx
