"""Exercise 4: generate(), driven by the grader's stand-in models (grader/probes/stand_ins.py; no student
model is needed), built with ``impl.build`` where the student's code runs, since generate calls them.

Each stand-in returns logits from a fixed rule and records every call: the context it was given and
whether autograd was on. Rules that are certain of one token (logits 0 for it, -1e4 for the rest: a
softmax gives it probability 1, and no NaN whatever dim it runs over) test the plumbing whatever the
sampling; one rule with fixed probabilities tests the sampling itself.
"""

import pytest
import torch

from grader.oracles.expect import Mistake, describe, expect_tensor, fail
from grader.probes.stand_ins import ContextTooLong, StandIn, fixed_probabilities, last_is_3, next_of_each, uniform

pytestmark = pytest.mark.generate

NO_GRAD = "wrap generation in torch.no_grad(): @torch.no_grad() above def generate"
LAST_STEP = "the logits of the first position instead of the last: take logits[:, -1, :], the last time step"
WRONG_DIM = "softmax over the wrong dim: F.softmax(logits, dim=-1), over the vocabulary of each row"
ARGMAX = "argmax instead of sampling: use torch.multinomial(probs, num_samples=1)"
TEMPERATURE = ("the samples are sharper or flatter than softmax(logits), as with a temperature "
               "(logits / 0.5): sample from F.softmax(logits, dim=-1) as it is")
NOT_CROPPED = "context not cropped: before calling the model, idx_cond = idx[:, -block_size:]"
# With a prompt of one token, torch.cat((idx, idx_next)) raises nothing: each step doubles the rows.
CAT_ROWS = ("the new tokens became new rows: torch.cat joins along dim 0 unless a dim is given, "
            "torch.cat((idx, idx_next), dim=1) appends along time")


def run_generate(impl, model, idx, max_new_tokens, block_size=None):
    return impl.get("generate", "generate")(model, idx, max_new_tokens, block_size=block_size)


def where(impl):
    return impl.where_is("generate")


def test_shape_dtype_and_prompt_kept(impl, device):
    """The result is int64 of shape (B, T + max_new_tokens) on the prompt's device, the prompt first."""
    torch.manual_seed(0)
    idx = torch.randint(5, (3, 4), device=device)
    out = run_generate(impl, impl.build(StandIn, uniform).to(device), idx, 6)
    expect_tensor(out, "generate's result for a prompt of shape (3, 4) and max_new_tokens=6", where(impl),
                  shape=(3, 10), dtype=torch.int64, device=device,
                  hint="append one new token per step with torch.cat((idx, idx_next), dim=1)")
    if not torch.equal(out[:, :4], idx):
        fail(what="the prompt should stay at the start of the result", expected=idx[0].tolist(),
             got=out[0, :4].tolist(), where=where(impl))


def test_model_sees_growing_contexts(impl, device):
    """The model is called once per new token with the whole sequence so far, (B, T), (B, T+1), ...,
    and the token its last position is certain of is the one appended."""
    idx = torch.tensor([[0, 5, 2], [4, 1, 6]], device=device)
    model = impl.build(StandIn, next_of_each).to(device)
    out = run_generate(impl, model, idx, 6)
    expect_tensor(out, "generate's result for a prompt of shape (2, 3) and max_new_tokens=6", where(impl),
                  shape=(2, 9), dtype=torch.int64, device=device)
    if len(model.contexts) != 6:
        fail(what="generate(model, idx, max_new_tokens=6) should call the model once per new token",
             expected="6 calls", got=f"{len(model.contexts)} calls", where=where(impl))
    for k, context in enumerate(model.contexts):
        if tuple(context.shape) != (2, 3 + k) or not torch.equal(context, out[:, :3 + k]):
            fail(what=f"call {k + 1} of the model should get the whole sequence so far (block_size=None: no crop)",
                 expected=f"idx of shape (2, {3 + k}): {out[0, :3 + k].tolist()} in row 0",
                 got=f"{describe(context)}: {context[0].tolist()} in row 0", where=where(impl))
    # The model is certain that the token after t is t + 1 (mod 7): from the prompt's last tokens 2
    # and 6 the sequences can only go on 3, 4, 5, 6, 0, 1 and 0, 1, 2, 3, 4, 5.
    expected = (idx[:, -1:] + torch.arange(1, 7, device=device)) % 7
    if not torch.equal(out[:, 3:], expected):
        first = (idx[:, :1] + 1).expand(2, 6) % 7  # what the first position is certain of
        fail(what="each new token should be sampled from the model's last time step (a model certain that the "
             "token after t is t + 1)", expected=f"{expected[0].tolist()} in row 0",
             got=f"{out[0, 3:].tolist()} in row 0",
             where=where(impl), hint=Mistake(LAST_STEP) if torch.equal(out[:, 3:], first) else None)


def test_last_step_logits_used(impl, device):
    """With a model whose last position is certain of token 3 and every other position of token 0,
    every new token is 3."""
    torch.manual_seed(0)
    idx = torch.randint(5, (2, 4), device=device)
    out = run_generate(impl, impl.build(StandIn, last_is_3).to(device), idx, 5)
    expect_tensor(out, "generate's result for a prompt of shape (2, 4) and max_new_tokens=5", where(impl),
                  shape=(2, 9), dtype=torch.int64)
    new = out[:, 4:].cpu()
    if (new == 3).all():
        return
    if (new == 0).all():
        hint = Mistake(LAST_STEP)
    elif not ((new == 0) | (new == 3)).all():
        # Drawing what the model gives no chance is a softmax that does not normalise each row's logits.
        hint = Mistake("tokens the model gave no chance were drawn: " + WRONG_DIM)
    else:
        hint = None
    fail(what="new tokens from a model certain of token 3 at the last position (and of 0 elsewhere)",
         expected="[3, 3, 3, 3, 3] in every row", got=f"{new.tolist()}", where=where(impl), hint=hint)


