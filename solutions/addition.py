"""A GPT that adds: the lecture's suggested exercise EX2 (in the video's description; 01:54:32).

Problems ``a+b=c`` are written in a vocabulary of 12 symbols, with the digits of ``c`` reversed
(least significant first, the way the pencil-and-paper algorithm goes), and only the digits of
``c`` are trained: the targets of the prompt are -1, ignored by the loss.
"""

import torch
import torch.nn.functional as F

# The vocabulary: a symbol's id is its index, so each digit is its own id; "+" is 10 and "=" is 11.
VOCAB = "0123456789+="


def encode_problem(text):
    """The ids of ``text`` in VOCAB: ``encode_problem("1+2=30") == [1, 10, 2, 11, 3, 0]``."""
    unknown = sorted(set(text) - set(VOCAB))
    if unknown:
        raise ValueError(f"characters {unknown} are not in the vocabulary {VOCAB!r}")
    return [VOCAB.index(ch) for ch in text]


def decode_problem(ids):
    """The text of ``ids`` (a list or a 1-D tensor of ids in VOCAB)."""
    return "".join(VOCAB[int(i)] for i in ids)


def format_problem(a, b, n_digits):
    """``a+b=c`` as text: a and b zero-padded to n_digits, then the n_digits+1 digits of c reversed."""
    if n_digits < 1:
        raise ValueError(f"n_digits must be at least 1, got {n_digits}")
    for name, value in (("a", a), ("b", b)):
        if not 0 <= value < 10**n_digits:
            raise ValueError(f"{name}={value} does not fit in n_digits={n_digits}: it must lie in [0, {10**n_digits})")
    c = f"{a + b:0{n_digits + 1}d}"[::-1]  # least significant digit first
    return f"{a:0{n_digits}d}+{b:0{n_digits}d}={c}"


def get_addition_batch(batch_size, n_digits, generator=None, device="cpu"):
    """A batch of random problems: ``x`` the problems' ids, ``y`` the next ids with the prompt masked."""
    if n_digits < 1:
        raise ValueError(f"n_digits must be at least 1, got {n_digits}")
    a = torch.randint(10**n_digits, (batch_size,), generator=generator)  # (B,)
    b = torch.randint(10**n_digits, (batch_size,), generator=generator)  # (B,)
    rows = [encode_problem(format_problem(i, j, n_digits)) for i, j in zip(a.tolist(), b.tolist())]
    rows = torch.tensor(rows, dtype=torch.long).view(-1, 3 * n_digits + 3)  # (B, 3n+3)
    x = rows[:, :-1]  # (B, T)
    y = rows[:, 1:].clone()  # (B, T)
    y[:, : 2 * n_digits + 1] = -1  # (B, T): the prompt's targets are not trained
    return x.to(device), y.to(device)


def addition_loss(logits, targets):
    """Mean cross-entropy over the positions whose target is not -1."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T), ignore_index=-1)  # ()


@torch.no_grad()
def solve(model, a, b, n_digits):
    """The sums a+b that ``model`` writes, decoded greedily; a, b: (B,) int64 -> (B,) int64."""
    was_training = model.training
    model.eval()
    prompts = [encode_problem(format_problem(i, j, n_digits)[: 2 * n_digits + 2])
               for i, j in zip(a.tolist(), b.tolist())]
    idx = torch.tensor(prompts, dtype=torch.long, device=a.device).view(-1, 2 * n_digits + 2)  # (B, T)
    for _ in range(n_digits + 1):
        logits, _ = model(idx)  # (B, T, V)
        idx_next = logits[:, -1, :10].argmax(dim=-1, keepdim=True)  # (B, 1): the likeliest digit
        idx = torch.cat((idx, idx_next), dim=1)  # (B, T+1)
    model.train(was_training)
    digits = idx[:, 2 * n_digits + 2 :]  # (B, n_digits+1), least significant first
    powers = 10 ** torch.arange(n_digits + 1, device=a.device)  # (n_digits+1,)
    return (digits * powers).sum(dim=1)  # (B,)
