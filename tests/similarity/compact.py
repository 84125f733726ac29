# Terse: comprehensions, one-liners, F.scaled_dot_product_attention.
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F


class CharTokenizer:
    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError("a str please")
        if not text:
            raise ValueError("empty text")
        self.itos = dict(enumerate(sorted(set(text))))
        self.stoi = {c: i for i, c in self.itos.items()}
        self.vocab_size = len(self.itos)

    def encode(self, s: str) -> list[int]:
        if missing := set(s) - self.stoi.keys():
            raise ValueError(f"not in the vocabulary: {sorted(missing)[0]!r}")
        return list(map(self.stoi.__getitem__, s))

    def decode(self, ids) -> str:
        if hasattr(ids, "dim"):
            if ids.dim() != 1:
                raise ValueError("1-D only")
            ids = ids.tolist()
        if bad := [i for i in ids if i not in self.itos]:
            raise ValueError(f"unknown id {bad[0]}")
        return "".join(map(self.itos.__getitem__, ids))


def train_val_split(data, train_fraction=0.9):
    if not 0 < train_fraction < 1:
        raise ValueError(f"{train_fraction=}")
    cut = int(len(data) * train_fraction)
    return data[:cut], data[cut:]


def get_batch(data, batch_size, block_size, device="cpu"):
    if block_size >= len(data):
        raise ValueError(f"{block_size=} >= {len(data)=}")
    starts = torch.randint(len(data) - block_size, (batch_size,)).tolist()
    chunks = torch.stack([data[s:s + block_size + 1] for s in starts]).long().to(device)
    return chunks[:, :-1], chunks[:, 1:]


@torch.inference_mode()
def generate(model, idx, max_new_tokens, block_size=None):
    for _ in range(max_new_tokens):
        logits = model(idx if block_size is None else idx[:, -block_size:])[0][:, -1]
        idx = torch.cat([idx, torch.multinomial(logits.softmax(-1), 1)], 1)
    return idx


def _loss(logits, targets):
    return None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class BigramLanguageModel(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)
        return logits, _loss(logits, targets)

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens)


def _causal(size):
    return torch.ones(size, size).tril()


class Head(nn.Module):
    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__()
        self.key, self.query, self.value = (nn.Linear(n_embd, head_size, bias=False) for _ in range(3))
        self.register_buffer("tril", _causal(block_size))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        n = x.shape[1]
        scores = self.query(x) @ self.key(x).mT / self.key.out_features ** 0.5
        weights = scores.masked_fill(~self.tril[:n, :n].bool(), -torch.inf).softmax(-1)
        return self.dropout(weights) @ self.value(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"{n_head=} does not divide {n_embd=}")
        self.n_head, self.n_embd, self.p = n_head, n_embd, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout, self.resid_dropout = nn.Dropout(dropout), nn.Dropout(dropout)
        self.register_buffer("tril", _causal(block_size))

    def forward(self, x):
        b, t, c = x.shape
        heads = self.c_attn(x).unflatten(-1, (3, self.n_head, c // self.n_head)).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(*heads, is_causal=True, dropout_p=self.p if self.training else 0.0)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).flatten(2)))


class FeedForward(nn.Module):
    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        self.sa, self.ffwd = MultiHeadAttention(n_embd, n_head, block_size, dropout), FeedForward(n_embd, dropout)
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_embd: int = 384
    n_head: int = 6
    n_layer: int = 6
    dropout: float = 0.2


class GPTLanguageModel(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        c = self.config = config
        self.token_embedding_table = nn.Embedding(c.vocab_size, c.n_embd)
        self.position_embedding_table = nn.Embedding(c.block_size, c.n_embd)
        self.blocks = nn.Sequential(*(Block(c.n_embd, c.n_head, c.block_size, c.dropout) for _ in range(c.n_layer)))
        self.ln_f, self.lm_head = nn.LayerNorm(c.n_embd), nn.Linear(c.n_embd, c.vocab_size)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx, targets=None):
        t = idx.shape[-1]
        if t > self.config.block_size:
            raise ValueError(f"{t} tokens > block_size {self.config.block_size}")
        h = self.token_embedding_table(idx) + self.position_embedding_table.weight[:t]
        logits = self.lm_head(self.ln_f(self.blocks(h)))
        return logits, _loss(logits, targets)

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens, self.config.block_size)


class LayerNorm1d(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps, self.gamma, self.beta = eps, nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        var, mean = torch.var_mean(x, -1, keepdim=True, correction=0)
        return (x - mean) * (var + self.eps).rsqrt() * self.gamma + self.beta
