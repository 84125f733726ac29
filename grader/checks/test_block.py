"""Exercise 8: the Transformer block.

The numerics checks swap the block's ``sa`` and ``ffwd`` for the grader's stand-ins (grader/probes/stand_ins.py), so they
grade the block's own wiring (residuals, pre-norm, which LayerNorm goes where) and nothing of
Exercises 6 and 7: a broken MultiHeadAttention or FeedForward costs no points here.

Causality is checked with a causal stand-in for ``sa``: the block's own code must not let the future
in (the oracle check implies it too, but this one says so in a student's words).
"""


import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.oracles import causality
from grader.oracles.expect import (Mistake, attribute, class_text, contract_class_text, describe, expect_close,
                                  expect_tensor, fail, same_name_hint)
from grader.probes.probe import (future_change, future_gradient, is_instance, past_change, randomize_parameters,
                                 record_arguments, watch_calls)
from grader.probes.stand_ins import CausalMixer, PositionWiseMLP, Zero

pytestmark = pytest.mark.block

n_embd, n_head, block_size = 32, 4, 16
B, T = 2, 8
LN_EPS = 1e-5


def make_block(impl, device, dropout=0.0):
    torch.manual_seed(0)
    return impl.get("block", "Block")(n_embd, n_head, block_size, dropout).to(device).eval()


def layer_norms(block, impl):
    """``block.ln1`` and ``block.ln2``, once they are LayerNorms (else test_sublayers' failure)."""
    where = impl.where_is("Block.__init__")
    found = []
    for name in ("ln1", "ln2"):
        layer = attribute(block, name, where)
        if not isinstance(layer, nn.LayerNorm):
            fail(what=f"Block.{name} should be an nn.LayerNorm", expected=f"nn.LayerNorm({n_embd})",
                 got=class_text(layer, impl), where=where,
                 hint=same_name_hint(layer, impl, None, "LayerNorm"))
        found.append(layer)
    return found


def swap_branches(block, sa, ffwd, impl):
    """Put stand-ins in place of ``block.sa`` and ``block.ffwd`` (built where the block lives, with
    impl.build); returns a CallCount each of the student's own two, which forward should no longer call."""
    where = impl.where_is("Block.__init__")
    called = [watch_calls(attribute(block, "sa", where)), watch_calls(attribute(block, "ffwd", where))]
    block.sa, block.ffwd = sa, ffwd
    return called


def calls_own_branches_hint(called, sa, ffwd):
    if any(count.calls for count in called) or not (sa.calls and ffwd.calls):
        return ("Block.forward should call self.sa and self.ffwd (the grader puts stand-ins in their "
                "place to check the wiring)")
    return None


def test_sublayers(impl, device):
    """The block holds ``sa`` (a MultiHeadAttention), ``ffwd`` (a FeedForward), ``ln1`` and ``ln2``
    (``nn.LayerNorm(n_embd)``)."""
    block = make_block(impl, device)
    where = impl.where_is("Block.__init__")
    # name -> (the class, the graded folder's module that defines it or None for torch's, its name)
    expected = {
        "sa": (impl.get("attention", "MultiHeadAttention"), "attention", "MultiHeadAttention"),
        "ffwd": (impl.get("block", "FeedForward"), "block", "FeedForward"),
        "ln1": (nn.LayerNorm, None, "LayerNorm"),
        "ln2": (nn.LayerNorm, None, "LayerNorm"),
    }
    for name, (kind, module, class_name) in expected.items():
        layer = attribute(block, name, where)
        if not is_instance(layer, kind):
            what, wanted = (f"a {class_name}", contract_class_text(impl, module, class_name)) if module \
                else (f"an nn.{class_name}", f"nn.{class_name}({n_embd})")
            fail(what=f"Block.{name} should be {what}", expected=wanted, got=class_text(layer, impl), where=where,
                 hint=same_name_hint(layer, impl, module, class_name))
    for name in ("ln1", "ln2"):
        if tuple(getattr(block, name).normalized_shape) != (n_embd,):
            fail(what=f"Block.{name}", expected=f"nn.LayerNorm({n_embd})", got=describe(getattr(block, name)),
                 where=where)


