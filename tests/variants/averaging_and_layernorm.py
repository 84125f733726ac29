"""Variants of solutions/averaging.py (Exercise 10) and solutions/layernorm.py (Exercise 11).

Broken ones make one mistake each; the hint is text that a failure message must contain (from
grader/checks/test_averaging.py and test_layernorm.py). The valid alternatives (exercise=None) are
other correct ways to write the same thing, which must keep every point.
"""

from . import Variant

# The lines of solutions/averaging.py that the edits replace; each occurs exactly once there.
LOOP_ZEROS = "xbow = torch.zeros_like(x)  # (B, T, C)"
LOOP_PREV = "xprev = x[b, : t + 1]  # (t+1, C)"
LOOP_MEAN = "xbow[b, t] = torch.mean(xprev, 0)  # (C,)"
LOOP_BODY = "\n".join([
    LOOP_ZEROS,
    "    for b in range(B):",
    "        for t in range(T):",
    "            " + LOOP_PREV,
    "            " + LOOP_MEAN,
])
MM_TRIL = "wei = torch.tril(torch.ones(T, T, dtype=x.dtype, device=x.device))  # (T, T)"
MM_NORM = "wei = wei / wei.sum(1, keepdim=True)  # (T, T): each row sums to 1"
MM_OUT = "xbow2 = wei @ x  # (T, T) @ (B, T, C) -> (B, T, C)"
SM_TRIL = "tril = torch.tril(torch.ones(T, T, device=x.device))  # (T, T)"
SM_ZEROS = "wei = torch.zeros(T, T, dtype=x.dtype, device=x.device)  # (T, T)"
SM_MASK = 'wei = wei.masked_fill(tril == 0, float("-inf"))  # (T, T): the future gets -inf'
SM_SOFTMAX = "wei = F.softmax(wei, dim=-1)  # (T, T)"

# The lines of solutions/layernorm.py.
LN_GAMMA = "self.gamma = nn.Parameter(torch.ones(dim))  # (dim,)"
LN_BETA = "self.beta = nn.Parameter(torch.zeros(dim))  # (dim,)"
LN_MEAN = "xmean = x.mean(-1, keepdim=True)  # (..., 1): each row's mean"
LN_VAR = "xvar = x.var(-1, keepdim=True, unbiased=False)  # (..., 1): biased, as nn.LayerNorm"
LN_HAT = "xhat = (x - xmean) / torch.sqrt(xvar + self.eps)  # (..., dim): mean 0, variance 1"
LN_OUT = "out = self.gamma * xhat + self.beta  # (..., dim)"


def averaging(name, *edits, hint=None):
    return Variant(name, "averaging", {"averaging": list(edits)}, hint)


def layernorm(name, *edits, hint=None):
    return Variant(name, "layernorm", {"layernorm": list(edits)}, hint)


def valid(name, module, *edits):
    return Variant(name, None, {module: list(edits)})


