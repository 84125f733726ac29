"""The Transformer block: feed-forward (01:24:25), residuals (01:26:48), pre-norm LayerNorm (01:32:51)."""

import torch.nn as nn

from .attention import MultiHeadAttention


class FeedForward(nn.Module):
    """A position-wise MLP: Linear, ReLU, Linear, Dropout, with a 4x wider inner layer."""

    def __init__(self, n_embd, dropout=0.0):
        """Create the MLP as one ``nn.Sequential`` named ``self.net``.

        ``self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(),
        nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))``, in that order.

        Shapes:
            net[0].weight: (4 * n_embd, n_embd); net[2].weight: (n_embd, 4 * n_embd)

        Lecture: 01:24:25 "feedforward layers"; the 4x wider inner layer and the projection at
        01:26:48 "residual connections"; dropout at 01:37:49.

        Hint: the second Linear is the projection back into the residual pathway.

        Check it: pytest -m feedforward
        """
        super().__init__()
        # TODO: Exercise 7 — create self.net: Linear(C, 4C), ReLU, Linear(4C, C), Dropout
        raise NotImplementedError("Exercise 7: FeedForward.__init__")

    def forward(self, x):
        """Apply the MLP to every position on its own: ``self.net(x)``.

        Shapes:
            x: (B, T, C) -> out: (B, T, C)

        Lecture: 01:24:25 "feedforward layers": after the tokens have talked to each other
        (attention), each one thinks about what it gathered.

        Hint: one line.

        Check it: pytest -m feedforward
        """
        # TODO: Exercise 7 — return self.net applied to x
        raise NotImplementedError("Exercise 7: FeedForward.forward")


class Block(nn.Module):
    """Communication (attention) followed by computation (feed-forward), each on a residual path."""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        """Create the block's four parts.

        Set:
            self.sa     ``MultiHeadAttention(n_embd, n_head, block_size, dropout)``
            self.ffwd   ``FeedForward(n_embd, dropout)``
            self.ln1    ``nn.LayerNorm(n_embd)``, before the attention
            self.ln2    ``nn.LayerNorm(n_embd)``, before the feed-forward

        Errors: ``n_embd % n_head != 0`` raises ``ValueError``; ``MultiHeadAttention`` already
        does that for you.

        Shapes:
            ln1.weight, ln2.weight: (n_embd,); head_size = n_embd // n_head

        Lecture: 01:26:48 "residual connections"; 01:32:51 "layernorm".

        Hint: the parts are only created here; ``forward`` wires them.

        Check it: pytest -m block
        """
        super().__init__()
        # TODO: Exercise 8 — create self.sa, self.ffwd, self.ln1 and self.ln2
        raise NotImplementedError("Exercise 8: Block.__init__")

    def forward(self, x):
        """Attention then feed-forward, each on a residual path, with pre-norm as in the lecture.

        ``x = x + self.sa(self.ln1(x))``, then ``x = x + self.ffwd(self.ln2(x))``; return x.
        Normalise the input of each branch (pre-norm), not the sum (post-norm), and keep both
        residual additions.

        Shapes:
            x: (B, T, C) -> out: (B, T, C)

        Lecture: 01:26:48 "residual connections"; 01:32:51 "layernorm" (the pre-norm
        formulation).

        Hint: two lines; the residual stream ``x`` itself is never normalised in place.

        Check it: pytest -m block
        """
        # TODO: Exercise 8 — add the attention branch, then the feed-forward branch, each on ln(x)
        raise NotImplementedError("Exercise 8: Block.forward")
