"""The grader's own causal self-attention, computed from a module's weights with torch primitives.

``head_oracle`` recomputes ``Head(x)`` from ``head.key/query/value.weight``; ``mha_oracle`` recomputes
``MultiHeadAttention(x)`` as ``n_head`` single heads, head h built from rows ``[h*hs:(h+1)*hs]`` of the
q, k and v blocks of ``c_attn.weight``, concatenated in order, then ``c_proj``. Neither imports a
student's code or ``solutions/``.

Both take switches that reproduce the known mistakes, so a check can say which one a wrong output
matches (``expect.name_the_mistake``): the scale, the mask, the softmax dim, and for the fused module the
order of q, k, v, the head layout, the merge and the output projection. Eval mode only: dropout is
checked separately in train mode.
"""

import itertools

import torch
import torch.nn.functional as F

from grader.oracles.expect import expect_close, fail, max_difference, name_the_mistake
from grader.probes.probe import plain_tensor_attributes

# Hints for the named mistakes; the checks and the kit's broken variants quote them.
SCALED_BY_N_EMBD = ("scaled by n_embd instead of head_size: the lecture corrects this at 01:20:05, "
                    "scale by head_size**-0.5")
NOT_SCALED = "the scores are not scaled: multiply q @ k^T by head_size**-0.5 (01:16:56, scaled attention)"
SCALED_BY_ONE_OVER_HEAD_SIZE = "the scores are divided by head_size: multiply them by head_size**-0.5"
# A masked_fill whose result is not assigned gives exactly this output too: masked_fill returns a new
# tensor and leaves wei as it was, so the hint names both.
NO_MASK = ("no causal mask, or a masked_fill whose result is not assigned (masked_fill returns a new tensor: "
           "assign it, wei = wei.masked_fill(tril[:T, :T] == 0, float('-inf')), before the softmax)")
MASK_UPSIDE_DOWN = "the mask hides the past instead of the future: mask where tril[:T, :T] == 0"
MASK_AFTER_SOFTMAX_ZERO = ("mask applied after the softmax (future set to 0): the weights of a row no longer "
                           "sum to 1; mask with -inf before the softmax")
MASK_AFTER_SOFTMAX_INF = ("mask applied after the softmax (future set to -inf): -inf times v gives NaN; "
                          "mask with -inf before the softmax")
NO_SOFTMAX = ("no softmax: the masked scores are used as weights (-inf for the future gives NaN); normalise "
              "them after the mask, wei = F.softmax(wei, dim=-1)")
SOFTMAX_OVER_QUERIES = ("softmax over the wrong dim (over the queries t): normalise over the last dim, "
                        "F.softmax(wei, dim=-1)")
SOFTMAX_OVER_HEADS = ("softmax over the wrong dim (over the heads): normalise over the last dim, "
                      "F.softmax(wei, dim=-1)")
K_Q_SWAPPED = "the scores are k @ q^T: compute q @ k.transpose(-2, -1), so row t holds query t"
QKV_ORDER = ("q, k, v in the wrong order in the split: the output of c_attn is [q | k | v], "
             "q, k, v = self.c_attn(x).split(self.n_embd, dim=2)")
HEADS_INTERLEAVED = ("heads interleaved: head h is the h-th consecutive chunk of head_size features, "
                     "view(B, T, n_head, head_size), not view(B, T, head_size, n_head)")
HEADS_SPLIT_WITHOUT_TRANSPOSE = ("the heads are split without transpose(1, 2): view(B, n_head, T, head_size) "
                                 "mixes positions into the heads; split with view(B, T, n_head, head_size)"
                                 ".transpose(1, 2)")
HEADS_MERGED_WITHOUT_TRANSPOSE = ("the heads are put back without transpose(1, 2): "
                                  "out.transpose(1, 2).contiguous().view(B, T, C) puts them side by side")
NO_C_PROJ = "the output projection is missing: out = self.resid_dropout(self.c_proj(out))"
FUTURE_LEAKS = ("position t may only see positions <= t: set the scores where s > t to -inf before the softmax "
                "(wei = wei.masked_fill(tril[:T, :T] == 0, float('-inf'))), then softmax over the last dim")
