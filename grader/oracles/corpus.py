"""A small corpus that the kit makes itself, for the pretrain-then-finetune exercise (EX3, Exercise 13).

The lecture's EX3 pretrains on a very large data set and finetunes on Tiny Shakespeare; the grader
needs the same situation in seconds and without files. So two texts share one made-up language: a
lexicon of pseudo-words spelled from syllables, and a word-to-word Markov chain that strings them
into sentences.

- ``pretraining_text``: long prose in lower case (the "very large data set");
- ``finetuning_text``: short, and laid out like Tiny Shakespeare: a ``SPEAKER:`` line, then
  capitalised sentences, a blank line between speeches (the "Tiny Shakespeare").

A model pretrained on the first already knows the words and which follow which; finetuning has to
learn the layout (the names, the capitals, the line breaks) from little data. Both texts are drawn with
``random.Random`` and nothing but ``random()``, whose sequence is the same on every machine and Python
version, so the grader sees the same text everywhere. ``VOCAB`` holds every character either text can
contain, in sorted order: both are encoded with it (``encode``), so one model reads both.
"""

import random
import string

import torch

# The language is fixed (this seed); a text's own seed only changes which sentences are drawn.
LANGUAGE_SEED = 1337
N_WORDS = 40
SUCCESSORS = 4  # each word is followed by one of 4 words (most often the first)
CONSONANTS = "bdfghklmnprstvz"
VOWELS = "aeiou"
SPEAKERS = ("ALDO", "BRISA", "CORVIN", "DELPHA", "EMMET")
END_MARKS = ".....??!"  # a sentence ends with '.' most often

# Every character either text can contain, sorted (as CharTokenizer would order them).
VOCAB = "".join(sorted(set("\n !,.:?" + string.ascii_lowercase + string.ascii_uppercase)))


def _index(rng, n):
    """An int in [0, n) from ``rng.random()`` only (its sequence is stable across Python versions)."""
    return min(int(rng.random() * n), n - 1)


def _language():
    """The lexicon (distinct pseudo-words) and each word's successors, always the same."""
    rng = random.Random(LANGUAGE_SEED)
    words = []
    while len(words) < N_WORDS:
        syllables = 1 + _index(rng, 3)  # 1 to 3 syllables
        word = "".join(CONSONANTS[_index(rng, len(CONSONANTS))] + VOWELS[_index(rng, len(VOWELS))]
                       for _ in range(syllables))
        if _index(rng, 3) == 0:
            word += CONSONANTS[_index(rng, len(CONSONANTS))]  # a closed last syllable, now and then
        if word not in words:
            words.append(word)
    successors = [[_index(rng, N_WORDS) for _ in range(SUCCESSORS)] for _ in range(N_WORDS)]
    return words, successors


def _sentence(rng, words, successors):
    """4 to 9 words along the Markov chain, ending in a mark; the successors are weighted 4:2:1:1."""
    n = 4 + _index(rng, 6)
    w = _index(rng, N_WORDS)
    out = [words[w]]
    for _ in range(n - 1):
        r = _index(rng, 8)
        w = successors[w][0 if r < 4 else 1 if r < 6 else 2 if r < 7 else 3]
        out.append(words[w])
    if n >= 6 and _index(rng, 2) == 0:  # a comma in a longer sentence
        out[n // 2 - 1] += ","
    return " ".join(out) + END_MARKS[_index(rng, len(END_MARKS))]


def pretraining_text(n_chars=200_000, seed=0):
    """Lower-case prose: sentences separated by spaces, a line break every few sentences; ``n_chars``
    characters exactly."""
    words, successors = _language()
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        line = " ".join(_sentence(rng, words, successors) for _ in range(1 + _index(rng, 3))) + "\n"
        parts.append(line)
        size += len(line)
    return "".join(parts)[:n_chars]


def finetuning_text(n_chars=20_000, seed=1):
    """A play: ``SPEAKER:`` on its own line, then 1 to 3 capitalised sentences, one per line, and a blank
    line between speeches; ``n_chars`` characters exactly."""
    words, successors = _language()
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        lines = [SPEAKERS[_index(rng, len(SPEAKERS))] + ":"]
        for _ in range(1 + _index(rng, 3)):
            sentence = _sentence(rng, words, successors)
            lines.append(sentence[0].upper() + sentence[1:])
        speech = "\n".join(lines) + "\n\n"
        parts.append(speech)
        size += len(speech)
    return "".join(parts)[:n_chars]


def encode(text):
    """``text`` as an int64 tensor of indices into ``VOCAB``; a character outside it raises ValueError."""
    stoi = {c: i for i, c in enumerate(VOCAB)}
    try:
        return torch.tensor([stoi[c] for c in text], dtype=torch.long)
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the corpus vocabulary") from None
