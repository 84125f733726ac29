"""The grader's stand-ins: trusted parts that a check puts where the student's code will call them (a
language model for generate, the branches of a Block, the blocks of a GPT, and the contract's own
attention, feed-forward and Block for a training check whose earlier parts differ from the contract).

A check builds them with ``impl.build`` where the student's code runs: in this process in student
mode, in the submission's own process in teacher mode (grader/sandbox/remote.py), which may import this
module and no oracle. The oracles use the grader's own copies, built here from the same seeds.
"""

import torch
import torch.nn as nn

# ---------------------------------------------------------------------------------------- generate

class ContextTooLong(Exception):
    """Raised by a stand-in model given more than block_size tokens, as a GPT would refuse them."""


class StandIn(nn.Module):
    """A stand-in language model: ``rule(idx)`` gives the (B, T, V) logits. It records every context
    it is called with and whether autograd was on; it refuses contexts longer than ``max_T``. Its one
    parameter (a scale of 1) makes its logits carry an autograd graph unless generation turns it off."""

    def __init__(self, rule, max_T=None):
        super().__init__()
        self.rule = rule
        self.max_T = max_T
        self.scale = nn.Parameter(torch.ones(()))
        self.contexts = []
        self.grad_enabled = []

    def forward(self, idx, targets=None):
        self.contexts.append(idx.detach().clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        if self.max_T is not None and idx.shape[-1] > self.max_T:
            raise ContextTooLong(f"the model was called with a context of {idx.shape[-1]} tokens, "
                                 f"more than block_size={self.max_T}")
        return self.rule(idx) * self.scale, None


def certain(tokens, V):
    """Logits (B, T, V) certain of ``tokens`` (B, T): 0 for that token, -1e4 for the others."""
    logits = torch.full((*tokens.shape, V), -1e4, device=tokens.device)
    return logits.scatter(-1, tokens.unsqueeze(-1), 0.0)


def last_is_3(idx):
    """Certain of token 3 at the last position and of token 0 at every other one."""
    tokens = torch.zeros_like(idx)
    tokens[:, -1] = 3
    return certain(tokens, 5)


def next_of_each(idx):
    """Certain, at each position, of the token after that position's own: (idx + 1) % 7."""
    return certain((idx + 1) % 7, 7)


def uniform(idx):
    return torch.zeros(*idx.shape, 5, device=idx.device)


def fixed_probabilities(idx):
    """Logits of the probabilities [0.5, 0.3, 0.15, 0.05] at every position."""
    return torch.tensor([0.5, 0.3, 0.15, 0.05], device=idx.device).log().expand(*idx.shape, 4)


# ---------------------------------------------------------------------------------------- Block

class SeededLinear(nn.Module):
    """A stand-in with one (n_embd, n_embd) weight drawn from its own seed (std n_embd**-0.5 unless
    given), which counts its calls and keeps their inputs."""

    def __init__(self, n_embd, seed, std=None):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        std = n_embd**-0.5 if std is None else std
        self.weight = nn.Parameter(torch.randn(n_embd, n_embd, generator=generator) * std)
        self.calls = 0
        self.inputs = []

    def forward(self, x):
        self.calls += 1
        self.inputs.append(x)
        return self.mix(x)


def running_mean(x):
    """The mean of positions 0..t at each t: causal, and it uses the past."""
    steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)
    return x.cumsum(dim=1) / steps[:, None]  # (B, T, C)


class CausalMixer(SeededLinear):
    """A trusted stand-in for attention: a linear map of the mean of positions 0..t, at each t."""

    def mix(self, x):
        return running_mean(x) @ self.weight  # (B, T, C)


class PositionWiseMLP(SeededLinear):
    """A trusted stand-in for the feed-forward: tanh of a linear map, at each position alone."""

    def mix(self, x):
        return torch.tanh(x @ self.weight)  # (B, T, C)


class Zero(nn.Module):
    """A stand-in branch that adds nothing."""

    def forward(self, x):
        return torch.zeros_like(x)


# ---------------------------------------------------------------------------------------- GPT

class StandInBlock(SeededLinear):
    """A trusted causal stand-in for a Block: x + tanh(mean of positions 0..t, times W)."""

    def mix(self, x):
        return x + torch.tanh(running_mean(x) @ self.weight)  # (B, T, C)


def stand_in_blocks(n_embd, n_layer, std=None):
    """``n_layer`` stand-in blocks, the same each time (std: of their weights, n_embd**-0.5 by default)."""
    std = n_embd**-0.5 if std is None else std
    return nn.Sequential(*[StandInBlock(n_embd, seed=100 + i, std=std) for i in range(n_layer)])


# ---- the training checks: the grader's own parts of a GPT, for those of the student's that differ

class ContractAttention(nn.Module):
    """The contract's MultiHeadAttention, written here: ``c_attn`` ([q | k | v], no bias), ``c_proj``."""

    def __init__(self, n_embd, n_head, dropout=0.0):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        wei = (q @ k.transpose(-2, -1)) * hs**-0.5  # (B, nh, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        wei = self.attn_dropout(torch.softmax(wei.masked_fill(future, float("-inf")), dim=-1))
        out = (wei @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(out))


