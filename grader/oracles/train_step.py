"""One training step of the student's GPT, judged against the contract's: before a training check
trains, the grader sets weights it draws itself, runs the student's model in train mode on a batch of
its own, and compares the loss and every weight's gradient with the contract's at the same weights
(``contract_forward`` with autograd, computed here, in the judge).

Why: eval-mode checks do not see a model that learns otherwise than it computes (a ``torch.no_grad()``
or ``.detach()`` in ``forward``, a loss that does not reach a weight). And in teacher mode the trained
weights come from the submission's process, so a loss judged from them alone cannot tell training from
weights brought in from elsewhere; the gradients at the judge's own weights can.
"""

import secrets

import torch
import torch.nn.functional as F

from grader.oracles.expect import fail, parameter_shapes
from grader.oracles.judge_training import contract_forward, expected_shapes
from grader.probes import training
from grader.probes.probe import loss_and_gradients, set_parameters

SEED = 1234
# Measured over 20 draws (seeds 0-19, training batches of GPT_RECIPE) against the contract's: the reference
# and the valid alternatives of the kit's variants give the same loss and gradients up to 4.8e-7 (loss)
# and 5.8e-7 of the largest entry (gradients; SDPA, a transposed loss); the GPT mistakes that reach this
# step differ by 0.08 or more (loss) or by the whole largest entry (1.0: no gradient, 2.2: ln_f before
# the blocks). So 1e-4 and 1e-3 leave margins of 200x and 1700x on the right side and of 800x and
# 1000x on the wrong one.
LOSS_ATOL = 1e-4
GRADIENT_RTOL = 1e-3  # of the largest entry of the contract's gradient for that weight


def drawn_weights(shapes, generator):
    """The judge's weights: N(0, 0.1) for every weight, LayerNorm weights around 1."""
    weights = {}
    for name, shape in shapes.items():
        value = torch.randn(shape, generator=generator) * 0.1
        weights[name] = value + 1.0 if name.endswith(("ln1.weight", "ln2.weight", "ln_f.weight")) else value
    return weights


def contract_loss_and_gradients(weights, idx, targets, recipe):
    """The contract's loss and gradients at ``weights``, computed by the judge."""
    leaves = {name: value.clone().requires_grad_(True) for name, value in weights.items()}
    logits = contract_forward(leaves, idx, recipe.n_layer, recipe.n_head)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    return loss.detach(), {name: leaf.grad for name, leaf in leaves.items()}


def differing_gradients(gradients, expected):
    """The names of the weights whose gradient is missing or differs from the contract's."""
    differ = []
    for name, want in expected.items():
        got = gradients.get(name)
        scale = float(want.abs().max()) or 1.0
        if (type(got) is not torch.Tensor or got.shape != want.shape
                or not float((got.float() - want).abs().max()) <= GRADIENT_RTOL * scale):
            differ.append(name)
    return differ


def expect_trains_as_the_contract(model, recipe, text, where, unforeseen=False):
    """The student's GPT (built for ``recipe``, dropout 0) gives the contract's loss and gradients in train
    mode at weights the judge draws, on a training batch of ``text`` as the loop draws them; a
    GradingFailure naming what differs otherwise. ``unforeseen`` (teacher mode): the weights and the batch
    come from a seed drawn now, so no answer can be worked out ahead and kept in a submission; else SEED,
    for a student's run that gives the same message each time. Skipped when the contract's weights are
    not all there, named and shaped as CONTRACT.md says (teacher mode then does not judge the trained
    weights at all); a parameter more than the contract's does not skip it: the step is judged on the
    contract's weights, and an extra one that changes the loss shows there."""
    data, vocab_size = training.encode(text)
    shapes, got = expected_shapes(recipe, vocab_size), parameter_shapes(model)
    if any(got.get(name) != shape for name, shape in shapes.items()):
        return
    generator = torch.Generator().manual_seed(secrets.randbits(62) if unforeseen else SEED)
    weights = drawn_weights(shapes, generator)
    idx, targets = training.sample_batch(training.split(data)[0], recipe.batch_size, recipe.block_size, generator)
    set_parameters(model, weights)
    loss, gradients = loss_and_gradients(model, idx, targets)
    expected_loss, expected = contract_loss_and_gradients(weights, idx, targets, recipe)
    what = "one training step of GPTLanguageModel (train mode, dropout 0) at the grader's weights"
    if type(loss) is not torch.Tensor or not float((loss - expected_loss).abs()) <= LOSS_ATOL:
        fail(what=what, expected=f"the contract's loss, {float(expected_loss):.4f}",
             got="no loss that backpropagates" if loss is None else f"{float(loss):.4f}", where=where,
             hint="in train mode the model must compute what it computes in eval mode (with dropout 0)")
    differ = differing_gradients(gradients, expected)
    if differ:
        missing = [name for name in differ if gradients.get(name) is None]
        fail(what=what, expected="the contract's gradient for every weight",
             got=f"{len(differ)} of {len(expected)} differ: " + ", ".join(differ[:4]) + (", ..." if len(differ) > 4 else ""),
             where=where,
             hint=("no gradient reaches " + missing[0] + ": no torch.no_grad(), .detach() or .data in forward")
             if missing else "the loss must backpropagate through the same computation as in eval mode")
