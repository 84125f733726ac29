"""Variants for Exercise 1 (tokenizer), Exercise 2 (batching) and Exercise 4 (generate): one mistake
each, named where the grader names it, and valid alternatives that must keep every point."""

from . import Variant

TOKENIZER = [
    Variant("vocab-in-order-of-appearance", "tokenizer", {"tokenizer": [
        ("chars = sorted(set(text))", "chars = list(dict.fromkeys(text))")]},
        hint="numbered in order of first appearance"),
    Variant("ids-start-at-one", "tokenizer", {"tokenizer": [
        ("self.stoi = {ch: i for i, ch in enumerate(chars)}", "self.stoi = {ch: i for i, ch in enumerate(chars, 1)}"),
        ("self.itos = {i: ch for i, ch in enumerate(chars)}", "self.itos = {i: ch for i, ch in enumerate(chars, 1)}")]},
        hint="the ids start at 1"),
    Variant("encode-raises-keyerror", "tokenizer", {"tokenizer": [
        ("            if ch not in self.stoi:\n"
         "                raise ValueError(f\"unknown character {ch!r}: it is not in the vocabulary\")\n", "")]},
        hint="check c in self.stoi and raise ValueError"),
    Variant("decode-tensor-not-converted", "tokenizer", {"tokenizer": [
        ("            ids = ids.tolist()\n", "")]},
        hint="turn a tensor into a list first: ids.tolist()"),
    Variant("decode-raises-keyerror", "tokenizer", {"tokenizer": [
        ("            if i not in self.itos:\n"
         "                raise ValueError(f\"unknown id {i!r}: ids run from 0 to {self.vocab_size - 1}\")\n", "")]},
        hint="check i in self.itos and raise ValueError"),
    # A (1, n) batch, as generate returns it, becomes a list of lists: decode fails with TypeError.
    Variant("decode-2d-tensor-not-refused", "tokenizer", {"tokenizer": [
        ("            if ids.dim() != 1:\n"
         "                raise ValueError(f\"decode takes a 1-D tensor of ids, "
         "got shape {tuple(ids.shape)}\")\n", "")]},
        hint="check ids.dim() == 1 and raise ValueError"),
]

BATCHING = [
    Variant("start-range-minus-one", "batching", {"batching": [
        ("ix = torch.randint(len(data) - block_size, (batch_size,))",
         "ix = torch.randint(len(data) - block_size - 1, (batch_size,))")]},
        hint="torch.randint(len(data) - block_size - 1, ...) never draws the last start"),
    Variant("start-range-plus-one", "batching", {"batching": [
        ("ix = torch.randint(len(data) - block_size, (batch_size,))",
         "ix = torch.randint(len(data) - block_size + 1, (batch_size,))")]},
        hint="torch.randint(len(data) - block_size + 1, ...) can draw the start len(data) - block_size"),
    Variant("starts-rounded-from-rand", "batching", {"batching": [
        ("ix = torch.randint(len(data) - block_size, (batch_size,))",
         "ix = (torch.rand(batch_size) * (len(data) - block_size - 1)).round().long()")]},
        hint="draw the starts with torch.randint(len(data) - block_size, (batch_size,))"),
    Variant("windows-are-positions", "batching", {"batching": [
        ("x = torch.stack([data[i : i + block_size] for i in ix])", "x = ix[:, None] + torch.arange(block_size)"),
        ("y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])", "y = x + 1")]},
        hint="x holds positions, not tokens"),
    Variant("batch-keeps-int32", "batching", {"batching": [
        ("return x.long().to(device), y.long().to(device)", "return x.to(device), y.to(device)")]},
        hint="finish with .long()"),
    Variant("no-room-check-off-by-one", "batching", {"batching": [
        ("if len(data) - block_size <= 0:", "if len(data) < block_size:")]},
        hint="raise ValueError"),
    Variant("split-ignores-train-fraction", "batching", {"batching": [
        ("n = int(train_fraction * len(data))", "n = int(0.9 * len(data))")]},
        hint="train_fraction is ignored"),
    Variant("split-accepts-any-train-fraction", "batching", {"batching": [
        ("    if not 0.0 < train_fraction < 1.0:\n"
         "        raise ValueError(f\"train_fraction must lie strictly between 0 and 1, "
         "got {train_fraction}\")\n", "")]},
        hint="check 0 < train_fraction < 1 (strictly) and raise ValueError"),
    # 0 and 1 let through: one part comes back empty.
    Variant("split-accepts-0-and-1", "batching", {"batching": [
        ("if not 0.0 < train_fraction < 1.0:", "if not 0.0 <= train_fraction <= 1.0:")]},
        hint="it leaves the validation part empty"),
]

