"""Assertions for the graded checks whose failure messages say what was expected, what came back,
and where to look."""

import torch

from grader.failure import GradingFailure, Mistake


def fail(*, what, expected, got, where, hint=None, picture=None):
    """Raise the GradingFailure that says what went wrong: ``what`` failed, ``expected`` against ``got``,
    ``where`` to look (impl.where), and a ``hint`` (a Mistake when the check named the mistake) or None.
    ``picture``: lines of text drawn from the submission's behaviour (grader/oracles/attention_picture.py),
    shown after the hint; None for none."""
    line = GradingFailure.line
    lines = [what, line("expected:", expected), line("got:", got), line(GradingFailure.WHERE_LABEL, where)]
    if hint:
        lines.append(line(GradingFailure.MISTAKE_LABEL if isinstance(hint, Mistake) else GradingFailure.HINT_LABEL,
                          hint))
    if picture:
        lines.append(picture)
    raise GradingFailure("\n".join(lines), mistake=str(hint) if isinstance(hint, Mistake) else None,
                         picture=picture or None)


def equal(got, expected):
    """``got == expected`` for plain values (str, int, list, dict, ...), comparing exact types first, so
    an object that claims to equal everything (``__eq__`` always True) is not equal."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(equal(a, b) for a, b in zip(got, expected))
    if isinstance(expected, dict):
        return (len(got) == len(expected) and all(equal(k, k) for k in got)
                and all(k in expected and equal(got[k], expected[k]) for k in got))
    return expected == got


PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)


def describe(obj):
    """A short description of what came back, for messages."""
    if isinstance(obj, torch.Tensor):
        return f"tensor of shape {tuple(obj.shape)}, dtype {obj.dtype}, on {obj.device.type}"
    if isinstance(obj, (tuple, list)):
        return f"{type(obj).__name__} of {len(obj)}: (" + ", ".join(describe(o) for o in obj) + ")"
    from grader.sandbox.remote import text as repr_of  # in teacher mode: the remote object's own repr

    text = repr_of(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def expect_tensor(obj, what, where, shape=None, dtype=None, device=None, hint=None):
    """``obj`` is a tensor with this shape, dtype and device type (each one checked only when given)."""
    if type(obj) not in PLAIN_TENSORS:
        # A subclass can redefine comparisons (__torch_function__), so only torch's own type is graded.
        fail(what=f"{what} should be a tensor", expected="a torch.Tensor",
             got=describe(obj) if not isinstance(obj, torch.Tensor)
             else f"a subclass of torch.Tensor ({type(obj).__name__}); return a plain tensor", where=where, hint=hint)
    if shape is not None and tuple(obj.shape) != tuple(shape):
        fail(what=f"{what} has the wrong shape", expected=tuple(shape), got=tuple(obj.shape), where=where, hint=hint)
    if dtype is not None and obj.dtype != dtype:
        fail(what=f"{what} has the wrong dtype", expected=dtype, got=obj.dtype, where=where, hint=hint)
    if device is not None and obj.device.type != torch.device(device).type:
        fail(what=f"{what} is on the wrong device", expected=torch.device(device).type, got=obj.device.type,
             where=where,
             hint=hint or "create new tensors on the input's device, e.g. torch.arange(T, device=idx.device)")
    return obj


def expect_pair(out, what, where):
    """``out`` is the ``(logits, loss)`` pair that models return."""
    if not isinstance(out, tuple) or len(out) != 2:
        fail(what=f"{what} should return a pair (logits, loss)", expected="a tuple of 2", got=describe(out),
             where=where)
    return out


def expect_linear(layer, in_features, out_features, bias, what, where):
    """``layer`` is an ``nn.Linear`` with this layout."""
    if not isinstance(layer, torch.nn.Linear):
        fail(what=f"{what} should be an nn.Linear", expected=f"nn.Linear({in_features}, {out_features}, bias={bias})",
             got=describe(layer), where=where)
    got = (layer.in_features, layer.out_features, layer.bias is not None)
    if got != (in_features, out_features, bias):
        fail(what=f"{what} has the wrong layout",
             expected=f"nn.Linear({in_features}, {out_features}, bias={bias})",
             got=f"nn.Linear({got[0]}, {got[1]}, bias={got[2]})", where=where)
    # Its parameters too, as named_parameters() lists them: the shapes the grader draws its weights in
    # (in_features and out_features are plain attributes, which may say anything).
    expected = {"weight": (out_features, in_features), **({"bias": (out_features,)} if bias else {})}
    shapes = parameter_shapes(layer)
    if shapes != expected:
        fail(what=f"{what}'s parameters have the wrong shapes", expected=_shapes_text(expected),
             got=_shapes_text(shapes), where=where)
    return layer


def parameter_shapes(module):
    """{name: shape} of ``module``'s named_parameters(); in teacher mode, as the submission lists them."""
    from grader.sandbox.handle import is_remote

    if is_remote(module):
        from grader.sandbox import remote

        return {name: shape for name, shape, _ in remote.parameters(module)}
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def _shapes_text(shapes):
    return ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items()) or "no parameters"


