"""Character-level tokenizer (lecture 00:09:28, "tokenization, train/val split")."""

import torch


class CharTokenizer:
    """Maps each distinct character of ``text`` to an integer id.

    The vocabulary is ``sorted(set(text))``, so ids follow code-point order.
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer needs a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to build its vocabulary")
        chars = sorted(set(text))
        self.vocab_size = len(chars)
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = {i: ch for i, ch in enumerate(chars)}

    def encode(self, s):
        """Turn a string into a list of ids."""
        ids = []
        for ch in s:
            if ch not in self.stoi:
                raise ValueError(f"unknown character {ch!r}: it is not in the vocabulary")
            ids.append(self.stoi[ch])
        return ids

    def decode(self, ids):
        """Turn a list (or 1-D tensor) of ids back into a string."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode takes a 1-D tensor of ids, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        chars = []
        for i in ids:
            if i not in self.itos:
                raise ValueError(f"unknown id {i!r}: ids run from 0 to {self.vocab_size - 1}")
            chars.append(self.itos[i])
        return "".join(chars)