def test_context_cropped_to_block_size(impl, device):
    """With block_size=4 the model only ever sees the last 4 tokens of the sequence so far."""
    block_size = 4
    idx = torch.tensor([[0, 5, 2], [4, 1, 6]], device=device)
    model = impl.build(StandIn, next_of_each, max_T=block_size).to(device)
    try:
        out = run_generate(impl, model, idx, 8, block_size=block_size)
    except ContextTooLong as exc:
        fail(what="the model should never see more than block_size tokens",
             expected=f"contexts of at most {block_size} tokens",
             got=str(exc), where=where(impl), hint=NOT_CROPPED)
    expect_tensor(out, "generate's result for a prompt of shape (2, 3), max_new_tokens=8, block_size=4",
                  where(impl), shape=(2, 11), dtype=torch.int64)
    for k, context in enumerate(model.contexts):
        so_far = out[:, :3 + k]
        if not torch.equal(context, so_far[:, -block_size:]):
            if torch.equal(context, so_far[:, :block_size]):
                hint = "crop to the last block_size tokens, idx[:, -block_size:], not the first ones"
            else:
                hint = "crop to exactly the last block_size tokens: idx[:, -block_size:]"
            fail(
                 what=f"call {k + 1} of the model should get the last block_size={block_size} tokens of the sequence so far",
                 expected=f"{so_far[0, -block_size:].tolist()} in row 0", got=f"{context[0].tolist()} in row 0",
                 where=where(impl), hint=hint)


def test_samples_follow_the_softmax(impl, device):
    """New tokens are drawn from softmax(logits): 4000 samples of a model with fixed probabilities
    [0.5, 0.3, 0.15, 0.05] pass a chi-square test (argmax, a temperature, a wrong softmax dim fail it)."""
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    B, steps = 2000, 2
    torch.manual_seed(0)
    out = run_generate(impl, impl.build(StandIn, fixed_probabilities).to(device),
                       torch.zeros((B, 1), dtype=torch.long, device=device), steps)
    rows = tuple(getattr(out, "shape", ())) == (B * 2**steps, 1)
    expect_tensor(out, f"generate's result for a prompt of shape ({B}, 1) and max_new_tokens={steps}", where(impl),
                  shape=(B, 1 + steps), dtype=torch.int64, hint=Mistake(CAT_ROWS) if rows else None)
    new = out[:, 1:].flatten().cpu()
    if new.min() < 0 or new.max() > 3:
        fail(what="sampled tokens should be ids of the vocabulary", expected="ids 0 .. 3",
             got=f"ids {new.min()} .. {new.max()}", where=where(impl))
    counts = torch.bincount(new, minlength=4).double()

    def chi2(p):
        expected = p.double() * counts.sum()
        return (((counts - expected) ** 2) / expected).sum().item()

    # Chi-square with 3 degrees of freedom: its 99.99th percentile is 21.1. Measured for seeds 0..19:
    # the reference gives 0.2 to 10.9; logits / 0.8 give 44 to 125 and logits / 1.25 give 38 to 116
    # (the mildest temperatures tried), logits / 0.5 583 to 745, softmax over the batch 3426 to 4408,
    # argmax 4000. So 25 has margin both ways.
    bound = 25
    got = chi2(probs)
    if got <= bound:
        return
    if (new == 0).all():
        hint = ARGMAX
    elif chi2(torch.full((4,), 0.25)) <= bound:
        hint = "the samples are uniform: " + WRONG_DIM
    elif counts[0] > counts[1] > counts[2] > counts[3]:
        hint = TEMPERATURE
    else:
        hint = "sample the next token with torch.multinomial(F.softmax(logits[:, -1, :], dim=-1), num_samples=1)"
    share = (counts / counts.sum()).tolist()
    fail(what=f"{B * steps} new tokens from a model with fixed probabilities [0.5, 0.3, 0.15, 0.05]",
         expected=f"shares close to those (chi-square at most {bound})",
         got="shares [" + ", ".join(f"{s:.3f}" for s in share) + f"] (chi-square {got:.0f})", where=where(impl),
         hint=hint)


def test_no_autograd_graph(impl, device):
    """The model runs with autograd off (no graph is built while sampling), and generate leaves
    autograd on for what comes after it (training)."""
    model = impl.build(StandIn, uniform).to(device)
    torch.manual_seed(0)
    run_generate(impl, model, torch.zeros((2, 1), dtype=torch.long, device=device), 3)
    if any(model.grad_enabled):
        fail(what="the model should run with autograd off during generation (torch.is_grad_enabled() in its forward)",
             expected="False at every call",
             got=f"True at {sum(model.grad_enabled)} of {len(model.grad_enabled)} calls",
             where=where(impl), hint=NO_GRAD)
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)  # put it back for the checks that follow
        fail(what="generate should leave autograd on when it returns", expected="torch.is_grad_enabled() is True",
             got="False", where=where(impl),
             hint="use @torch.no_grad() or `with torch.no_grad():`, not torch.set_grad_enabled(False)")

