"""Exercise 11: LayerNorm by hand (01:32:51).

``LayerNorm1d(dim, eps=1e-5)`` normalises over the last dim with the biased variance and eps inside
the square root, then scales by ``gamma`` and shifts by ``beta``: the same as ``nn.LayerNorm(dim)``.
The oracle is ``F.layer_norm`` with the module's own gamma, beta and eps. The exercise is by hand:
``forward`` may not call ``F.layer_norm`` or ``nn.LayerNorm`` (test_written_by_hand), which every
other check would accept.
"""

import pytest
import torch
import torch.nn.functional as F

from grader.oracles.expect import attribute, describe, expect_close, expect_tensor, fail, max_difference
from grader.probes.probe import output_and_gradients, parameter_status, randomize_parameters, record_torch_calls

pytestmark = pytest.mark.layernorm

MODULE = "layernorm"
dim = 16  # C: with 16 features the unbiased variance is 16/15 of the biased one, 3% apart in the output
B, T = 4, 8

# Measured on the reference against F.layer_norm over seeds 0-19 (inputs and parameters as in the checks,
# float32): at most 1.4e-6 on the outputs of test_matches_nn_layernorm, 7.2e-7 in
# test_eps_inside_the_square_root, exactly 0.0 for the constant rows (beta: their values sum exactly in
# float32). The named mistakes, on the same seeds, are off by at least 0.076 where they are meant to show:
# the unbiased variance in test_matches_nn_layernorm (1 - sqrt(15/16) = 3% of outputs up to ~3); eps
# outside the square root, missing, or not self.eps, by at least 0.64 in test_eps_inside_the_square_root
# (at unit scale they are within 6.4e-6 of the right output, which is why that check exists).
# ATOL = 1e-4: 70x above the reference, 760x below the nearest mistake.
ATOL = 1e-4
# The output rows of a new LayerNorm1d (gamma 1, beta 0) over seeds 0-19: means within 5.2e-7 of 0,
# biased variances within 1.6e-4 of 1 (var / (var + eps), rows of variance down to ~0.06). The unbiased
# variance gives 15/16 = 0.9375 (0.0625 off), normalising over time row means up to 1.3. VAR_ATOL = 5e-3:
# 31x above the reference, 12x below the unbiased variance.
MEAN_ATOL, VAR_ATOL = 1e-4, 5e-3
# The gradients in test_gradients_reach_gamma_beta_and_x (rows of standard deviation ~10) over seeds 0-19:
# the reference within 1.9e-6 of F.layer_norm's; eps outside the square root or missing within 2.1e-5
# (judged by test_eps_inside_the_square_root, not here); the mean or the variance detached from the graph
# off by at least 0.049. GRAD_ATOL = 1e-3: 48x above the eps mistakes, 49x below the detached ones.
GRAD_ATOL = 1e-3
# Outputs at other positions when one position's input changes: exactly 0.0 on the reference, seeds 0-19.
# 1e-6 only absorbs the rounding of some other kernel.
OTHERS_ATOL = 1e-6

FORBIDDEN = {"layer_norm", "native_layer_norm", "group_norm", "instance_norm", "batch_norm", "rms_norm"}


def cls(impl):
    return impl.get(MODULE, "LayerNorm1d")


def init_where(impl):
    return impl.where_is("LayerNorm1d.__init__")


def forward_where(impl):
    return impl.where_is("LayerNorm1d.forward")


def random_rows(shape, device, seed=0, scale=None):
    """Rows (over the last dim) of different scales and offsets: z * s + m, s from 0.5 to 8."""
    generator = torch.Generator().manual_seed(seed)
    rows = shape[:-1]
    z = torch.randn(shape, generator=generator)
    if scale is None:
        s = 2.0 ** torch.randint(-1, 4, rows + (1,), generator=generator).float()
        m = torch.randn(rows + (1,), generator=generator)
        return (z * s + m).to(device)
    return (z * scale).to(device)