def test_sublayers_get_the_blocks_arguments(impl, device, monkeypatch):
    """``Block(n_embd, n_head, block_size, dropout)`` builds ``MultiHeadAttention(n_embd, n_head,
    block_size, dropout)`` and ``FeedForward(n_embd, dropout)``: dropout reaches both."""
    mha_calls = record_arguments(monkeypatch, impl.get("attention", "MultiHeadAttention"))
    ffwd_calls = record_arguments(monkeypatch, impl.get("block", "FeedForward"))
    block = make_block(impl, device, dropout=0.3)
    where = impl.where_is("Block.__init__")
    for calls, expected, text, (name, module, class_name) in (
        (mha_calls, (n_embd, n_head, block_size, 0.3),
         f"MultiHeadAttention({n_embd}, {n_head}, {block_size}, 0.3)", ("sa", "attention", "MultiHeadAttention")),
        (ffwd_calls, (n_embd, 0.3), f"FeedForward({n_embd}, 0.3)", ("ffwd", "block", "FeedForward")),
    ):
        if [call[: len(expected)] for call in calls] != [expected]:
            # None built: Block may hold a class of the same name from elsewhere (test_sublayers says so too).
            hint = same_name_hint(getattr(block, name), impl, module, class_name) \
                if not calls and hasattr(block, name) else None
            fail(what=f"the sub-layers made by Block({n_embd}, {n_head}, {block_size}, dropout=0.3)",
                 expected=f"one {text} (the {class_name} of {module}.py)", got=", ".join(map(str, calls)) or "none",
                 where=where,
                 hint=hint or "pass n_embd, n_head, block_size and dropout on, in CONTRACT.md's order")


def test_output_shape_dtype_device(impl, device):
    """``Block(x)`` keeps the shape (B, T, C) (with stand-ins for sa and ffwd, so a MultiHeadAttention
    that returns the wrong shape costs its own points, not these)."""
    block = make_block(impl, device)
    swap_branches(block, impl.build(CausalMixer, n_embd, 1).to(device), impl.build(PositionWiseMLP, n_embd, 2).to(device), impl)
    x = torch.randn(B, T, n_embd, device=device)
    expect_tensor(block(x), "Block(x)", impl.where_is("Block.forward"),
                  shape=(B, T, n_embd), dtype=torch.float32, device=device)


def test_residual_path_passes_the_input_through(impl, device):
    """With both branches adding zeros, the block returns its input unchanged: the residual stream
    runs from input to output, and the LayerNorms sit on the branches only (pre-norm)."""
    block = make_block(impl, device)
    layer_norms(block, impl)
    randomize_parameters(block, seed=0)
    swap_branches(block, impl.build(Zero), impl.build(Zero), impl)
    x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        got = block(x)
    expect_close(got, x, "Block(x) when sa and ffwd both return zeros", impl.where_is("Block.forward"),
                 atol=1e-6,  # x + 0 + 0 is x exactly
                 hint="x = x + self.sa(self.ln1(x)); x = x + self.ffwd(self.ln2(x)): add each branch to x "
                      "and never normalise x itself")


def block_mistakes(x, sa, ffwd, L1, L2):
    """{hint: what Block(x) gives with that mistake}, from the grader's stand-ins ``sa`` and ``ffwd`` and its
    own LayerNorms ``L1`` and ``L2`` (ln1's and ln2's weights): each a block written with one mistake."""

    def pre_norm(norm_sa, norm_ffwd):  # x + sa(norm_sa(x)), then + ffwd(norm_ffwd(.)): which norm goes where
        h = x + sa(norm_sa(x))
        return h + ffwd(norm_ffwd(h))

    def no_norm(v):
        return v

    h = x + sa(L1(x))
    post_h = L1(x + sa(x))
    in_place_h = L1(x) + sa(L1(x))
    return {
        "the attention's residual is missing: x = x + self.sa(self.ln1(x))": sa(L1(x)) + ffwd(L2(sa(L1(x)))),
        "the feed-forward's residual is missing: x = x + self.ffwd(self.ln2(x))": ffwd(L2(h)),
        "both residuals are missing: add each branch to x (01:26:48)": ffwd(L2(sa(L1(x)))),
        "post-norm: normalise the input of each branch, x + sa(ln1(x)), not the sum "
        "(the lecture uses pre-norm, 01:32:51)": L2(post_h + ffwd(post_h)),
        "ln1 and ln2 are swapped: ln1 goes before the attention, ln2 before the feed-forward":
            pre_norm(L2, L1),
        "ln2 is never used: the feed-forward branch takes self.ln2(x)": pre_norm(L1, L1),
        "ln1 is never used: the attention branch takes self.ln1(x)": pre_norm(L2, L2),
        "no LayerNorm on either branch: x = x + self.sa(self.ln1(x)), then x = x + self.ffwd(self.ln2(x))":
            pre_norm(no_norm, no_norm),
        "the attention branch has no LayerNorm: x = x + self.sa(self.ln1(x))": pre_norm(no_norm, L2),
        "the feed-forward branch has no LayerNorm: x = x + self.ffwd(self.ln2(x))": pre_norm(L1, no_norm),
        "the residual stream is normalised in place: keep x and add self.sa(self.ln1(x)) to it":
            L2(in_place_h) + ffwd(L2(in_place_h)),
        "the feed-forward reads the block's input: it should read x after the attention was added":
            h + ffwd(L2(x)),
        "attention and feed-forward are in the wrong order: first x + sa(ln1(x)), then x + ffwd(ln2(x))":
            (x + ffwd(L2(x))) + sa(L1(x + ffwd(L2(x)))),
    }


