"""Pretraining, then finetuning: the lecture's suggested exercise EX3 (01:48:53, and the video's description).

Pretrain the GPT on a very large data set, save it, then load it and continue training on Tiny
Shakespeare with fewer steps and a lower learning rate. The checkpoint is the one ``python -m grader
train`` writes (``out/ckpt.pt``): a dict with ``model`` (the state_dict, on the CPU), ``config`` (the
``GPTConfig`` as a dict) and ``vocab`` (the characters in id order), among others. Encode the finetuning
text with the checkpoint's vocabulary (``CharTokenizer(ckpt["vocab"])``), so ids mean the same characters.
"""

import torch

from .batching import get_batch
from .gpt import GPTConfig, GPTLanguageModel


def load_pretrained(path, device="cpu"):
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = GPTLanguageModel(GPTConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device)


def finetune(model, data, max_iters, learning_rate=1e-4, batch_size=32, block_size=None):
    if block_size is None:
        block_size = model.config.block_size
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    losses = []
    for _ in range(max_iters):
        xb, yb = get_batch(data, batch_size, block_size, device)  # (B, T), (B, T)
        logits, loss = model(xb, yb)  # (B, T, V), ()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