def parameters_of(ln, impl):
    """``ln.gamma`` and ``ln.beta`` once they are as test_parameters_layout wants (else its failure)."""
    where = init_where(impl)
    gamma, beta = attribute(ln, "gamma", where), attribute(ln, "beta", where)
    for name, p in (("gamma", gamma), ("beta", beta)):
        if not parameter_status(ln, name)[0]:
            fail(what=f"LayerNorm1d.{name} should be an nn.Parameter, so that ln.parameters() (and the optimizer) "
                 f"find it", expected=f"nn.Parameter of shape ({dim},)", got=describe(p), where=where,
                 hint=f"self.{name} = nn.Parameter(torch.{'ones' if name == 'gamma' else 'zeros'}(dim))")
        if tuple(p.shape) != (dim,):
            fail(what=f"LayerNorm1d({dim}).{name} has the wrong shape", expected=(dim,), got=tuple(p.shape),
                 where=where,
                 hint="one scale and one shift per feature: shape (dim,)")
    return gamma, beta


def make_ln(impl, device, eps=None, seed=0, random=True):
    """A LayerNorm1d(dim) with distinct random gamma and beta (unless ``random`` is False)."""
    ln = (cls(impl)(dim) if eps is None else cls(impl)(dim, eps=eps)).to(device)
    parameters_of(ln, impl)
    if random:
        randomize_parameters(ln, seed=seed, std=1.0)
    return ln


def layer_norm(x, ln, eps):
    """The oracle, from the module's own parameters."""
    return F.layer_norm(x, (dim,), ln.gamma.detach(), ln.beta.detach(), eps)


def by_hand(x, gamma, beta, eps, dims=(-1,), unbiased=False, eps_outside=False, center=True):
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=unbiased)
    xhat = ((x - mean) if center else x) / ((var.sqrt() + eps) if eps_outside else (var + eps).sqrt())
    return gamma * xhat + beta


def mistakes(x, ln, eps):
    gamma, beta = ln.gamma.detach(), ln.beta.detach()
    named = {
        "the variance is unbiased (divided by C - 1, the lecture's x.var(1)): nn.LayerNorm divides by C, "
        "x.var(-1, keepdim=True, unbiased=False)": by_hand(x, gamma, beta, eps, unbiased=True),
        "gamma and beta are not applied: return self.gamma * xhat + self.beta":
            by_hand(x, 1.0, 0.0, eps),
        "gamma and beta are swapped: gamma scales, beta shifts (self.gamma * xhat + self.beta)":
            by_hand(x, beta, gamma, eps),
        "eps is outside the square root: torch.sqrt(xvar + self.eps)":
            by_hand(x, gamma, beta, eps, eps_outside=True),
        "the mean is not subtracted: xhat = (x - xmean) / torch.sqrt(xvar + self.eps)":
            by_hand(x, gamma, beta, eps, center=False),
        "normalised over the batch (dim 0), as BatchNorm does: LayerNorm normalises each row over its "
        "features, dim -1": by_hand(x, gamma, beta, eps, dims=(0,)),
    }
    if x.dim() == 3:
        named["normalised over time (dim 1): the lecture's x.mean(1) is for a (B, C) input; on (B, T, C) "
              "dim 1 is time, use dim=-1"] = by_hand(x, gamma, beta, eps, dims=(1,))
    named["eps is missing: torch.sqrt(xvar + self.eps)"] = by_hand(x, gamma, beta, 0.0)
    if eps != 1e-5:
        named["eps is not self.eps: use the eps given to LayerNorm1d(dim, eps)"] = by_hand(x, gamma, beta, 1e-5)
    return named


