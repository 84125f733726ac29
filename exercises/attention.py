"""Self-attention: one head (lecture 01:02:00) and many heads fused into one computation (01:21:59, EX1)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        """Create the head's layers and its causal mask.

        Set:
            self.key, self.query, self.value   each ``nn.Linear(n_embd, head_size, bias=False)``
            self.tril      a buffer: ``torch.tril(torch.ones(block_size, block_size))``, made with
                           ``self.register_buffer("tril", ...)`` (a buffer is not a parameter, and
                           ``.to(device)`` moves it; a plain ``self.tril = ...`` it would not)
            self.dropout   ``nn.Dropout(dropout)``, applied to the attention weights

        Shapes:
            key/query/value .weight: (head_size, n_embd); tril: (block_size, block_size)

        Lecture: 01:02:00 "version 4: self-attention"; dropout at 01:37:49 "scaling up the model,
        dropout".

        Hint: ``super().__init__()`` must run before you assign any layer; it already does.

        Check it: pytest -m head
        """
        super().__init__()
        # TODO: Exercise 5 — create self.key, self.query, self.value, the tril buffer and self.dropout
        raise NotImplementedError("Exercise 5: Head.__init__")

    def forward(self, x):
        """Each position takes a weighted average of the values at itself and at earlier positions.

        Compute:
            k = self.key(x), q = self.query(x)
            wei = q @ k transposed * head_size**-0.5     the affinities, scaled
            mask the future: wei[.., t, s] = -inf wherever s > t (``self.tril[:T, :T] == 0``: sliced
            to T, which can be shorter than block_size)
            wei = softmax over the last dim, then ``self.dropout(wei)``
            out = wei @ self.value(x)

        Scale by ``head_size`` (the width of k), not by ``n_embd``: it keeps the scores at unit
        variance, so the softmax does not turn one-hot. Mask before the softmax, never after; dropout
        after the softmax, never on the scores (in train mode -inf * 0 gives NaN).

        Shapes:
            x: (B, T, C) -> out: (B, T, head_size), for any T <= block_size
            k, q, v: (B, T, head_size); wei: (B, T, T)

        Lecture: 01:02:00 "version 4: self-attention"; 01:16:56 note 6: "scaled" self-attention
        (the lecture corrects itself at 01:20:05: the scale is head_size, not n_embd).

        Hint: ``k.transpose(-2, -1)`` swaps the last two dims;
        ``wei = wei.masked_fill(mask, float("-inf"))`` (masked_fill returns a new tensor: assign it);
        ``F.softmax(wei, dim=-1)``.

        Check it: pytest -m head
        """
        # TODO: Exercise 5 — compute the scaled, causally masked softmax weights and return them times v
        raise NotImplementedError("Exercise 5: Head.forward")


class MultiHeadAttention(nn.Module):
    """``n_head`` heads of causal self-attention computed together, heads as a batch dimension."""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        """Create the fused projections for all heads at once.

        Set:
            self.n_head, self.n_embd   the two sizes, for forward
            self.c_attn          ``nn.Linear(n_embd, 3 * n_embd, bias=False)``: one layer makes
                                 q, k and v for every head; its output is ``[q | k | v]``, and each
                                 of q, k, v is split into ``n_head`` consecutive chunks of
                                 ``head_size = n_embd // n_head`` (head 0 first)
            self.c_proj          ``nn.Linear(n_embd, n_embd)``, the projection back into the
                                 residual pathway
            self.attn_dropout    ``nn.Dropout(dropout)`` on the attention weights
            self.resid_dropout   ``nn.Dropout(dropout)`` after ``c_proj``
            self.tril            the causal mask buffer, as in ``Head``

        Do not make ``Head`` sub-modules: this is the lecture's exercise EX1, all heads in one
        batched computation.

        Errors: ``n_embd % n_head != 0`` raises ``ValueError`` (the heads must split n_embd evenly).

        Shapes:
            c_attn.weight: (3 * n_embd, n_embd); c_proj.weight: (n_embd, n_embd)

        Lecture: 01:21:59 "multi-headed self-attention" (the fused form is its exercise EX1);
        dropout at 01:37:49 "scaling up the model, dropout".

        Hint: check the sizes first, before you create any layer.

        Check it: pytest -m multihead
        """
        super().__init__()
        # TODO: Exercise 6 — check n_embd % n_head, then create c_attn, c_proj, the two dropouts and the tril buffer
        raise NotImplementedError("Exercise 6: MultiHeadAttention.__init__")

    def forward(self, x):
        """Run all ``n_head`` heads in one batched computation and mix their outputs.

        Compute:
            q, k, v = split ``self.c_attn(x)`` into three (B, T, C) pieces, in that order
            give each a head dimension: (B, T, n_head, head_size), then move the heads next to
            the batch: (B, n_head, T, head_size)
            attention as in ``Head.forward``, per head: scores scaled by head_size**-0.5, future
            masked to -inf (``self.tril[:T, :T] == 0``), softmax over the last dim, then
            ``self.attn_dropout`` on the weights (never on the scores), times v
            put the heads back side by side: (B, T, n_head * head_size) = (B, T, C)
            out = ``self.resid_dropout(self.c_proj(out))``

        No Python loop over heads. ``F.scaled_dot_product_attention`` is allowed (with
        ``is_causal=True``, and dropout only in training mode).

        Shapes:
            x: (B, T, C) -> out: (B, T, C), with C == n_embd and T <= block_size
            q, k, v: (B, n_head, T, head_size); wei: (B, n_head, T, T)

        Lecture: 01:21:59 "multi-headed self-attention"; the scale from 01:16:56 and its
        correction at 01:20:05 (head_size, not n_embd); dropout at 01:37:49.

        Hint: ``.split(self.n_embd, dim=2)``, ``.view(B, T, n_head, hs).transpose(1, 2)``;
        on the way back ``.transpose(1, 2).contiguous().view(B, T, C)``.

        Check it: pytest -m multihead
        """
        # TODO: Exercise 6 — split c_attn(x) into heads, attend causally in one batch, merge heads, project
        raise NotImplementedError("Exercise 6: MultiHeadAttention.forward")
