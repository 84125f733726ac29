"""Variants of the models: the bigram (Exercise 3), FeedForward (7), Block (8) and GPT (9).

Broken ones make one mistake each; the hint is text that a failure message must contain (from
grader/checks/test_bigram.py, test_feedforward.py, test_block.py, test_gpt.py). The valid alternatives
(exercise=None) are other correct ways to write the same model that must keep every point.
"""

from . import Variant

# The lines of solutions/ that the edits replace; each occurs exactly once in its module.
BIGRAM_LOGITS = "logits = self.token_embedding_table(idx)  # (B, T, V)"
BIGRAM_LOSS = "loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()"

FFWD_NET = """            nn.Linear(n_embd, 4 * n_embd),
            nn.ReLU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),"""
FFWD_FORWARD = "return self.net(x)  # (B, T, C)"

BLOCK_SA = "x = x + self.sa(self.ln1(x))  # (B, T, C)"
BLOCK_FFWD = "x = x + self.ffwd(self.ln2(x))  # (B, T, C)"
BLOCK_FORWARD = BLOCK_SA + "\n        " + BLOCK_FFWD

GPT_BLOCKS = """        self.blocks = nn.Sequential(
            *[Block(config.n_embd, config.n_head, config.block_size, config.dropout) for _ in range(config.n_layer)]
        )"""
GPT_POS = "pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))  # (T, C)"
GPT_SUM = "x = tok_emb + pos_emb  # (B, T, C)"
GPT_RUN_BLOCKS = "x = self.blocks(x)  # (B, T, C)"
GPT_LN_F = "x = self.ln_f(x)  # (B, T, C)"
GPT_LM_HEAD = "self.lm_head = nn.Linear(config.n_embd, config.vocab_size)"
GPT_LOSS = "loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()"
GPT_CHECK = """        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} is longer than block_size={self.config.block_size}")
"""
GPT_LINEAR_INIT = """        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)"""


def bigram(name, *edits, hint=None):
    return Variant(name, "bigram", {"bigram": list(edits)}, hint)


def ffwd(name, *edits, hint=None):
    return Variant(name, "feedforward", {"block": list(edits)}, hint)


def block(name, *edits, hint=None):
    return Variant(name, "block", {"block": list(edits)}, hint)


def gpt(name, *edits, hint=None):
    return Variant(name, "gpt", {"gpt": list(edits)}, hint)


