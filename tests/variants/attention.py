"""Variants of solutions/attention.py: Head (Exercise 5) and MultiHeadAttention (Exercise 6).

Broken ones make one mistake each, mostly the ones the README names; the hint is text that the
failure message must contain (from grader/judges/attention_oracle.py or the checks). The valid alternatives
(exercise=None) are other correct ways to write attention that must keep every point.
"""

from . import Variant

# The lines of solutions/attention.py that the edits replace; each occurs exactly once there.
HEAD_SCORES = "wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)"
HEAD_MASK = 'wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B, T, T)'
HEAD_SOFTMAX = "wei = F.softmax(wei, dim=-1)  # (B, T, T)"
HEAD_DROPOUT = "wei = self.dropout(wei)  # (B, T, T)"
HEAD_OUT = "out = wei @ v  # (B, T, hs)"
HEAD_BUFFER = ("self.value = nn.Linear(n_embd, head_size, bias=False)\n"
               '        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))\n')
HEAD_ATTENTION = "\n        ".join([HEAD_SCORES, HEAD_MASK, HEAD_SOFTMAX, HEAD_DROPOUT,
                                    "v = self.value(x)  # (B, T, hs)", HEAD_OUT])

MHA_CHECK = ("if n_embd % n_head != 0:\n"
             '            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")\n')
MHA_SPLIT = "q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)"
MHA_SCORES = "wei = q @ k.transpose(-2, -1) * hs**-0.5  # (B, nh, T, T)"
MHA_MASK = 'wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B, nh, T, T)'
MHA_SOFTMAX = "wei = F.softmax(wei, dim=-1)  # (B, nh, T, T)"
MHA_DROPOUT = "wei = self.attn_dropout(wei)  # (B, nh, T, T)"
MHA_OUT = "out = wei @ v  # (B, nh, T, hs)"
MHA_MERGE = "out = out.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side"
MHA_PROJ = "out = self.resid_dropout(self.c_proj(out))  # (B, T, C)"
MHA_BUFFER = ("self.resid_dropout = nn.Dropout(dropout)\n"
              '        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))\n')
MHA_ATTENTION = "\n        ".join([MHA_SCORES, MHA_MASK, MHA_SOFTMAX, MHA_DROPOUT, MHA_OUT])


def head(name, *edits, hint=None):
    return Variant(name, "head", {"attention": list(edits)}, hint)


def mha(name, *edits, hint=None):
    return Variant(name, "multihead", {"attention": list(edits)}, hint)


def valid(name, *edits):
    return Variant(name, None, {"attention": list(edits)})


