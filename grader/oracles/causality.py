"""The causality checks: the future does not change the past, no gradient flows from the future, and
the past is used. Each check passes its own callable, input and words (a Subject); the probes
(grader/probes/probe.py) and the messages are written once, here."""

from dataclasses import dataclass
from typing import Callable

from grader.oracles.expect import fail
from grader.probes.probe import future_change, future_gradient, past_change

# A causal module moves the past by exactly 0.0, by perturbation and by gradient: Head and
# MultiHeadAttention at every t of future_positions over seeds 0-19 (-inf turns into exact zeros after the
# softmax; so do -1e9, -1e4, torch.finfo(float32).min and F.scaled_dot_product_attention), Block with the
# grader's stand-ins (seeds 0-4). 1e-5 only absorbs the rounding of some other kernel.
FUTURE_ATOL = 1e-5
# The smallest change at position t when x[:, 0] is replaced, on the reference over seeds 0-19 and the
# t of past_positions: Head 0.15, MultiHeadAttention 0.2, Block ~0.5 through its cumulative-mean stand-in;
# 1e-3 leaves a margin of 100x. A module that looks at each position alone gives exactly 0.
PAST_MIN = 1e-3


def up_to(t):
    """The outputs a causality message speaks of: "the output at position 0", "the outputs at positions 0..7"."""
    return "the output at position 0" if t == 0 else f"the outputs at positions 0..{t}"


def amount(value):
    """A change or gradient for a message: NaN said in words."""
    return "NaN" if value != value else f"{value:.3g}"


def future_positions(block_size):
    """(T, t) pairs and their ids for the checks of the future: a full block and a shorter one, t = 0 (a
    position that only sees itself) to near the end."""
    positions = [(block_size, 0), (block_size, block_size // 2 - 1), (block_size, block_size - 2), (5, 2)]
    return positions, [f"T={T},t={t}" for T, t in positions]


def past_positions(block_size):
    """(T, t) pairs and their ids for the check that the past is used: t = 1 to the last position."""
    return [(block_size, 1), (block_size, block_size - 1), (5, 4)], ["T=block_size,t=1", "T=block_size,t=T-1",
                                                                      "T=5,t=4"]


@dataclass(frozen=True)
class Subject:
    """What the causality checks probe, and the words of their messages. ``fn`` maps x (B, T, C) to
    (B, T, ...); ``name`` starts each message ("Head"); ``context`` ends its first line (" (T=16)");
    ``mistake`` and ``picture`` are asked only when a check fails: the known mistake the output matches
    (a hint, or None), and the picture shown after the hint (or None)."""

    fn: Callable
    name: str
    where: str
    context: str = ""
    mistake: Callable = lambda: None
    picture: Callable = lambda: None


def expect_future_unchanged(subject, x, t, *, sees, hint, atol=FUTURE_ATOL, written=amount):
    """Replacing the inputs after position t leaves ``subject``'s outputs at positions <= t unchanged.
    ``sees``: what position t may see, in words; ``hint``: the hint when no known mistake matches;
    ``written``: how the change is written."""
    change = future_change(subject.fn, x, t)
    if not change <= atol:
        fail(what=f"{subject.name}: {up_to(t)} changed when only the inputs after {t} changed{subject.context}",
             expected=f"no change: position t {sees}", got=f"a change of {written(change)}",
             where=subject.where, hint=subject.mistake() or hint, picture=subject.picture())


def expect_no_future_gradient(subject, x, t, *, hint, atol=FUTURE_ATOL):
    """``subject``'s output at position t has zero gradient with respect to the inputs after t."""
    gradient = future_gradient(subject.fn, x, t)
    if not gradient <= atol:
        fail(what=f"{subject.name}: the output at position {t} has a gradient with respect to later inputs"
             f"{subject.context}", expected="a zero gradient", got=f"a gradient of up to {amount(gradient)}",
             where=subject.where, hint=subject.mistake() or hint, picture=subject.picture())


def expect_past_used(subject, x, t, *, hint, not_finite, minimum=PAST_MIN):
    """``subject``'s output at position t changes when the input at position 0 changes. ``not_finite``:
    the hint when the output is NaN."""
    change = past_change(subject.fn, x, t)
    if change != change:
        fail(what=f"{subject.name}(x) at position {t}{subject.context}", expected="finite values", got="NaN",
             where=subject.where, hint=subject.mistake() or not_finite, picture=subject.picture())
    if not change >= minimum:
        fail(what=f"{subject.name}: the output at position {t} ignores the input at position 0{subject.context}",
             expected="a change: position t attends to positions 0..t", got=f"a change of {amount(change)}",
             where=subject.where, hint=subject.mistake() or hint, picture=subject.picture())
