"""Probes shared by the checks: distinct random weights, causality by perturbation and by gradient, and
the grader's training loop on the bigram and the GPT. An exercise's own probes are in probes/<name>.py.

A probe marked ``runs_with_the_submission`` runs where the submission's objects live: in the same
process in student mode, in the submission's process in teacher mode, by its name ``module:function``."""

import functools
import inspect

import torch
from torch.overrides import TorchFunctionMode

from grader.sandbox.handle import is_remote

# The probes that run where the submission's code runs (its own process in teacher mode), by
# "module:function"; a probe module registers its probes when it is imported (probe_key).
REMOTE_PROBES = {}


def probe_key(probe):
    return f"{probe.__module__}:{probe.__name__}"


def find_probe(key):
    """The probe registered as ``key``, importing its module (one of grader.probes) first; else LookupError."""
    import importlib

    module = key.partition(":")[0]
    if key not in REMOTE_PROBES and module.startswith("grader.probes."):
        importlib.import_module(module)
    if key not in REMOTE_PROBES:
        raise LookupError(f"no probe {key!r}")
    return REMOTE_PROBES[key]


def runs_with_the_submission(probe):
    """Mark ``probe`` as one that needs the submission's objects themselves (gradients, say): called
    with a handle of teacher mode, it runs in the submission's process and answers with data."""
    REMOTE_PROBES[probe_key(probe)] = probe

    @functools.wraps(probe)
    def call(*args, **kwargs):
        if any(is_remote(value) for value in (*args, *kwargs.values())):
            from grader.sandbox import remote  # the judge's side only
            return remote.run_probe(probe_key(probe), args, kwargs)
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
    if is_remote(module):
        from grader.sandbox import remote  # the judge's side only
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
    if is_remote(module):  # the values are drawn here, and the judge keeps them
        from grader.sandbox import remote  # the judge's side only
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
    if is_remote(cls):
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
def plain_tensor_attributes(module):
    """The names of ``module``'s own attributes that hold a tensor but are neither a parameter nor a
    registered buffer (``self.tril = torch.tril(...)``): .to(device) leaves them where they were."""
    names = sorted(name[:60] for name, value in vars(module).items() if type(name) is str and name.isidentifier()
                   and isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter))
    return names[:5]  # a few short names: what crosses to the judge stays small whatever the module holds


@runs_with_the_submission
def loss_and_gradients(model, idx, targets):
    """In train mode, ``model(idx, targets)`` and ``loss.backward()``: (the loss, detached, or None when
    the model gave no loss in the autograd graph; {parameter name: its gradient, or None})."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(idx, targets)
    if not (type(out) is tuple and len(out) == 2 and type(out[1]) is torch.Tensor and out[1].requires_grad
            and out[1].shape == ()):
        return None, {}
    out[1].backward()
    gradients = {name: None if p.grad is None else p.grad.detach().cpu().clone()
                 for name, p in model.named_parameters()}
    return out[1].detach().cpu(), gradients


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
