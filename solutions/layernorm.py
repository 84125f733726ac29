"""LayerNorm by hand (lecture 01:32:51): the lecture's LayerNorm1d, made an nn.Module."""

import torch
import torch.nn as nn


class LayerNorm1d(nn.Module):
    """Normalise each row (the last dim) to mean 0 and variance 1, then scale by gamma and shift by beta."""

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))  # (dim,)
        self.beta = nn.Parameter(torch.zeros(dim))  # (dim,)

    def forward(self, x):
        xmean = x.mean(-1, keepdim=True)  # (..., 1): each row's mean
        xvar = x.var(-1, keepdim=True, unbiased=False)  # (..., 1): biased, as nn.LayerNorm
        xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # (..., dim): mean 0, variance 1
        out = self.gamma * xhat + self.beta  # (..., dim)
        return out