VARIANTS = [
    # Exercise 5, Head: one mistake each.
    head("head-scaled-by-n_embd", (HEAD_SCORES, HEAD_SCORES.replace("k.shape[-1] ** -0.5", "C ** -0.5")),
         hint="scaled by n_embd instead of head_size"),
    head("head-not-scaled", (HEAD_SCORES, HEAD_SCORES.replace(" * k.shape[-1] ** -0.5", "")),
         hint="the scores are not scaled"),
    head("head-no-mask", (HEAD_MASK, "pass"), hint="no causal mask"),
    head("head-mask-after-softmax-zero", (HEAD_MASK, "pass"),
         (HEAD_SOFTMAX, HEAD_SOFTMAX + "\n        wei = wei.masked_fill(self.tril[:T, :T] == 0, 0.0)"),
         hint="mask applied after the softmax (future set to 0)"),
    head("head-mask-after-softmax-inf", (HEAD_MASK, "pass"),
         (HEAD_SOFTMAX, HEAD_SOFTMAX + '\n        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))'),
         hint="mask applied after the softmax (future set to -inf)"),
    head("head-no-softmax", (HEAD_SOFTMAX, "pass"), hint="no softmax"),
    head("head-softmax-wrong-dim", (HEAD_SOFTMAX, HEAD_SOFTMAX.replace("dim=-1", "dim=1")),
         hint="softmax over the wrong dim"),
    head("head-k-q-swapped", (HEAD_SCORES, HEAD_SCORES.replace("q @ k.transpose", "k @ q.transpose")),
         hint="the scores are k @ q^T"),
    head("head-mask-upside-down", (HEAD_MASK, HEAD_MASK.replace("self.tril[:T, :T] ==", "self.tril[:T, :T].T ==")),
         hint="the mask hides the past instead of the future"),
    head("head-attends-only-to-itself",
         (HEAD_MASK, HEAD_MASK.replace("self.tril[:T, :T] ==", "torch.eye(T, device=x.device) ==")),
         hint="ignores the input at position 0"),
    head("head-no-dropout", (HEAD_DROPOUT, "pass"), hint="apply self.dropout"),
    head("head-dropout-on-the-output", (HEAD_DROPOUT, "pass"),
         (HEAD_OUT, "out = self.dropout(wei @ v)  # (B, T, hs)"),
         hint="apply dropout to the attention weights"),
    head("head-dropout-also-in-eval", (HEAD_DROPOUT, "wei = F.dropout(wei, self.dropout.p)  # (B, T, T)"),
         hint="off in eval mode"),
    # Dropout on the scores: in train mode -inf * 0 gives NaN (after the mask), and a row's weights are
    # a softmax again, not a dropout of one (before the mask).
    head("head-dropout-on-the-scores-before-the-mask", (HEAD_DROPOUT, "pass"),
         (HEAD_MASK, "wei = self.dropout(wei)\n        " + HEAD_MASK), hint="dropout before the softmax"),
    head("head-dropout-on-the-scores-after-the-mask", (HEAD_DROPOUT, "pass"),
         (HEAD_SOFTMAX, "wei = self.dropout(wei)\n        " + HEAD_SOFTMAX), hint="dropout before the softmax"),
    head("head-tril-not-a-buffer", (HEAD_BUFFER, HEAD_BUFFER.replace(
        'self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))',
        "self.tril = torch.tril(torch.ones(block_size, block_size))")), hint="register_buffer"),
    # The same under another name (an attacker's find: the check once looked at "tril" alone).
    head("head-mask-under-another-name-not-a-buffer", (HEAD_BUFFER, HEAD_BUFFER.replace(
        'self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))',
        "self.mask = torch.tril(torch.ones(block_size, block_size))")),
        (HEAD_MASK, HEAD_MASK.replace("self.tril", "self.mask")), hint="self.mask is a plain tensor attribute"),
    head("head-masked-fill-not-assigned", (HEAD_MASK, HEAD_MASK.replace("wei = wei.masked_fill", "wei.masked_fill")),
         hint="masked_fill returns a new tensor"),
    head("head-tril-not-sliced", (HEAD_MASK, HEAD_MASK.replace("self.tril[:T, :T]", "self.tril")),
         hint="tril[:T, :T]"),

    # Exercise 6, MultiHeadAttention: one mistake each.
    mha("mha-scaled-by-n_embd", (MHA_SCORES, MHA_SCORES.replace("hs**-0.5", "C**-0.5")),
        hint="scaled by n_embd instead of head_size"),
    mha("mha-not-scaled", (MHA_SCORES, MHA_SCORES.replace(" * hs**-0.5", "")), hint="the scores are not scaled"),
    mha("mha-no-mask", (MHA_MASK, "pass"), hint="no causal mask"),
    mha("mha-mask-after-softmax-zero", (MHA_MASK, "pass"),
        (MHA_SOFTMAX, MHA_SOFTMAX + "\n        wei = wei.masked_fill(self.tril[:T, :T] == 0, 0.0)"),
        hint="mask applied after the softmax (future set to 0)"),
    mha("mha-mask-after-softmax-inf", (MHA_MASK, "pass"),
        (MHA_SOFTMAX, MHA_SOFTMAX + '\n        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))'),
        hint="mask applied after the softmax (future set to -inf)"),
    mha("mha-no-softmax", (MHA_SOFTMAX, "pass"), hint="no softmax"),
    mha("mha-softmax-over-heads", (MHA_SOFTMAX, MHA_SOFTMAX.replace("dim=-1", "dim=1")),
        hint="softmax over the wrong dim (over the heads)"),
    mha("mha-softmax-over-queries", (MHA_SOFTMAX, MHA_SOFTMAX.replace("dim=-1", "dim=2")),
        hint="softmax over the wrong dim (over the queries t)"),
    mha("mha-heads-interleaved",
        *[(f"{n} = {n}.view(B, T, self.n_head, hs).transpose(1, 2)",
           f"{n} = {n}.view(B, T, hs, self.n_head).permute(0, 3, 1, 2)") for n in "qkv"],
        hint="heads interleaved"),
    mha("mha-heads-split-without-transpose",
        *[(f"{n} = {n}.view(B, T, self.n_head, hs).transpose(1, 2)", f"{n} = {n}.reshape(B, self.n_head, T, hs)")
          for n in "qkv"], hint="split without transpose(1, 2)"),
    mha("mha-qkv-in-the-wrong-order", (MHA_SPLIT, MHA_SPLIT.replace("q, k, v =", "k, q, v =")),
        hint="q, k, v in the wrong order"),
    mha("mha-no-output-projection", (MHA_PROJ, "out = self.resid_dropout(out)  # (B, T, C)"),
        hint="the output projection is missing"),
    mha("mha-heads-merged-without-transpose", (MHA_MERGE, "out = out.contiguous().view(B, T, C)"),
        hint="without transpose(1, 2)"),
    mha("mha-loop-over-heads", (MHA_ATTENTION, "\n        ".join([
        "heads = []",
        "for h in range(self.n_head):",
        '    wei = (q[:, h] @ k[:, h].transpose(-2, -1) * hs**-0.5).masked_fill(self.tril[:T, :T] == 0, float("-inf"))',
        "    heads.append(self.attn_dropout(F.softmax(wei, dim=-1)) @ v[:, h])",
        "out = torch.stack(heads, dim=1)  # (B, nh, T, hs)"])),
        hint="no Python loop over heads"),
    mha("mha-indivisible-not-checked", (MHA_CHECK, "pass\n")),
    mha("mha-no-attention-dropout", (MHA_DROPOUT, "pass"), hint="dropout on the attention weights"),
    mha("mha-no-residual-dropout", (MHA_PROJ, "out = self.c_proj(out)  # (B, T, C)"),
        hint="out = self.resid_dropout(self.c_proj(out))"),
    mha("mha-sdpa-dropout-also-in-eval", (MHA_ATTENTION,
        "out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout.p, is_causal=True)"),
        hint="off in eval mode"),
    mha("mha-dropout-on-the-scores-before-the-mask", (MHA_DROPOUT, "pass"),
        (MHA_MASK, "wei = self.attn_dropout(wei)\n        " + MHA_MASK), hint="dropout before the softmax"),
    mha("mha-dropout-on-the-scores-after-the-mask", (MHA_DROPOUT, "pass"),
        (MHA_SOFTMAX, "wei = self.attn_dropout(wei)\n        " + MHA_SOFTMAX), hint="dropout before the softmax"),
    mha("mha-tril-not-a-buffer", (MHA_BUFFER, MHA_BUFFER.replace(
        'self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))',
        "self.tril = torch.tril(torch.ones(block_size, block_size))")), hint="register_buffer"),
    mha("mha-masked-fill-not-assigned", (MHA_MASK, MHA_MASK.replace("wei = wei.masked_fill", "wei.masked_fill")),
        hint="masked_fill returns a new tensor"),
    mha("mha-tril-not-sliced", (MHA_MASK, MHA_MASK.replace("self.tril[:T, :T]", "self.tril")), hint="tril[:T, :T]"),

    # Valid alternatives: other correct ways to write the same attention; they keep every point.
    valid("head-sdpa", (HEAD_ATTENTION, "v = self.value(x)  # (B, T, hs)\n        "
          "out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout.p if self.training else 0.0, "
          "is_causal=True)")),
    valid("head-einsum", (HEAD_SCORES, 'wei = torch.einsum("btd,bsd->bts", q, k) * k.shape[-1] ** -0.5'),
          (HEAD_OUT, 'out = torch.einsum("bts,bsd->btd", wei, v)')),
    valid("head-mask-minus-1e9", (HEAD_MASK, HEAD_MASK.replace('float("-inf")', "-1e9"))),
    valid("head-mask-finfo-min", (HEAD_MASK, HEAD_MASK.replace('float("-inf")', "torch.finfo(wei.dtype).min"))),
    valid("head-mask-on-the-fly-without-buffer",
          (HEAD_BUFFER, "self.value = nn.Linear(n_embd, head_size, bias=False)\n"),
          (HEAD_MASK, HEAD_MASK.replace("self.tril[:T, :T]", "torch.tril(torch.ones(T, T, device=x.device))"))),
    valid("head-additive-mask", (HEAD_MASK,
          'wei = wei + torch.full((T, T), float("-inf"), device=x.device).triu(1)')),
    valid("head-functional-dropout", (HEAD_DROPOUT, "wei = F.dropout(wei, self.dropout.p, training=self.training)")),
    valid("mha-sdpa", (MHA_ATTENTION, "out = F.scaled_dot_product_attention(q, k, v, "
          "dropout_p=self.attn_dropout.p if self.training else 0.0, is_causal=True)")),
    valid("mha-einsum", (MHA_SCORES, 'wei = torch.einsum("bhtd,bhsd->bhts", q, k) * hs**-0.5'),
          (MHA_OUT, 'out = torch.einsum("bhts,bhsd->bhtd", wei, v)')),
    valid("mha-mask-minus-1e4", (MHA_MASK, MHA_MASK.replace('float("-inf")', 'float("-1e4")'))),
    valid("mha-mask-on-the-fly-without-buffer",
          (MHA_BUFFER, "self.resid_dropout = nn.Dropout(dropout)\n"),
          (MHA_MASK, MHA_MASK.replace("self.tril[:T, :T]", "torch.tril(torch.ones(T, T, device=x.device))"))),
    valid("mha-chunk-and-reshape", (MHA_SPLIT, "q, k, v = self.c_attn(x).chunk(3, dim=-1)"),
          (MHA_MERGE, "out = out.transpose(1, 2).reshape(B, T, C)")),
]