def test_parameters_layout(impl, device):
    """gamma = nn.Parameter(torch.ones(dim)), beta = nn.Parameter(torch.zeros(dim)), both among
    ln.parameters(); self.eps is the eps given (1e-5 by default)."""
    where = init_where(impl)
    ln = make_ln(impl, device, random=False)
    gamma, beta = parameters_of(ln, impl)
    missing = [name for name in ("gamma", "beta") if not parameter_status(ln, name)[1]]
    if missing:
        fail(what="LayerNorm1d(dim).parameters()", expected="gamma and beta among them",
             got=f"{' and '.join(missing)} not among them",
             where=where, hint="assign them as attributes of the module after super().__init__()")
    if not bool((gamma.detach() == 1).all()) or not bool((beta.detach() == 0).all()):
        fail(what=f"a new LayerNorm1d({dim})'s gamma and beta", expected="gamma all ones, beta all zeros",
             got=f"gamma {gamma.detach().flatten()[:4].tolist()}..., beta {beta.detach().flatten()[:4].tolist()}...",
             where=where, hint="start as the identity: gamma = ones (scale 1), beta = zeros (shift 0)")
    for args, expected in (((), 1e-5), ((1e-3,), 1e-3)):
        got = getattr(cls(impl)(dim, *args), "eps", None)
        if not isinstance(got, (int, float)) or got != expected:
            fail(what=f"LayerNorm1d({', '.join(map(str, (dim,) + args))}).eps", expected=expected, got=describe(got),
                 where=where,
                 hint="store the eps argument: self.eps = eps")


def test_output_shape_dtype_device(impl, device):
    """A (B, T, C) input and a (B, C) input both come back with their shape, float32, on their device."""
    ln = make_ln(impl, device)
    for shape in ((B, T, dim), (B, dim)):
        x = random_rows(shape, device)
        expect_tensor(ln(x), f"LayerNorm1d({dim})(x) for x of shape {shape}", forward_where(impl), shape=shape,
                      dtype=torch.float32, device=device)


@pytest.mark.parametrize("shape", [(B, T, dim), (B, dim)], ids=["(B,T,C)", "(B,C)"])
def test_matches_nn_layernorm(impl, device, shape):
    """With the same random gamma and beta, LayerNorm1d(dim)(x) equals nn.LayerNorm(dim) (F.layer_norm),
    for rows of different scales and offsets; a known mistake is named."""
    ln = make_ln(impl, device)
    x = random_rows(shape, device, seed=1)
    with torch.no_grad():
        got = ln(x)
    expect_close(got, layer_norm(x, ln, 1e-5), f"LayerNorm1d({dim})(x) for x of shape {shape}", forward_where(impl),
                 atol=ATOL, mistakes=mistakes(x, ln, 1e-5),
                 hint="xhat = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) "
                      "+ self.eps); return self.gamma * xhat + self.beta")


def test_rows_have_mean_0_and_variance_1(impl, device):
    """With gamma = 1 and beta = 0 (a new module), every output row (over the last dim) has mean 0 and
    variance 1 (the biased variance, as nn.LayerNorm's output)."""
    ln = make_ln(impl, device, random=False)
    x = random_rows((B, T, dim), device, seed=2)
    with torch.no_grad():
        out = expect_tensor(ln(x), f"LayerNorm1d({dim})(x)", forward_where(impl), shape=(B, T, dim))
    mean = out.mean(-1).abs().max().item()
    if not mean <= MEAN_ATOL:
        fail(what="the largest mean of an output row over its last dim (gamma = 1, beta = 0)", expected="0",
             got=f"{mean:.3g}", where=forward_where(impl),
             hint="subtract each row's own mean, x.mean(-1, keepdim=True): on (B, T, C) the lecture's dim 1 is time")
    var = out.var(-1, unbiased=False)
    off = (var - 1).abs().max().item()
    if not off <= VAR_ATOL:
        unbiased = (var - (dim - 1) / dim).abs().max().item() <= VAR_ATOL
        fail(what="the variance of the output rows over their last dim (gamma = 1, beta = 0)",
             expected="1 for every row",
             got=f"{var.min().item():.4g} to {var.max().item():.4g}", where=forward_where(impl),
             hint=f"the variance is unbiased: (C-1)/C = {(dim - 1) / dim:.4g} comes out when xvar divides by C - 1 "
             f"(the lecture's x.var(1)); nn.LayerNorm uses x.var(-1, keepdim=True, unbiased=False)" if unbiased
             else "divide by torch.sqrt(xvar + self.eps), xvar the variance of each row over the last dim")


