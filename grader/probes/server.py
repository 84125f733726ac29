"""The process that runs a submission's code for a judge: ``python -m grader.probes.server``.

Started by the judge (grader/sandbox/remote.py) in teacher mode. It confines itself (a Landlock domain of its
own inside the judge's, the import guard) before it imports any of the submission, then answers the
judge's requests one at a time: look up a name of the contract, read an attribute, call something,
run one of the grader's probes. Every answer is data (grader/sandbox/wire.py); an object that is not data
stays here and the judge gets a numbered handle to it. Nothing here decides a grade: a submission
that rewrites this process can only change the data it answers with, which the judge checks.
"""

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

import torch

from grader.sandbox import confine, file_rules, wire

MAX_MESSAGE = 2000  # characters of an exception's message sent back
# The grader modules this process needs: its own runtime (the wire, the confinement, the trap for a
# function known to hang, the handle's type for the probes' is_remote) and the probes, stand-ins and
# training loops (the model trains here; the judge measures the trained weights itself). Nothing of
# the judge: the checks, the oracles, its expectations and its channel are refused, and none of them is
# loaded here (a module loaded before the guard could be reached through sys.modules).
GRADER_MODULES = ("grader", "grader.impl", "grader.probes", "grader.probes.*",
                  "grader.sandbox", "grader.sandbox.wire", "grader.sandbox.confine",
                  "grader.sandbox.file_rules", "grader.sandbox.syscalls", "grader.sandbox.hang",
                  "grader.sandbox.handle")