def test_matches_oracle(impl, device):
    """In eval mode, with stand-ins for ``sa`` and ``ffwd`` and random LayerNorm weights (so ln1 and
    ln2 differ), ``Block(x) = h + ffwd(ln2(h))`` where ``h = x + sa(ln1(x))``."""
    block = make_block(impl, device)
    ln1, ln2 = layer_norms(block, impl)
    randomize_parameters(block, seed=0)
    # The stand-ins the block calls, and the grader's own copies of them for the oracle.
    sa, ffwd = impl.build(CausalMixer, n_embd, 1).to(device), impl.build(PositionWiseMLP, n_embd, 2).to(device)
    called = swap_branches(block, sa, ffwd, impl)
    built = sa, ffwd
    sa, ffwd = CausalMixer(n_embd, seed=1).to(device), PositionWiseMLP(n_embd, seed=2).to(device)
    x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(3)).to(device)
    with torch.no_grad():
        got = block(x)
        hint = calls_own_branches_hint(called, *built)

        # eps is nn.LayerNorm's default (CONTRACT.md's nn.LayerNorm(n_embd)), not read from the block.
        def L1(v):
            return F.layer_norm(v, (n_embd,), ln1.weight, ln1.bias, LN_EPS)

        def L2(v):
            return F.layer_norm(v, (n_embd,), ln2.weight, ln2.bias, LN_EPS)

        h = x + sa(L1(x))
        expected = h + ffwd(L2(h))
        mistakes = block_mistakes(x, sa, ffwd, L1, L2)
    # Sums of 32 terms of size ~1 in float32 are off by ~1e-6 from the same sums in another order.
    expect_close(got, expected, "Block(x) in eval mode", impl.where_is("Block.forward"), atol=1e-4,
                 mistakes=mistakes, hint=hint or "x = x + self.sa(self.ln1(x)); x = x + self.ffwd(self.ln2(x))")


def test_is_causal(impl, device):
    """With a causal stand-in for ``sa``, changing the inputs after position t never changes the block's
    outputs up to t (by perturbation and by gradient), and the output at t still depends on the past."""
    block = make_block(impl, device)
    randomize_parameters(block, seed=0)
    swap_branches(block, impl.build(CausalMixer, n_embd, 1).to(device), impl.build(PositionWiseMLP, n_embd, 2).to(device), impl)
    x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(4)).to(device)
    where = impl.where_is("Block.forward")
    for t in (0, T // 2, T - 2):
        moved = max(future_change(block, x, t), future_gradient(block, x, t))
        if moved > causality.FUTURE_ATOL:
            fail(what=f"Block's outputs up to position {t} should not depend on later positions",
                 expected="no change", got=f"a change of {moved:.3g}", where=where,
                 # sa is the grader's causal stand-in here, so the leak is certain to come from the rest of the block.
                 hint=Mistake("only self.sa mixes positions; everything else in the block acts on each position "
                         "alone (a LayerNorm over the last dim only: nn.LayerNorm(n_embd))"))
    if not past_change(block, x, T - 1) > causality.PAST_MIN:
        fail(what="Block's output at the last position should depend on earlier positions (through self.sa)",
             expected="a change", got="none", where=where, hint="add self.sa(self.ln1(x)) to x")
