"""The mathematical trick in self-attention (lecture 00:42:13): averaging the past three ways.

Each position t gets the mean of the inputs at positions 0..t (a "bag of words", xbow), first with
for loops, then as one matrix multiply by a lower-triangular matrix of weights, then with those
weights made by a softmax over masked scores: the form that self-attention (01:02:00) builds on.
"""

import torch
import torch.nn.functional as F


def average_past_loop(x):
    B, T, C = x.shape
    xbow = torch.zeros_like(x)  # (B, T, C)
    for b in range(B):
        for t in range(T):
            xprev = x[b, : t + 1]  # (t+1, C)
            xbow[b, t] = torch.mean(xprev, 0)  # (C,)
    return xbow


def average_past_matmul(x):
    B, T, C = x.shape
    wei = torch.tril(torch.ones(T, T, dtype=x.dtype, device=x.device))  # (T, T)
    wei = wei / wei.sum(1, keepdim=True)  # (T, T): each row sums to 1
    xbow2 = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
    return xbow2


def average_past_softmax(x):
    B, T, C = x.shape
    tril = torch.tril(torch.ones(T, T, device=x.device))  # (T, T)
    wei = torch.zeros(T, T, dtype=x.dtype, device=x.device)  # (T, T)
    wei = wei.masked_fill(tril == 0, float("-inf"))  # (T, T): the future gets -inf
    wei = F.softmax(wei, dim=-1)  # (T, T)
    xbow3 = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)
    return xbow3
