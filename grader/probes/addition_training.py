"""The grader's own training loop and greedy decoder for Exercise 12, a GPT that adds (EX2).

The model (GPTConfig, GPTLanguageModel), the batches (get_addition_batch) and the loss
(addition_loss) come from the graded implementation: that is what the exercise asks for. The rest is
the grader's: the seeds, the AdamW loop and its schedule, the held-out problems (drawn here, and
dropped from every training batch), and the greedy decoder that measures the accuracy, which reads
the problems in the contract's format (a and b zero-padded, "+", "=", the sum's digits reversed).
"""

import math
import time
from dataclasses import dataclass, replace

import torch

from grader.probes.training import cpu_threads, update

VOCAB = "0123456789+="
PLUS, EQUALS = VOCAB.index("+"), VOCAB.index("=")
HELD_OUT_SEED = 1234  # the held-out problems are the same for every training seed


class BatchError(Exception):
    """A batch from get_addition_batch cannot be trained on; the message says why."""


@dataclass(frozen=True)
class AdditionRecipe:
    """How the check trains: the problems, the GPT's shape and the loop's settings."""

    n_digits: int
    iters: int
    batch_size: int
    learning_rate: float  # the peak; a cosine schedule takes it to 0 over the run
    n_embd: int
    n_head: int
    n_layer: int
    held_out: int  # problems never trained on, on which the accuracy is measured
    seed: int = 0

    @property
    def block_size(self):
        return 3 * self.n_digits + 2  # the length of x


def with_seed(recipe, seed):
    return replace(recipe, seed=seed)


def digits_of(numbers, n):
    """(B,) -> (B, n): the n digits of each number, most significant first."""
    powers = 10 ** torch.arange(n - 1, -1, -1, device=numbers.device)  # (n,)
    return numbers[:, None] // powers % 10  # (B, n)


def number_of(digits):
    """(B, n) digits, most significant first -> (B,) numbers."""
    n = digits.shape[1]
    powers = 10 ** torch.arange(n - 1, -1, -1, device=digits.device)  # (n,)
    return (digits * powers).sum(dim=1)  # (B,)


def prompts(a, b, n_digits):
    """The ids of ``a+b=`` for each row, a and b zero-padded: (B,), (B,) -> (B, 2 * n_digits + 2)."""
    B = a.shape[0]
    plus = torch.full((B, 1), PLUS, dtype=torch.long, device=a.device)
    equals = torch.full((B, 1), EQUALS, dtype=torch.long, device=a.device)
    return torch.cat([digits_of(a, n_digits), plus, digits_of(b, n_digits), equals], dim=1)


def operands(x, n_digits):
    """The (a, b) that the prompts of ``x`` (B, >= 2 * n_digits + 2) spell, or BatchError."""
    prompt = x[:, : 2 * n_digits + 2]
    digit_columns = [t for t in range(2 * n_digits + 2) if t not in (n_digits, 2 * n_digits + 1)]
    if not ((prompt[:, digit_columns] >= 0).all() and (prompt[:, digit_columns] <= 9).all()
            and (prompt[:, n_digits] == PLUS).all() and (prompt[:, 2 * n_digits + 1] == EQUALS).all()):
        raise BatchError(f"the rows of x do not start with the prompt a+b= ({n_digits} digits each)")
    return number_of(prompt[:, :n_digits]), number_of(prompt[:, n_digits + 1 : 2 * n_digits + 1])


def held_out_problems(recipe):
    """``recipe.held_out`` distinct problems (a, b), the same for every seed: (count,), (count,)."""
    N = 10**recipe.n_digits
    generator = torch.Generator().manual_seed(HELD_OUT_SEED)
    if N * N <= 10**7:
        codes = torch.randperm(N * N, generator=generator)[: recipe.held_out]
    else:  # too many problems to permute: draw, then keep the first of each
        drawn = torch.randint(N * N, (2 * recipe.held_out,), generator=generator).tolist()
        codes = torch.tensor(list(dict.fromkeys(drawn))[: recipe.held_out])
    return codes // N, codes % N


