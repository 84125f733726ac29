"""Exercise 10: the mathematical trick in self-attention, averaging the past three ways (00:42:13).

Each version maps x (B, T, C) to out (B, T, C) with out[b, t] = the mean of x[b, 0..t]. The grader's
oracle is a cumulative sum divided by the counts 1..T, in float64; the named mistakes are the same
averages with the wrong (T, T) weights. Whether versions 2 and 3 use the lecture's method (one matrix
multiply; a softmax of scores masked with -inf) is seen by recording the torch calls they make.
"""

import pytest
import torch

from grader.oracles import causality
from grader.oracles.expect import expect_tensor, fail, max_difference, name_the_mistake
from grader.probes.probe import record_torch_calls

pytestmark = pytest.mark.averaging

MODULE = "averaging"
LOOP, MATMUL, SOFTMAX = "average_past_loop", "average_past_matmul", "average_past_softmax"
VERSIONS = (LOOP, MATMUL, SOFTMAX)
VERSION_IDS = ["version1-loop", "version2-matmul", "version3-softmax"]
B, T, C = 4, 8, 2  # the lecture's x = torch.randn(B, T, C)

# The reference (float32) against the float64 oracle, over seeds 0-19 at the shapes of these checks
# ((4, 8, 2), (2, 13, 5), (2, 32, 3)): at most 1.2e-7 for each of the three versions. Every named mistake
# is off by at least 0.76 on the same inputs (the mask after the softmax, weights 1/T). ATOL = 1e-5 leaves
# a margin of 80x on one side and 76,000x on the other.
ATOL = 1e-5
# Causal averages do not move the past at all: the reference gives exactly 0.0 for every version, t and
# seed 0-19 (the future's weights are exact zeros). 1e-6 only absorbs the rounding of some other kernel.
FUTURE_ATOL = 1e-6

# What counts as a matrix multiply (the lecture's @ and its equivalents) and as a softmax, by the name
# of the torch function called (``wei @ x`` is recorded as matmul).
MATRIX_MULTIPLIES = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "einsum", "tensordot", "baddbmm",
                     "addmm", "addbmm", "linear"}
SOFTMAXES = {"softmax", "_softmax"}


def version(impl, name):
    return impl.get(MODULE, name)


def random_x(shape, device, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)


def weights(T, kind):
    """(T, T) float64 weights: row t says how much of x[:, s] goes into out[:, t]."""
    tril = torch.tril(torch.ones(T, T, dtype=torch.float64))
    if kind == "mean":
        return tril / tril.sum(1, keepdim=True)
    if kind == "sum":
        return tril
    if kind == "whole":
        return torch.full((T, T), 1.0 / T, dtype=torch.float64)
    if kind == "future":
        triu = tril.T
        return triu / triu.sum(1, keepdim=True)
    if kind == "columns":
        return tril / tril.sum(0, keepdim=True)
    if kind == "over_T":
        return tril / T
    raise ValueError(kind)


def apply(wei, x):
    return (wei.to(x.device) @ x.double()).to(x.dtype)


def running_mean(x):
    """The oracle: out[:, t] = (x[:, 0] + ... + x[:, t]) / (t + 1), from a cumulative sum in float64."""
    counts = torch.arange(1, x.shape[1] + 1, dtype=torch.float64, device=x.device).view(1, -1, 1)
    return (x.double().cumsum(1) / counts).to(x.dtype)


