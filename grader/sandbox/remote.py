"""The judge's side of teacher mode: the graded implementation, reached only through data.

``RemoteImpl`` stands where ``Implementation`` stands in student mode, so the checks run unchanged,
but nothing of the submission is imported here: it runs in ``python -m grader.probes.server``, a
confined child process, and what a check gets back is data (plain tensors, numbers, strings) or a
``Handle`` to an object that stays there. The comparisons, oracles and verdicts stay in this process.

Values, not handles: weights that a check sets (``probe.randomize_parameters``) are drawn and kept here,
by their path under the object they were set on, and reading a tensor off that object gives this copy,
or is refused: an oracle is computed only from values the judge holds. A handle read at a
place (``head.query``) is bound to that place, whatever object the child answers with. What the child
raises is rebuilt as a built-in exception (or a probe's own, PROBE_ERRORS): its words are the
submission's, never the grader's.
"""

import builtins
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from grader import launch
from grader.sandbox import wire
from grader.sandbox.hang import KnownHang
from grader.sandbox.handle import Handle, is_remote
from grader.sandbox.labels import LABEL, shown
from grader.failure import GradingFailure
from grader.impl import Implementation, ImplementationError
from grader.sandbox.confine import BlockedImport


class ProbeProcessEnded(RuntimeError):
    """The process running the submission's code ended while a check was waiting on it."""


_TRAP = "grader.sandbox.hang:HangTrap"
_KNOWN_HANG = "grader.sandbox.hang:KnownHang"
_MODULE_CLASS = "torch.nn.modules.module.Module"


class StudentFrame:
    """Where the submission's code raised, shaped like a pytest traceback entry (0-based lineno)."""

    def __init__(self, frame):
        self.path = str(frame.get("path", ""))
        self.lineno = max(int(frame.get("lineno", 1)) - 1, 0)
        self.name = str(frame.get("name", ""))
        self.statement = str(frame.get("line", ""))


# The probes' own errors, raised by the grader's code in the submission's process and caught by the
# checks by their class (a context longer than block_size, a loss that does not train): the judge
# raises its own class, with the text from there, which the checks quote as what came back. No other
# grader class is rebuilt: a GradingFailure from there is the submission's, and reads as such.
PROBE_ERRORS = ("grader.probes.stand_ins:ContextTooLong", "grader.probes.training:TrainingError",
                "grader.probes.addition_training:BatchError")
# What the lookup of a contract name (a "get") raises there when a file or name is missing, or an
# import was refused: the judge's own class for these, for that request only.
LOOKUP_ERRORS = {"implementation": ImplementationError, "blocked": BlockedImport}


def _exception(raised, op):
    """The judge's own exception for one the submission's process raised during a request ``op``: a
    built-in type, or a probe's error (PROBE_ERRORS), never the submission's class; its text is the
    submission's word."""
    message = str(raised.get("message", ""))
    if op == "get" and raised.get("kind") in LOOKUP_ERRORS:
        return LOOKUP_ERRORS[raised["kind"]](message)
    exc = None
    cls = _probe_error(raised.get("grader"))
    if cls is not None:
        exc = cls(message)
    else:
        cls = getattr(builtins, str(raised.get("builtin", "")), None)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            cls = RuntimeError
    name = str(raised.get("type", ""))
    args = raised.get("args")
    if exc is None and name == cls.__name__ and type(args) is tuple:
        try:
            exc = cls(*args)  # as the submission raised it: KeyError('x') says 'x', not "'x'"
        except Exception:  # a built-in that wants other arguments (UnicodeDecodeError, say)
            exc = None
        if exc is not None and str(exc) != message:  # an OSError's file name is not among its args
            exc = None
    if exc is None:
        exc = cls(message if name == cls.__name__ else f"{name}: {message}")
    frame = raised.get("frame")
    if isinstance(frame, dict):
        exc.gptkit_student_frame = StudentFrame(frame)
    return exc


def _probe_error(reference):
    """The class of PROBE_ERRORS named ``module:qualname``, when this process has already imported its
    module (a check that catches it has); None otherwise. Nothing is imported on the submission's word."""
    if reference not in PROBE_ERRORS:
        return None
    module, _, qualname = reference.partition(":")
    cls = getattr(sys.modules.get(module), qualname, None)
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else None


