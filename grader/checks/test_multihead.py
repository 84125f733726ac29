"""Exercise 6: multi-head attention, all heads in one batched computation."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from grader.oracles import attention_oracle as oracle, causality
from grader.oracles.attention_picture import mha_picture
from grader.oracles.expect import (GradingFailure, attribute, expect_close, expect_linear, expect_raises,
                                  expect_tensor, fail, max_difference, name_the_mistake)
from grader.probes.probe import modules_of_class, randomize_parameters, set_parameters

pytestmark = pytest.mark.multihead

n_embd, n_head, block_size = 32, 4, 16
head_size = n_embd // n_head

# Weights drawn with std 0.2 give scores of std about n_embd * 0.2**2 = 1.3 (softmax far from one-hot).
# Measured on the reference over seeds 0-19 (T = 16 and 5): it matches the oracle within 2e-6, and every
# named mistake is off by at least 0.9 (scaled by n_embd), so ATOL = 1e-4 leaves margins of 50x and 9000x.
WEIGHT_STD = 0.2
ATOL = 1e-4
P = 0.5  # dropout probability for the train-mode checks: half of everything dropped, so any dropout shows

FUTURE_POSITIONS, FUTURE_IDS = causality.future_positions(block_size)
PAST_POSITIONS, PAST_IDS = causality.past_positions(block_size)


def make_mha(impl, device, dropout=0.0, heads=n_head, seed=0):
    torch.manual_seed(seed)
    mha = impl.get("attention", "MultiHeadAttention")(n_embd, heads, block_size, dropout=dropout)
    return mha.to(device).eval()


def random_mha(impl, device, dropout=0.0, layout=True):
    """A module with distinct random weights; ``layout``: first check c_attn and c_proj, for the checks
    whose oracle reads them."""
    mha = make_mha(impl, device, dropout)
    return randomize_parameters(expect_layout(mha, impl) if layout else mha, std=WEIGHT_STD)


def random_x(B, T, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, n_embd, generator=generator).to(device)


def forward_where(impl):
    return impl.where_is("MultiHeadAttention.forward")


def expect_layout(mha, impl):
    """c_attn and c_proj as CONTRACT.md lays them out (the oracle reads their weights)."""
    where = impl.where_is("MultiHeadAttention.__init__")
    expect_linear(attribute(mha, "c_attn", where), n_embd, 3 * n_embd, False, "c_attn", where)
    expect_linear(attribute(mha, "c_proj", where), n_embd, n_embd, True, "c_proj", where)
    return mha


def known_mistake(mha, x, impl):
    """The named mistake that MultiHeadAttention(x) matches (attention_oracle's list), or None. The checks
    of what a position sees ask it before they guess: heads split without a transpose, or a softmax over
    the wrong dim, let the future in too, and "mask the future" would blame a mask that is right."""
    try:
        expect_layout(mha, impl)  # the oracle reads c_attn and c_proj
    except GradingFailure:
        return None
    with torch.no_grad():
        got = mha.eval()(x)
    return name_the_mistake(got, oracle.mha_mistakes(mha, x, n_head), ATOL)


def test_fused_weight_layout(impl, device):
    """c_attn is nn.Linear(n_embd, 3*n_embd, bias=False), c_proj nn.Linear(n_embd, n_embd), and there
    are no Head sub-modules: all heads live in c_attn."""
    mha = expect_layout(make_mha(impl, device), impl)
    where = impl.where_is("MultiHeadAttention.__init__")
    head_class = impl.get("attention", "Head")
    heads = modules_of_class(mha, head_class)
    if heads:
        fail(what="the fused MultiHeadAttention should hold no Head sub-modules", expected="no Head inside",
             got=f"Head modules at {heads}", where=where,
             hint="compute all heads at once with c_attn and view(B, T, n_head, hs)")


class CountCalls(TorchFunctionMode):
    """Counts the torch functions and tensor methods called inside it."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_output_shape_dtype_device(impl, device, T):
    """MultiHeadAttention maps (B, T, n_embd) to (B, T, n_embd), float32, on the input's device."""
    mha = make_mha(impl, device)
    x = torch.randn(2, T, n_embd, device=device)
    what = f"MultiHeadAttention(x) for x of shape (2, {T}, {n_embd})"
    expect_tensor(oracle.call_at(mha, x, what, forward_where(impl), block_size), what, forward_where(impl), shape=(2, T, n_embd),
                  dtype=torch.float32, device=device)


def test_tril_is_a_buffer(impl, device):
    """A mask kept on the module, self.tril, is a registered buffer (register_buffer), as in the lecture:
    .to(device) moves buffers, not plain tensor attributes. A mask made in forward needs none."""
    mha = make_mha(impl, device)
    oracle.expect_tril_buffer(mha, "MultiHeadAttention", impl.where_is("MultiHeadAttention.__init__"))


def test_no_python_loop_over_heads(impl, device):
    """The fused module does the same torch operations whatever n_head is (heads are a batch dimension);
    a Python loop over the heads does more of them as n_head grows."""
    x = random_x(2, block_size, device)
    calls = {}
    for heads in (2, 8):
        mha = make_mha(impl, device, heads=heads)
        with torch.no_grad(), CountCalls() as counter:
            mha(x)
        calls[heads] = counter.calls
    if calls[2] != calls[8]:
        fail(what="torch operations in one MultiHeadAttention forward, for n_head=2 and n_head=8",
             expected="the same number: all heads in one batched computation",
             got=f"{calls[2]} and {calls[8]}", where=forward_where(impl),
             hint="no Python loop over heads: view(B, T, n_head, hs).transpose(1, 2) makes the heads a batch "
             "dimension, and q @ k.transpose(-2, -1) handles them all at once")


def test_indivisible_n_embd_is_a_clear_error(impl):
    """n_embd that n_head does not divide raises ValueError when the module is made."""
    expect_raises(ValueError, lambda: impl.get("attention", "MultiHeadAttention")(30, 4, 8),
                  "MultiHeadAttention(n_embd=30, n_head=4): 30 is not divisible by 4",
                  impl.where_is("MultiHeadAttention.__init__"))


def causal_subject(mha, x, T, impl, device):
    """MultiHeadAttention as the causality checks probe it (grader/oracles/causality.py)."""
    return causality.Subject(mha, "MultiHeadAttention", forward_where(impl), f" (T={T})",
                             mistake=lambda: known_mistake(mha, x, impl),
                             picture=lambda: mha_picture(mha, n_embd, n_head, device))


@pytest.mark.parametrize("T,t", FUTURE_POSITIONS, ids=FUTURE_IDS)
def test_future_does_not_change_the_past(impl, device, T, t):
    """Replacing the inputs after position t leaves the outputs at positions <= t unchanged."""
    mha, x = random_mha(impl, device, layout=False), random_x(2, T, device)
    causality.expect_future_unchanged(causal_subject(mha, x, T, impl, device), x, t,
                                      sees="may only look at positions <= t", hint=oracle.FUTURE_LEAKS)


@pytest.mark.parametrize("T,t", FUTURE_POSITIONS, ids=FUTURE_IDS)
def test_no_gradient_flows_from_the_future(impl, device, T, t):
    """The output at position t has zero gradient with respect to the inputs after t."""
    mha, x = random_mha(impl, device, layout=False), random_x(2, T, device)
    causality.expect_no_future_gradient(causal_subject(mha, x, T, impl, device), x, t, hint=oracle.FUTURE_GRADIENT)


@pytest.mark.parametrize("T,t", PAST_POSITIONS, ids=PAST_IDS)
def test_uses_the_past(impl, device, T, t):
    """The output at position t changes when the input at position 0 changes (a layer that looks at each
    position alone fails here)."""
    mha, x = random_mha(impl, device, layout=False), random_x(2, T, device)
    causality.expect_past_used(causal_subject(mha, x, T, impl, device), x, t, hint=oracle.MASK_ONLY_THE_FUTURE,
                               not_finite=oracle.NOT_FINITE)


def test_heads_are_consecutive_slices_of_c_attn(impl, device):
    """Head h is made of rows [h*hs:(h+1)*hs] of each of the q, k and v blocks of c_attn.weight and
    writes features [h*hs:(h+1)*hs] before c_proj: with c_proj set to the identity, changing those rows
    changes those output features and no others."""
    mha = random_mha(impl, device)
    set_parameters(mha, {"c_proj.weight": torch.eye(n_embd, device=device),
                         "c_proj.bias": torch.zeros(n_embd, device=device)})
    x = random_x(2, block_size, device)
    generator = torch.Generator().manual_seed(1)
    original = mha.c_attn.weight.detach().clone()
    for h in range(n_head):
        rows = torch.cat([torch.arange(h * head_size, (h + 1) * head_size) + b * n_embd for b in range(3)])
        changed = original.clone()
        changed[rows] += (torch.randn(len(rows), n_embd, generator=generator) * WEIGHT_STD).to(device)
        with torch.no_grad():
            before = mha(x)
            set_parameters(mha, {"c_attn.weight": changed})
            after = mha(x)
            set_parameters(mha, {"c_attn.weight": original})
        change = (after - before).abs().amax(dim=(0, 1))  # (C,): how much each output feature moved
        own = torch.zeros(n_embd, dtype=torch.bool, device=change.device)
        own[h * head_size:(h + 1) * head_size] = True
        # Measured on the reference over seeds 0-19 (and F.scaled_dot_product_attention, einsum): the other
        # features move by exactly 0, the head's own by at least 1.1; 1e-5 and 1e-3 leave wide margins.
        if not torch.isfinite(change).all():
            fail(what="MultiHeadAttention(x) with c_proj set to the identity", expected="finite values",
                 got="NaN or inf",
                 where=forward_where(impl), hint=oracle.NOT_FINITE)
        if not (change[~own].max() <= 1e-5 and change[own].min() >= 1e-3):
            fail(what=f"changing the rows of head {h} in c_attn.weight (rows {h * head_size}:{(h + 1) * head_size} "
                 "of each of the q, k and v blocks), with c_proj set to the identity",
                 expected=f"output features {h * head_size}..{(h + 1) * head_size - 1} change, and only those",
                 got=f"{int((change[~own] > 1e-5).sum())} other features changed, "
                 f"{int((change[own] < 1e-3).sum())} of its own did not", where=forward_where(impl),
                 hint=known_mistake(random_mha(impl, device), x, impl) or
                 oracle.HEADS_INTERLEAVED + "; merge back with out.transpose(1, 2).contiguous().view(B, T, C)")


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_matches_single_heads_from_its_weights(impl, device, T):
    """In eval mode the fused output equals n_head single heads computed by the grader from slices of
    c_attn.weight (head h: rows [h*hs:(h+1)*hs] of the q, k, v blocks), concatenated in order, then
    c_proj; a known mistake is named."""
    mha = random_mha(impl, device)
    x = random_x(2, T, device)
    with torch.no_grad():
        got = mha(x)
    expect_matches(got, mha, x, f"MultiHeadAttention(x) in eval mode, T={T}", forward_where(impl))


def expect_matches(got, mha, x, what, where):
    oracle.expect_matches(got, oracle.mha_oracle(mha, x, n_head), what, where,
                          mistakes=lambda: oracle.mha_mistakes(mha, x, n_head),
                          picture=lambda: mha_picture(mha, n_embd, n_head, x.device), atol=ATOL)


def test_dropout_is_random_in_training_and_off_in_eval(impl, device):
    """MultiHeadAttention(..., dropout=0.5): in train mode two calls differ and the same torch.manual_seed
    gives the same output; in eval mode dropout is off and the output equals the grader's attention."""
    mha = random_mha(impl, device, dropout=P).train()
    x = random_x(2, block_size, device)
    where = forward_where(impl)
    with torch.no_grad():
        first, second = mha(x), mha(x)
        torch.manual_seed(1)
        seeded = mha(x)
        torch.manual_seed(1)
        seeded_again = mha(x)
        in_eval = mha.eval()(x)
        mha.train()
    oracle.expect_finite_in_training(first, in_eval, "MultiHeadAttention(..., dropout=0.5) in train mode", where,
                                     "self.attn_dropout")
    # Two draws of dropout at p = 0.5 differ by far more than 1e-3: by at least 4.3 over seeds 0-19, on the
    # reference and with either one of the two dropouts left out.
    if not max_difference(first, second) > 1e-3:
        fail(what="MultiHeadAttention(..., dropout=0.5) in train mode gave the same output twice",
             expected="different outputs (dropout)", got="the same output", where=where,
             hint="apply self.attn_dropout to the attention weights and self.resid_dropout after c_proj")
    if not max_difference(seeded, seeded_again) <= 1e-6:
        fail(what="MultiHeadAttention in train mode after the same torch.manual_seed(1)",
             expected="the same output twice",
             got=f"outputs that differ by {max_difference(seeded, seeded_again):.3g}", where=where,
             hint="draw the dropout masks with torch (nn.Dropout), so torch.manual_seed reproduces them")
    mha.eval()
    with torch.no_grad():
        got, again = mha(x), mha(x)
    if max_difference(got, again) > 1e-6:
        fail(what="MultiHeadAttention(..., dropout=0.5) in eval mode gave two different outputs",
             expected="dropout off in eval mode", got="random outputs", where=where,
             hint="dropout must be off in eval mode: nn.Dropout is; with F.scaled_dot_product_attention pass "
             "dropout_p=self.attn_dropout.p if self.training else 0.0")
    expect_matches(got, mha, x, "MultiHeadAttention(..., dropout=0.5) in eval mode", where)


def test_dropout_after_c_proj(impl, device):
    """In train mode the output itself goes through dropout (resid_dropout after c_proj): about a
    fraction p of its entries are exactly 0. Without it none is (c_proj has a bias)."""
    mha = random_mha(impl, device, dropout=P, layout=False).train()
    torch.manual_seed(0)
    with torch.no_grad():
        got = mha(random_x(8, block_size, device))
    # Only the finite entries count: a NaN from another mistake is for the other checks to report.
    zeros = (got[torch.isfinite(got)] == 0).float().mean().item()
    # 8 * 16 * 32 = 4096 entries: at p = 0.5 the fraction of zeros is 0.5 +- 0.008 (one sd); measured
    # 0.486-0.521 on the reference over seeds 0-19, 0.0 without dropout after c_proj (seeds 0-19).
    if not 0.4 <= zeros <= 0.6:
        fail(what="MultiHeadAttention(..., dropout=0.5) in train mode: fraction of output entries that are 0",
             expected=f"about {P} (dropout after c_proj)", got=f"{zeros:.3f}", where=forward_where(impl),
             hint="out = self.resid_dropout(self.c_proj(out)): dropout after the projection, on the output")


def test_dropout_on_the_attention_weights(impl, device):
    """In train mode dropout also falls on the attention weights. Position 0 attends only to itself with
    weight 1, so before c_proj each head's output there is either 0 (weight dropped) or v_0 / (1 - p):
    every kept output entry at position 0 must equal c_proj of one of those 2**n_head combinations
    (times 1 / (1 - p) if the output dropout rescaled it). Without dropout on the weights each head gives
    v_0 itself, which is none of them; with dropout on the scores, NaN or v_0 itself."""
    mha = random_mha(impl, device, dropout=P)
    where = forward_where(impl)
    B = 16
    x = random_x(B, block_size, device)
    with torch.no_grad():
        v0 = (x[:, 0] @ mha.c_attn.weight.T)[:, 2 * n_embd:]  # (B, C): every head's value at position 0
        all_in_eval = mha.eval()(x)
        torch.manual_seed(0)
        all_in_train = mha.train()(x)
    in_eval, got = all_in_eval[:, 0], all_in_train[:, 0]  # (B, C)
    # This check is about dropout: the rest of the module must first be right at position 0.
    expect_close(in_eval, F.linear(v0, mha.c_proj.weight, mha.c_proj.bias),
                 "MultiHeadAttention(x) in eval mode at position 0, which attends only to itself", where,
                 atol=ATOL, hint="position 0 gets weight 1 on itself: out[:, 0] = c_proj(v[:, 0]); "
                                 "fix the checks of MultiHeadAttention in eval mode first")
    expect_not_renormalised(all_in_train, all_in_eval, where)
    # Measured over torch seeds 0-19: the reference and F.scaled_dot_product_attention 0 of 16 rows wrong,
    # no dropout on the attention weights 16 of 16 wrong. ATOL as in the eval checks.
    with torch.no_grad():
        keep = torch.tensor(list(itertools.product((0.0, 1.0), repeat=n_head)), device=got.device)  # (16, nh)
        z = v0[:, None] * keep.repeat_interleave(head_size, dim=1)[None] / (1 - P)  # (B, 16, C)
        before = F.linear(z, mha.c_proj.weight, mha.c_proj.bias)  # (B, 16, C)
        candidates = torch.cat([before, before / (1 - P)], dim=1)  # output dropout rescales, or is absent
        kept = got != 0  # entries the output dropout did not zero
        error = ((candidates - got[:, None]).abs() * kept[:, None]).amax(dim=-1)  # (B, 32)
    wrong = int((error.min(dim=1).values > ATOL).sum())
    if wrong:
        fail(what="MultiHeadAttention(..., dropout=0.5) in train mode, output at position 0 (which attends only "
             "to itself)", expected="c_proj of each head's v_0 either dropped or scaled by 1 / (1 - p)",
             got=f"{wrong} of {B} rows match no such combination", where=where,
             hint="dropout on the attention weights: wei = self.attn_dropout(wei) after the softmax, before wei @ v")


def expect_not_renormalised(in_train, in_eval, where):
    """Dropout on the scores: NaN (-inf * 0), or every head's weight at position 0 still 1 (the softmax
    renormalised what dropout left: train mode equals eval mode there, up to the output dropout) while
    later positions change."""
    oracle.expect_finite_in_training(in_train, in_eval, "MultiHeadAttention(..., dropout=0.5) in train mode", where,
                                     "self.attn_dropout")
    # Measured over seeds 0-19 (x and torch): with dropout on the scores before the mask, position 0
    # equals eval mode (beside the output dropout) exactly and the rest differs by at least 2.1. With no
    # dropout on the weights at all, the rest equals eval mode exactly (0.0): the caller's test of the
    # 2**n_head combinations names that. The reference is at least 3.0 from eval mode at position 0.
    # ATOL: margins over 10^4.
    if beside_output_dropout(in_train[:, 0], in_eval[:, 0]) <= ATOL < beside_output_dropout(in_train, in_eval):
        fail(what="MultiHeadAttention(..., dropout=0.5) in train mode, output at position 0 (which attends only "
             "to itself)", expected="each head's v_0 either dropped or scaled by 1 / (1 - p)",
             got="every head keeps weight 1 in all rows, while the other positions change", where=where,
             hint=oracle.dropout_before_softmax("self.attn_dropout"))


def beside_output_dropout(in_train, in_eval):
    """How far train mode is from eval mode at the entries the output dropout kept (rescaled or not)."""
    kept = in_train != 0
    return min(max_difference(in_train * (1 - P), in_eval * kept), max_difference(in_train, in_eval * kept))
