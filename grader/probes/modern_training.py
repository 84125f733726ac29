"""The tiny training runs of Exercise 14's test_trains (grader/checks/test_modern.py): the models put
around the student's change, a minimal Adam and the loops. They run where the student's code runs (its
own process in teacher mode, through the probes in grader/probes/probe.py); the check measures what comes back.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.probes.training import cpu_threads

N_EMBD = 16
# (a + b) mod 8 from the sum of two embeddings, through a residual GELUFeedForward.
PAIR_V, PAIR_STEPS, PAIR_LR = 8, 150, 1e-2
# A bigram task for the tied stand-in model: the next id is (3 * id + 1) mod V.
TIE_STEPS, TIE_LR = 120, 3e-2
# Copying the token ROPE_LAG positions back, with RoPE as the only position information.
ROPE_V, ROPE_T, ROPE_LAG, ROPE_EMBD, ROPE_HEADS = 8, 12, 3, 32, 2
ROPE_STEPS, ROPE_BATCH, ROPE_LR = 60, 16, 2e-2


class Adam:
    """A minimal Adam for the tiny training runs of test_trains: the first optimizer of torch.optim
    imports torch._dynamo, which costs seconds (measured 3-9 s on a busy 2-core machine), more than
    the runs themselves."""

    def __init__(self, parameters, lr, betas=(0.9, 0.999), eps=1e-8):
        self.parameters = list(parameters)  # model.parameters() lists a shared Parameter once
        self.lr, self.betas, self.eps, self.steps = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.parameters]
        self.v = [torch.zeros_like(p) for p in self.parameters]

    def zero_grad(self):
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.steps += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.parameters, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.sub_(self.lr * (m / (1 - b1**self.steps)) / ((v / (1 - b2**self.steps)).sqrt() + self.eps))


class PairModel(nn.Module):
    def __init__(self, ffwd):
        super().__init__()
        self.first = nn.Embedding(PAIR_V, N_EMBD)
        self.second = nn.Embedding(PAIR_V, N_EMBD)
        self.ffwd = ffwd
        self.lm_head = nn.Linear(N_EMBD, PAIR_V)

    def forward(self, a, b):
        x = self.first(a) + self.second(b)  # (N, C)
        x = x + self.ffwd(x[:, None])[:, 0]  # (N, C): the feed-forward sees (B, T, C) = (N, 1, C)
        return self.lm_head(x)  # (N, V)


def pair_problems():
    """All 64 pairs (a, b) and their targets (a + b) mod PAIR_V."""
    a, b = torch.arange(PAIR_V).repeat_interleave(PAIR_V), torch.arange(PAIR_V).repeat(PAIR_V)
    return a, b, (a + b) % PAIR_V


def train_pairs(ffwd_class, seed=0):
    """PairModel around ``ffwd_class(N_EMBD, 0.0)``, trained: {"model", "loss": the final loss, "no_grad":
    the names of the feed-forward's parameters that got no gradient in the first step}."""
    with cpu_threads(1):
        torch.manual_seed(seed)
        model = PairModel(ffwd_class(N_EMBD, 0.0))
        a, b, y = pair_problems()
        optimizer = Adam(model.parameters(), lr=PAIR_LR)
        no_grad = None
        for _ in range(PAIR_STEPS):
            loss = F.cross_entropy(model(a, b), y)
            optimizer.zero_grad()
            loss.backward()
            if no_grad is None:
                no_grad = [n for n, p in model.ffwd.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            optimizer.step()
        return {"model": model, "loss": pair_loss(model), "no_grad": no_grad}


def pair_loss(model):
    a, b, y = pair_problems()
    with torch.no_grad():
        return F.cross_entropy(model(a, b), y).item()


def train_tied(model, V, seed=0):
    """Train the tied stand-in ``model`` (vocabulary V) on the bigram task; returns its final loss."""
    with cpu_threads(1):
        optimizer = Adam(model.parameters(), lr=TIE_LR)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(TIE_STEPS):
            idx = torch.randint(V, (16, 8), generator=generator)
            _, loss = model(idx, (3 * idx + 1) % V)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return tied_loss(model, V)


def tied_loss(model, V):
    idx = torch.arange(V)[None]
    with torch.no_grad():
        _, loss = model(idx, (3 * idx + 1) % V)
    return loss.item()


class RopeAttentionModel(nn.Module):
    """Token embedding, one causal multi-head attention with ``rope`` on q and k, a residual and a head."""

    def __init__(self, rope):
        super().__init__()
        self.rope = rope
        self.token_embedding_table = nn.Embedding(ROPE_V, ROPE_EMBD)
        self.c_attn = nn.Linear(ROPE_EMBD, 3 * ROPE_EMBD)
        self.lm_head = nn.Linear(ROPE_EMBD, ROPE_V)

    def forward(self, idx):
        B, T = idx.shape
        x = self.token_embedding_table(idx)  # (B, T, C)
        q, k, v = self.c_attn(x).split(ROPE_EMBD, dim=-1)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, ROPE_HEADS, -1).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        q, k = self.rope(q), self.rope(k)  # (B, nh, T, hs)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        return self.lm_head(x + out.transpose(1, 2).reshape(B, T, ROPE_EMBD))  # (B, T, V)


def lag_batch(batch, generator):
    idx = torch.randint(ROPE_V, (batch, ROPE_T), generator=generator)
    targets = torch.full_like(idx, -100)  # the first ROPE_LAG positions have nothing to copy: ignored
    targets[:, ROPE_LAG:] = idx[:, :-ROPE_LAG]
    return idx, targets


def train_lag(rope, seed=0):
    """RopeAttentionModel with ``rope`` on q and k, trained: {"model", "loss": on 256 fresh sequences}."""
    with cpu_threads(1):
        torch.manual_seed(seed)
        model = RopeAttentionModel(rope)
        optimizer = Adam(model.parameters(), lr=ROPE_LR)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(ROPE_STEPS):
            idx, targets = lag_batch(ROPE_BATCH, generator)
            loss = F.cross_entropy(model(idx).view(-1, ROPE_V), targets.view(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return {"model": model, "loss": lag_loss(model, seed)}


def lag_loss(model, seed=0):
    idx, targets = lag_batch(256, torch.Generator().manual_seed(10_000 + seed))
    with torch.no_grad():
        return F.cross_entropy(model(idx).view(-1, ROPE_V), targets.view(-1)).item()