class Channel:
    """The judge's connection to one probe server, started on first use and again after it ended."""

    def __init__(self, impl, server_args):
        self.impl = impl
        self.server_args = list(server_args)
        self.proc = None
        self.generation = 0
        self.handles = {}
        self.generators = []  # the generators the request being sent passes
        self.on_import = None  # on_import(event, module, exc=None, where=""): see get
        self.imported = set()  # the modules the running child has imported
        # The submission's functions known to hang: label ("block.FeedForward.forward": the module of the
        # graded folder, the qualname, the method) -> the check in which a call of it did not finish.
        # A call of one is refused at once, here or by a HangTrap in the child (see set_traps).
        self.hung = {}
        self.interrupted = None  # the label of the call a timeout (or any BaseException) cut short
        self._classes = {}  # handle number -> "module.Class" of a class got by name (this child)
        self._functions = {}  # handle number -> label of a function or method got by name (this child)
        self._trapped = set()  # the labels whose traps the running child has (or could not have)
        self._trapping = False

    def start(self):
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        cmd = launch.python_module("grader.probes.server", "--impl", str(self.impl.path),
                                   "--requests-fd", str(requests_r), "--answers-fd", str(answers_w),
                                   *self.server_args)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=(requests_r, answers_w))
        finally:
            os.close(requests_r)
            os.close(answers_w)
        self.requests, self.answers = requests_w, answers_r
        self.generation += 1
        self.handles = {}
        self.imported = set()
        self._classes, self._functions, self._trapped = {}, {}, set()
        self.ready = False

    def wait_ready(self):
        """Wait until the child has started (torch imported, confined): before the first check, so its
        start does not count against a check's time limit."""
        if self.proc is not None and not self.ready:
            self._exchange(None)

    def close(self):
        if self.proc is None:
            return
        for fd in (self.requests, self.answers):
            os.close(fd)
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def _out(self, value):
        if isinstance(value, Handle):
            if value._generation != self.generation:
                raise ProbeProcessEnded("an object made before the submission's process was restarted (an "
                                        "earlier call did not finish) was used again")
            return {"__handle__": value._number}
        if type(value) in (list, tuple):
            return type(value)(self._out(item) for item in value)
        if type(value) is dict:
            return {key: self._out(item) for key, item in value.items()}
        if type(value) in (set, frozenset):
            return {"__set__": [self._out(item) for item in value]}
        if type(value) is slice:  # an index, h[:, :3]
            return {"__slice__": [self._out(value.start), self._out(value.stop), self._out(value.step)]}
        if value is Ellipsis:
            return {"__ellipsis__": True}
        if type(value) is torch.Generator:
            # Crosses as its state; the answer brings back the state the call left it in.
            self.generators.append(value)
            return {"__generator__": value.get_state(), "device": str(value.device)}
        if callable(value) and not isinstance(value, torch.Tensor):
            return {"__grader__": grader_reference(value)}
        return value

    def _in(self, value):
        if type(value) is dict:
            if "__handle__" in value:
                number = value["__handle__"]
                if number not in self.handles:
                    self.handles[number] = Handle(self, number, list(value.get("types", [])))
                return self.handles[number]
            if "__set__" in value and len(value) == 1 and type(value["__set__"]) is list:
                return set(value["__set__"])
            return {key: self._in(item) for key, item in value.items()}
        if type(value) in (list, tuple):
            return type(value)(self._in(item) for item in value)
        return value

    def request(self, request):
        if self.proc is None:
            self.start()
        if request["op"] in wire.RUNS_CODE and not self._trapping and set(self.hung) - self._trapped:
            self.set_traps()
        label = self.label(request["target"]) if request["op"] == "call" else None
        if label is not None and label in self.hung:  # the judge's own record: no need to ask the child
            raise KnownHang(label, self.charge(label))
        if request["op"] in wire.RUNS_CODE:
            # The submission's random draws start from the judge's own state, so torch.manual_seed(s)
            # before a call gives the draws it gives here; then the judge moves its state on by one
            # draw of its own (never the submission's), so two calls in a row draw differently.
            request["rng"] = torch.get_rng_state()
            request["seed"] = int(torch.randint(0, 2**62, (1,)).item())  # for CUDA's generators
            request["grad"] = torch.is_grad_enabled()
        self.generators = []
        try:
            payload = wire.encode(self._out(request))
        except wire.WireError as exc:  # the check's own mistake, not the submission's
            raise TypeError(f"the grader cannot send this request to the submission's process: {exc}") from None
        try:
            answer = self._exchange(payload)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # pytest-timeout's Failed: this call did not finish in time
                self.interrupted = label
            raise
        if type(answer) is not dict:
            raise ProbeProcessEnded("the submission's process answered out of turn")
        states = answer.get("generators")
        if type(states) is list and len(states) == len(self.generators):
            for generator, state in zip(self.generators, states):
                try:
                    generator.set_state(state)
                except (TypeError, RuntimeError):  # not a state of this generator: it stays as it was
                    pass
        if type(answer.get("grad_after")) is bool:
            # What the submission's call left torch's autograd switch at, as it would be in one process.
            torch.set_grad_enabled(answer["grad_after"])
        if "raised" in answer and type(answer["raised"]) is dict:
            raised = answer["raised"]
            known = str(raised.get("message"))
            if raised.get("grader") == _KNOWN_HANG and known in self.hung:  # a trap the judge set went off
                raise KnownHang(known, self.charge(known))
            exc = _exception(raised, request["op"])
            frame = getattr(exc, "gptkit_student_frame", None)
            if frame is not None and not self._in_submission(frame.path):
                del exc.gptkit_student_frame  # the child's word for a place outside the graded folder
            if isinstance(exc, ImplementationError):
                exc.missing_module, exc.missing_name = self._missing(request["module"], request["name"])
            raise exc
        return self._in(answer.get("value"))

    def _missing(self, module, name):
        """(missing_module, missing_name) of ImplementationError for the lookup of ``module.name`` that the
        child says failed, as the judge sees it: from its own request and the graded folder's files (which
        no sandboxed process may write), never from the child's words."""
        folder = Path(self.impl.path)
        if not (folder / f"{module}.py").is_file():
            return module, ""
        if (folder / module / "__init__.py").is_file():  # a package of that name, which Python imports instead
            return "", ""
        return "", name

    def label(self, handle):
        """What a call of ``handle`` runs of the submission, as a label ("block.FeedForward.forward"), from
        what the judge asked for (a class or function by name, a method read from an object) and the
        class the child says the object has; None when that is not the submission's code (a torch or
        grader object)."""
        if type(handle) is not Handle or handle._generation != self.generation:
            return None
        number = handle._number
        if number in self._functions:
            return self._functions[number]
        if number in self._classes:
            return self._classes[number] + ".__init__"
        owner = self._owner(handle)
        if owner is None:
            return None
        return owner + (".forward" if _MODULE_CLASS in handle._types else ".__call__")

    def _owner(self, handle):
        """"module.Class" of the submission's class that ``handle`` is (got by name) or is an instance of."""
        if handle._number in self._classes:
            return self._classes[handle._number]
        prefix = f"{self.impl.package}."
        cls = handle._types[0] if handle._types else None
        if isinstance(cls, str) and cls.startswith(prefix) and LABEL.fullmatch(cls[len(prefix):]):
            return cls[len(prefix):]  # a name the child gave: only a plain dotted name becomes a label
        return None

    def charge(self, label):
        """The verdict's message for a check that calls ``label``, known to hang."""
        check = self.hung[label].rpartition("::")[2] or self.hung[label]
        return f"not run: {shown(label)} did not finish in time in {check}, and this check calls it"

    def set_traps(self):
        """Put a HangTrap in the running child in the place of each method known to hang, so that a call
        of it from the submission's own code (a Block's forward calling its FeedForward's) is refused
        at once too. A method's class is looked up by name (its module is imported if need be: it was
        imported when the method hung). A module's function is refused only when the judge calls it."""
        rng = torch.get_rng_state()  # the build requests draw from it; the check's draws stay as they were
        self._trapping = True
        try:
            for label in sorted(set(self.hung) - self._trapped):
                self._trapped.add(label)
                module, *path, method = label.split(".")
                if not path:
                    continue
                try:
                    cls = self.get(module, path[0])
                    for name in path[1:]:
                        cls = self.getattr(cls, name)
                    trap = self.request({"op": "build", "cls": {"__grader__": _TRAP}, "args": (label,),
                                         "kwargs": {}})
                    self.request({"op": "setattr", "target": cls, "name": method, "value": trap})
                except Exception:  # the class is gone, or its module no longer imports: no trap, then
                    continue
        finally:
            self._trapping = False
            torch.set_rng_state(rng)

    def _exchange(self, request):
        """Send ``request`` (encoded; None: only wait for the child's "ready") and return the answer."""
        try:
            if not self.ready:
                if wire.receive(self.answers) != {"ready": True}:
                    raise wire.WireError("a first message that is not the child's ready")
                self.ready = True
            if request is None:
                return None
            wire.send_encoded(self.requests, request)
            return wire.receive(self.answers)
        except BaseException as exc:  # a timeout, a crash, a forged frame: this process is done with
            returncode = self.proc.poll()
            if returncode is None and isinstance(exc, (EOFError, BrokenPipeError)):
                try:  # it closed the channel: it is most likely ending, and how it ends says why
                    returncode = self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            self.close()
            self.start()  # a fresh one starts now, while this check ends, for the next
            if isinstance(exc, (EOFError, BrokenPipeError)):
                raise ProbeProcessEnded(_ended(returncode)) from None
            if isinstance(exc, wire.WireError):
                raise ProbeProcessEnded(f"the submission's process answered with something that is not "
                                        f"data ({exc})") from None
            raise

    def _in_submission(self, path):
        """Whether ``path`` (the child's word) is a file of the graded folder: only such a place is shown
        as where the submission raised."""
        folder = os.path.realpath(self.impl.path)
        return "\n" not in path and os.path.realpath(path).startswith(folder + os.sep)

    def get(self, module, name):
        """``name`` from the submission's ``module``. The first request for a module imports it in the
        child: ``on_import`` hears of it (the worker passes it on to the parent as an import event), so
        that a module that hangs or ends the process at import is not imported again."""
        first = module not in self.imported and self.on_import is not None
        if first:
            self.on_import("import", module)
        try:
            value = self.request({"op": "get", "module": module, "name": name})
        except BaseException as exc:
            if first:
                # Where it raised, when that was in the submission's code (a module that cannot even be
                # loaded); a file or a name missing raises in the grader's, and says so in each check.
                frame = getattr(exc, "gptkit_student_frame", None)
                where = f"{frame.path}:{frame.lineno + 1}" if frame else ""
                self.on_import("import-failed", module, exc, where)
            raise
        if first:
            self.on_import("imported", module)
        self.imported.add(module)
        if isinstance(value, Handle) and value._types[:1] in (["builtins.type"], ["builtins.function"]):
            where = self._classes if value._types[0] == "builtins.type" else self._functions
            if LABEL.fullmatch(f"{module}.{name}"):
                where.setdefault(value._number, f"{module}.{name}")
        return value

    def getattr(self, handle, name):
        value = self.request({"op": "getattr", "target": handle, "name": name})
        if isinstance(value, Handle) and value._types[:1] == ["builtins.method"]:
            owner = self._owner(handle)
            if owner is not None and LABEL.fullmatch(f"{owner}.{name}"):
                self._functions.setdefault(value._number, f"{owner}.{name}")
        return self.child(handle, name, value)

    def child(self, parent, name, value):
        """``value`` read at ``parent.name`` (an attribute, an item). A handle in it is bound to this place:
        a fresh handle for the same remote object, whose root and path are where the judge read it, not
        the child's word (a submission that answers every Head's ``query`` with the first Head's gets the
        first's object, read as this Head's). Under a root whose weights the judge set, a tensor read is
        the judge's own copy, by its path, or refused, whatever the child answered; under one it never
        set, it is the submission's own value under test (a layout's shape, an init's spread), which no
        oracle reads."""
        return self._bound(value, _root_of(parent), parent._path + name)

    def _bound(self, value, root, path):
        if isinstance(value, Handle):
            handle = Handle(self, value._number, value._types)
            object.__setattr__(handle, "_root", root)
            object.__setattr__(handle, "_path", path + ".")
            object.__setattr__(handle, "_generation", value._generation)
            return handle
        if isinstance(value, torch.Tensor) and root._written is not None:  # the judge's own values only
            if path not in root._written:
                raise GradingFailure(f"{path} is not one of the parameters the grader set through "
                                     f"named_parameters(); the check reads only those")
            return root._written[path]
        if type(value) in (list, tuple):
            return type(value)(self._bound(item, root, f"{path}.{i}") for i, item in enumerate(value))
        return value

    def items(self, parent):
        """``list(parent)``, each item bound to its place (``heads.0``, ``heads.1``, ...)."""
        values = self.request({"op": "iter", "target": parent})
        return [self._bound(item, _root_of(parent), f"{parent._path}{i}") for i, item in enumerate(values)]