def expect_raises(exc_type, fn, what, where, hint=None):
    """Calling ``fn()`` raises ``exc_type``; returns the exception."""
    try:
        fn()
    except exc_type as exc:
        return exc
    except NotImplementedError:
        raise
    except Exception as exc:  # a different error is still the wrong answer
        fail(what=what, expected=f"{exc_type.__name__}", got=f"{type(exc).__name__}: {exc}", where=where, hint=hint)
    fail(what=what, expected=f"{exc_type.__name__}", got="no error", where=where, hint=hint)


def attribute(obj, name, where):
    """``obj.name``, or a failure saying which attribute CONTRACT.md expects."""
    if not hasattr(obj, name):
        from grader.sandbox.remote import type_name  # in teacher mode type(obj) is the judge's Handle

        fail(what=f"{type_name(obj)} has no attribute {name!r}", expected=f"self.{name} (CONTRACT.md names it)",
             got="no such attribute", where=where)
    return getattr(obj, name)


# The graded folder is imported as the package _gptkit_impl_<digest> (grader/impl.py, Implementation.package),
# in this process in student mode and in the submission's own in teacher mode, where the digest may differ.
IMPL_PACKAGE_PREFIX = "_gptkit_impl_"


def class_of(obj):
    """``(module, qualname)`` of ``obj``'s class. An object of the submission's process (teacher mode) is
    a handle whose first type is its class's "module.qualname" as that process wrote it
    (grader/probes/server.py); nothing more is asked of it."""
    from grader.sandbox import remote

    if not remote.is_remote(obj):
        return type(obj).__module__, type(obj).__qualname__
    types = obj._types  # remote.type_name reads the same, and keeps only the last part
    full = str(types[0]) if types else "builtins.object"
    parts = full.split(".")
    if parts[0].startswith(IMPL_PACKAGE_PREFIX) and len(parts) > 2:  # a nested class keeps its dots
        return ".".join(parts[:2]), ".".join(parts[2:])
    module, _, qualname = full.rpartition(".")
    return module, qualname


def class_text(obj, impl):
    """What class ``obj`` is, in words that tell two classes of one name apart: "nn.LayerNorm",
    "a class named MultiHeadAttention defined in exercises/block.py", "a class named MultiHeadAttention
    from the module exercises.attention" (imported by its absolute name, not from the graded folder).
    The same words in student and teacher mode: the graded package's name is never shown."""
    module, qualname = class_of(obj)
    if module.startswith("torch.nn.modules."):
        return f"nn.{qualname}"
    if module == "builtins":  # None, a number, a function: what it is says more than its class
        return describe(obj)
    package, _, inside = module.partition(".")
    if package.startswith(IMPL_PACKAGE_PREFIX) and inside:
        return f"a class named {qualname} defined in {impl.where(inside.replace('.', '/'))}"
    return f"a class named {qualname} from the module {module}"


def contract_class_text(impl, module, name):
    """The contract's class ``name`` of the graded folder's ``module``, in the words of class_text."""
    return f"{name} from {impl.where(module)}"


