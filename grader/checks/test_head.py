"""Exercise 5: one head of causal self-attention."""

import pytest
import torch

from grader.oracles import attention_oracle as oracle, causality
from grader.oracles.attention_picture import head_picture
from grader.oracles.expect import (GradingFailure, attribute, expect_close, expect_linear, expect_tensor, fail,
                                  max_difference, name_the_mistake)
from grader.probes.probe import randomize_parameters

pytestmark = pytest.mark.head

n_embd, head_size, block_size = 32, 8, 16

# Weights drawn with std 0.2 give scores q.k * head_size**-0.5 of std about n_embd * 0.2**2 = 1.3:
# the softmax is far from one-hot, so a wrong scale shows. Measured on the reference over seeds 0-19
# (T = 16 and 5): it matches the oracle within 2e-6, and every named mistake is off by at least 0.43
# (scaled by n_embd at T = 5), so ATOL = 1e-4 leaves a margin of 50x on one side and 4000x on the other.
WEIGHT_STD = 0.2
ATOL = 1e-4

P = 0.5  # dropout probability for the train-mode checks: half the weights dropped, so any dropout shows

FUTURE_POSITIONS, FUTURE_IDS = causality.future_positions(block_size)
PAST_POSITIONS, PAST_IDS = causality.past_positions(block_size)


