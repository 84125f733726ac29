"""Train/validation split (lecture 00:09:28) and random batches of chunks (00:14:27, "data loader")."""

import torch


def train_val_split(data, train_fraction=0.9):
    """Split ``data`` in order: the first ``train_fraction`` for training, the rest for validation.

    With ``n = int(train_fraction * len(data))`` return ``(data[:n], data[n:])``. Do not shuffle:
    the validation text is the end of the book, text the model never saw.

    Errors: a ``train_fraction`` not strictly between 0 and 1 (0, 1, 90, -0.1) raises ``ValueError``.

    Shapes:
        data: (N,) -> train: (n,), val: (N - n,)   with n = int(train_fraction * N)

    Lecture: 00:09:28 "tokenization, train/val split".

    Hint: slicing a tensor keeps its order and its dtype.

    Check it: pytest -m batching
    """
    # TODO: Exercise 2 — return the first n = int(train_fraction * len(data)) items and the rest
    raise NotImplementedError("Exercise 2: train_val_split")


def get_batch(data, batch_size, block_size, device="cpu"):
    """Draw ``batch_size`` random chunks of ``block_size`` tokens and their next-token targets.

    Returns ``(x, y)``, both int64 of shape ``(batch_size, block_size)`` on ``device``,
    with ``y[b, t] == data[i + t + 1]`` where ``x[b, t] == data[i + t]``.

    Draw the start positions with exactly
    ``ix = torch.randint(len(data) - block_size, (batch_size,))``, one call, so that
    ``torch.manual_seed`` reproduces your batches. Then for each start ``i`` in ``ix``:
    ``x[b] = data[i : i + block_size]`` and ``y[b] = data[i + 1 : i + block_size + 1]``.

    Errors: a ``block_size`` that leaves no room (``len(data) <= block_size``, so there is no
    chunk plus one target) raises ``ValueError``.

    Shapes:
        data: (N,) -> x: (batch_size, block_size), y: (batch_size, block_size), both int64

    Lecture: 00:14:27 "data loader: batches of chunks of data".

    Hint: ``torch.stack`` turns a list of (T,) tensors into one (B, T) tensor; finish with
    ``.long().to(device)``.

    Check it: pytest -m batching
    """
    # TODO: Exercise 2 — draw ix with torch.randint, stack the chunks into x and the shifted chunks into y
    raise NotImplementedError("Exercise 2: get_batch")
