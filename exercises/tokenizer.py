"""Character-level tokenizer (lecture 00:09:28, "tokenization, train/val split")."""

import torch


class CharTokenizer:
    """Maps each distinct character of ``text`` to an integer id.

    The vocabulary is ``sorted(set(text))``, so ids follow code-point order.
    """

    def __init__(self, text):
        """Build the vocabulary of ``text``.

        Set three attributes:
            self.vocab_size  the number of distinct characters in ``text``
            self.stoi        a dict character -> id: the characters of ``sorted(set(text))``
                             get the ids 0, 1, ..., vocab_size - 1 in that order
            self.itos        a dict id -> character, the inverse of ``stoi``

        Errors: ``text`` that is not a ``str`` raises ``TypeError``; an empty ``text`` raises
        ``ValueError`` (there is nothing to build a vocabulary from).

        Shapes:
            text: a str of any length -> vocab_size == len(set(text))
            On Tiny Shakespeare vocab_size is 65.

        Lecture: 00:09:28 "tokenization, train/val split".

        Hint: ``enumerate(chars)`` gives you (id, character) pairs.

        Check it: pytest -m tokenizer
        """
        # TODO: Exercise 1 — build self.vocab_size, self.stoi and self.itos from sorted(set(text))
        raise NotImplementedError("Exercise 1: CharTokenizer.__init__")

    def encode(self, s):
        """Turn a string into a list of ids.

        Return ``[self.stoi[c] for c in s]``, a plain list of Python ints.

        Errors: a character that is not in the vocabulary raises ``ValueError`` whose message
        names that character, e.g. ``unknown character 'é': it is not in the vocabulary``.

        Shapes:
            s: a str of length n -> a list of n ints, each in 0 .. vocab_size - 1
            On Tiny Shakespeare: encode("hii there") == [46, 47, 47, 1, 58, 46, 43, 56, 43]

        Lecture: 00:09:28 "tokenization, train/val split".

        Hint: check ``c in self.stoi`` before you look it up; ``repr(c)`` names it clearly.

        Check it: pytest -m tokenizer
        """
        # TODO: Exercise 1 — map each character to its id, ValueError naming an unknown character
        raise NotImplementedError("Exercise 1: CharTokenizer.encode")

    def decode(self, ids):
        """Turn a list (or 1-D tensor) of ids back into a string.

        Return ``"".join(self.itos[i] for i in ids)``. ``ids`` may be a list of ints or a 1-D
        tensor; turn a tensor into a list first (``ids.tolist()``).

        Errors: an id that is not in the vocabulary raises ``ValueError`` whose message names that
        id; a tensor that is not 1-D raises ``ValueError`` (a batch of shape (1, n), as ``generate``
        returns it, is decoded one row at a time: ``decode(out[0])``).

        Shapes:
            ids: a list of n ints, or a tensor of shape (n,) -> a str of length n
            decode(encode(s)) == s for every s made of vocabulary characters.

        Lecture: 00:09:28 "tokenization, train/val split".

        Hint: ``isinstance(ids, torch.Tensor)`` and ``ids.dim()`` tell you what you were given.

        Check it: pytest -m tokenizer
        """
        # TODO: Exercise 1 — map each id back to its character and join them, ValueError naming an unknown id
        raise NotImplementedError("Exercise 1: CharTokenizer.decode")