VARIANTS = [
    # Exercise 3, the bigram: one mistake each.
    bigram("bigram-logits-flattened-with-targets",  # the lecture's own code, which this kit changes
           (BIGRAM_LOSS, "logits = logits.view(B * T, V)\n        loss = F.cross_entropy(logits, targets.view(B * T))"),
           hint="the lecture returns the reshaped logits"),
    bigram("bigram-loss-summed", (BIGRAM_LOSS, BIGRAM_LOSS.replace("targets.view(B * T))", "targets.view(B * T), "
                                                                   "reduction=\"sum\")")),
           hint="the loss is summed over positions, not averaged: use F.cross_entropy's default reduction='mean'"),
    bigram("bigram-loss-summed-over-time", (BIGRAM_LOSS, BIGRAM_LOSS.replace(
        "targets.view(B * T))", "targets.view(B * T), reduction=\"none\").view(B, T).sum(1).mean()")),
           hint="the loss is summed over positions, not averaged"),
    bigram("bigram-nll-loss-on-logits", (BIGRAM_LOSS, BIGRAM_LOSS.replace("F.cross_entropy", "F.nll_loss")),
           hint="nll_loss wants log-probabilities: use F.cross_entropy(logits, targets), or "
                "F.nll_loss(F.log_softmax(logits, -1), targets)"),
    bigram("bigram-loss-on-probabilities",
           (BIGRAM_LOSS, BIGRAM_LOSS.replace("logits.view(B * T, V)", "F.softmax(logits.view(B * T, V), dim=-1)")),
           hint="F.cross_entropy was given probabilities"),
    bigram("bigram-targets-shifted-again",
           (BIGRAM_LOSS, "loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), targets[:, 1:].reshape(-1))"),
           hint="the targets are shifted a second time"),
    bigram("bigram-logits-flattened-time-first",
           (BIGRAM_LOSS, BIGRAM_LOSS.replace("logits.view(B * T, V)", "logits.transpose(0, 1).reshape(B * T, V)")),
           hint="the logits and the targets are flattened in different orders"),
    bigram("bigram-loss-against-idx", (BIGRAM_LOSS, BIGRAM_LOSS.replace("targets.view", "idx.view")),
           hint="compares the logits with idx"),
    bigram("bigram-loss-last-position-only",
           (BIGRAM_LOSS, "loss = F.cross_entropy(logits[:, -1], targets[:, -1])"),
           hint="the loss covers only the last position"),
    bigram("bigram-softmax-logits",
           (BIGRAM_LOGITS, "logits = F.softmax(self.token_embedding_table(idx), dim=-1)"),
           hint="softmax applied to the logits"),
    bigram("bigram-table-too-narrow",
           ("nn.Embedding(vocab_size, vocab_size)", "nn.Embedding(vocab_size, 32)")),

    # Exercise 7, FeedForward.
    ffwd("ffwd-residual-inside", (FFWD_FORWARD, "return x + self.net(x)"),
         hint="the residual belongs to Block"),
    ffwd("ffwd-dropout-skipped", (FFWD_FORWARD, "return self.net[:-1](x)"),
         hint="net holds the nn.Dropout, but forward skips it"),
    ffwd("ffwd-no-dropout-layer", ("            nn.Dropout(dropout),\n", ""),
         hint="net has no nn.Dropout: add nn.Dropout(dropout) as its last layer"),
    ffwd("ffwd-dropout-argument-ignored", ("nn.Dropout(dropout),", "nn.Dropout(0.0),"),
         hint="pass the dropout argument on to nn.Dropout"),
    ffwd("ffwd-inner-not-4x-wider", (FFWD_NET, FFWD_NET.replace("4 * n_embd", "n_embd"))),
    ffwd("ffwd-gelu-instead-of-relu", ("nn.ReLU(),", "nn.GELU(),")),

    # Exercise 8, Block.
    # A hand-made norm over (T, C) instead of C: every position sees statistics of the future.
    block("block-norm-over-time-and-channels",
          (BLOCK_SA, "x = x + self.sa(nn.functional.layer_norm(x, x.shape[1:]))"),
          hint="only self.sa mixes positions"),
    block("block-no-residual-on-attention", (BLOCK_SA, "x = self.sa(self.ln1(x))"),
          hint="the attention's residual is missing"),
    block("block-no-residual-on-feedforward", (BLOCK_FFWD, "x = self.ffwd(self.ln2(x))"),
          hint="the feed-forward's residual is missing"),
    block("block-no-residuals", (BLOCK_FORWARD, "x = self.sa(self.ln1(x))\n        x = self.ffwd(self.ln2(x))"),
          hint="both residuals are missing"),
    block("block-post-norm", (BLOCK_FORWARD, "x = self.ln1(x + self.sa(x))\n        x = self.ln2(x + self.ffwd(x))"),
          hint="post-norm"),
    block("block-layernorms-swapped",
          (BLOCK_FORWARD, "x = x + self.sa(self.ln2(x))\n        x = x + self.ffwd(self.ln1(x))"),
          hint="ln1 and ln2 are swapped"),
    block("block-ln1-twice", (BLOCK_FFWD, BLOCK_FFWD.replace("ln2", "ln1")),
          hint="ln2 is never used: the feed-forward branch takes self.ln2(x)"),
    block("block-ln2-twice", (BLOCK_SA, BLOCK_SA.replace("ln1", "ln2")),
          hint="ln1 is never used: the attention branch takes self.ln1(x)"),
    block("block-no-layernorm-on-attention", (BLOCK_SA, "x = x + self.sa(x)"),
          hint="the attention branch has no LayerNorm"),
    block("block-no-layernorm-on-feedforward", (BLOCK_FFWD, "x = x + self.ffwd(x)"),
          hint="the feed-forward branch has no LayerNorm"),
    block("block-no-layernorms", (BLOCK_FORWARD, "x = x + self.sa(x)\n        x = x + self.ffwd(x)"),
          hint="no LayerNorm on either branch"),
    block("block-normalised-in-place", (BLOCK_FORWARD, "\n        ".join(
        ["x = self.ln1(x)", "x = x + self.sa(x)", "x = self.ln2(x)", "x = x + self.ffwd(x)"])),
          hint="the residual stream is normalised in place"),
    block("block-parallel-branches", (BLOCK_FORWARD, "x = x + self.sa(self.ln1(x)) + self.ffwd(self.ln2(x))"),
          hint="the feed-forward reads the block's input"),
    block("block-feedforward-first",
          (BLOCK_FORWARD, "x = x + self.ffwd(self.ln2(x))\n        x = x + self.sa(self.ln1(x))"),
          hint="in the wrong order"),
    block("block-dropout-not-passed-on",
          ("self.ffwd = FeedForward(n_embd, dropout)", "self.ffwd = FeedForward(n_embd)"),
          hint="pass n_embd, n_head, block_size and dropout on"),

    # Exercise 9, GPTLanguageModel.
    # Train-mode-only mistakes: the eval-mode checks see the right logits; one training step at the
    # grader's weights does not (grader/judges/train_step.py).
    gpt("gpt-token-embedding-under-no-grad", ("tok_emb = self.token_embedding_table(idx)  # (B, T, C)",
                                              "with torch.no_grad():\n            tok_emb = self.token_embedding_table(idx)"),
        hint="do not detach the embeddings or compute them under torch.no_grad()"),
    gpt("gpt-loss-detached-in-train-mode", (GPT_LOSS, GPT_LOSS + "\n        if self.training:\n"
                                                      "            loss = loss.detach() + 0.0 * logits.sum()"),
        hint="the loss must backpropagate through the same computation as in eval mode"),
    gpt("gpt-no-position-embedding", (GPT_SUM, "x = tok_emb  # (B, T, C)"), hint="no position embedding"),
    gpt("gpt-positions-from-idx", (GPT_POS, "pos_emb = self.position_embedding_table(idx)  # (B, T, C)"),
        hint="the positions are looked up with idx"),
    gpt("gpt-no-ln_f", (GPT_LN_F, "pass"), hint="ln_f is missing"),
    gpt("gpt-blocks-skipped", (GPT_RUN_BLOCKS, "pass"), hint="the blocks are not applied"),
    gpt("gpt-ln_f-before-blocks", (GPT_RUN_BLOCKS + "\n        " + GPT_LN_F, GPT_LN_F + "\n        " + GPT_RUN_BLOCKS),
        hint="ln_f comes before the blocks"),
    gpt("gpt-init-std-0.2-for-linear", (GPT_LINEAR_INIT, GPT_LINEAR_INIT.replace("0.02", "0.2")),
        hint="self.apply(self._init_weights)"),
    gpt("gpt-lm_head-without-bias", ("nn.Linear(config.n_embd, config.vocab_size)",
                                     "nn.Linear(config.n_embd, config.vocab_size, bias=False)"),
        hint="65 = vocab_size fewer parameters: lm_head has no bias"),
    # The tie of nanoGPT (and of Exercise 14's tie_weights), which the lecture's model does not make.
    gpt("gpt-lm_head-tied",
        (GPT_LM_HEAD, GPT_LM_HEAD + "\n        self.lm_head.weight = self.token_embedding_table.weight"),
        hint="24,960 = vocab_size x n_embd fewer parameters: lm_head shares the token table's weight "
             "(the lecture's model keeps them apart)"),
    gpt("gpt-ln_f-without-bias",
        ("self.ln_f = nn.LayerNorm(config.n_embd)", "self.ln_f = nn.LayerNorm(config.n_embd, bias=False)"),
        hint="384 = n_embd fewer parameters: ln_f has no bias"),
    gpt("gpt-no-length-check", (GPT_CHECK, "")),
    gpt("gpt-dropout-not-passed-to-blocks", ("config.block_size, config.dropout)", "config.block_size)"),
        hint="Block(config.n_embd, config.n_head, config.block_size, config.dropout)"),
    gpt("gpt-loss-summed", (GPT_LOSS, GPT_LOSS.replace("targets.view(B * T))", "targets.view(B * T), "
                                                       "reduction=\"sum\")")),
        hint="the loss is summed over positions, not averaged: use F.cross_entropy's default reduction='mean'"),
    gpt("gpt-nll-loss-on-logits", (GPT_LOSS, GPT_LOSS.replace("F.cross_entropy", "F.nll_loss")),
        hint="nll_loss wants log-probabilities: use F.cross_entropy(logits, targets), or "
             "F.nll_loss(F.log_softmax(logits, -1), targets)"),
    gpt("gpt-logits-flattened-with-targets",
        (GPT_LOSS, "logits = logits.view(B * T, V)\n        loss = F.cross_entropy(logits, targets.view(B * T))"),
        hint="keep the logits (B, T, V)"),

    # Valid alternatives: other correct ways to write the same models; they keep every point.
    Variant("bigram-loss-on-transposed-logits", None, {"bigram": [
        (BIGRAM_LOSS, "loss = F.cross_entropy(logits.transpose(1, 2), targets)")]}),
    Variant("bigram-loss-flatten", None, {"bigram": [
        (BIGRAM_LOSS, "loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())")]}),
    Variant("bigram-nll-loss-on-log-softmax", None, {"bigram": [
        (BIGRAM_LOSS, "loss = F.nll_loss(F.log_softmax(logits.view(B * T, V), dim=-1), targets.view(B * T))")]}),
    Variant("ffwd-loop-over-net", None, {"block": [
        (FFWD_FORWARD, "for layer in self.net:\n            x = layer(x)\n        return x")]}),
    Variant("block-functional-layernorm", None, {"block": [
        (BLOCK_FORWARD, "\n        ".join([
            "C = x.shape[-1]",
            "x = x + self.sa(F.layer_norm(x, (C,), self.ln1.weight, self.ln1.bias))",
            "x = x + self.ffwd(F.layer_norm(x, (C,), self.ln2.weight, self.ln2.bias))"])),
        ("import torch.nn as nn\n", "import torch.nn as nn\nimport torch.nn.functional as F\n")]}),
    Variant("gpt-loss-on-transposed-logits", None, {"gpt": [
        (GPT_LOSS, "loss = F.cross_entropy(logits.transpose(1, 2), targets)")]}),
    Variant("gpt-blocks-modulelist", None, {"gpt": [
        (GPT_BLOCKS, GPT_BLOCKS.replace("nn.Sequential(\n            *[", "nn.ModuleList(\n            [")),
        (GPT_RUN_BLOCKS, "for block in self.blocks:\n            x = block(x)")]}),
    Variant("gpt-positions-from-weight-slice", None, {"gpt": [
        (GPT_POS, "pos_emb = self.position_embedding_table.weight[:T]  # (T, C)")]}),
]