@torch.no_grad()
def greedy_sums(model, a, b, n_digits):
    """The grader's own decoder: feed ``a+b=``, append the argmax digit n_digits+1 times, and read
    the new digits back least significant first. Eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    idx = prompts(a, b, n_digits)  # (B, 2n+2)
    for _ in range(n_digits + 1):
        logits, _ = model(idx)  # (B, T, V)
        idx = torch.cat([idx, logits[:, -1, :10].argmax(dim=-1, keepdim=True)], dim=1)  # (B, T+1)
    model.train(was_training)
    return number_of(idx[:, 2 * n_digits + 2 :].flip(1))  # (B,)


def accuracy(model, a, b, n_digits, chunk=1000):
    """The fraction of problems whose sum the model gets exactly right."""
    right = 0
    for start in range(0, len(a), chunk):
        sa, sb = a[start : start + chunk], b[start : start + chunk]
        right += (greedy_sums(model, sa, sb, n_digits) == sa + sb).sum().item()
    return right / max(len(a), 1)


def learning_rate(recipe, step):
    """Cosine from the peak at step 0 to 0 after the last step: the end of the run is calm, so the
    accuracy measured there does not hang on the luck of the last few steps."""
    return recipe.learning_rate * 0.5 * (1 + math.cos(math.pi * step / recipe.iters))


def train_adder(config_class, model_class, get_batch, loss_fn, recipe):
    """Seed, build the GPT, train it on the CPU (one thread) with get_batch and loss_fn, the held-out
    problems dropped from every batch; returns the accuracies and the time taken.

    ``{"held_out": accuracy on the held-out problems, "trained": accuracy on as many problems drawn
    from the training batches, "last_loss": ..., "seconds": ...}``. A loss that is not finite ends the
    run early (the accuracies are then measured as they are).
    """
    run = train_only(config_class, model_class, get_batch, loss_fn, recipe)
    return accuracies(run["model"], run, recipe) | {"last_loss": run["last_loss"], "seconds": run["seconds"]}


def train_only(config_class, model_class, get_batch, loss_fn, recipe):
    """The training of train_adder without the measuring: ``{"model": the trained model, "trained_a",
    "trained_b": the problems drawn from its batches, "last_loss", "seconds"}``."""
    with cpu_threads(1):
        return _train(config_class, model_class, get_batch, loss_fn, recipe)


def accuracies(model, run, recipe):
    """``model``'s accuracy on the held-out problems and on the trained ones of ``run`` (train_only's)."""
    held_a, held_b = held_out_problems(recipe)
    n = recipe.n_digits
    return {"held_out": accuracy(model, held_a, held_b, n),
            "trained": accuracy(model, run["trained_a"], run["trained_b"], n)}


def _train(config_class, model_class, get_batch, loss_fn, recipe):
    n = recipe.n_digits
    N = 10**n
    held_a, held_b = held_out_problems(recipe)
    held = torch.zeros(N * N, dtype=torch.bool)
    held[held_a * N + held_b] = True
    torch.manual_seed(recipe.seed)
    config = config_class(vocab_size=len(VOCAB), block_size=recipe.block_size, n_embd=recipe.n_embd,
                          n_head=recipe.n_head, n_layer=recipe.n_layer, dropout=0.0)
    model = model_class(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    generator = torch.Generator().manual_seed(recipe.seed)
    seen_a, seen_b, seen = [], [], 0  # trained-on problems, as many as the held-out ones
    model.train()
    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for step in range(recipe.iters):
        x, y = get_batch(recipe.batch_size, n, generator=generator)
        if x.shape != y.shape or x.shape != (recipe.batch_size, recipe.block_size):
            raise BatchError(f"x and y of shape {tuple(x.shape)} and {tuple(y.shape)}, expected "
                             f"({recipe.batch_size}, {recipe.block_size}) each")
        x, y = x.long(), y.long()
        a, b = operands(x, n)
        keep = ~held[a * N + b]  # (B,): the held-out problems are never trained on
        x, y = x[keep], y[keep]
        if seen < recipe.held_out:
            seen_a.append(a[keep])
            seen_b.append(b[keep])
            seen += int(keep.sum())
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(recipe, step)
        logits, _ = model(x)
        loss = loss_fn(logits, y)
        if not update(optimizer, loss):
            break
    seconds = time.perf_counter() - start
    trained_a, trained_b = torch.cat(seen_a)[: recipe.held_out], torch.cat(seen_b)[: recipe.held_out]
    return {"model": model, "trained_a": trained_a, "trained_b": trained_b, "last_loss": float(loss.detach()),
            "seconds": seconds}
