"""EX4 in the video's description: one modern change to the lecture's GPT (01:46:22 "walkthrough of nanoGPT").

"Read some transformer papers and implement one additional feature or change that people seem to
use. Does it improve the performance of your GPT?" Pick ONE of the three changes below, declare it in
``chosen_change()``, and fill in its part; the checks grade the declared one only (the others may stay
unimplemented), and the points are the same whichever you pick.

- ``"gelu"``: GELU instead of ReLU in the feed-forward (GPT-2, nanoGPT): ``gelu`` and ``GELUFeedForward``.
- ``"weight_tying"``: the token embedding and ``lm_head`` share one weight matrix (GPT-2, nanoGPT):
  ``tie_weights``.
- ``"rope"``: rotary position embeddings (RoFormer; GPT-NeoX, LLaMA) rotate the queries and keys by
  their position: ``apply_rope``.
"""

import math

import torch
import torch.nn as nn

# The changes chosen_change() may name.
CHANGES = ("gelu", "weight_tying", "rope")


def chosen_change():
    """Declare the change you implement: return one of ``"gelu"``, ``"weight_tying"``, ``"rope"``.

    Every check of this exercise grades the change named here, and only that one; the points are
    the same whichever you pick. Return the plain string, spelled exactly as above.

    Shapes:
        none: returns a str

    Lecture: 01:46:22 "walkthrough of nanoGPT" (nanoGPT's model.py has GELU and weight tying); the
    video's description, exercise EX4.

    Hint: one line, e.g. ``return "gelu"``; then fill in that change's part below.

    Check it: pytest -m modern
    """
    # TODO: Exercise 14 — return the name of the change you implement: "gelu", "weight_tying" or "rope"
    raise NotImplementedError("Exercise 14: chosen_change")


# --------------------------------------------------------------------------------------- "gelu"


def gelu(x):
    """The Gaussian Error Linear Unit, by hand: ``gelu(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))``.

    Phi is the standard normal's cumulative distribution function, so GELU weights each input by
    how likely a standard normal is to lie below it: about x for large x, about 0 for very negative
    x, and smooth in between (its slope at 0 is 0.5), where ReLU has a kink. GPT-2 used the tanh
    approximation ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``; both are accepted.
    Write it with torch operations (``torch.erf`` or ``torch.tanh``), not ``F.gelu`` or
    ``nn.GELU``: the point is to build it. Element-wise, on any shape, dtype and device kept.

    Shapes:
        x: any shape, e.g. (B, T, 4 * C) -> out: the same shape, dtype and device

    Lecture: 01:24:25 "feedforward layers" (the lecture uses ReLU there); 01:46:22 "walkthrough of
    nanoGPT" (its MLP uses GELU). Paper: Hendrycks and Gimpel, "Gaussian Error Linear Units" (2016).

    Hint: ``math.sqrt(2.0)`` is a plain number, so nothing new lands on another device or dtype.

    Check it: pytest -m modern
    """
    # TODO: Exercise 14 — for "gelu": return 0.5 * x * (1 + erf(x / sqrt(2))), with torch operations
    raise NotImplementedError("Exercise 14: gelu")


class GELU(nn.Module):
    """Your ``gelu`` as a layer, to put in an ``nn.Sequential`` (given: nothing to write here)."""

    def forward(self, x):
        return gelu(x)


class GELUFeedForward(nn.Module):
    """The lecture's FeedForward with GELU in place of ReLU; a drop-in for ``Block.ffwd``."""

    def __init__(self, n_embd, dropout=0.0):
        """Create the MLP as one ``nn.Sequential`` named ``self.net``, laid out as FeedForward's.

        ``self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), GELU(),
        nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))``, in that order, where ``GELU`` is
        the layer above, which calls your ``gelu`` (not torch's ``nn.GELU``).

        Same layout and parameter names as the lecture's FeedForward, so ``block.ffwd =
        GELUFeedForward(n_embd, dropout)`` swaps it into a Block: then train both and compare.

        Shapes:
            net[0].weight: (4 * n_embd, n_embd); net[2].weight: (n_embd, 4 * n_embd)

        Lecture: 01:24:25 "feedforward layers"; 01:46:22 "walkthrough of nanoGPT" (its MLP).

        Hint: copy your FeedForward and change one layer.

        Check it: pytest -m modern
        """
        super().__init__()
        # TODO: Exercise 14 — for "gelu": create self.net: Linear(C, 4C), GELU(), Linear(4C, C), Dropout
        raise NotImplementedError("Exercise 14: GELUFeedForward.__init__")

    def forward(self, x):
        """Apply the MLP to every position on its own: ``self.net(x)``.

        Shapes:
            x: (B, T, C) -> out: (B, T, C)

        Lecture: 01:24:25 "feedforward layers".

        Hint: one line.

        Check it: pytest -m modern
        """
        # TODO: Exercise 14 — for "gelu": return self.net applied to x
        raise NotImplementedError("Exercise 14: GELUFeedForward.forward")