def make_head(impl, device, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    head = impl.get("attention", "Head")(n_embd, head_size, block_size, dropout=dropout).to(device)
    return head.eval()


def random_x(B, T, device, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, n_embd, generator=generator).to(device)


def expect_layout(head, impl):
    """key, query and value as CONTRACT.md lays them out (the oracle reads their weights)."""
    where = impl.where_is("Head.__init__")
    for name in ("key", "query", "value"):
        expect_linear(attribute(head, name, where), n_embd, head_size, False, f"Head.{name}", where)
    return head


def known_mistake(head, x, impl):
    """The named mistake that Head(x) matches (attention_oracle's list), or None. The checks of what a
    position sees ask it before they guess: a softmax over the wrong dim lets the future in too, and
    "mask the future" would send the student to a mask that is already right."""
    try:
        expect_layout(head, impl)  # the oracle reads key, query and value
    except GradingFailure:
        return None
    with torch.no_grad():
        got = head.eval()(x)
    return name_the_mistake(got, oracle.head_mistakes(head, x, head_size), ATOL)


def test_key_query_value_layout(impl, device):
    """key, query and value are nn.Linear(n_embd, head_size, bias=False), as in the lecture."""
    expect_layout(make_head(impl, device), impl)


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_output_shape_dtype_device(impl, device, T):
    """Head maps (B, T, n_embd) to (B, T, head_size), float32, on the input's device, for T <= block_size."""
    head = make_head(impl, device)
    x = torch.randn(4, T, n_embd, device=device)
    where = impl.where_is("Head.forward")
    what = f"Head(x) for x of shape (4, {T}, {n_embd})"
    expect_tensor(oracle.call_at(head, x, what, where, block_size), what, where, shape=(4, T, head_size),
                  dtype=torch.float32, device=device)


def test_tril_is_a_buffer(impl, device):
    """A mask kept on the module, self.tril, is a registered buffer (register_buffer), as in the lecture:
    .to(device) moves buffers, not plain tensor attributes. A mask made in forward needs none."""
    head = make_head(impl, device)
    oracle.expect_tril_buffer(head, "Head", impl.where_is("Head.__init__"))


def causal_subject(head, x, T, impl, device):
    """Head as the causality checks probe it (grader/oracles/causality.py)."""
    return causality.Subject(head, "Head", impl.where_is("Head.forward"), f" (T={T})",
                             mistake=lambda: known_mistake(head, x, impl),
                             picture=lambda: head_picture(head, n_embd, head_size, device))


@pytest.mark.parametrize("T,t", FUTURE_POSITIONS, ids=FUTURE_IDS)
def test_future_does_not_change_the_past(impl, device, T, t):
    """Replacing the inputs after position t leaves the outputs at positions <= t unchanged."""
    head, x = randomize_parameters(make_head(impl, device), std=WEIGHT_STD), random_x(4, T, device)
    causality.expect_future_unchanged(causal_subject(head, x, T, impl, device), x, t,
                                      sees="may only look at positions <= t", hint=oracle.FUTURE_LEAKS)


@pytest.mark.parametrize("T,t", FUTURE_POSITIONS, ids=FUTURE_IDS)
def test_no_gradient_flows_from_the_future(impl, device, T, t):
    """The output at position t has zero gradient with respect to the inputs after t: the future is
    masked out of the computation, not only hidden in the values."""
    head, x = randomize_parameters(make_head(impl, device), std=WEIGHT_STD), random_x(4, T, device)
    causality.expect_no_future_gradient(causal_subject(head, x, T, impl, device), x, t, hint=oracle.FUTURE_GRADIENT)


@pytest.mark.parametrize("T,t", PAST_POSITIONS, ids=PAST_IDS)
def test_uses_the_past(impl, device, T, t):
    """The output at position t changes when the input at position 0 changes: the head really averages
    over earlier positions (a layer that looks at each position alone fails here)."""
    head, x = randomize_parameters(make_head(impl, device), std=WEIGHT_STD), random_x(4, T, device)
    causality.expect_past_used(causal_subject(head, x, T, impl, device), x, t, hint=oracle.MASK_ONLY_THE_FUTURE,
                               not_finite=oracle.NOT_FINITE)


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_matches_attention_from_its_weights(impl, device, T):
    """In eval mode, Head(x) equals softmax(mask(q @ k^T * head_size**-0.5)) @ v computed by the grader
    from the head's own key, query and value weights; a known mistake is named."""
    head = randomize_parameters(expect_layout(make_head(impl, device), impl), std=WEIGHT_STD)
    x = random_x(4, T, device)
    with torch.no_grad():
        got = head(x)
    expect_matches(got, head, x, f"Head(x) in eval mode, T={T}", impl.where_is("Head.forward"))


def expect_matches(got, head, x, what, where):
    oracle.expect_matches(got, oracle.head_oracle(head, x, head_size), what, where,
                          mistakes=lambda: oracle.head_mistakes(head, x, head_size),
                          picture=lambda: head_picture(head, n_embd, head_size, x.device), atol=ATOL)


def test_dropout_is_random_in_training_and_off_in_eval(impl, device):
    """Head(..., dropout=0.5): in train mode two calls differ, and the same torch.manual_seed gives the
    same output; in eval mode dropout is off and the output equals the grader's attention."""
    head = randomize_parameters(expect_layout(make_head(impl, device, dropout=P), impl), std=WEIGHT_STD).train()
    x = random_x(4, block_size, device)
    where = impl.where_is("Head.forward")
    with torch.no_grad():
        first, second = head(x), head(x)
        torch.manual_seed(1)
        seeded = head(x)
        torch.manual_seed(1)
        seeded_again = head(x)
        in_eval = head.eval()(x)
        head.train()
    oracle.expect_finite_in_training(first, in_eval, "Head(..., dropout=0.5) in train mode", where, "self.dropout")
    # Two dropout masks of 4 * 16 * 16 weights at p = 0.5 differ by far more than 1e-3: the two calls
    # differ by at least 5.8 over seeds 0-19, on the reference and with dropout on the output.
    if not max_difference(first, second) > 1e-3:
        fail(what="Head(..., dropout=0.5) in train mode gave the same output twice",
             expected="different outputs (dropout)",
             got="the same output", where=where,
             hint="apply self.dropout (nn.Dropout(dropout)) to the attention weights")
    if not max_difference(seeded, seeded_again) <= 1e-6:
        fail(what="Head in train mode after the same torch.manual_seed(1)", expected="the same output twice",
             got=f"outputs that differ by {max_difference(seeded, seeded_again):.3g}", where=where,
             hint="draw the dropout masks with torch (nn.Dropout), so torch.manual_seed reproduces them")
    head.eval()
    with torch.no_grad():
        got, again = head(x), head(x)
    if max_difference(got, again) > 1e-6:
        fail(what="Head(..., dropout=0.5) in eval mode gave two different outputs", expected="dropout off in eval mode",
             got="random outputs", where=where,
             hint="use self.dropout = nn.Dropout(dropout), which is off in eval mode "
             "(F.dropout needs training=self.training)")
    expect_matches(got, head, x, "Head(..., dropout=0.5) in eval mode", where)


def test_dropout_acts_on_the_attention_weights(impl, device):
    """In train mode the dropout falls on the attention weights: position 0 attends only to itself with
    weight 1, so its output is either all zero (weight dropped) or v_0 / (1 - p) (kept), for every row.
    Dropout on the output instead drops single features: rows come out partly zero; dropout on the scores
    gives NaN (-inf * 0) or v_0 itself (the softmax makes the one weight 1 again)."""
    head = randomize_parameters(expect_layout(make_head(impl, device, dropout=P), impl), std=WEIGHT_STD)
    where = impl.where_is("Head.forward")
    # 64 rows: output dropout would leave a row whole (all 8 features kept or all dropped) with
    # probability 2 * 0.5**8 = 1/128, so it passes for all 64 rows with probability about 1e-135.
    # Measured over torch seeds 0-19: the reference (and F.scaled_dot_product_attention) 0 rows wrong,
    # dropout on the output 62-64 of 64 rows wrong. ATOL as in the eval checks (float32 rounding ~1e-6).
    x = random_x(64, block_size, device)
    with torch.no_grad():
        v0 = x[:, 0] @ head.value.weight.T  # (B, head_size): what position 0 gets in eval mode
        all_in_eval = head.eval()(x)
        torch.manual_seed(0)
        all_in_train = head.train()(x)
    in_eval, got = all_in_eval[:, 0], all_in_train[:, 0]
    # This check is about dropout: the rest of the head must first be right at position 0.
    expect_close(in_eval, v0, "Head(x) in eval mode at position 0, which attends only to itself", where,
                 atol=ATOL, hint="position 0 gets weight 1 on itself: out[:, 0] = value(x)[:, 0]; "
                                 "fix the checks of Head in eval mode first")
    oracle.expect_finite_in_training(got, in_eval, "Head(..., dropout=0.5) in train mode at position 0", where,
                                     "self.dropout")
    dropped, kept = got.abs().amax(-1), (got - v0 / (1 - P)).abs().amax(-1)
    wrong = int((torch.minimum(dropped, kept) > ATOL).sum())
    # Weight 1 on itself in all 64 rows, none dropped, while the output is random elsewhere: the dropout
    # fell on the scores and the softmax made the weights sum to 1 again. Measured over seeds 0-19 (x and
    # torch): dropout on the scores before the mask gives exactly v_0 at position 0 and differs from eval
    # mode by at least 2.7 elsewhere; the reference is at least 3.2 from v_0. ATOL: margins over 10^4.
    # (Dropout on the scores after the mask gives NaN in 7072-7240 of the 8192 values.)
    if max_difference(got, v0) <= ATOL and max_difference(all_in_train, all_in_eval) > ATOL:
        fail(what="Head(..., dropout=0.5) in train mode, output at position 0 (which attends only to itself)",
             expected="each row either all 0 (its one weight dropped) or v_0 / (1 - p) (kept)",
             got="v_0 in all 64 rows: its weight is 1 every time, while other positions change", where=where,
             hint=oracle.dropout_before_softmax("self.dropout"))
    if wrong:
        fail(what="Head(..., dropout=0.5) in train mode, output at position 0 (which attends only to itself)",
             expected="each row either all 0 (its one weight dropped) or v_0 / (1 - p) (kept)",
             got=f"{wrong} of 64 rows are neither", where=where,
             hint="apply dropout to the attention weights after the softmax, wei = self.dropout(wei), "
             "not to the output or the scores")
