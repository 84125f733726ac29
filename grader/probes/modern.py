"""Exercise 14's probes (modern parts): calls and autograd graphs, in-place changes, shared parameters, and the tiny training runs."""

import torch

from grader.probes.probe import RecordCalls, runs_with_the_submission, state_of


def graph_ops(tensor):
    """The names of the autograd nodes that produced ``tensor``."""
    names, seen, stack = [], set(), [getattr(tensor, "grad_fn", None)]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions)
    return names


def attribute_at(obj, path):
    """``obj`` followed along a dotted attribute path ("lm_head.bias")."""
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


@runs_with_the_submission
def is_callable(obj):
    """``callable(obj)``, where ``obj`` lives."""
    return callable(obj)


@runs_with_the_submission
def calls_and_graph(fn, x):
    """``out = fn(x)`` for an ``x`` that requires grad, under RecordCalls: (out, the names of the torch
    functions it called, each once, sorted; the names of the autograd nodes that produced out), to
    tell a formula written by hand from torch's own."""
    x = x.detach().clone().requires_grad_(True)
    with RecordCalls() as recorder:
        out = fn(x)
    ops = sorted(set(graph_ops(out)))
    return (out.detach() if isinstance(out, torch.Tensor) else out), sorted(set(recorder.names)), ops


@runs_with_the_submission
def output_and_input(fn, x):
    """``fn(x)``, and ``x`` as the call left it (an in-place change shows there)."""
    return fn(x), x


@runs_with_the_submission
def output_input_and_gradient(fn, x, w):
    """``out = fn(x)`` for an ``x`` that requires grad: (out, x as the call left it, whether out is in the
    autograd graph, the gradient of ``(out * w).sum()`` with respect to x). The gradient is None unless
    out is in the graph and shaped as w."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    in_graph = isinstance(out, torch.Tensor) and out.requires_grad
    if not in_graph or out.shape != w.shape:
        return out, x.detach(), in_graph, None
    (grad,) = torch.autograd.grad((out * w).sum(), x)  # a scalar: grad_outputs would import sympy (~2 s)
    return out.detach(), x.detach(), True, grad


@runs_with_the_submission
def call_keeping(fn, obj, paths):
    """``fn(obj)``, and for each dotted attribute path of ``obj`` whether it holds the very same object
    after the call as before."""
    before = [attribute_at(obj, path) for path in paths]
    result = fn(obj)
    return result, [attribute_at(obj, path) is old for path, old in zip(paths, before)]


@runs_with_the_submission
def how_shared(obj, path, other):
    """How ``obj.<path>`` stands to ``obj.<other>`` (dotted attribute paths): (the very same object, the
    first an nn.Parameter, two tensors on one storage)."""
    a, b = attribute_at(obj, path), attribute_at(obj, other)
    tensors = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return a is b, isinstance(a, torch.nn.Parameter), tensors and a.data_ptr() == b.data_ptr()


@runs_with_the_submission
def count_parameters(module):
    """How many values ``module.parameters()`` lists (a shared Parameter once)."""
    return sum(p.numel() for p in module.parameters())


@runs_with_the_submission
def loss_gradient(model, idx, targets, path):
    """The gradient ``model.<path>`` gets from one ``loss.backward()``, loss as ``model(idx, targets)``
    returns it (None where none arrives)."""
    model.zero_grad(set_to_none=True)
    _, loss = model(idx, targets)
    loss.backward()
    return attribute_at(model, path).grad


@runs_with_the_submission
def train_pair_model(ffwd_class, seed=0):
    """modern_training.train_pairs: the final loss, the parameters that got no gradient, the weights."""
    from grader.probes.modern_training import train_pairs

    run = train_pairs(ffwd_class, seed)
    return {"loss": run["loss"], "no_grad": run["no_grad"], "weights": state_of(run["model"])}


@runs_with_the_submission
def train_tied_model(model, vocab_size, seed=0):
    """modern_training.train_tied on the tied stand-in ``model``: the final loss and the weights."""
    from grader.probes.modern_training import train_tied

    return {"loss": train_tied(model, vocab_size, seed), "weights": state_of(model)}


@runs_with_the_submission
def train_lag_model(rope, seed=0):
    """modern_training.train_lag around ``rope``: the final loss and the weights (``rope`` has none)."""
    from grader.probes.modern_training import train_lag

    run = train_lag(rope, seed)
    return {"loss": run["loss"], "weights": state_of(run["model"])}