# ------------------------------------------------------------------------------- "weight_tying"


def tie_weights(model):
    """Make ``model.lm_head.weight`` the very same Parameter as ``model.token_embedding_table.weight``.

    The token embedding maps a token to a vector; ``lm_head`` maps a vector back to a score for each
    token: both are (vocab_size, n_embd) matrices, and GPT-2 shares one between them (nanoGPT:
    ``self.transformer.wte.weight = self.lm_head.weight``). Assign the Parameter itself, so that
    there is one tensor with one gradient that gets the contributions of both uses: copying the
    values, or sharing ``.data``, leaves two Parameters that drift apart or get separate gradients.
    ``lm_head`` keeps its bias. The model has vocab_size * n_embd fewer parameters afterwards.
    Return the same model (tied in place). It works on any model with these two layers, e.g. your
    ``GPTLanguageModel``: tie it, train it, and compare with the untied one.

    Shapes:
        token_embedding_table.weight: (vocab_size, n_embd); lm_head.weight: (vocab_size, n_embd),
        the same shape already: no transpose

    Lecture: 01:46:22 "walkthrough of nanoGPT" (model.py ties them). Paper: Press and Wolf, "Using
    the Output Embedding to Improve Language Models" (2017).

    Hint: one assignment between two ``.weight`` attributes, then ``return model``.

    Check it: pytest -m modern
    """
    # TODO: Exercise 14 — for "weight_tying": set lm_head.weight to the embedding's weight, return model
    raise NotImplementedError("Exercise 14: tie_weights")


# --------------------------------------------------------------------------------------- "rope"


def apply_rope(x):
    """Rotary position embedding (RoPE): rotate each pair of dims of x by an angle set by its position.

    For position t (0, 1, ..., T-1, along dim -2) and pair i (0 .. hs/2 - 1) of the last dim, with
    ``theta_i = 10000 ** (-2 * i / hs)`` and ``a = t * theta_i``, the pair (x1, x2) = (x[2i], x[2i+1])
    becomes ``(x1 * cos(a) - x2 * sin(a), x1 * sin(a) + x2 * cos(a))`` (RoFormer's definition). The
    half-split pairing (x[i], x[i + hs/2]) of GPT-NeoX and LLaMA's Hugging Face code, with the same
    angles, is accepted too. Rotations keep lengths, leave position 0 as it is, and make the score
    ``rope(q)[m] . rope(k)[n]`` depend on the positions only through m - n: applied to the queries
    and keys of attention (after splitting the heads, before the scores), it replaces the position
    embedding table. Return a new tensor (leave x as it is), computed with torch operations so
    that gradients flow; the angles on x's device, the result in x's dtype.

    Shapes:
        x: (B, T, hs) or (B, nh, T, hs), hs even -> out: the same shape, dtype and device

    Lecture: 01:00:18 "positional encoding" (the lecture's position table); 01:12:46 "attention has
    no notion of space". Paper: Su et al., "RoFormer: Enhanced Transformer with Rotary Position
    Embedding" (2021).

    Hint: ``x1, x2 = x[..., 0::2], x[..., 1::2]``; angles of shape (T, hs/2) broadcast over the
    leading dims; ``torch.stack((y1, y2), dim=-1).flatten(-2)`` puts the pairs back in place.

    Check it: pytest -m modern
    """
    # TODO: Exercise 14 — for "rope": rotate each pair (2i, 2i+1) at position t by t * 10000 ** (-2i / hs)
    raise NotImplementedError("Exercise 14: apply_rope")
