"""Probes shared by the checks: distinct random weights, and causality by perturbation and by gradient."""

import functools
import inspect

import torch
from torch.overrides import TorchFunctionMode

# The probes that run where the submission's code runs (its own process in teacher mode), by name.
REMOTE_PROBES = {}


def runs_with_the_submission(probe):
    """Mark ``probe`` as one that needs the submission's objects themselves (gradients, say): called
    with a handle of teacher mode, it runs in the submission's process and answers with data."""
    REMOTE_PROBES[probe.__name__] = probe

    @functools.wraps(probe)
    def call(*args, **kwargs):
        from grader.sandbox import remote
        if any(remote.is_remote(value) for value in (*args, *kwargs.values())):
            return remote.run_probe(probe.__name__, args, kwargs)
        return probe(*args, **kwargs)

    return call


@runs_with_the_submission
def modules_of_class(module, cls):
    """The names of ``module``'s sub-modules (itself included, as "") that are instances of ``cls``."""
    return [name for name, sub in module.named_modules() if isinstance(sub, cls)]


@runs_with_the_submission
def class_names(modules):
    """The class name of each module in ``modules`` (an nn.Sequential, say), or None if it is not one."""
    return [type(m).__name__ for m in modules] if isinstance(modules, torch.nn.Sequential) else None


def set_parameters(module, values):
    """Copy ``values`` (name as in named_parameters() -> tensor) into ``module``'s parameters."""
    from grader.sandbox import remote
    if remote.is_remote(module):
        remote.load_parameters(module, values)
        return module
    parameters = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            parameters[name].copy_(value)
    return module


def randomize_parameters(module, seed=0, std=0.5):
    """Give every parameter distinct random values, so that two layers with the same init (two
    LayerNorms at ones and zeros, say) can no longer stand in for each other in an oracle."""
    generator = torch.Generator().manual_seed(seed)
    from grader.sandbox import remote
    if remote.is_remote(module):  # the values are drawn here, and the judge keeps them
        values = {name: (torch.randn(shape, generator=generator) * std).to(device)
                  for name, shape, device in remote.parameters(module)}
        return set_parameters(module, values)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * std)
    return module


def future_change(fn, x, t, seed=0):
    """How much ``fn``'s outputs at positions <= t move when the inputs after t are replaced.

    ``x`` is (B, T, C) float; ``fn`` maps it to (B, T, ...). Zero for a causal ``fn``.
    """
    generator = torch.Generator().manual_seed(seed)
    x2 = x.clone()
    x2[:, t + 1 :] = torch.randn(x2[:, t + 1 :].shape, generator=generator).to(x.device)
    with torch.no_grad():
        a, b = fn(x)[:, : t + 1], fn(x2)[:, : t + 1]
    return (a - b).abs().max().item()


def future_gradient(fn, x, t):
    """The largest gradient of ``fn``'s output at position t with respect to inputs after t. Zero
    for a causal ``fn``: a mask that zeroes the weights but still lets gradients through shows here."""
    return input_gradient(fn, x, t)[:, t + 1 :].abs().max().item()


@runs_with_the_submission
def input_gradient(fn, x, t):
    """The gradient of the sum of ``fn``'s outputs at position t with respect to ``x``."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    if type(out) is torch.Tensor and not out.requires_grad:
        return torch.zeros_like(x)  # an output cut off from autograd (detached, rebuilt): nothing flows back
    out[:, t].sum().backward()
    return torch.zeros_like(x) if x.grad is None else x.grad  # None: out depends on the weights alone


def past_change(fn, x, t, seed=0):
    """How much ``fn``'s output at position t moves when only the input at position 0 is replaced:
    zero for a model that looks at each position alone (the past is not used)."""
    generator = torch.Generator().manual_seed(seed)
    x2 = x.clone()
    x2[:, 0] = torch.randn(x2[:, 0].shape, generator=generator).to(x.device)
    with torch.no_grad():
        return (fn(x)[:, t] - fn(x2)[:, t]).abs().max().item()


class Calls(list):
    """Recorded calls. A list of its own type: teacher mode reads it when the check does, not when
    the recording starts."""


def _recording_init(original, calls):
    signature = inspect.signature(original)

    def init(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            calls.append(tuple(bound.arguments.values())[1:])
        except TypeError:  # the original call below reports it
            pass
        original(self, *args, **kwargs)

    return init


@runs_with_the_submission
def record_init_arguments(cls):
    """record_arguments where the class lives in the submission's process (teacher mode), which is
    started afresh for every submission, so nothing is undone."""
    calls = Calls()
    cls.__init__ = _recording_init(cls.__init__, calls)
    return calls


def record_arguments(monkeypatch, cls):
    """Wrap ``cls.__init__`` so each call's positional arguments (defaults filled in) are recorded."""
    from grader.sandbox import remote
    if remote.is_remote(cls):
        return record_init_arguments(cls)
    calls = Calls()
    monkeypatch.setattr(cls, "__init__", _recording_init(cls.__init__, calls))
    return calls