# kind -> {version: the hint}; the first hint that matches the student's output is shown.
MISTAKES = {
    "sum": {
        LOOP: "out[b, t] is the sum of x[b, :t+1], not its mean: use .mean(0) (or divide by t + 1)",
        MATMUL: "the rows of wei are not normalised, so wei @ x sums the past instead of averaging it: "
                "wei = wei / wei.sum(1, keepdim=True)",
        SOFTMAX: "the weights are not normalised, so the past is summed instead of averaged: "
                 "F.softmax(wei, dim=-1) makes each row sum to 1",
    },
    "whole": {
        LOOP: "every position averages the whole sequence (no mask): average x[b, :t+1], not x[b]",
        MATMUL: "every position averages the whole sequence (no mask): start from "
                "wei = torch.tril(torch.ones(T, T))",
        SOFTMAX: "every position averages the whole sequence: the future is not masked, or masked with 0 "
                 "instead of -inf (softmax gives a score of 0 as much weight as the past): "
                 "wei = wei.masked_fill(tril == 0, float('-inf'))",
    },
    "future": {
        LOOP: "the mask is upside down: position t averages the future x[b, t:] instead of the past "
              "x[b, :t+1]",
        MATMUL: "the mask is upside down: wei averages the future (torch.triu, or a transposed tril) "
                "instead of the past: torch.tril(torch.ones(T, T))",
        SOFTMAX: "the mask is upside down: the past is masked and the future averaged; mask where "
                 "tril == 0 (tril = torch.tril(torch.ones(T, T)))",
    },
    "columns": {
        LOOP: "the weights are normalised by column: position t divides by T - s instead of t + 1",
        MATMUL: "wei is normalised over the wrong dim: each row must sum to 1, wei.sum(1, keepdim=True), "
                "not wei.sum(0)",
        SOFTMAX: "softmax over the wrong dim: each row of wei must sum to 1, F.softmax(wei, dim=-1), "
                 "not dim=0",
    },
    "over_T": {
        LOOP: "out[b, t] is divided by T instead of t + 1: take the mean of x[b, :t+1]",
        MATMUL: "every row of wei is divided by T: divide each row by its own sum, wei.sum(1, keepdim=True)",
        SOFTMAX: "the past gets weight 1/T: the mask was applied after the softmax; mask the scores with "
                 "-inf before F.softmax",
    },
}

HINTS = {
    LOOP: "xbow[b, t] = x[b, :t+1].mean(0), for every b and t",
    MATMUL: "wei = torch.tril(torch.ones(T, T)); wei = wei / wei.sum(1, keepdim=True); return wei @ x",
    SOFTMAX: "wei = torch.zeros(T, T).masked_fill(tril == 0, float('-inf')); "
             "return F.softmax(wei, dim=-1) @ x",
}


def mistakes(x, name):
    T = x.shape[1]
    return {hints[name]: apply(weights(T, kind), x) for kind, hints in MISTAKES.items()}


RUNNING_MEAN = "the mean of x[:, 0..t] at every position t (a cumulative sum of x divided by 1, 2, ..., T)"


def expect_averages(got, x, what, name, impl, hint=None, positions=slice(None), wanted=RUNNING_MEAN):
    """``got`` is the running mean of x (at ``positions``); on failure, a known mistake is named."""
    expected = running_mean(x)[:, positions]
    expect_tensor(got, what, impl.where_is(name), shape=expected.shape)
    diff = max_difference(got, expected)
    if diff <= ATOL:
        return
    # At position 0 alone several mistakes look alike, so the caller's hint speaks for them there.
    candidates = {h: wrong[:, positions] for h, wrong in mistakes(x, name).items()} if hint is None else {}
    finite = bool(torch.isfinite(got).all())
    got_text = f"values off by up to {diff:.3g} (allowed {ATOL:g})" if finite else "NaN or inf values"
    fail(what=f"{what} is not what it should be", expected=wanted, got=got_text, where=impl.where_is(name),
         hint=name_the_mistake(got, candidates, ATOL) or hint or HINTS[name])


