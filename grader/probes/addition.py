"""Exercise 12's probes (the adder): its loss's value and gradient, and the grader's training loop on its GPT."""

import torch

from grader.probes.probe import runs_with_the_submission, state_of


@runs_with_the_submission
def loss_and_gradient(loss_fn, logits, targets):
    """``loss = loss_fn(logits, targets)`` for logits that require grad: (loss, whether it is in the
    autograd graph, the gradient of loss with respect to the logits, the targets as the call left them).
    The gradient is None unless loss is a plain scalar in the graph (then one backward pass)."""
    logits = logits.detach().clone().requires_grad_(True)
    loss = loss_fn(logits, targets)
    in_graph = isinstance(loss, torch.Tensor) and loss.requires_grad
    if type(loss) is not torch.Tensor:
        return loss, in_graph, None, targets
    if in_graph and loss.shape == ():
        loss.backward()
    return loss.detach(), in_graph, logits.grad, targets


@runs_with_the_submission
def train_adder_by_the_graders_loop(config_class, model_class, get_batch, loss_fn, recipe):
    """addition_training.train_only on the submission's GPT, batches and loss; ``recipe`` is an
    AdditionRecipe as a dict. Returns the trained weights (on the CPU), the trained-on problems and the
    model itself (a handle, in teacher mode)."""
    from grader.probes import addition_training as adder

    run = adder.train_only(config_class, model_class, get_batch, loss_fn, adder.AdditionRecipe(**recipe))
    return {"weights": state_of(run["model"]), "trained_a": run["trained_a"], "trained_b": run["trained_b"],
            "model": run["model"]}
