"""grader/oracles/corpus.py: the small corpus of the pretrain-then-finetune exercise (EX3, Exercise 13)."""

import hashlib
import re

import pytest
import torch

from grader.oracles import corpus

# The thresholds of grader/checks/test_finetune.py were measured on exactly these texts: a change of the
# corpus (the language, the layout, the draws) changes this fingerprint, and they must be measured again.
# pretraining_text(100_000) and finetuning_text(20_000):
PRETRAINING_SHA256 = "acee37bb89b32227a81c4b4c5260bbb3137a67789fdabb6d706b483078dd8579"
FINETUNING_SHA256 = "d9f492bbd0378a3feec131c5270efc3ccfd876b16f1a568e029b3cf8754c7e2a"


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_texts_are_the_measured_ones():
    assert sha256(corpus.pretraining_text(100_000)) == PRETRAINING_SHA256
    assert sha256(corpus.finetuning_text(20_000)) == FINETUNING_SHA256


def test_exact_lengths_and_deterministic():
    assert len(corpus.pretraining_text(12_345)) == 12_345
    assert len(corpus.finetuning_text(2_345)) == 2_345
    assert corpus.pretraining_text(5_000, seed=3) == corpus.pretraining_text(5_000, seed=3)
    assert corpus.pretraining_text(5_000, seed=3) != corpus.pretraining_text(5_000, seed=4)


def test_vocab_is_sorted_and_covers_both_texts():
    assert list(corpus.VOCAB) == sorted(set(corpus.VOCAB))
    pretraining, finetuning = corpus.pretraining_text(50_000), corpus.finetuning_text(20_000)
    assert set(pretraining) | set(finetuning) <= set(corpus.VOCAB)


def test_two_layouts_of_one_language():
    """Pretraining: lower-case prose. Finetuning: SPEAKER: lines and capitalised sentences. The words of
    the finetuning text all come from the pretraining text's lexicon."""
    pretraining, finetuning = corpus.pretraining_text(50_000), corpus.finetuning_text(20_000)
    assert pretraining == pretraining.lower() and ":" not in pretraining
    speakers = re.findall(r"^([A-Z]+):$", finetuning, flags=re.MULTILINE)
    assert set(speakers) == set(corpus.SPEAKERS)
    assert "\n\n" in finetuning and "\n\n" not in pretraining
    words = set(corpus._language()[0])
    assert len(words) == corpus.N_WORDS
    # every word of the lexicon is in the pretraining text; the last word of a text may be cut short
    written = set(re.findall(r"[a-z]+", pretraining[: pretraining.rindex(" ")]))
    spoken = set(re.findall(r"[a-z]+", re.sub(r"^[A-Z]+:$", "", finetuning[: finetuning.rindex(" ")],
                                               flags=re.MULTILINE).lower()))
    assert written == words
    assert spoken <= words


def test_encode():
    ids = corpus.encode("Aldo:\nfo.")
    assert ids.dtype == torch.long and ids.shape == (9,)
    assert "".join(corpus.VOCAB[i] for i in ids.tolist()) == "Aldo:\nfo."
    with pytest.raises(ValueError, match="'#'"):
        corpus.encode("fo#")