NOT_FINITE = "NaN or inf in the output: mask with -inf before the softmax, never after it"
MASK_ONLY_THE_FUTURE = "mask only the future (s > t): wei = wei.masked_fill(tril[:T, :T] == 0, float('-inf'))"
FUTURE_GRADIENT = "mask the scores with -inf before the softmax, so the future gets weight 0 and gradient 0"
def not_a_buffer(name):
    """The hint for a mask kept as a plain tensor attribute ``name`` (self.tril = torch.tril(...))."""
    return (f"self.{name} is a plain tensor attribute, not a buffer: .to(device) does not move it (the model "
            f"then fails on a GPU); make it with self.register_buffer(\"{name}\", torch.tril(...))")


TRIL_NOT_SLICED = ("the mask is block_size x block_size but this sequence is shorter (T < block_size): slice "
                   "it to the sequence, wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))")


def dropout_before_softmax(dropout):
    """The hint for dropout on the scores; ``dropout`` is the module's name for it (self.dropout)."""
    return (f"dropout before the softmax: on the scores it turns a masked -inf into NaN (-inf * 0), or the "
            f"softmax makes the kept weights sum to 1 again; apply it to the weights after the softmax, "
            f"wei = {dropout}(wei)")


def expect_finite_in_training(got, in_eval, what, where, dropout):
    """Train mode gives finite values: dropout on the masked scores turns -inf * 0 into NaN, which only
    train mode shows. Where eval mode (``in_eval``, the same input) is not finite either, the mistake is
    not the dropout's, and the hint says so."""
    if type(got) is torch.Tensor and not torch.isfinite(got).all():
        eval_finite = type(in_eval) is torch.Tensor and torch.isfinite(in_eval).all()
        fail(what=what, expected="finite values",
             got=f"NaN or inf in {int((~torch.isfinite(got)).sum())} of {got.numel()} values",
             where=where, hint=dropout_before_softmax(dropout) if eval_finite else NOT_FINITE)


def call_at(module, x, what, where, block_size):
    """``module(x)``; torch's size mismatch at T < block_size is named: a mask not sliced to T."""
    try:
        return module(x)
    except RuntimeError as error:
        hint = mask_not_sliced(error, x.shape[1], block_size)
        if hint is None:
            raise
        fail(what=f"{what}: a sequence shorter than block_size={block_size}",
             expected="an output for any T <= block_size",
             got=f"RuntimeError: {error}", where=where, hint=hint)


def expect_tril_buffer(module, name, where):
    """A mask kept on the module (the lecture's ``tril``, or under any other name) is a registered buffer:
    .to(device) moves buffers, not plain tensor attributes. A mask made in forward needs none."""
    plain = plain_tensor_attributes(module)
    if plain:
        fail(what=f"{name}.{plain[0]} is not among named_buffers()", expected=f"{plain[0]} registered as a buffer",
             got="a plain tensor attribute", where=where, hint=not_a_buffer(plain[0]))


def mask_not_sliced(error, T, block_size):
    """TRIL_NOT_SLICED when ``error`` (what a call at T < block_size raised) is torch's size mismatch
    between a (T, T) tensor and a (block_size, block_size) one, else None."""
    message = str(error)
    if T < block_size and isinstance(error, RuntimeError) and "must match the size" in message and \
            f"({T})" in message and f"({block_size})" in message:
        return TRIL_NOT_SLICED
    return None