class CallCount:
    """How many times a module's forward was called since watch_calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1


@runs_with_the_submission
def watch_calls(module):
    """A CallCount of ``module``'s forward calls from now on."""
    count = CallCount()
    module.register_forward_pre_hook(count)
    return count


@runs_with_the_submission
def parameters_outside(module, part):
    """How many parameter values ``module`` has outside its sub-module ``part`` (all, if ``part`` is
    not a module)."""
    inside = {id(p) for p in part.parameters()} if isinstance(part, torch.nn.Module) else set()
    return sum(p.numel() for p in module.parameters() if id(p) not in inside)


@runs_with_the_submission
def embedding_gradient(model, blocks, idx, t):
    """``model(idx)``; whether the token embeddings (else what reached ``blocks[0]``, a stand-in that
    records its inputs) and the logits are in the autograd graph; and, when they are, the gradient of
    the sum of the logits at position t with respect to those embeddings (None if none reaches them)."""
    embedded = []
    hook = model.token_embedding_table.register_forward_hook(lambda m, i, out: embedded.append(out))
    try:
        out = model(idx)
    finally:
        hook.remove()
    logits = out[0] if isinstance(out, tuple) and len(out) == 2 else None
    if type(logits) is not torch.Tensor or logits.dim() != 3:
        return out, False, None  # the judge reports the shape first
    seen = embedded[0] if embedded else blocks[0].inputs[0]
    if not (seen.requires_grad and logits.requires_grad):
        return out, False, None
    seen.retain_grad()
    logits[:, t].sum().backward()
    return out, True, seen.grad


@runs_with_the_submission
def record_torch_calls(fn, x, keep=()):
    """``fn(x)`` under RecordCalls, without autograd: how many torch calls it made, the names it
    called (each once, sorted) and the outputs of the calls named in ``keep`` (at most 16)."""
    with torch.no_grad(), RecordCalls(keep=keep) as recorder:
        fn(x)
    return {"count": len(recorder.names), "names": sorted(set(recorder.names)), "kept": recorder.kept[:16]}


@runs_with_the_submission
def parameter_status(module, name):
    """Whether ``module.name`` is an nn.Parameter, and whether ``module.parameters()`` lists it."""
    value = getattr(module, name, None)
    return isinstance(value, torch.nn.Parameter), any(p is value for p in module.parameters())


@runs_with_the_submission
def output_and_gradients(module, x, w, names=()):
    """``out = module(x)`` for an ``x`` that requires grad, then the gradients of ``(out * w).sum()``:
    (out, whether out is in the autograd graph, {"x": ..., name: ... for the attributes ``names``}),
    each gradient None where none arrived. No gradients when out is not a graph tensor shaped as w."""
    x = x.detach().clone().requires_grad_(True)
    attributes = [getattr(module, name) for name in names]
    for value in attributes:
        value.grad = None
    out = module(x)
    if type(out) is not torch.Tensor or not out.requires_grad or out.shape != w.shape:
        return out, type(out) is torch.Tensor and out.requires_grad, {}
    (out * w).sum().backward()
    return out.detach(), True, {"x": x.grad, **{name: value.grad for name, value in zip(names, attributes)}}


@runs_with_the_submission
def loss_backward(model, idx, targets):
    """``model(idx, targets)``, then ``loss.backward()`` where the loss is a tensor in the autograd graph:
    (the output, detached; whether backward ran; the names of the parameters a gradient reached)."""
    model.zero_grad(set_to_none=True)
    out = model(idx, targets)
    if not (type(out) is tuple and len(out) == 2 and type(out[1]) is torch.Tensor and out[1].requires_grad):
        return out, False, []
    out[1].backward()
    reached = [name for name, p in model.named_parameters() if p.grad is not None]
    return tuple(t.detach() if type(t) is torch.Tensor else t for t in out), True, reached