GENERATE = [
    Variant("argmax-instead-of-sampling", "generate", {"generate": [
        ("idx_next = torch.multinomial(probs, num_samples=1)", "idx_next = torch.argmax(probs, dim=-1, keepdim=True)")]},
        hint="argmax instead of sampling: use torch.multinomial(probs, num_samples=1)"),
    Variant("sampling-temperature", "generate", {"generate": [
        ("probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits / 0.5, dim=-1)")]},
        hint="as with a temperature"),
    Variant("first-position-logits", "generate", {"generate": [
        ("logits = logits[:, -1, :]", "logits = logits[:, 0, :]")]},
        hint="the logits of the first position instead of the last"),
    Variant("softmax-over-batch", "generate", {"generate": [
        ("probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits, dim=0)")]},
        hint="softmax over the wrong dim"),
    Variant("no-no-grad", "generate", {"generate": [("@torch.no_grad()\n", "")]},
            hint="wrap generation in torch.no_grad()"),
    Variant("crop-keeps-first-tokens", "generate", {"generate": [
        ("idx[:, -block_size:]", "idx[:, :block_size]")]},
        hint="not the first ones"),
    # torch.multinomial raises on the logits (negative, or all 0): explain.py translates torch's words.
    Variant("multinomial-on-logits", "generate", {"generate": [
        ("idx_next = torch.multinomial(probs, num_samples=1)", "idx_next = torch.multinomial(logits, num_samples=1)")]},
        hint="torch.multinomial takes probabilities, not logits"),
    # Raises for a prompt longer than one token (explain.py); doubles the rows for one token (a check).
    Variant("cat-without-dim", "generate", {"generate": [
        ("idx = torch.cat((idx, idx_next), dim=1)", "idx = torch.cat((idx, idx_next))")]},
        hint="torch.cat joins along dim 0 unless a dim is given"),
]

ALTERNATIVES = [
    # The lecture's dicts replaced by a string and str.index, itos a list, with the same errors.
    Variant("tokenizer-str-index", None, {"tokenizer": [
        ("        self.stoi = {ch: i for i, ch in enumerate(chars)}\n"
         "        self.itos = {i: ch for i, ch in enumerate(chars)}\n",
         "        self.chars = \"\".join(chars)\n"
         "        self.stoi = dict(zip(chars, range(len(chars))))\n"
         "        self.itos = list(chars)\n"),
        ("            if ch not in self.stoi:\n"
         "                raise ValueError(f\"unknown character {ch!r}: it is not in the vocabulary\")\n"
         "            ids.append(self.stoi[ch])\n",
         "            try:\n"
         "                ids.append(self.chars.index(ch))\n"
         "            except ValueError:\n"
         "                raise ValueError(f\"unknown character {ch!r}\") from None\n"),
        ("            if i not in self.itos:\n",
         "            if not (isinstance(i, int) and 0 <= i < self.vocab_size):\n")]}),
    # One indexing for the whole batch instead of a Python loop; the same torch.randint call.
    Variant("get-batch-vectorised", None, {"batching": [
        ("x = torch.stack([data[i : i + block_size] for i in ix])",
         "x = data[ix[:, None] + torch.arange(block_size)]"),
        ("y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])",
         "y = data[ix[:, None] + torch.arange(block_size) + 1]")]}),
    # Crop only when the context is longer than block_size (the slice alone already copes with shorter).
    Variant("generate-crop-when-longer", None, {"generate": [
        ("idx_cond = idx if block_size is None else idx[:, -block_size:]",
         "idx_cond = idx[:, -block_size:] if block_size is not None and idx.size(1) > block_size else idx")]}),
]

VARIANTS = TOKENIZER + BATCHING + GENERATE + ALTERNATIVES