class ContractFeedForward(nn.Module):
    """The contract's FeedForward: ``net`` = Linear(C, 4C), ReLU, Linear(4C, C), Dropout."""

    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class ContractBlock(nn.Module):
    """The contract's Block around the given ``sa`` and ``ffwd``: pre-norm, a residual on each."""

    def __init__(self, n_embd, sa, ffwd):
        super().__init__()
        self.sa, self.ffwd = sa, ffwd
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


def in_place_of(new, old):
    """``new`` (a part made by the grader) with the weights of ``old`` (the student's part it replaces)
    where names and shapes match, as the student's GPT initialised them, the lecture's init elsewhere,
    and ``old``'s buffers (with_buffers_of)."""
    old = old if isinstance(old, nn.Module) else nn.Module()
    found = dict(old.named_parameters())
    with torch.no_grad():
        for module in new.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for name, p in new.named_parameters():
            if name in found and found[name].shape == p.shape:
                p.copy_(found[name])
    return with_buffers_of(new, old)


def with_buffers_of(new, old, skip=()):
    """``new`` with ``old``'s buffers (a ``tril``, say) where it has none of that name, so that the model's
    state_dict keeps the keys that the student's own code saves and loads. ``skip``: name prefixes left out."""
    saved = old.state_dict()
    for name, buffer in old.named_buffers():
        path, _, leaf = name.rpartition(".")
        owner = _submodule(new, path)
        if not name.startswith(skip) and owner is not None and not hasattr(owner, leaf):
            owner.register_buffer(leaf, buffer.detach().clone(), persistent=name in saved)
    return new


def _submodule(module, path):
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None


def put_graders_parts(model, parts, n_embd, n_head, dropout):
    """Put the grader's own parts in the place of ``parts`` ("sa", "ffwd", "block") in every block of
    ``model`` (a GPTLanguageModel whose ``blocks`` is an nn.Sequential or nn.ModuleList)."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, (nn.Sequential, nn.ModuleList)):
        return model  # not the contract's layout: the GPT's own checks say so
    device = next(model.parameters()).device
    for i, block in enumerate(list(blocks)):
        own = {key: getattr(block, key, None) for key in ("sa", "ffwd")}
        sa = own["sa"] if "sa" not in parts and isinstance(own["sa"], nn.Module) else \
            in_place_of(ContractAttention(n_embd, n_head, dropout), own["sa"])
        ffwd = own["ffwd"] if "ffwd" not in parts and isinstance(own["ffwd"], nn.Module) else \
            in_place_of(ContractFeedForward(n_embd, dropout), own["ffwd"])
        if "block" in parts:
            new = ContractBlock(n_embd, sa, ffwd)
            in_place_of(new.ln1, getattr(block, "ln1", None))
            in_place_of(new.ln2, getattr(block, "ln2", None))
            blocks[i] = with_buffers_of(new, block, skip=("sa.", "ffwd.", "ln1.", "ln2.")).to(device)
        else:
            block.sa, block.ffwd = sa.to(device), ffwd.to(device)
    return model


class GPTWithGradersParts:
    """Called as GPTLanguageModel is (with a config): the student's model, made by its own code, with the
    grader's parts in the place of ``parts`` (judge_training.differing_parts), so that a training check
    grades Exercise 9's code and not a mistake that an earlier exercise already charged."""

    def __init__(self, model_class, parts):
        self.model_class, self.parts = model_class, tuple(parts)

    def __call__(self, config):
        model = self.model_class(config)
        return put_graders_parts(model, self.parts, config.n_embd, config.n_head, config.dropout)


# ---- Exercise 12 (addition)

class ScriptedAdder(nn.Module):
    """A stand-in model for solve whose favourite next digit after a context is a known function of
    the whole context: ``(sum of (s+1) * idx[s] + 3 * length) % 10``. Its logits give that digit 1.0 and
    every other id 0.0, so greedy decoding picks it and sampling (probability 0.2) rarely does. It
    records (idx, training, grad enabled) for every call."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.dummy = nn.Parameter(torch.zeros(()))
        self.calls = []

    def forward(self, idx, targets=None):
        self.calls.append((idx.detach().cpu().clone(), self.training, torch.is_grad_enabled()))
        B, T = idx.shape
        steps = torch.arange(1, T + 1, device=idx.device)  # (T,)
        favourite = ((idx * steps).cumsum(dim=1) + 3 * steps) % 10  # (B, T)
        logits = torch.zeros(B, T, self.vocab_size, device=idx.device) + self.dummy  # (B, T, V)
        logits = logits.scatter(2, favourite[..., None], 1.0)
        return logits, None


# ---- Exercise 14 (modern)

class StandInLM(nn.Module):
    """The two layers tie_weights ties, named as in GPTLanguageModel, around a trusted middle layer;
    its weights drawn by probe.randomize_parameters from ``seed``."""

    def __init__(self, vocab_size, n_embd, seed=0, std=0.02):
        super().__init__()
        from grader.probes.probe import randomize_parameters

        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.mix = nn.Linear(n_embd, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)
        randomize_parameters(self, seed=seed, std=std)

    def forward(self, idx, targets=None):
        x = self.token_embedding_table(idx)  # (B, T, C)
        x = x + torch.tanh(self.mix(x))  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None if targets is None else nn.functional.cross_entropy(logits.view(-1, self.vocab_size),
                                                                        targets.view(-1))
        return logits, loss


# ---- Exercise 13 (finetune)

def as_path(text):
    """``pathlib.Path(text)``, made where the student's code runs (a Path is not data that may cross)."""
    import pathlib

    return pathlib.Path(text)
