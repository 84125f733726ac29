"""The bigram language model (lecture 00:22:11)."""

import torch.nn as nn
import torch.nn.functional as F

from .generate import generate


class BigramLanguageModel(nn.Module):
    """Each token reads the logits for the next token straight from a lookup table."""

    def __init__(self, vocab_size):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, V)
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()
        return logits, loss

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens)