def _root_of(handle):
    """The handle the judge got ``handle`` under (a build's or a call's result), or ``handle`` itself."""
    return handle._root if handle._root is not None else handle


def grader_reference(obj):
    """``module:qualname`` of a class or function defined at the top level of a grader or torch module
    (nn.LayerNorm, say): how it crosses to the submission's process, which imports it there."""
    module, qualname = getattr(obj, "__module__", "") or "", getattr(obj, "__qualname__", "") or ""
    if not module.startswith(("grader.", "torch.")) or "<" in qualname or "." in qualname:
        raise TypeError(f"{obj!r} cannot be sent to the submission's process: only classes and functions "
                        f"defined at the top level of a grader module can")
    return f"{module}:{qualname}"


def _ended(returncode):
    from grader.sandbox.supervisor import _describe_exit

    return f"the submission's process {_describe_exit(returncode)} while a check waited on it"


class RemoteImpl(Implementation):
    """The graded folder, run in a confined probe server; ``get`` returns handles, never code."""

    def __init__(self, spec, server_args=()):
        super().__init__(spec)
        self.channel = Channel(self, server_args)

    def module(self, name):
        raise ImplementationError("in teacher mode the grader does not import the submission's modules")

    def get(self, module, name):
        return self.channel.get(module, name)

    def build(self, cls, *args, **kwargs):
        return self.channel.request({"op": "build", "cls": {"__grader__": grader_reference(cls)},
                                     "args": args, "kwargs": kwargs})

    def close(self):
        self.channel.close()


