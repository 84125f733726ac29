"""The grader's own language-model loss, and the usual ways to get it wrong, computed from a model's logits.

``expect_mean_cross_entropy`` grades the loss that a model's forward returned against the mean
cross-entropy of the logits that the same call returned (its outputs, nothing else), and, when they
differ, recomputes the loss with each known mistake from those same logits and targets: a loss that
matches one is named (``expect.name_the_mistake``), in the words of the hints below.
"""

import torch
import torch.nn.functional as F

from grader.oracles.expect import describe, fail, name_the_mistake

# Hints for the named mistakes; the checks and the kit's broken variants quote them.
SUMMED = "the loss is summed over positions, not averaged: use F.cross_entropy's default reduction='mean'"
NLL_ON_LOGITS = ("nll_loss wants log-probabilities: use F.cross_entropy(logits, targets), or "
                 "F.nll_loss(F.log_softmax(logits, -1), targets)")
ON_PROBABILITIES = ("F.cross_entropy was given probabilities: hand it the raw logits (it applies log-softmax "
                    "itself)")
AGAINST_IDX = "the loss compares the logits with idx: compare them with targets"
LAST_POSITION = "the loss covers only the last position: average over all B*T positions"
SHIFTED_AGAIN = ("the targets are shifted a second time: get_batch already made targets[:, t] the token after "
                 "idx[:, t], so compare logits[:, t] with targets[:, t]")
ORDERS_DIFFER = ("the logits and the targets are flattened in different orders: logits.view(B*T, V) with "
                 "targets.view(B*T), both in (B, T) order")
HINT = "F.cross_entropy(logits.view(B*T, V), targets.view(B*T))"

# The right loss is one float32 number of size ~4: written another way it differs by ~1e-6.
ATOL = 1e-4
# A mistake is named within NAMING_ATOL. Measured on random logits of the checks' sizes (seeds 0-19):
# a mistake written as a student would (a sum of B*T losses, ~150, among them) is within 3.1e-5 of
# the grader's version of it; on the checks' own inputs, the closest two candidates (the right loss
# among them) are 7.7e-3 apart. 1e-3 leaves a margin of 30x over the first and 7x under the second.
NAMING_ATOL = 1e-3


def loss_mistakes(logits, idx, targets):
    """{hint: the loss (or the losses) that mistake gives}, from ``logits`` viewed as (B, T, V)."""
    B, T = idx.shape
    rows = logits.reshape(B, T, -1)
    V = rows.shape[-1]
    flat, wanted = rows.reshape(B * T, V), targets.reshape(B * T)
    each = F.cross_entropy(flat, wanted, reduction="none").reshape(B, T)
    probabilities = F.softmax(flat, dim=-1)
    return {
        # summed over all positions, over each sequence's T positions, or over the batch at each position
        SUMMED: [each.sum(), each.sum(1).mean(), each.sum(0).mean()],
        NLL_ON_LOGITS: [F.nll_loss(flat, wanted), F.nll_loss(probabilities, wanted)],
        ON_PROBABILITIES: F.cross_entropy(probabilities, wanted),
        AGAINST_IDX: F.cross_entropy(flat, idx.reshape(B * T)),
        LAST_POSITION: each[:, -1].mean(),
        SHIFTED_AGAIN: F.cross_entropy(rows[:, :-1].reshape(-1, V), targets[:, 1:].reshape(-1)) if T > 1 else None,
        ORDERS_DIFFER: [F.cross_entropy(rows.transpose(0, 1).reshape(B * T, V), wanted),
                        F.cross_entropy(flat, targets.transpose(0, 1).reshape(B * T))],
    }


def expect_mean_cross_entropy(loss, logits, idx, targets, where):
    """``loss`` (a 0-dim tensor) is the mean cross-entropy of the model's own ``logits`` against ``targets``
    over all B*T positions. The oracle reads the logits whatever their layout, so a mistake in the
    logits' shape is not counted twice; a known loss mistake is named."""
    B, T = idx.shape
    if logits.numel() % (B * T) or logits.numel() // (B * T) <= int(targets.max()):
        # not one row per position with a logit for every target (the checks of the logits' shape say so too)
        fail(what="the logits returned with the loss", expected=f"{B * T} rows of vocab_size logits, one per position",
             got=describe(logits), where=where)
    with torch.no_grad():
        logits, idx, targets = logits.detach().float(), idx.to(logits.device), targets.to(logits.device)
        expected = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
        got = loss.detach().float().reshape(())
        if not torch.isfinite(expected):
            fail(what="the loss: the grader's own cross-entropy of your logits", expected="a finite number",
                 got="NaN or inf (the logits hold NaN or inf)", where=where)
        if abs(got.item() - expected.item()) <= ATOL:
            return
        named = name_the_mistake(got, loss_mistakes(logits, idx, targets), NAMING_ATOL)  # each a 0-dim loss
    fail(what="the loss does not match the grader's mean cross-entropy of your logits",
         expected=f"{expected.item():.4f}, the mean over all {B * T} positions", got=f"{got.item():.4f}", where=where,
         hint=named or HINT)

