"""LayerNorm by hand (lecture 01:32:51): the lecture's LayerNorm1d, made an nn.Module."""

import torch
import torch.nn as nn


class LayerNorm1d(nn.Module):
    """Normalise each row (the last dim) to mean 0 and variance 1, then scale by gamma and shift by beta."""

    def __init__(self, dim, eps=1e-5):
        """Store eps and create the two learnable parameters.

        Set:
            self.eps     the ``eps`` argument, added to the variance inside the square root
            self.gamma   ``nn.Parameter(torch.ones(dim))``, the scale
            self.beta    ``nn.Parameter(torch.zeros(dim))``, the shift

        The lecture keeps them as plain tensors and lists them in ``parameters()``; as
        ``nn.Parameter`` attributes of an ``nn.Module`` the optimizer finds them by itself.

        Shapes:
            gamma, beta: (dim,)

        Lecture: 01:32:51 "layernorm (and its relationship to our previous batchnorm)".

        Hint: ``super().__init__()`` must run before you assign a parameter; it already does.

        Check it: pytest -m layernorm
        """
        super().__init__()
        # TODO: Exercise 11 — set self.eps, self.gamma (ones) and self.beta (zeros) as nn.Parameter
        raise NotImplementedError("Exercise 11: LayerNorm1d.__init__")

    def forward(self, x):
        """Normalise x over its last dim, then ``self.gamma * xhat + self.beta``.

        ``xmean = x.mean(-1, keepdim=True)``;
        ``xvar = x.var(-1, keepdim=True, unbiased=False)``;
        ``xhat = (x - xmean) / torch.sqrt(xvar + self.eps)``; return ``self.gamma * xhat + self.beta``.
        Write it by hand: calling ``F.layer_norm`` or ``nn.LayerNorm`` here does not count.

        Shapes:
            x: (..., dim) -> out: (..., dim); both (B, C) and (B, T, C) inputs; xmean, xvar: (..., 1)

        Lecture: 01:32:51 "layernorm": the lecture's ``x.mean(1)`` and ``x.var(1)`` are written
        for a (B, C) input. Two changes here: use dim -1, so that a (B, T, C) input is normalised
        per position over its C features (dim 1 would be time), and use the biased variance
        (divide by C, ``unbiased=False``) as ``nn.LayerNorm`` does; the lecture's ``x.var(1)``
        is unbiased (divides by C - 1).

        Hint: eps goes inside the square root, so that a constant row (variance 0) gives
        ``beta``, not NaN; ``keepdim=True`` keeps xmean (..., 1) so that it broadcasts.

        Check it: pytest -m layernorm
        """
        # TODO: Exercise 11 — normalise over the last dim (biased variance, eps in the sqrt), then scale and shift
        raise NotImplementedError("Exercise 11: LayerNorm1d.forward")
