"""The GPT language model (lecture 01:37:49, "scaling up the model, dropout")."""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .block import Block
from .generate import generate


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_embd: int = 384
    n_head: int = 6
    n_layer: int = 6
    dropout: float = 0.2


class GPTLanguageModel(nn.Module):
    """Token and position embeddings, ``n_layer`` Blocks, a final LayerNorm and a linear head."""

    def __init__(self, config):
        """Create the whole model from a ``GPTConfig``.

        Set:
            self.config                     ``config`` (``generate`` reads its block_size)
            self.token_embedding_table      ``nn.Embedding(vocab_size, n_embd)``
            self.position_embedding_table   ``nn.Embedding(block_size, n_embd)``
            self.blocks    ``nn.Sequential`` of ``n_layer`` ``Block(n_embd, n_head, block_size, dropout)``
            self.ln_f      ``nn.LayerNorm(n_embd)``, the final LayerNorm
            self.lm_head   ``nn.Linear(n_embd, vocab_size)``
        and, last, ``self.apply(self._init_weights)``: the lecture's init (normal, std 0.02),
        already written for you below.

        Errors: ``n_embd % n_head != 0`` raises ``ValueError`` (``Block`` does that for you).

        Shapes:
            token_embedding_table.weight: (vocab_size, n_embd)
            position_embedding_table.weight: (block_size, n_embd)
            lm_head.weight: (vocab_size, n_embd)

        Lecture: 01:37:49 "scaling up the model, dropout"; the position table from 01:00:18
        "positional encoding".

        Hint: ``nn.Sequential(*[Block(...) for _ in range(config.n_layer)])``.

        Check it: pytest -m gpt
        """
        super().__init__()
        # TODO: Exercise 9 — create the embeddings, the blocks, ln_f and lm_head, then apply _init_weights
        raise NotImplementedError("Exercise 9: GPTLanguageModel.__init__")

    def _init_weights(self, module):
        # the lecture's init: small normal weights keep the first losses near -ln(1/vocab_size)
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        """Predict the logits of the next token at every position and, given targets, the loss.

        Compute:
            tok_emb = the token embeddings of ``idx``
            pos_emb = the position embeddings of positions 0 .. T-1
            x = tok_emb + pos_emb, then ``self.blocks``, then ``self.ln_f``
            logits = ``self.lm_head(x)``
        then return ``(logits, None)`` or ``(logits, loss)`` exactly as the bigram model does
        (mean cross-entropy over all B*T positions, logits kept as (B, T, V)).

        Errors: a sequence longer than ``block_size`` (T > config.block_size) raises
        ``ValueError``: there is no position embedding for it.

        Shapes:
            idx: (B, T) int64 with T <= block_size, targets: (B, T) int64 or None
            tok_emb: (B, T, C); pos_emb: (T, C), broadcast over B; x: (B, T, C)
            -> logits: (B, T, V), loss: () or None

        Lecture: 01:37:49 "scaling up the model, dropout"; the position embeddings from
        01:00:18 "positional encoding".

        Hint: ``torch.arange(T, device=idx.device)`` gives the positions on the right device.

        Check it: pytest -m gpt
        """
        # TODO: Exercise 9 — embed tokens and positions, run the blocks, ln_f and lm_head, add the loss
        raise NotImplementedError("Exercise 9: GPTLanguageModel.forward")

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens, block_size=self.config.block_size)
