"""Train/validation split and random batches of chunks (lecture 00:09:28 and 00:14:27)."""

import torch


def train_val_split(data, train_fraction=0.9):
    """Split ``data`` in order: the first ``train_fraction`` for training, the rest for validation."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    n = int(train_fraction * len(data))
    return data[:n], data[n:]


def get_batch(data, batch_size, block_size, device="cpu"):
    """Draw ``batch_size`` random chunks of ``block_size`` tokens and their next-token targets.

    Returns ``(x, y)``, both int64 of shape ``(batch_size, block_size)`` on ``device``,
    with ``y[b, t] == data[i + t + 1]`` where ``x[b, t] == data[i + t]``.
    """
    if len(data) - block_size <= 0:
        raise ValueError(
            f"block_size={block_size} leaves no room in data of length {len(data)}: "
            f"it needs at least block_size + 1 tokens"
        )
    ix = torch.randint(len(data) - block_size, (batch_size,))  # (B,)
    x = torch.stack([data[i : i + block_size] for i in ix])  # (B, T)
    y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])  # (B, T)
    return x.long().to(device), y.long().to(device)
