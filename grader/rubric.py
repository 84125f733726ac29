"""The exercises in lecture order: number, pytest marker, what to write, where, and the lecture chapter.

One table that the plugin (markers, messages), the student view and the docs all read.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    number: int
    marker: str
    title: str
    module: str  # file in exercises/, without .py
    names: tuple  # the public names the student fills in
    chapter: str  # lecture timestamp and chapter title


EXERCISES = (
    Exercise(1, "tokenizer", "Character tokenizer", "tokenizer", ("CharTokenizer",),
             "00:09:28 tokenization, train/val split"),
    Exercise(2, "batching", "Train/val split and batches", "batching", ("train_val_split", "get_batch"),
             "00:14:27 data loader: batches of chunks of data"),
    Exercise(3, "bigram", "Bigram language model", "bigram", ("BigramLanguageModel",),
             "00:22:11 simplest baseline: bigram language model, loss"),
    Exercise(4, "generate", "Autoregressive generation", "generate", ("generate",),
             "00:22:11 generation (and 01:19:11 for cropping the context)"),
    Exercise(5, "head", "One head of self-attention", "attention", ("Head",),
             "01:02:00 version 4: self-attention"),
    Exercise(6, "multihead", "Multi-head attention, fused", "attention", ("MultiHeadAttention",),
             "01:21:59 multi-headed self-attention"),
    Exercise(7, "feedforward", "Feed-forward layer", "block", ("FeedForward",),
             "01:24:25 feedforward layers of transformer block"),
    Exercise(8, "block", "Transformer block", "block", ("Block",),
             "01:26:48 residual connections, 01:32:51 layernorm"),
    Exercise(9, "gpt", "The GPT language model", "gpt", ("GPTLanguageModel",),
             "01:37:49 scaling up the model"),
)

BY_MARKER = {ex.marker: ex for ex in EXERCISES}
BY_NUMBER = {ex.number: ex for ex in EXERCISES}

# Markers that are not exercises.
OTHER_MARKERS = {
    "gpu": "needs CUDA: skipped without a GPU unless --require-gpu is given",
}