def test_normalises_each_position_on_its_own(impl, device):
    """Changing the input at one position (in every sequence) changes the output there only, and
    changing one sequence leaves the others alone: each (b, t) row is normalised over its own C features,
    not over time (dim 1) or over the batch."""
    ln = make_ln(impl, device)
    where = forward_where(impl)
    x = random_rows((B, T, dim), device, seed=3)
    t, b = 3, 1
    other = random_rows((B, T, dim), device, seed=4)
    at_t, at_b = x.clone(), x.clone()
    at_t[:, t] = other[:, t]
    at_b[b] = other[b]
    with torch.no_grad():
        out, out_t, out_b = ln(x), ln(at_t), ln(at_b)
    expect_tensor(out, f"LayerNorm1d({dim})(x)", where, shape=(B, T, dim))
    others = [s for s in range(T) if s != t]
    moved = max_difference(out[:, others], out_t[:, others])
    if not moved <= OTHERS_ATOL:
        fail(what=f"how much the outputs at other positions move when only position {t}'s input changes",
             expected="0 (each position is normalised over its own features)", got=f"{moved:.3g}", where=where,
             hint="normalised over time (dim 1): the lecture's x.mean(1) and x.var(1) are for a (B, C) input; "
             "on (B, T, C) use dim=-1")
    if max_difference(out[:, t], out_t[:, t]) == 0:
        fail(what=f"the output at position {t} when its input changes", expected="a different output",
             got="the same output", where=where)
    rest = [s for s in range(B) if s != b]
    moved = max_difference(out[rest], out_b[rest])
    if not moved <= OTHERS_ATOL:
        fail(what=f"how much the other sequences' outputs move when only sequence {b} changes", expected="0",
             got=f"{moved:.3g}",
             where=where,
             hint="normalised over the batch (dim 0), as BatchNorm does: LayerNorm normalises each row over "
                    "its features, dim -1")


def test_eps_inside_the_square_root(impl, device):
    """eps is added to the variance inside the square root, and it is self.eps: rows whose variance
    (1e-6) is below eps = 1e-5 match F.layer_norm, and so does LayerNorm1d(dim, eps=1e-2) on rows of
    variance 1e-2."""
    for eps, scale in ((None, 1e-3), (1e-2, 0.1)):
        ln = make_ln(impl, device, eps=eps)
        x = random_rows((B, T, dim), device, seed=5, scale=scale)
        value = 1e-5 if eps is None else eps
        with torch.no_grad():
            got = ln(x)
        expect_close(got, layer_norm(x, ln, value),
                     f"LayerNorm1d({dim}{'' if eps is None else f', eps={eps}'})(x) for rows of standard "
                     f"deviation {scale}", forward_where(impl), atol=ATOL, mistakes=mistakes(x, ln, value),
                     hint="xhat = (x - xmean) / torch.sqrt(xvar + self.eps)")


def test_constant_row_gives_beta_not_nan(impl, device):
    """A row whose features are all equal (variance 0) comes out as beta, with no NaN: eps inside the
    square root keeps 0 / sqrt(0 + eps) = 0. (The values are exact in float32, so x - xmean is exactly 0.)"""
    ln = make_ln(impl, device)
    x = random_rows((B, T, dim), device, seed=6)
    for (b, t), value in zip([(0, 0), (1, 5), (3, 7), (2, 2)], (0.0, 3.0, -2.5, 0.375)):
        x[b, t] = value
    with torch.no_grad():
        out = expect_tensor(ln(x), f"LayerNorm1d({dim})(x)", forward_where(impl), shape=(B, T, dim))
    constant = out[[0, 1, 3, 2], [0, 5, 7, 2]]
    diff = max_difference(constant, ln.beta.detach().expand(4, dim))
    if not diff <= ATOL:
        fail(what="LayerNorm1d's output for rows whose features are all equal (0.0, 3.0, -2.5, 0.375: variance 0)",
             expected="beta in every such row (xhat = 0)",
             got="NaN or inf values" if not bool(torch.isfinite(constant).all()) else f"values off by up to {diff:.3g}",
             where=forward_where(impl),
             hint="a constant row has variance 0: add self.eps inside the square root, torch.sqrt(xvar + self.eps), "
             "so that 0 / sqrt(0 + eps) = 0 and the output is beta")