def call(fn, x, what, name, impl):
    """``fn(x)``; an error from inside it (a dtype or device mismatch, mostly) is a failure that says so."""
    try:
        return fn(x)
    except NotImplementedError:
        raise
    except (RuntimeError, TypeError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        # Only an error about dtypes or devices gets that hint; any other says itself what went wrong.
        about_types = any(word in str(exc) for word in ("dtype", "device", "Double", "Float", "Half"))
        fail(what=f"{what} raised {error.splitlines()[0]}", expected="a tensor like x", got=error,
             where=impl.where_is(name),
             hint="make every new tensor on x's device and in x's dtype, e.g. "
             "torch.ones(T, T, dtype=x.dtype, device=x.device), or torch.zeros_like(x)" if about_types else
             "average over time, dim 0 of x[b, :t+1] (dim 1 of x), never over the channels")


@pytest.mark.parametrize("name", VERSIONS, ids=VERSION_IDS)
def test_output_shape_dtype_device(impl, device, name):
    """Each version maps (B, T, C) to (B, T, C) on x's device, in x's dtype: float32 and float64."""
    fn = version(impl, name)
    for dtype in (torch.float32, torch.float64):
        x = random_x((B, T, C), device, dtype=dtype)
        what = f"{name}(x) for x of shape {(B, T, C)}, {dtype}"
        expect_tensor(call(fn, x, what, name, impl), what, impl.where_is(name), shape=(B, T, C), dtype=dtype,
                      device=device, hint="return a new tensor like x: torch.zeros_like(x), or wei made "
                                          "with dtype=x.dtype, device=x.device")


@pytest.mark.parametrize("name", VERSIONS, ids=VERSION_IDS)
def test_equals_the_running_mean(impl, device, name):
    """out[:, t] equals the mean of x[:, 0..t], from the grader's cumulative sum, at the lecture's shape
    (4, 8, 2) and at (2, 13, 5); a known mistake (a sum, no mask, the mask upside down, the wrong dim,
    the mask after the softmax) is named."""
    fn = version(impl, name)
    for seed, shape in enumerate([(B, T, C), (2, 13, 5)]):
        x = random_x(shape, device, seed=seed)
        with torch.no_grad():
            got = fn(x)
        expect_averages(got, x, f"{name}(x) for x of shape {shape}", name, impl)


@pytest.mark.parametrize("name", VERSIONS, ids=VERSION_IDS)
def test_is_causal(impl, device, name):
    """Replacing the inputs after position t leaves the outputs at positions 0..t unchanged, for t from
    the first position to the last but one: the future never talks to the past."""
    fn = version(impl, name)
    x = random_x((B, 12, C), device)
    with torch.no_grad():
        out = expect_tensor(fn(x), f"{name}(x)", impl.where_is(name), shape=x.shape)
    if not bool(torch.isfinite(out).all()):
        fail(what=f"{name}(x) for x of shape {tuple(x.shape)}", expected="finite values", got="NaN or inf values",
             where=impl.where_is(name),
             hint="test_first_position_and_a_single_step says more: position t averages x[:, 0..t], t included")
    subject = causality.Subject(fn, name, impl.where_is(name), mistake=lambda: known_mistake(fn, x, name))
    for t in (0, 1, 5, 10):
        causality.expect_future_unchanged(subject, x, t, sees="averages positions 0..t only",
                                          hint=f"leave the future out of the average: {HINTS[name]}",
                                          atol=FUTURE_ATOL, written=lambda change: f"{change:.3g}")


def known_mistake(fn, x, name):
    """The named mistake that ``fn(x)`` matches, or None."""
    with torch.no_grad():
        return name_the_mistake(fn(x), mistakes(x, name), ATOL)


@pytest.mark.parametrize("name", VERSIONS, ids=VERSION_IDS)
def test_first_position_and_a_single_step(impl, device, name):
    """Position 0 averages itself only: out[:, 0] equals x[:, 0]; and a single step of a single sequence,
    x of shape (1, 1, C), comes back unchanged."""
    fn = version(impl, name)
    hint = {
        LOOP: "position t averages x[b, :t+1], t itself included; x[b, :t] is empty at t = 0",
        MATMUL: "row t of wei covers positions 0..t, the diagonal included: torch.tril keeps it "
                "(diagonal=-1 would leave row 0 empty)",
        SOFTMAX: "the diagonal must stay unmasked (tril == 0 masks only the future): a row of all -inf "
                 "gives NaN",
    }[name]
    x = random_x((B, T, C), device)
    with torch.no_grad():
        got = fn(x)
    expect_tensor(got, f"{name}(x)", impl.where_is(name), shape=(B, T, C))
    first = got[:, 0]
    if bool(torch.isfinite(first).all()):  # several mistakes look alike at position 0: no name here
        hint = ("position 0 has only itself to average (weight 1 on itself, 0 on every later position), so "
                "out[:, 0] = x[:, 0]; test_equals_the_running_mean names the mistake")
    expect_averages(first, x, f"{name}(x)[:, 0], the first position", name, impl, hint=hint, positions=0,
                    wanted="x[:, 0]: position 0 averages itself only")
    one = random_x((1, 1, C), device, seed=1)
    with torch.no_grad():
        got = fn(one)
    expect_averages(got, one, f"{name}(x) for x of shape (1, 1, {C})", name, impl, hint=hint,
                    wanted="x itself: a single position averages itself only")


def test_the_three_versions_agree(impl, device):
    """The loop, the matrix multiply and the softmax give the same output for the same x (2, 32, 3)."""
    x = random_x((2, 32, 3), device, seed=2)
    with torch.no_grad():
        outs = {name: version(impl, name)(x) for name in VERSIONS}
    for name, out in outs.items():
        expect_tensor(out, f"{name}(x)", impl.where_is(name), shape=x.shape)
    for first, second in [(LOOP, MATMUL), (MATMUL, SOFTMAX), (LOOP, SOFTMAX)]:
        diff = max_difference(outs[first], outs[second])
        if not diff <= ATOL:
            got_text = f"outputs that differ by up to {diff:.3g}" if diff < float("inf") else "NaN or inf values"
            fail(what=f"{first}(x) and {second}(x) for the same x of shape (2, 32, 3)", expected="the same averages",
                 got=got_text,
                 where=f"{impl.where_is(first)} and {second}",
                 hint="all three compute the mean of x[:, 0..t]; test_equals_the_running_mean says which one is off")


def record(fn, shape, device):
    """{"count", "names", "kept"}: the torch calls ``fn`` makes (probe.record_torch_calls)."""
    return record_torch_calls(fn, random_x(shape, device), keep=tuple(sorted(SOFTMAXES)))


# A small and a larger input: a version without a Python loop over b or t makes the same calls for both.
SHAPES = [(1, 4, 3), (3, 12, 3)]


def expect_no_loop(recorders, name, impl):
    counts = [r["count"] for r in recorders]
    if counts[0] != counts[1]:
        fail(what=f"torch calls made by {name} for x of shapes {SHAPES[0]} and {SHAPES[1]}",
             expected="the same number: one computation for every b and t at once",
             got=f"{counts[0]} and {counts[1]} (a Python loop over b or t)", where=impl.where_is(name),
             hint="no for loop here: the (T, T) matrix wei does every average in one wei @ x")


def test_matmul_version_is_one_matrix_multiply(impl, device):
    """Version 2 is the lecture's trick: one matrix multiply (``@``, torch.matmul, torch.bmm or
    torch.einsum) by a (T, T) matrix of weights, and no Python loop over b or t (the number of torch
    calls does not grow with B and T). A cumulative sum gives the same values but is not the trick."""
    fn = version(impl, MATMUL)
    recorders = [record(fn, shape, device) for shape in SHAPES]
    if not MATRIX_MULTIPLIES & set(recorders[1]["names"]):
        fail(what=f"{MATMUL}: the torch functions it calls", expected="a matrix multiply (wei @ x)",
             got=f"none among {recorders[1]['names']}", where=impl.where_is(MATMUL),
             hint="version 2 averages with a matrix multiply: wei = torch.tril(torch.ones(T, T)), "
             "wei = wei / wei.sum(1, keepdim=True), then wei @ x")
    expect_no_loop(recorders, MATMUL, impl)


def test_softmax_version_takes_a_masked_softmax(impl, device):
    """Version 3 makes its weights with a softmax (F.softmax or Tensor.softmax) whose output is a (T, T)
    matrix with exact zeros above the diagonal: the future was masked with -inf before the softmax, not
    after it. And no Python loop over b or t."""
    fn = version(impl, SOFTMAX)
    recorders = [record(fn, shape, device) for shape in SHAPES]
    softmaxes = recorders[1]["kept"]
    T_ = SHAPES[1][1]
    if not softmaxes:
        fail(what=f"{SOFTMAX}: the torch functions it calls", expected="a softmax (F.softmax(wei, dim=-1))",
             got=f"none among {recorders[1]['names']}", where=impl.where_is(SOFTMAX),
             hint="version 3 makes the weights with a softmax: wei = torch.zeros(T, T), "
             "wei = wei.masked_fill(tril == 0, float('-inf')), wei = F.softmax(wei, dim=-1)")
    masked = [w for w in softmaxes if w.dim() >= 2 and tuple(w.shape[-2:]) == (T_, T_)
              and bool((w.triu(1) == 0).all())]
    if not masked:
        fail(what=f"{SOFTMAX}: the output of its softmax for T={T_}",
             expected=f"a ({T_}, {T_}) matrix of weights, exactly 0 above the diagonal (the future)",
             got=", ".join(f"a tensor of shape {tuple(w.shape)}" + (" with weight on the future" if w.dim() >= 2
                       and tuple(w.shape[-2:]) == (T_, T_) else "") for w in softmaxes),
             where=impl.where_is(SOFTMAX),
             hint="mask the future before the softmax, with -inf: wei = wei.masked_fill(tril == 0, float('-inf')), then "
             "F.softmax(wei, dim=-1); masking after the softmax leaves weights that are not the softmax's")
    expect_no_loop(recorders, SOFTMAX, impl)