def text(obj):
    """``repr(obj)`` for messages; for a handle, the remote object's own repr (at most 300 characters)."""
    if is_remote(obj):
        return str(obj._channel.request({"op": "repr", "target": obj}))[:300]
    return repr(obj)


def type_name(obj):
    """The name of ``obj``'s class, for messages; for a handle, of the remote object's class."""
    if is_remote(obj):
        return obj._types[0].rpartition(".")[2] if obj._types else "object"
    return type(obj).__name__


MAX_PARAMETER = 10**8  # elements; the lecture's largest weight has 384 * 1536


def parameters(handle):
    """[(name, shape, device)] of a remote module's named_parameters(). A parameter with no elements
    (or an absurd number) is refused: the judge draws values of these shapes for its oracles."""
    listed = [(str(n), tuple(int(d) for d in s), str(dev))
              for n, s, dev in handle._channel.request({"op": "parameters", "target": handle})]
    for name, shape, _ in listed:
        if not 0 < math.prod(shape) <= MAX_PARAMETER:
            raise GradingFailure(f"named_parameters() lists {name} with shape {shape}: "
                                 f"CONTRACT.md's layouts have no empty parameter")
    return listed


def load_parameters(handle, values):
    """Copy ``values`` (name -> tensor) into the remote module, and keep them here: reads of these
    parameters through any handle under the same object give the judge's copy from now on."""
    handle._channel.request({"op": "load", "target": handle, "values": values})
    root = _root_of(handle)
    if root._written is None:
        object.__setattr__(root, "_written", {})
    root._written.update({handle._path + name: value for name, value in values.items()})


def run_probe(name, args, kwargs):
    """Run the grader's probe ``name`` in the submission's process; its answer is data."""
    channel = next(value._channel for value in (*args, *kwargs.values()) if is_remote(value))
    return channel.request({"op": "probe", "name": name, "args": args, "kwargs": kwargs})


class Provider:
    """A pytest plugin object that hands the grader's plugin a RemoteImpl (see plugin.pytest_configure)."""

    def __init__(self, impl):
        self.gptkit_impl = impl

    def pytest_runtestloop(self, session):
        try:
            self.gptkit_impl.channel.wait_ready()
        except Exception:  # the first check that needs the child reports why it is not there
            pass
