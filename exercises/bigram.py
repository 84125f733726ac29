"""The bigram language model (lecture 00:22:11, "simplest baseline: bigram language model, loss, generation")."""

import torch.nn as nn
import torch.nn.functional as F

from .generate import generate


class BigramLanguageModel(nn.Module):
    """Each token reads the logits for the next token straight from a lookup table."""

    def __init__(self, vocab_size):
        """Create the lookup table.

        Set ``self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)``: row ``i`` holds
        the logits (scores) for the token that comes after token ``i``.

        Shapes:
            token_embedding_table.weight: (vocab_size, vocab_size)

        Lecture: 00:22:11 "simplest baseline: bigram language model, loss, generation".

        Hint: ``super().__init__()`` is already called for you; add one line below the TODO.

        Check it: pytest -m bigram
        """
        super().__init__()
        # TODO: Exercise 3 — create self.token_embedding_table, an nn.Embedding(vocab_size, vocab_size)
        raise NotImplementedError("Exercise 3: BigramLanguageModel.__init__")

    def forward(self, idx, targets=None):
        """Look up the logits of the next token and, given targets, the loss.

        ``logits = self.token_embedding_table(idx)``. If ``targets`` is None return
        ``(logits, None)``. Otherwise the loss is the mean cross-entropy over all ``B*T``
        positions: ``F.cross_entropy`` wants the logits as ``(B*T, V)`` and the targets as
        ``(B*T,)``. Return ``(logits, loss)``.

        Unlike the lecture, always return the logits with shape ``(B, T, V)``: reshape only the
        copies you hand to ``F.cross_entropy``.

        Shapes:
            idx: (B, T) int64, targets: (B, T) int64 or None
            -> logits: (B, T, V), loss: () a scalar tensor, or None

        Lecture: 00:22:11 "simplest baseline: bigram language model, loss, generation".
        An untrained model's loss is about -ln(1/65) = 4.17 on Tiny Shakespeare.

        Hint: ``B, T, V = logits.shape``, then ``logits.view(B * T, V)``.

        Check it: pytest -m bigram
        """
        # TODO: Exercise 3 — look up the logits; with targets, also the cross-entropy loss over B*T positions
        raise NotImplementedError("Exercise 3: BigramLanguageModel.forward")

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens)
