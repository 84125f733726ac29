"""Autoregressive sampling (lecture 00:22:11 for generation, 01:19:11 for cropping the context)."""

import torch
import torch.nn.functional as F


@torch.no_grad()
def generate(model, idx, max_new_tokens, block_size=None):
    """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; returns (B, T + max_new_tokens).

    Repeat ``max_new_tokens`` times:
        1. crop: if ``block_size`` is given, keep only the last ``block_size`` tokens,
           ``idx[:, -block_size:]`` (a GPT's position table has only ``block_size`` rows);
        2. ``logits, _ = model(idx_cond)``: ``model`` returns ``(logits, loss)``;
        3. keep the last time step's logits only;
        4. turn them into probabilities with a softmax over the vocabulary;
        5. sample one token per row with ``torch.multinomial`` (sample, do not take the argmax);
        6. append it to ``idx`` along the time dimension.
    Return the whole ``idx``, the given tokens included. No autograd graph is built: the
    ``@torch.no_grad()`` above takes care of that.

    Shapes:
        idx: (B, T) int64 -> (B, T + max_new_tokens) int64
        logits: (B, T, V) -> last step (B, V) -> probs (B, V) -> next token (B, 1)

    Lecture: 00:22:11 "simplest baseline: bigram language model, loss, generation";
    01:19:11 "inserting a single self-attention block, cropping the context in generate".

    Hint: ``logits[:, -1, :]``, ``F.softmax(logits, dim=-1)``,
    ``torch.multinomial(probs, num_samples=1)``, ``torch.cat((idx, idx_next), dim=1)``.

    Check it: pytest -m generate
    """
    # TODO: Exercise 4 — loop max_new_tokens times: crop, run the model, softmax the last step, sample, append
    raise NotImplementedError("Exercise 4: generate")
