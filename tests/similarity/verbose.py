# A beginner's: explicit loops, a name for every step, checks spelled out.
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass


class CharTokenizer:
    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError("the text has to be a string")
        if len(text) == 0:
            raise ValueError("the text has to have at least one character")
        unique_characters = set()
        for character in text:
            unique_characters.add(character)
        ordered = sorted(unique_characters)
        self.stoi = {}
        self.itos = {}
        position = 0
        for character in ordered:
            self.stoi[character] = position
            self.itos[position] = character
            position = position + 1
        self.vocab_size = position

    def encode(self, s):
        result = []
        for character in s:
            if character in self.stoi:
                result.append(self.stoi[character])
            else:
                raise ValueError("this character is not known: " + repr(character))
        return result

    def decode(self, ids):
        if isinstance(ids, torch.Tensor):
            if len(ids.shape) == 1:
                ids = [int(number) for number in ids]
            else:
                raise ValueError("I can only decode a 1-D tensor")
        text = ""
        for number in ids:
            if number in self.itos:
                text = text + self.itos[number]
            else:
                raise ValueError("this id is not known: " + str(number))
        return text


def train_val_split(data, train_fraction=0.9):
    if train_fraction <= 0.0:
        raise ValueError("train_fraction is too small")
    if train_fraction >= 1.0:
        raise ValueError("train_fraction is too large")
    number_for_training = int(len(data) * train_fraction)
    training_part = data[0:number_for_training]
    validation_part = data[number_for_training:len(data)]
    return training_part, validation_part


def get_batch(data, batch_size, block_size, device="cpu"):
    highest_start = len(data) - block_size
    if highest_start <= 0:
        raise ValueError("the data is shorter than block_size + 1")
    starts = torch.randint(highest_start, (batch_size,))
    inputs = []
    targets = []
    for start in starts:
        start = int(start)
        inputs.append(data[start:start + block_size])
        targets.append(data[start + 1:start + 1 + block_size])
    x = torch.stack(inputs).to(dtype=torch.int64, device=device)
    y = torch.stack(targets).to(dtype=torch.int64, device=device)
    return x, y


def generate(model, idx, max_new_tokens, block_size=None):
    with torch.no_grad():
        step = 0
        while step < max_new_tokens:
            context = idx
            if block_size is not None and context.shape[1] > block_size:
                context = context[:, context.shape[1] - block_size:]
            output = model(context)
            all_logits = output[0]
            last_logits = all_logits[:, all_logits.shape[1] - 1, :]
            probabilities = torch.softmax(last_logits, dim=1)
            new_token = torch.multinomial(probabilities, 1)
            idx = torch.cat([idx, new_token], dim=1)
            step = step + 1
    return idx


def compute_loss(logits, targets):
    if targets is None:
        return None
    batch, time, vocabulary = logits.shape
    flat_logits = logits.reshape(batch * time, vocabulary)
    flat_targets = targets.reshape(batch * time)
    return F.cross_entropy(flat_logits, flat_targets)


class BigramLanguageModel(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)
        loss = compute_loss(logits, targets)
        return logits, loss

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens)


def masked_softmax(scores, mask, length):
    allowed = mask[0:length, 0:length]
    scores = scores.masked_fill(allowed == 0, float("-inf"))
    return torch.softmax(scores, dim=-1)


class Head(nn.Module):
    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__()
        self.head_size = head_size
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        lower_triangle = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("tril", lower_triangle)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        length = x.shape[1]
        queries = self.query(x)
        keys = self.key(x)
        values = self.value(x)
        scores = torch.matmul(queries, keys.transpose(1, 2))
        scores = scores / (self.head_size ** 0.5)
        weights = masked_softmax(scores, self.tril, length)
        weights = self.dropout(weights)
        result = torch.matmul(weights, values)
        return result


class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError("n_embd has to be a multiple of n_head")
        self.n_embd = n_embd
        self.n_head = n_head
        self.head_size = n_embd // n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        lower_triangle = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("tril", lower_triangle)

    def split_heads(self, tensor, batch, length):
        tensor = tensor.reshape(batch, length, self.n_head, self.head_size)
        return tensor.transpose(1, 2)

    def forward(self, x):
        batch, length, channels = x.shape
        everything = self.c_attn(x)
        queries, keys, values = torch.chunk(everything, 3, dim=2)
        queries = self.split_heads(queries, batch, length)
        keys = self.split_heads(keys, batch, length)
        values = self.split_heads(values, batch, length)
        scores = torch.matmul(queries, keys.transpose(2, 3))
        scores = scores / (self.head_size ** 0.5)
        weights = masked_softmax(scores, self.tril, length)
        weights = self.attn_dropout(weights)
        result = torch.matmul(weights, values)
        result = result.transpose(1, 2).reshape(batch, length, channels)
        result = self.c_proj(result)
        result = self.resid_dropout(result)
        return result


class FeedForward(nn.Module):
    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        hidden = 4 * n_embd
        layers = [nn.Linear(n_embd, hidden), nn.ReLU(), nn.Linear(hidden, n_embd), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        output = self.net(x)
        return output


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.sa = MultiHeadAttention(n_embd, n_head, block_size, dropout)
        self.ffwd = FeedForward(n_embd, dropout)

    def forward(self, x):
        attended = self.sa(self.ln1(x))
        x = x + attended
        computed = self.ffwd(self.ln2(x))
        x = x + computed
        return x


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_embd: int = 384
    n_head: int = 6
    n_layer: int = 6
    dropout: float = 0.2


class GPTLanguageModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.token_embedding_table = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding_table = nn.Embedding(config.block_size, config.n_embd)
        block_list = []
        for layer_number in range(config.n_layer):
            block_list.append(Block(config.n_embd, config.n_head, config.block_size, config.dropout))
        self.blocks = nn.Sequential(*block_list)
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        for module in self.modules():
            self.initialise(module)

    def initialise(self, module):
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        batch, length = idx.shape
        if length > self.config.block_size:
            raise ValueError("the sequence is longer than block_size")
        positions = torch.arange(length, device=idx.device)
        token_vectors = self.token_embedding_table(idx)
        position_vectors = self.position_embedding_table(positions)
        x = token_vectors + position_vectors
        x = self.blocks(x)
        x = self.ln_f(x)
        logits = self.lm_head(x)
        loss = compute_loss(logits, targets)
        return logits, loss

    def generate(self, idx, max_new_tokens):
        return generate(self, idx, max_new_tokens, self.config.block_size)


class LayerNorm1d(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        average = x.mean(dim=-1, keepdim=True)
        centred = x - average
        variance = (centred * centred).mean(dim=-1, keepdim=True)
        normalised = centred / torch.sqrt(variance + self.eps)
        return self.gamma * normalised + self.beta