def causal_mask(T, device):
    """(T, T) bool, True where s > t: the future that position t must not see."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def attention(q, k, v, scale, mask="before", softmax_dim=-1, scores="qk"):
    """Causal attention over the last two dims of q, k, v (..., T, hs), with switches for mistakes.

    mask: "before" (right), "none", "upside_down" (hides the past), "after_zero", "after_inf";
    softmax_dim: -1 (right), -2 (over the queries) or any other dim of the scores, None for no softmax;
    scores: "qk" (right, q @ k^T) or "kq" (k @ q^T).
    """
    T = q.shape[-2]
    wei = q @ k.transpose(-2, -1) if scores == "qk" else k @ q.transpose(-2, -1)
    wei = wei * scale
    future = causal_mask(T, q.device)
    if mask == "before":
        wei = wei.masked_fill(future, float("-inf"))
    elif mask == "upside_down":
        wei = wei.masked_fill(future.T, float("-inf"))  # triu instead of tril: s < t hidden
    wei = wei if softmax_dim is None else F.softmax(wei, dim=softmax_dim)
    if mask == "after_zero":
        wei = wei.masked_fill(future, 0.0)
    elif mask == "after_inf":
        wei = wei.masked_fill(future, float("-inf"))
    return wei @ v


def _scale(kind, head_size, n_embd):
    """The factor on the scores: right (head_size**-0.5), or one of the known wrong ones."""
    factors = {"head_size": head_size**-0.5, "n_embd": n_embd**-0.5, "none": 1.0, "one_over_head_size": 1 / head_size}
    return factors[kind]


@torch.no_grad()
def head_oracle(head, x, head_size, scale="head_size", mask="before", softmax_dim=-1, scores="qk"):
    """``Head(x)`` in eval mode from ``head``'s own key, query and value weights; x is (B, T, C). The
    scale comes from the check's ``head_size``, never from the weights' shapes (the submission's word)."""
    Wk, Wq, Wv = head.key.weight, head.query.weight, head.value.weight  # (hs, C) each
    k, q, v = x @ Wk.T, x @ Wq.T, x @ Wv.T  # (B, T, hs)
    return attention(q, k, v, _scale(scale, head_size, x.shape[-1]), mask, softmax_dim, scores)


def head_mistakes(head, x, head_size):
    """{hint: the output of Head(x) with that mistake}, from the same weights."""
    def wrong(**mistake):
        return head_oracle(head, x, head_size, **mistake)

    return {
        SCALED_BY_N_EMBD: wrong(scale="n_embd"),
        NOT_SCALED: wrong(scale="none"),
        SCALED_BY_ONE_OVER_HEAD_SIZE: wrong(scale="one_over_head_size"),
        NO_MASK: wrong(mask="none"),
        MASK_UPSIDE_DOWN: wrong(mask="upside_down"),
        MASK_AFTER_SOFTMAX_ZERO: wrong(mask="after_zero"),
        MASK_AFTER_SOFTMAX_INF: wrong(mask="after_inf"),
        SOFTMAX_OVER_QUERIES: wrong(softmax_dim=-2),
        NO_SOFTMAX: wrong(softmax_dim=None),
        K_Q_SWAPPED: wrong(scores="kq"),
    }


@torch.no_grad()
def mha_oracle(mha, x, n_head):
    """``MultiHeadAttention(x)`` in eval mode as n_head single heads built from slices of its weights.

    Head h uses rows [h*hs:(h+1)*hs] of the q, k and v blocks of c_attn.weight ([q | k | v] along
    dim 0); the heads' outputs are concatenated in order and go through c_proj.
    """
    C = x.shape[-1]
    hs = C // n_head
    Wq, Wk, Wv = mha.c_attn.weight.split(C, dim=0)  # (C, C) each
    heads = []
    for h in range(n_head):
        rows = slice(h * hs, (h + 1) * hs)
        q, k, v = x @ Wq[rows].T, x @ Wk[rows].T, x @ Wv[rows].T  # (B, T, hs)
        heads.append(attention(q, k, v, hs**-0.5))
    return F.linear(torch.cat(heads, dim=-1), mha.c_proj.weight, mha.c_proj.bias)


@torch.no_grad()
def mha_fused(mha, x, n_head, scale="head_size", mask="before", softmax_dim=-1, order="qkv",
              split="chunks", merge="transpose", project=True):
    """The fused computation with a mistake switched on (for naming mistakes, not as the oracle).

    order: which block of c_attn the code calls q, k, v ("kqv": the first block is taken as k);
    split: "chunks" (right, view(B, T, nh, hs).transpose(1, 2)), "interleaved" (view(B, T, hs, nh)
    .permute(0, 3, 1, 2)), "swapped" (view(B, T, hs, nh).transpose(1, 2): hs heads of nh features),
    "no_transpose" (view(B, nh, T, hs) straight from (B, T, C): positions mixed into the heads);
    merge: "transpose" (right, transpose(1, 2).view(B, T, C)), "interleaved" (the inverse of the
    interleaved split), "no_transpose" (view(B, T, C) straight from (B, nh, T, hs));
    project: whether c_proj is applied.
    """
    B, T, C = x.shape
    hs = C // n_head
    blocks = dict(zip(order, (x @ mha.c_attn.weight.T).split(C, dim=-1)))
    views = {
        "chunks": lambda t: t.view(B, T, n_head, hs).transpose(1, 2),
        "interleaved": lambda t: t.view(B, T, hs, n_head).permute(0, 3, 1, 2),
        "swapped": lambda t: t.view(B, T, hs, n_head).transpose(1, 2),
        "no_transpose": lambda t: t.reshape(B, n_head, T, hs),
    }
    q, k, v = (views[split](blocks[name]) for name in "qkv")
    out = attention(q, k, v, _scale(scale, hs, C), mask, softmax_dim)
    merges = {
        "transpose": lambda o: o.transpose(1, 2).reshape(B, T, C),
        "interleaved": lambda o: o.permute(0, 2, 3, 1).reshape(B, T, C),
        "no_transpose": lambda o: o.reshape(B, T, C),
    }
    out = merges[merge](out)
    return F.linear(out, mha.c_proj.weight, mha.c_proj.bias) if project else out


def mha_mistakes(mha, x, n_head):
    """{hint: the output of MultiHeadAttention(x) with that mistake}, from the same weights."""
    wrong_orders = ["".join(p) for p in itertools.permutations("qkv") if "".join(p) != "qkv"]
    return {
        SCALED_BY_N_EMBD: mha_fused(mha, x, n_head, scale="n_embd"),
        NOT_SCALED: mha_fused(mha, x, n_head, scale="none"),
        SCALED_BY_ONE_OVER_HEAD_SIZE: mha_fused(mha, x, n_head, scale="one_over_head_size"),
        NO_MASK: mha_fused(mha, x, n_head, mask="none"),
        MASK_UPSIDE_DOWN: mha_fused(mha, x, n_head, mask="upside_down"),
        MASK_AFTER_SOFTMAX_ZERO: mha_fused(mha, x, n_head, mask="after_zero"),
        MASK_AFTER_SOFTMAX_INF: mha_fused(mha, x, n_head, mask="after_inf"),
        SOFTMAX_OVER_QUERIES: mha_fused(mha, x, n_head, softmax_dim=-2),
        NO_SOFTMAX: mha_fused(mha, x, n_head, softmax_dim=None),
        SOFTMAX_OVER_HEADS: mha_fused(mha, x, n_head, softmax_dim=1),
        NO_C_PROJ: mha_fused(mha, x, n_head, project=False),
        HEADS_MERGED_WITHOUT_TRANSPOSE: mha_fused(mha, x, n_head, merge="no_transpose"),
        **{QKV_ORDER: [mha_fused(mha, x, n_head, order=order) for order in wrong_orders]},
        **{HEADS_SPLIT_WITHOUT_TRANSPOSE: [mha_fused(mha, x, n_head, split="no_transpose"),
                                           mha_fused(mha, x, n_head, split="no_transpose", merge="no_transpose")]},
        **{HEADS_INTERLEAVED: [mha_fused(mha, x, n_head, split="interleaved"),
                               mha_fused(mha, x, n_head, split="interleaved", merge="interleaved"),
                               mha_fused(mha, x, n_head, split="swapped")]},
    }


def expect_matches(got, expected, what, where, *, mistakes, picture, atol):
    """``got`` equals ``expected``, the grader's attention from the same weights, within ``atol``
    (expect_close). Only a failure pays for the name of the mistake (``mistakes()``: {hint: output}, see
    head_mistakes) and for the picture (``picture()``)."""
    hint = drawn = None
    if max_difference(got, expected) > atol:
        hint = name_the_mistake(got, mistakes(), atol, NOT_FINITE)
        drawn = picture()
    expect_close(got, expected, what, where, atol=atol, hint=hint, picture=drawn)