def same_name_hint(obj, impl, module, name):
    """A hint for ``obj`` found where an instance of the contract's class belongs, when ``obj``'s class
    has that class's name but is another class; None otherwise. ``module`` is the graded folder's
    module that defines ``name``, or None for torch's ``nn.<name>``."""
    got_module, qualname = class_of(obj)
    if qualname.rpartition(".")[2] != name:
        return None
    if module is None:
        return f"use torch's nn.{name} itself, not a class of your own with the same name"
    package, _, inside = got_module.partition(".")
    if not package.startswith(IMPL_PACKAGE_PREFIX):
        # exercises/block.py doing `from exercises.attention import ...` imports attention.py a second
        # time, as another module: its class is not the one the grader loaded from the graded folder.
        return (f"import it relatively, from .{module} import {name}: the grader loads your folder as a "
                f"package of its own, and to it {got_module}.{name}, imported by its absolute name, is another class")
    if inside != module:
        return (f"use the {name} of {module}.py (from .{module} import {name}), not a class of the same name "
                f"in {inside}.py")
    return f"the {name} of {module}.py was defined or loaded twice: keep one class {name}, imported once"


def max_difference(a, b):
    """The largest absolute difference between two tensors of one shape (inf where one is not finite)."""
    if type(a) not in PLAIN_TENSORS or type(b) not in PLAIN_TENSORS:
        return float("inf")
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    if a.shape != b.shape:
        return float("inf")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return 0.0 if torch.equal(a.nan_to_num(), b.nan_to_num()) else float("inf")
    return (a - b).abs().max().item() if a.numel() else 0.0


def same_values(got, expected, atol):
    """``got`` matches ``expected`` within atol, NaN and inf included: the same entries are not finite
    and the finite ones are close. Lets a NaN-producing mistake be told from another."""
    if type(got) not in PLAIN_TENSORS or type(expected) not in PLAIN_TENSORS:
        return False
    got, expected = got.detach().float().cpu(), expected.detach().float().cpu()
    if got.shape != expected.shape:
        return False
    finite = torch.isfinite(got)
    if not torch.equal(finite, torch.isfinite(expected)):
        return False
    return bool(((got - expected).abs()[finite] <= atol).all())


def name_the_mistake(got, candidates, atol=1e-4, not_finite=None):
    """The hint of the first known mistake whose output ``got`` matches; else ``not_finite`` when got
    holds NaN or inf; else None.

    ``candidates`` maps a hint to the output (or a list of outputs) that mistake would produce from the
    same weights.
    """
    for hint, outputs in candidates.items():
        for wrong in outputs if isinstance(outputs, list) else [outputs]:
            if wrong is not None and same_values(got, wrong, atol):
                return Mistake(hint)
    if not_finite is not None and type(got) in PLAIN_TENSORS and not torch.isfinite(got.detach()).all():
        return not_finite
    return None


def expect_close(got, expected, what, where, atol=1e-4, mistakes=None, hint=None, picture=None):
    """``got`` equals the grader's own oracle ``expected`` within ``atol``; on failure, name the mistake
    from ``mistakes`` (see name_the_mistake) when one matches. ``picture``: see fail; shown only when the
    values differ, not for a wrong shape."""
    expect_tensor(got, what, where, shape=tuple(expected.shape))
    if expected.numel() == 0 or torch.isnan(expected.detach()).any():
        # The oracle was computed from what the submission's layout gave it (a parameter of size 0, an
        # eps of NaN): nothing can be compared, and nothing passes.
        fail(what=f"{what}: the grader's own computation from your weights gave no values to compare",
             expected="the layout of CONTRACT.md", got="an empty or NaN result", where=where, hint=hint)
    diff = max_difference(got, expected)
    if diff <= atol:
        return got
    named = name_the_mistake(got, mistakes or {}, atol)
    if not torch.isfinite(got.detach()).all():
        got_text = "NaN or inf values"
    else:
        got_text = f"values off by up to {diff:.3g} (allowed {atol:g})"
    fail(what=f"{what} does not match the grader's own computation from your weights",
         expected="the same values", got=got_text, where=where, hint=named or hint, picture=picture)