VARIANTS = [
    # Exercise 10, version 1 (for loops): one mistake each.
    averaging("avg-loop-sum-not-mean", (LOOP_MEAN, LOOP_MEAN.replace("torch.mean", "torch.sum")),
              hint="the sum of x[b, :t+1], not its mean"),
    averaging("avg-loop-whole-sequence", (LOOP_PREV, "xprev = x[b]  # (T, C)"),
              hint="every position averages the whole sequence (no mask)"),
    averaging("avg-loop-excludes-itself", (LOOP_PREV, "xprev = x[b, :t]  # (t, C)"),
              hint="x[b, :t+1].mean(0)"),
    averaging("avg-loop-lecture-zeros-float32", (LOOP_ZEROS, "xbow = torch.zeros((B, T, C))"),
              hint="torch.zeros_like(x)"),
    # Version 2 (matrix multiply).
    averaging("avg-matmul-rows-not-normalised", (MM_NORM, "pass"), hint="the rows of wei are not normalised"),
    averaging("avg-matmul-triu", (MM_TRIL, MM_TRIL.replace("torch.tril", "torch.triu")),
              hint="the mask is upside down"),
    averaging("avg-matmul-normalised-by-column", (MM_NORM, MM_NORM.replace("sum(1,", "sum(0,")),
              hint="wei is normalised over the wrong dim"),
    averaging("avg-matmul-weights-float32", (MM_TRIL, "wei = torch.tril(torch.ones(T, T, device=x.device))"),
              hint="dtype=x.dtype"),
    averaging("avg-matmul-cumsum-not-matmul", (MM_NORM, "pass"),
              (MM_OUT, "xbow2 = x.cumsum(1) / wei.sum(1, keepdim=True)  # (B, T, C)"),
              hint="averages with a matrix multiply"),
    averaging("avg-matmul-loop-over-t", (MM_OUT, "xbow2 = torch.stack([wei[t] @ x for t in range(T)], dim=1)"),
              hint="no for loop here"),
    # Version 3 (softmax).
    averaging("avg-softmax-masked-with-zero", (SM_MASK, SM_MASK.replace('float("-inf")', "0.0")),
              hint="masked with 0 instead of -inf"),
    averaging("avg-softmax-wrong-dim", (SM_SOFTMAX, SM_SOFTMAX.replace("dim=-1", "dim=0")),
              hint="softmax over the wrong dim"),
    averaging("avg-softmax-mask-after-softmax", (SM_MASK, "pass"),
              (SM_SOFTMAX, SM_SOFTMAX + "\n    wei = wei.masked_fill(tril == 0, 0.0)"),
              hint="the mask was applied after the softmax"),
    averaging("avg-softmax-mask-upside-down", (SM_MASK, SM_MASK.replace("tril == 0", "tril.T == 0")),
              hint="the mask is upside down"),
    averaging("avg-softmax-without-softmax", (SM_MASK, "wei = wei + tril.to(x.dtype)"),
              (SM_SOFTMAX, "wei = wei / wei.sum(-1, keepdim=True)"),
              hint="version 3 makes the weights with a softmax"),
    averaging("avg-softmax-renormalised-after-softmax", (SM_MASK, "pass"),
              (SM_SOFTMAX, "wei = F.softmax(wei, dim=-1).masked_fill(tril == 0, 0.0)\n"
                           "    wei = wei / wei.sum(-1, keepdim=True)"),
              hint="mask the future before the softmax, with -inf"),

    # Exercise 11, LayerNorm1d: one mistake each.
    layernorm("ln-unbiased-variance", (LN_VAR, "xvar = x.var(-1, keepdim=True)"), hint="the variance is unbiased"),
    layernorm("ln-eps-outside-sqrt", (LN_HAT, "xhat = (x - xmean) / (torch.sqrt(xvar) + self.eps)"),
              hint="eps is outside the square root"),
    layernorm("ln-no-eps", (LN_HAT, "xhat = (x - xmean) / torch.sqrt(xvar)"), hint="eps is missing"),
    layernorm("ln-eps-hard-coded", (LN_HAT, LN_HAT.replace("self.eps", "1e-5")), hint="eps is not self.eps"),
    layernorm("ln-gamma-beta-not-applied", (LN_OUT, "out = xhat"), hint="gamma and beta are not applied"),
    layernorm("ln-gamma-beta-swapped", (LN_OUT, "out = self.beta * xhat + self.gamma"),
              hint="gamma and beta are swapped"),
    layernorm("ln-over-dim-1-as-in-the-lecture", (LN_MEAN, LN_MEAN.replace("mean(-1", "mean(1")),
              (LN_VAR, LN_VAR.replace("var(-1", "var(1")), hint="normalised over time (dim 1)"),
    layernorm("ln-over-the-batch", (LN_MEAN, LN_MEAN.replace("mean(-1", "mean(0")),
              (LN_VAR, LN_VAR.replace("var(-1", "var(0")), hint="as BatchNorm does"),
    layernorm("ln-plain-tensors-not-parameters", (LN_GAMMA, "self.gamma = torch.ones(dim)"),
              (LN_BETA, "self.beta = torch.zeros(dim)"), hint="should be an nn.Parameter"),
    layernorm("ln-statistics-detached", (LN_MEAN, "xmean = x.mean(-1, keepdim=True).detach()"),
              hint="the mean and the variance are part of the graph"),
    layernorm("ln-calls-F-layer_norm",
              (LN_OUT, "out = nn.functional.layer_norm(x, x.shape[-1:], self.gamma, self.beta, self.eps)"),
              hint="this exercise is LayerNorm by hand"),

    # Valid alternatives: they keep every point.
    valid("avg-loop-stack", "averaging",
          (LOOP_BODY, "xbow = torch.stack([torch.stack([x[b, : t + 1].mean(0) for t in range(T)]) "
                      "for b in range(B)])")),
    valid("avg-matmul-einsum", "averaging", (MM_OUT, 'xbow2 = torch.einsum("ts,bsc->btc", wei, x)')),
    valid("avg-matmul-bmm", "averaging", (MM_OUT, "xbow2 = torch.bmm(wei.expand(B, T, T), x)")),
    valid("avg-matmul-divide-by-arange", "averaging",
          (MM_NORM, "wei = wei / torch.arange(1, T + 1, dtype=x.dtype, device=x.device).unsqueeze(1)")),
    valid("avg-softmax-where", "averaging", (SM_MASK, 'wei = torch.where(tril == 0, float("-inf"), wei)')),
    valid("avg-softmax-triu-of-minus-inf", "averaging",
          (SM_ZEROS, 'wei = torch.full((T, T), float("-inf"), dtype=x.dtype, device=x.device).triu(1)'),
          (SM_MASK, "pass")),
    valid("avg-softmax-minus-1e9", "averaging", (SM_MASK, SM_MASK.replace('float("-inf")', "-1e9"))),
    valid("avg-softmax-tensor-method-batched", "averaging",
          (SM_ZEROS, "wei = torch.zeros(B, T, T, dtype=x.dtype, device=x.device)  # (B, T, T)"),
          (SM_SOFTMAX, "wei = wei.softmax(dim=-1)")),
    valid("avg-softmax-tril-made-on-the-fly", "averaging", (SM_TRIL, "pass"),
          (SM_MASK, 'wei = wei.masked_fill(torch.ones(T, T, device=x.device).tril() == 0, float("-inf"))')),
    valid("ln-var-mean", "layernorm", (LN_MEAN, "xvar, xmean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)"),
          (LN_VAR, "pass")),
    valid("ln-variance-by-hand", "layernorm", (LN_VAR, "xvar = ((x - xmean) ** 2).mean(-1, keepdim=True)")),
    valid("ln-rsqrt", "layernorm", (LN_HAT, "xhat = (x - xmean) * torch.rsqrt(xvar + self.eps)")),
    valid("ln-correction-0", "layernorm", (LN_VAR, "xvar = x.var(dim=-1, keepdim=True, correction=0)")),
    valid("ln-addcmul", "layernorm", (LN_OUT, "out = torch.addcmul(self.beta, self.gamma, xhat)")),
]