@runs_with_the_submission
def state_of(module):
    """``module.state_dict()`` as a plain dict of detached copies on the CPU (an OrderedDict is not data:
    in teacher mode it would stay where the module lives)."""
    return {name: value.detach().cpu().clone() for name, value in module.state_dict().items()}


@runs_with_the_submission
def train_by_the_graders_loop(text, recipe, *classes, device="cpu", bf16=False):
    """The grader's seeded training loop on the submission's model: training.train_bigram for the
    classes ``BigramLanguageModel``, training.train_gpt for ``GPTConfig, GPTLanguageModel``; ``recipe`` is a
    training.Recipe as a dict. Returns the loop's validation loss and the trained weights (on the CPU)."""
    from grader.probes import training

    recipe = training.Recipe(**recipe)
    if len(classes) == 1:
        run = training.train_bigram(*classes, text, recipe, device)
    else:
        run = training.train_gpt(*classes, text, recipe, device, bf16)
    return {"val": run["val"], "weights": state_of(run["model"]), "model": run["model"]}


@runs_with_the_submission
def train_adder_by_the_graders_loop(config_class, model_class, get_batch, loss_fn, recipe):
    """addition_training.train_only on the submission's GPT, batches and loss; ``recipe`` is an
    AdditionRecipe as a dict. Returns the trained weights (on the CPU), the trained-on problems and the
    model itself (a handle, in teacher mode)."""
    from grader.probes import addition_training as adder

    run = adder.train_only(config_class, model_class, get_batch, loss_fn, adder.AdditionRecipe(**recipe))
    return {"weights": state_of(run["model"]), "trained_a": run["trained_a"], "trained_b": run["trained_b"],
            "model": run["model"]}


@runs_with_the_submission
def is_instance(obj, cls):
    """``isinstance(obj, cls)``, where ``obj`` lives."""
    return isinstance(obj, cls)


class RecordCalls(TorchFunctionMode):
    """Records the name of every torch function and tensor method called inside it, and the outputs of
    the calls named in ``keep`` (e.g. the softmaxes), to check how a result was computed."""

    def __init__(self, keep=()):
        super().__init__()
        self.names = []
        self.keep = set(keep)
        self.kept = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        self.names.append(name)
        if name in self.keep and isinstance(out, torch.Tensor):
            self.kept.append(out.detach())
        return out


# ---- Exercise 12 (addition)

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


# ---- Exercise 14 (modern)

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


# ---- Exercise 13 (finetune)

@runs_with_the_submission
def parameter_values(module):
    """``module``'s parameters now, by name: detached copies, which later training leaves as they are
    (in teacher mode, reading a parameter the judge set gives the judge's copy, not the trained one)."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


@runs_with_the_submission
def pretrain(model, data, iters, learning_rate, batch_size, block_size, seed):
    """The grader's pretraining loop for EX3: AdamW on seeded batches of ``data``, ``model`` in place."""
    from grader.probes.training import sample_batch

    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(iters):
        x, y = sample_batch(data, batch_size, block_size, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def random_state(device):
    """The CPU's random state and, on CUDA, the GPU's: all that a training step draws from."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


@runs_with_the_submission
def training_step(model, values, get_batch, data, batch_size, block_size, train=True, state=None):
    """One step of a training loop but for the optimizer's: ``model`` at the weights ``values`` (name ->
    tensor), ``model.train(train)``, then from the random state ``state`` (None: the one there is)
    ``get_batch(data, batch_size, block_size, device)``, the loss and backward. Returns the loss (a
    float), each parameter's gradient by name (None where none arrived) and the random state after, from
    which the next step draws on as one loop would."""
    device = next(model.parameters()).device
    if state is not None:
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], device)
    set_parameters(model, values)
    model.train(train)
    for p in model.parameters():
        p.grad = None
    x, y = get_batch(data, batch_size, block_size, device)
    _, loss = model(x, y)
    loss.backward()
    return loss.item(), {name: p.grad for name, p in model.named_parameters()}, random_state(device)
