"""The grader's own seeded training loop, for the loss-threshold checks (bigram, gpt) and the GPU check.

It never touches the student's tokenizer or batching: the text is encoded here with the vocabulary
``sorted(set(text))`` and batches are drawn here with a private ``torch.Generator``, so a mistake in
Exercise 1 or 2 cannot cost points in Exercise 3 or 9. Only the model comes from the graded
implementation. Every random choice (weights, batches, evaluation batches) is seeded, so a run gives
the same losses on every call of one machine.
"""

import contextlib
import functools
import math
import time
from dataclasses import dataclass, replace

import torch


class TrainingError(Exception):
    """The model cannot be trained (its loss cannot be backpropagated); the message says why."""


@functools.lru_cache(maxsize=2)
def encode(text):
    """The text as an int64 tensor of ids in the vocabulary ``sorted(set(text))``, and its size.

    Done with a lookup table over code points rather than a Python loop: ~1 M characters in a few ms.
    """
    chars = sorted(set(text))
    codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    table = torch.full((max(map(ord, chars)) + 1,), -1, dtype=torch.long)
    table[[ord(c) for c in chars]] = torch.arange(len(chars))
    return table[codes], len(chars)


def split(data, train_fraction=0.9):
    """The first 90 % to train on, the last 10 % to validate on (the lecture's split)."""
    n = int(train_fraction * len(data))
    return data[:n], data[n:]


def sample_batch(data, batch_size, block_size, generator, device="cpu"):
    """``batch_size`` random chunks of ``block_size`` tokens and the same chunks shifted by one."""
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[ix[:, None] + offsets]  # (B, T)
    y = data[ix[:, None] + offsets + 1]  # (B, T)
    return x.to(device), y.to(device)


@dataclass(frozen=True)
class Recipe:
    """How a threshold check trains: the GPT's shape (ignored for the bigram) and the loop's settings."""

    iters: int
    batch_size: int
    block_size: int
    learning_rate: float
    eval_iters: int  # validation batches (of ``batch_size``) averaged for the final loss
    n_embd: int = 0
    n_head: int = 0
    n_layer: int = 0
    dropout: float = 0.0
    seed: int = 0


def _autocast(device, bf16):
    device_type = torch.device(device).type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=bf16)


@torch.no_grad()
def estimate_loss(model, data, recipe, device="cpu", bf16=False):
    """The mean loss over ``recipe.eval_iters`` seeded batches of ``data``, in eval mode."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(10_000 + recipe.seed)  # apart from the training batches
    losses = []
    for _ in range(recipe.eval_iters):
        x, y = sample_batch(data, recipe.batch_size, recipe.block_size, generator, device)
        with _autocast(device, bf16):
            _, loss = model(x, y)
        losses.append(float(loss))
    model.train(was_training)
    return sum(losses) / len(losses)


@contextlib.contextmanager
def cpu_threads(n):
    """Run with ``n`` torch CPU threads, then restore the previous number.

    The threshold checks train on one thread: the models are too small to gain from more, a busy
    2-core machine makes two threads wait on each other (measured 0.65 s on one thread against 12 s
    on two for the bigram run, with other jobs running), and one thread gives the same sums in
    the same order on every machine.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(model, text, recipe, device="cpu", bf16=False, threads=1, curve_every=None, on_curve=None):
    """Train ``model`` (built by the caller, after seeding) with AdamW on Tiny Shakespeare.

    Returns ``{"val": final validation loss, "train_last": the last training loss, "seconds": ...}``.
    A loss that is not a finite number ends the run early with ``val = inf``. On the CPU the run
    uses ``threads`` torch threads (see cpu_threads). ``curve_every=N`` (for calibrating a check's
    budget) adds ``"curve"``: ``[(step, val), ...]`` every N steps; the evaluation batches have a
    generator of their own and dropout is off in eval mode, so the training run is unchanged;
    ``on_curve(step, val)`` is called with each point as it comes.
    """
    if torch.device(device).type == "cpu":
        with cpu_threads(threads):
            return _train(model, text, recipe, device, bf16, curve_every, on_curve)
    return _train(model, text, recipe, device, bf16, curve_every, on_curve)


def _train(model, text, recipe, device, bf16, curve_every=None, on_curve=None):
    data, _ = encode(text)
    train_data, val_data = split(data)
    generator = torch.Generator().manual_seed(recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    model.train()
    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    curve = []
    for step in range(1, recipe.iters + 1):
        x, y = sample_batch(train_data, recipe.batch_size, recipe.block_size, generator, device)
        with _autocast(device, bf16):
            _, loss = model(x, y)
        if not update(optimizer, loss):
            return {"val": math.inf, "train_last": math.inf, "seconds": time.perf_counter() - start, "curve": curve}
        if curve_every and step % curve_every == 0 and step < recipe.iters:
            curve.append((step, estimate_loss(model, val_data, recipe, device, bf16)))
            if on_curve:
                on_curve(*curve[-1])
    val = estimate_loss(model, val_data, recipe, device, bf16)
    curve.append((recipe.iters, val))
    return {"val": val, "train_last": float(loss.detach()), "seconds": time.perf_counter() - start, "curve": curve}


def update(optimizer, loss):
    """One optimizer step on ``loss``; False, and no step, when the loss is not a finite number."""
    if not torch.isfinite(loss.detach()).item():
        return False
    optimizer.zero_grad(set_to_none=True)
    try:
        loss.backward()
    except RuntimeError as exc:  # e.g. a loss computed under torch.no_grad() or detached
        raise TrainingError(f"loss.backward() failed: {exc}") from None
    optimizer.step()
    return True


def train_bigram(bigram_class, text, recipe, device="cpu"):
    """Seed, build ``bigram_class(vocab_size)`` and train it; train()'s dict with the trained ``model``."""
    _, vocab_size = encode(text)
    torch.manual_seed(recipe.seed)
    model = bigram_class(vocab_size).to(device)
    return train(model, text, recipe, device) | {"model": model}


def train_gpt(config_class, model_class, text, recipe, device="cpu", bf16=False, curve_every=None, on_curve=None):
    """Seed, build ``model_class(config_class(...))`` with the recipe's shape and train it; train()'s
    dict with the trained ``model``. ``model_class``: the student's GPTLanguageModel, or a
    stand_ins.GPTWithGradersParts around it (the grader's own parts where the student's differ).

    The same function trains the CPU check's small model and the GPU check's lecture-sized one, so the
    GPU check's code path runs on every CPU grading too (only ``bf16`` and the sizes differ).
    """
    _, vocab_size = encode(text)
    torch.manual_seed(recipe.seed)
    config = config_class(vocab_size=vocab_size, block_size=recipe.block_size, n_embd=recipe.n_embd,
                          n_head=recipe.n_head, n_layer=recipe.n_layer, dropout=recipe.dropout)
    model = model_class(config).to(device)
    result = train(model, text, recipe, device, bf16, curve_every=curve_every, on_curve=on_curve)
    return result | {"model": model}


def with_seed(recipe, seed):
    """The same recipe with another seed (for measuring a threshold over several seeds)."""
    return replace(recipe, seed=seed)