def test_gradients_reach_gamma_beta_and_x(impl, device):
    """After a backward pass, gamma, beta and x have the gradients that F.layer_norm gives them: the
    parameters are used in forward (not replaced by constants), and the mean and variance stay in the
    graph."""
    ln = make_ln(impl, device)
    where = forward_where(impl)
    # Rows of standard deviation ~10, so that where eps sits hardly moves the gradients (GRAD_ATOL):
    # this check judges the graph; test_eps_inside_the_square_root judges eps.
    x = random_rows((B, T, dim), device, seed=7, scale=10.0)
    w = torch.randn((B, T, dim), generator=torch.Generator().manual_seed(8)).to(device)  # d loss / d out
    parameters_of(ln, impl)
    out, in_graph, grads = output_and_gradients(ln, x, w, ("gamma", "beta"))
    expect_tensor(out, f"LayerNorm1d({dim})(x)", where, shape=(B, T, dim))
    if not in_graph:
        fail(what="LayerNorm1d(x) for x that requires grad", expected="an output in the autograd graph", got="no graph",
             where=where,
             hint="compute with torch operations on x, self.gamma and self.beta (no .detach(), no torch.no_grad())")
    expect_close(out, layer_norm(x.detach(), ln, 1e-5), f"LayerNorm1d({dim})(x), before its gradients",
                 where, atol=ATOL, hint="the output is off already: test_matches_nn_layernorm names the mistake, "
                                        "and the gradients follow once the output is right")
    x2 = x.detach().clone().requires_grad_(True)
    g2, b2 = ln.gamma.detach().clone().requires_grad_(True), ln.beta.detach().clone().requires_grad_(True)
    (F.layer_norm(x2, (dim,), g2, b2, 1e-5) * w).sum().backward()
    for name, expected in (("gamma", g2.grad), ("beta", b2.grad), ("x", x2.grad)):
        got = grads.get(name)
        if got is None:
            fail(what=f"the gradient of LayerNorm1d.{name}" if name != "x" else "the gradient of the input x",
                 expected="a gradient", got="None", where=where,
                 hint=f"use self.{name} in forward: self.gamma * xhat + self.beta" if name != "x"
                 else "keep the computation in the graph (no .detach(), no torch.no_grad())")
        expect_close(got, expected, f"the gradient of {'LayerNorm1d.' if name != 'x' else 'the input '}{name}",
                     where, atol=GRAD_ATOL,
                     hint="the mean and the variance are part of the graph: no .detach() or .item() on them")


def test_written_by_hand(impl, device):
    """forward computes the mean, the variance and the normalisation itself: it calls neither
    F.layer_norm nor nn.LayerNorm (nor another norm of torch's)."""
    ln = make_ln(impl, device)
    x = random_rows((B, T, dim), device)
    used = sorted(FORBIDDEN & set(record_torch_calls(ln, x)["names"]))
    if used:
        fail(what="the torch functions LayerNorm1d.forward calls",
             expected="mean, var, sqrt and arithmetic: LayerNorm by hand",
             got=f"{', '.join(used)}", where=forward_where(impl),
             hint="this exercise is LayerNorm by hand: compute xmean, xvar and xhat yourself instead of calling "
             "F.layer_norm or nn.LayerNorm")
