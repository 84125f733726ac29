"""Pretraining, then finetuning: the lecture's suggested exercise EX3 (01:48:53, and the video's description).

Pretrain the GPT on a very large data set, save it, then load it and continue training on Tiny
Shakespeare with fewer steps and a lower learning rate. The checkpoint is the one ``python -m grader
train`` writes (``out/ckpt.pt``): a dict with ``model`` (the state_dict, on the CPU), ``config`` (the
``GPTConfig`` as a dict) and ``vocab`` (the characters in id order), among others. Encode the finetuning
text with the checkpoint's vocabulary (``CharTokenizer(ckpt["vocab"])``), so ids mean the same characters.
"""

import torch

from .batching import get_batch
from .gpt import GPTConfig, GPTLanguageModel


def load_pretrained(path, device="cpu"):
    """Rebuild the GPT saved in the checkpoint at ``path``, with its weights, on ``device``.

    Read the checkpoint with ``torch.load(path, map_location=device, weights_only=True)``; build
    ``GPTLanguageModel(GPTConfig(**ckpt["config"]))`` (the saved shape, not the defaults), load
    ``ckpt["model"]`` into it with ``load_state_dict``, and return it moved to ``device``. A missing
    file raises ``FileNotFoundError`` that names the path (``torch.load`` already does: let it).

    Shapes:
        ckpt["model"][name]: the shape of the parameter ``name`` of a model built from ckpt["config"]

    Lecture: 01:48:53 "back to ChatGPT, GPT-3, pretraining vs. finetuning, RLHF"; EX3 in the
    video's description: "Pretrain the transformer on this data, then initialize with that model
    and finetune it on tiny shakespeare".

    Hint: four lines; the model must be built with the saved config before the weights fit into it.

    Check it: pytest -m finetune
    """
    # TODO: Exercise 13 — torch.load the checkpoint, build the GPT from its config, load its weights
    raise NotImplementedError("Exercise 13: load_pretrained")


def finetune(model, data, max_iters, learning_rate=1e-4, batch_size=32, block_size=None):
    """Continue training ``model`` on ``data`` for ``max_iters`` steps; return the training losses.

    The lecture's training loop, started from the weights you are given (never re-initialise them):
    a new ``torch.optim.AdamW(model.parameters(), lr=learning_rate)`` (lower than pretraining's),
    ``model.train()``, then each step ``get_batch(data, batch_size, block_size, device)`` on the
    model's device (``next(model.parameters()).device``), the loss, ``zero_grad``, ``backward``,
    ``step``. ``block_size`` defaults to ``model.config.block_size``. Return a list of
    ``max_iters`` Python floats, the loss of each step (``loss.item()``); ``[]`` for 0 steps.
    The batches come from ``torch.randint`` inside ``get_batch``: ``torch.manual_seed`` before the
    call makes a run repeatable.

    Shapes:
        data: (N,) token ids; xb, yb: (batch_size, block_size); logits: (B, T, vocab_size); loss: ()

    Lecture: 01:48:53 "back to ChatGPT, GPT-3, pretraining vs. finetuning, RLHF"; the training
    loop at 00:34:53 "training the bigram model" and in the final gpt.py (01:37:49); EX3 in the
    video's description: finetune "with a smaller number of steps and lower learning rate".

    Hint: the loop of the lecture's gpt.py without the evaluation; nothing here creates a model.

    Check it: pytest -m finetune
    """
    # TODO: Exercise 13 — a new AdamW at learning_rate, model.train(), max_iters steps of the loop
    raise NotImplementedError("Exercise 13: finetune")