# The modules of the judge that must never be loaded here (tests/test_judge_values.py holds the child to it).
JUDGE_MODULES = ("grader.sandbox.remote", "grader.sandbox.judge", "grader.sandbox.supervisor", "grader.oracles",
                 "grader.checks", "grader.launch", "grader.sandbox.labels", "grader.sandbox.time_limits",
                 "grader.rubric", "grader.failure")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m grader.probes.server")
    parser.add_argument("--impl", required=True)
    parser.add_argument("--requests-fd", type=int, required=True)
    parser.add_argument("--answers-fd", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--read", action="append", default=[])
    parser.add_argument("--write", action="append", default=[])
    parser.add_argument("--block", action="append", default=[], metavar="MODULE=REASON")
    parser.add_argument("--no-landlock", action="store_true")
    return parser.parse_args(argv)


class Objects:
    """The objects the judge holds handles to, kept alive so their numbers stay theirs."""

    def __init__(self):
        self.by_number = {}
        self.numbers = {}  # id(obj) -> number
        self.generators = []  # the judge's generators passed to the request being answered, rebuilt here

    def handle(self, obj):
        number = self.numbers.get(id(obj))
        if number is None:
            number = len(self.by_number) + 1
            self.by_number[number] = obj
            self.numbers[id(obj)] = number
        types = [f"{cls.__module__}.{cls.__qualname__}" for cls in type(obj).__mro__][:16]
        return {"__handle__": number, "types": types}

    def get(self, number):
        try:
            return self.by_number[number]
        except (KeyError, TypeError):
            raise LookupError(f"no object numbered {number!r}") from None

    def out(self, value, depth=0):
        """``value`` as data for the judge: plain tensors detached, containers element by element."""
        kind = type(value)
        if kind in (torch.Tensor, torch.nn.Parameter):
            return value.detach() if value.layout == torch.strided else self.handle(value)
        if kind in wire.SCALARS or kind is torch.Size:
            return value
        if kind in (list, tuple) and depth < 8 and len(value) <= 1000:
            return kind(self.out(item, depth + 1) for item in value)
        if kind in (set, frozenset) and len(value) <= 1000 and all(type(i) in wire.SCALARS for i in value):
            return {"__set__": list(value)}
        if kind is dict and depth < 8 and len(value) <= 1000 and all(type(k) in (str, int) for k in value):
            return {key: self.out(item, depth + 1) for key, item in value.items()}
        return self.handle(value)

    def inp(self, value):
        """The judge's arguments, with handles turned back into the objects and the grader's classes and
        functions imported by name."""
        if type(value) is dict:
            if "__handle__" in value:
                return self.get(value["__handle__"])
            if "__grader__" in value:
                return _grader_object(value["__grader__"])
            if "__set__" in value:
                return set(self.inp(value["__set__"]))
            if "__slice__" in value:
                return slice(*self.inp(value["__slice__"])[:3])
            if "__ellipsis__" in value:
                return Ellipsis
            if "__generator__" in value:
                generator = torch.Generator(device=value["device"]).set_state(value["__generator__"])
                self.generators.append(generator)
                return generator
            return {key: self.inp(item) for key, item in value.items()}
        if type(value) in (list, tuple):
            return type(value)(self.inp(item) for item in value)
        return value


def _grader_object(reference):
    module, _, qualname = str(reference).partition(":")
    if not module.startswith(("grader.", "torch.")):
        raise LookupError(f"{reference!r} is not the grader's")
    return getattr(importlib.import_module(module), qualname)


def _student_frame(tb, folder):
    """The innermost frame of the traceback in the submission's folder, as data."""
    inside = [frame for frame in traceback.extract_tb(tb)
              if frame.filename == folder or frame.filename.startswith(folder + os.sep)]
    if not inside:
        return None
    frame = inside[-1]
    return {"path": frame.filename, "lineno": frame.lineno or 0, "name": frame.name, "line": frame.line or ""}


def _plain_args(exc):
    """The exception's arguments when they are a few plain values (so KeyError('x') reads the same)."""
    args = getattr(exc, "args", ())
    if type(args) is tuple and len(args) <= 8 and all(type(a) in (str, int, float, bool, type(None)) for a in args):
        return tuple(a[:MAX_MESSAGE] if type(a) is str else a for a in args)
    return None


def _raised(exc, folder):
    from grader.sandbox.confine import BlockedImport
    from grader.impl import ImplementationError

    try:
        message = str(exc)[:MAX_MESSAGE]
    except Exception:  # a submission's exception whose __str__ itself raises
        message = "(its message could not be read)"
    kind = ("implementation" if isinstance(exc, ImplementationError) else
            "blocked" if isinstance(exc, BlockedImport) else "")
    module = getattr(type(exc), "__module__", "")
    grader = f"{module}:{type(exc).__qualname__}" if module.startswith("grader.") else ""
    builtins = [cls.__name__ for cls in type(exc).__mro__ if cls.__module__ == "builtins"]
    return {"raised": {"type": type(exc).__name__[:200], "builtin": builtins[0] if builtins else "Exception",
                       "kind": kind, "grader": grader, "message": message, "args": _plain_args(exc), "frame": _student_frame(exc.__traceback__, folder)}}


def _answer(request, impl, objects):
    op = request.get("op")
    if op == "get":
        return objects.out(impl.get(str(request["module"]), str(request["name"])))
    target = objects.inp(request["target"]) if "target" in request else None
    if op == "getattr":
        return objects.out(getattr(target, str(request["name"])))
    if op == "repr":
        return str(repr(target))[:300]
    if op == "len":
        return len(target)
    if op == "iter":
        return objects.out(list(target))
    if op == "getitem":
        return objects.out(target[objects.inp(request["key"])])
    if op == "parameters":
        return [(name, tuple(p.shape), str(p.device)) for name, p in target.named_parameters()]
    if op == "setattr":
        setattr(target, str(request["name"]), objects.inp(request["value"]))
        return None
    if op == "load":
        from grader.probes.probe import set_parameters
        set_parameters(target, request["values"])
        return None
    objects.generators = []
    torch.manual_seed(int(request.get("seed", 0)))  # CUDA's generators
    if type(request.get("rng")) is torch.Tensor:
        torch.set_rng_state(request["rng"])  # the CPU's, exactly the judge's
    args, kwargs = objects.inp(request.get("args", ())), objects.inp(request.get("kwargs", {}))
    # Set, not entered: what the call leaves it at goes back to the judge (generate must leave it on).
    torch.set_grad_enabled(bool(request.get("grad", True)))
    if op == "call":
        return objects.out(target(*args, **kwargs))
    if op == "probe":
        from grader.probes.probe import find_probe
        return objects.out(find_probe(str(request["name"]))(*args, **kwargs))
    if op == "build":
        return objects.out(objects.inp(request["cls"])(*args, **kwargs))
    raise LookupError(f"no request {op!r}")


def serve(requests_fd, answers_fd, impl):
    objects = Objects()
    folder = str(impl.path)
    while True:
        try:
            request = wire.receive(requests_fd)
        except EOFError:
            return
        try:
            answer = {"value": _answer(request, impl, objects)}
        except BaseException as exc:  # the submission's own exceptions (SystemExit included) are answers too
            answer = _raised(exc, folder)
        if request.get("op") in wire.RUNS_CODE:  # the requests that set it first
            answer["grad_after"] = torch.is_grad_enabled()
            # Where the judge's generators are now, as if the call had drawn from them there.
            answer["generators"] = [generator.get_state() for generator in objects.generators]
        try:
            data = wire.encode(answer)
        except wire.WireError as exc:
            data = wire.encode(_raised(exc, folder))
        wire.send_encoded(answers_fd, data)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    kit_root = Path(__file__).resolve().parents[2]
    # A Landlock domain of its own inside the judge's: a process here can no longer ptrace or read the
    # memory of the judge, whose domain is the parent one. It lists no folder of the kit (the judge's
    # pytest needs to; nothing here does), so no class or report folder kept in the kit.
    # It reads only the grader modules it may import: not the checks' or the oracles' source either.
    file_rules.confine_files(args, kit_root, list_kit=False,
                             grader_parts=file_rules.module_files(GRADER_MODULES, kit_root))
    from grader.impl import Implementation
    impl = Implementation(args.impl)
    # Not the kit (where `solutions` is), nor the scratch folder; the graded folder last, after the
    # libraries, so that a module importing its sibling by name (`from model import Head`, as the
    # upload picker credits it) finds it, and `import torch` still finds torch.
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) not in (str(kit_root), os.getcwd())]
    sys.path.append(str(impl.path))
    blocked = dict(item.split("=", 1) for item in args.block)
    guard = confine.ImportGuard({f"{impl.package}.{name}": why for name, why in blocked.items()}, GRADER_MODULES)
    confine.install_import_guard(guard)
    wire.send(args.answers_fd, {"ready": True})
    serve(args.requests_fd, args.answers_fd, impl)
    os._exit(0)


if __name__ == "__main__":
    main()
