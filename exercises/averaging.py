"""The mathematical trick in self-attention (lecture 00:42:13): averaging the past three ways.

Each position t gets the mean of the inputs at positions 0..t (a "bag of words", xbow), first with
for loops, then as one matrix multiply by a lower-triangular matrix of weights, then with those
weights made by a softmax over masked scores: the form that self-attention (01:02:00) builds on.
"""

import torch
import torch.nn.functional as F


def average_past_loop(x):
    """Version 1: for every batch row b and position t, the mean of x[b, 0..t], with for loops.

    ``xbow[b, t] = x[b, :t+1].mean(0)``: position t averages itself and every earlier position,
    never a later one. Return a new tensor like x (``torch.zeros_like(x)`` has x's shape, dtype
    and device; the lecture's ``torch.zeros((B, T, C))`` is float32 on the CPU).

    Shapes:
        x: (B, T, C) -> xbow: (B, T, C); xprev = x[b, :t+1]: (t+1, C)

    Lecture: 00:42:13 "version 1: averaging past context with for loops, the weakest form of
    aggregation".

    Hint: ``x[b, :t+1]`` includes t itself; ``x[b, :t]`` would leave position 0 with nothing to
    average. Average over dim 0 of xprev (time), not over the channels.

    Check it: pytest -m averaging
    """
    # TODO: Exercise 10 — loop over b and t and set xbow[b, t] to the mean of x[b, :t+1]
    raise NotImplementedError("Exercise 10: average_past_loop")


def average_past_matmul(x):
    """Version 2: the same averages as one matrix multiply by a (T, T) matrix of weights.

    ``wei = torch.tril(torch.ones(T, T))`` keeps the past (row t has ones at 0..t);
    ``wei = wei / wei.sum(1, keepdim=True)`` makes each row sum to 1 (row t becomes 1/(t+1) on
    0..t); then ``wei @ x`` broadcasts over the batch. Make wei with x's dtype and device
    (``dtype=x.dtype, device=x.device``): a float64 x on a GPU must work too.

    Shapes:
        x: (B, T, C) -> out: (B, T, C); wei: (T, T); (T, T) @ (B, T, C) -> (B, T, C)

    Lecture: 00:47:11 "the trick in self-attention: matrix multiply as weighted aggregation";
    00:51:54 "version 2: using matrix multiply".

    Hint: no Python loop: one ``@`` (``torch.einsum`` or ``torch.bmm`` also count) does all the
    averages at once. ``torch.tril``, not ``torch.triu``, which would average the future.

    Check it: pytest -m averaging
    """
    # TODO: Exercise 10 — build wei = tril(ones(T, T)) with rows normalised to 1, return wei @ x
    raise NotImplementedError("Exercise 10: average_past_matmul")


def average_past_softmax(x):
    """Version 3: the weights made by a softmax: zeros, the future set to -inf, softmax per row.

    ``tril = torch.tril(torch.ones(T, T))``; ``wei = torch.zeros(T, T)``;
    ``wei = wei.masked_fill(tril == 0, float("-inf"))`` (the future may not talk to the past);
    ``wei = F.softmax(wei, dim=-1)`` turns each row into weights 1/(t+1) on 0..t and exactly 0
    on the future; return ``wei @ x``. Self-attention replaces the zeros by learned affinities.

    Shapes:
        x: (B, T, C) -> out: (B, T, C); tril, wei: (T, T)

    Lecture: 00:54:42 "version 3: adding softmax" (to 00:58:26).

    Hint: mask before the softmax, with -inf, not 0: exp(-inf) = 0 gives the future weight 0,
    while a score of 0 gets as much weight as the past. The softmax runs along each row
    (``dim=-1``), over the positions being averaged.

    Check it: pytest -m averaging
    """
    # TODO: Exercise 10 — mask zeros(T, T) with -inf where tril == 0, softmax over dim=-1, return wei @ x
    raise NotImplementedError("Exercise 10: average_past_softmax")
