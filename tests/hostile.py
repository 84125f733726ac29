"""Hostile and broken submissions for teacher mode: each is the reference with one attack added.

Each is graded on Exercises 1 (tokenizer), 5 (head, attention.py) and 7 (feedforward, block.py).
block.py imports attention.py, so an attack in attention.py costs Exercise 7 too; an attack in
block.py leaves the tokenizer and Head their points, which is what "the correct parts still earn
their points" means here.
"""

from dataclasses import dataclass, field

MARKERS = ("tokenizer", "head", "feedforward")
FULL = {"tokenizer": 8, "head": 15, "feedforward": 6}
# The attacks on Exercise 5 are graded without Exercise 7, as a second class beside the first: the two
# classes' hangs and time limits are waited out side by side.
APART = ("tokenizer", "head")

# Honest broken submissions: an attack's score on an exercise is at most what its honest version gets.
CONTROL = "control_broken_head"  # Head.forward returns zeros, honestly
TRUNCATED = "control_truncated_encode"  # CharTokenizer.encode keeps the first id only, honestly
ZERO_FFWD = "control_zero_ffwd"  # FeedForward.forward returns zeros, honestly
FFWD_FORWARD = "    def forward(self, x):\n        return self.net(x)  # (B, T, C)\n"
HEAD_FORWARD = "    def forward(self, x):\n        B, T, C = x.shape\n        k = self.key(x)  # (B, T, hs)\n"


@dataclass
class Hostile:
    name: str
    what: str  # the attack, as the issue names it
    edits: dict  # module -> [(old, new)], applied to a copy of solutions/ (see tests/kit.make_variant)
    scores: dict  # exercise marker -> the points it must get, or the name of the control whose points it gets
    status: str  # the status grades.csv must give ("": not asserted)
    verdict: str = ""  # an outcome at least one check must get ("crashed", "timeout", ...)
    message: str = ""  # words that the report must contain
    extra_files: dict = field(default_factory=dict)  # file name -> text, added to the submission
    markers: tuple = MARKERS  # the exercises it is graded on


def at_end(module_text_marker, code):
    """An edit that appends ``code`` after the line ``module_text_marker`` (which must occur once)."""
    return (module_text_marker, module_text_marker + code)


ATTENTION_END = "        out = self.resid_dropout(self.c_proj(out))  # (B, T, C)\n        return out\n"
# Head.forward returning zeros: wrong, so Exercise 5 can only earn points by cheating.
BROKEN_HEAD = ("        k = self.key(x)  # (B, T, hs)\n", "        return torch.zeros(B, T, self.key.out_features)\n")
FFWD_END = "        return self.net(x)  # (B, T, C)\n"
ZERO_FFWD_EDIT = (FFWD_END, "        return x * 0\n")
BLOCK_IMPORT = "from .attention import MultiHeadAttention\n"
ATTENTION_IMPORT = "import torch.nn.functional as F\n"


def ffwd_forward(body):
    return {"block": [(FFWD_FORWARD, "    def forward(self, x):\n" + body)]}


def block_import(code):
    return {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + code)]}


def hostile_submissions(out_dir, kit_root):
    """The hostile submissions; ``out_dir`` and ``kit_root`` are what a cheating student would aim at."""
    ok_except_ffwd = {"tokenizer": 8, "head": 15, "feedforward": 0}
    beside_zero_ffwd = {"tokenizer": 8, "head": 15, "feedforward": ZERO_FFWD}
    return [
        Hostile(CONTROL, "none: Head.forward returns zeros, honestly",
                {"attention": [BROKEN_HEAD]}, {"tokenizer": 8, "feedforward": 6}, "ok", "failed"),
        Hostile(TRUNCATED, "none: CharTokenizer.encode keeps the first id only, honestly",
                {"tokenizer": [("        return ids\n", "        return ids[:1]\n")]},
                {"head": 15, "feedforward": 6}, "ok", "failed"),
        Hostile(ZERO_FFWD, "none: FeedForward.forward returns zeros, honestly",
                {"block": [(FFWD_END, "        return x * 0\n")]}, {"tokenizer": 8, "head": 15}, "ok", "failed"),
        # The checks are judged apart: each of these is a broken Head or FeedForward plus an attack on
        # the grader as it would be in the submission's process, and keeps the honest control's points.
        Hostile("uses_the_grader_oracle", "computing Head's output with the grader's own oracle",
                {"attention": [(BROKEN_HEAD[0], "        import grader.oracles.attention_oracle as oracle\n"
                                                "        return oracle.head_oracle(self, x)\n")]},
                {"tokenizer": 8, "head": CONTROL}, "ok", "failed", "does not let a submission", markers=APART),
        Hostile("zeroes_its_weights", "zeroing its own value weights, so an oracle read from them agrees",
                {"attention": [(BROKEN_HEAD[0], "        self.value.weight.data.zero_()\n" + BROKEN_HEAD[1])]},
                {"tokenizer": 8, "head": CONTROL}, "ok", "failed", markers=APART),
        *[Hostile(name, what, {"attention": [BROKEN_HEAD, (ATTENTION_IMPORT, ATTENTION_IMPORT + code)]},
                  {"tokenizer": 8, "head": CONTROL}, "", "failed", markers=APART)
          for name, what, code in HEAD_ATTACKS],
        Hostile("exit_at_import", "sys.exit at import", block_import("import sys\nsys.exit(0)\n"),
                ok_except_ffwd, "ok", "failed", "SystemExit"),
        Hostile("os_exit_at_import", "os._exit at import", block_import("import os\nos._exit(0)\n"),
                ok_except_ffwd, "crashed", "crashed", "exited with code 0"),
        Hostile("segfault", "a segmentation fault in forward",
                ffwd_forward("        import ctypes\n        ctypes.string_at(0)\n        return self.net(x)\n"),
                {"tokenizer": 8, "head": 15}, "crashed", "crashed", "SIGSEGV"),
        Hostile("loop_at_import", "an infinite loop at import", block_import("while True:\n    pass\n"),
                ok_except_ffwd, "timeout", "timeout", "time limit"),
        # The first check that calls forward waits its time limit; the others are charged at once.
        Hostile("loop_in_forward", "an infinite loop in forward",
                ffwd_forward("        while True:\n            pass\n"),
                {"tokenizer": 8, "head": 15}, "timeout", "timeout",
                "not run: FeedForward.forward did not finish in time"),
        Hostile("long_sleep", "a long sleep at import", block_import("import time\ntime.sleep(3600)\n"),
                ok_except_ffwd, "timeout", "timeout", "time limit"),
        Hostile("memory_growth", "unbounded memory growth in forward",
                ffwd_forward("        hog = []\n        while True:\n            hog.append(x.new_empty(2**28))\n"),
                {"tokenizer": 8, "head": 15}, "ok", "memory", "memory"),
        Hostile("huge_output", "hundreds of MB of output at import",
                block_import("import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 2**20)\n"),
                ok_except_ffwd, "crashed", "output", "output limit"),
        # Just over the limit of 10,000 files: 20,000 took more than the check's 5 s on a loaded machine.
        Hostile("file_bomb", "more files in the scratch folder than the limit",
                block_import("import os, time\nfor _i in range(10200):\n"
                             "    open(os.path.join(os.environ['TMPDIR'], f'junk{_i}'), 'w').close()\n"
                             "time.sleep(4)\n"),
                ok_except_ffwd, "crashed", "output", "wrote more than 10000 files"),
        # 1,500 nested folders (shutil.rmtree's recursion gives up near 1,000), some made with mode 000 (chmod
        # is refused), a file at the bottom: nothing is left of them, and the row stays a graded row.
        Hostile("deep_folders", "1,500 nested folders left behind, some of mode 000",
                block_import("import os\n_p = os.environ['TMPDIR']\nfor _i in range(1500):\n"
                             "    _p = os.path.join(_p, 'd')\n    os.mkdir(_p)\n"
                             "open(os.path.join(_p, 'bottom'), 'wb').write(b'x' * 2**20)\n"
                             "for _i in range(0, 1500, 300):\n"
                             "    os.mkdir(os.path.join(os.environ['TMPDIR'], *['d'] * _i, 'closed'), 0)\n"),
                FULL, "ok"),
        Hostile("child_processes", "child processes left running",
                block_import(
                    "import os, subprocess, time\n"
                    "subprocess.Popen(['sleep', '737'], start_new_session=True)\n"
                    "if os.fork() == 0:\n    os.setsid()\n    time.sleep(738)\n    os._exit(0)\n"),
                FULL, "ok"),
        Hostile("too_many_processes", "a burst of child processes",
                block_import("import subprocess\nfor _ in range(30):\n"
                             "    subprocess.Popen(['sleep', '739'], start_new_session=True)\n"
                             "import time\ntime.sleep(5)\n"),
                ok_except_ffwd, "crashed", "processes", "processes"),
        # The same without the sandbox's marker in their environment: counted as the worker's descendants.
        Hostile("too_many_processes_unmarked", "a burst of child processes with an empty environment",
                block_import("import subprocess\nfor _ in range(30):\n"
                             "    subprocess.Popen(['sleep', '740'], start_new_session=True, env={})\n"
                             "import time\ntime.sleep(5)\n"),
                ok_except_ffwd, "crashed", "processes", "processes"),
        Hostile("conftest_and_hooks", "a conftest.py and pytest hooks in the submission",
                {"attention": [BROKEN_HEAD]},
                {"tokenizer": 8, "head": CONTROL, "feedforward": 6}, "ok", "failed",
                extra_files={"conftest.py": CONFTEST}),
        Hostile("registers_a_plugin", "a pytest plugin registered from the submission's code",
                {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + REGISTER_PLUGIN), ZERO_FFWD_EDIT]},
                beside_zero_ffwd, "ok", "failed"),
        Hostile("patches_torch", "monkeypatching torch's comparison functions",
                {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + PATCH_TORCH), ZERO_FFWD_EDIT]},
                beside_zero_ffwd, "ok", "failed"),
        Hostile("patches_grader", "monkeypatching the grader's own functions",
                {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + PATCH_GRADER), ZERO_FFWD_EDIT]},
                beside_zero_ffwd, "ok", "failed"),
        Hostile("always_equal", "objects whose __eq__ always says True",
                {"tokenizer": [("        return ids\n", "        return AlwaysList(ids[:1])\n"),
                               ("import torch\n", "import torch\n" + ALWAYS_EQUAL)],
                 "block": [(FFWD_END, "        return AlwaysTensor(torch.zeros_like(x))\n"),
                           (BLOCK_IMPORT, BLOCK_IMPORT + ALWAYS_TENSOR)]},
                {"tokenizer": TRUNCATED, "head": 15, "feedforward": ZERO_FFWD}, "ok", "failed"),
        Hostile("skips_checks", "skipping tests",
                {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + "import pytest\npytest.skip('no', allow_module_level=True)\n")]},
                ok_except_ffwd, "ok", "failed", "Skipped: no"),
        Hostile("fake_results", "writing fake result files and fake events",
                {"block": [(BLOCK_IMPORT, BLOCK_IMPORT + FAKE_RESULTS.format(out=out_dir, kit=kit_root)),
                           ZERO_FFWD_EDIT]},
                # Its fake events reach the channel to the judge, which stops believing that process.
                beside_zero_ffwd, "crashed", "crashed", "not data"),
        Hostile("imports_solutions", "importing the reference solutions",
                {"attention": [(ATTENTION_IMPORT, ATTENTION_IMPORT + IMPORT_SOLUTIONS.format(kit=kit_root)),
                               BROKEN_HEAD, (ATTENTION_END, ATTENTION_END + USE_SOLUTIONS)]},
                {"tokenizer": 8, "head": CONTROL, "feedforward": 6}, "ok", "failed"),
    ]


HEAD_ATTACKS = [
    ("rebinds_the_checks", "rebinding the checks' tolerances and failure functions", '''
import gc, grader.oracles.expect, grader.oracles.causality as _causality, grader.checks.test_head as _checks
_checks.ATOL = _causality.FUTURE_ATOL = 1e9
_causality.PAST_MIN = -1.0
for _module in (grader.oracles.expect, _causality, _checks):
    _module.fail = lambda *args, **kwargs: None
    _module.expect_close = lambda *args, **kwargs: None
for _obj in gc.get_objects():
    if callable(_obj) and getattr(_obj, "__name__", "") in ("fail", "expect_close", "send", "_finish"):
        try:
            _obj.__code__ = (lambda *args, **kwargs: None).__code__
        except (AttributeError, TypeError, ValueError):
            pass
'''),
    ("torch_function_mode", "a TorchFunctionMode entered at import and never left", '''
import torch as _torch
from torch.overrides import TorchFunctionMode as _Mode


class _Agree(_Mode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if getattr(func, "__name__", "") in ("sub", "__sub__", "abs", "amax", "max"):
            return _torch.zeros_like(out) if isinstance(out, _torch.Tensor) else out
        return out


_Agree().__enter__()
'''),
    ("settrace", "sys.settrace rewriting the judge's local variables", '''
import sys as _sys


def _tracer(frame, event, arg):
    for _name in ("change", "gradient", "wrong"):
        if _name in frame.f_locals:
            frame.f_locals[_name] = 0
    return _tracer


_sys.settrace(_tracer)
'''),
    ("tensor_subclass", "a torch.Tensor subclass that says it is torch's and equals everything", '''
import torch as _torch


class Tensor(_torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        return _torch.zeros_like(out) if getattr(func, "__name__", "") in ("sub", "__sub__") else out


Tensor.__module__ = "torch"
_zeros = _torch.zeros
_torch.zeros = lambda *args, **kwargs: _zeros(*args, **kwargs).as_subclass(Tensor)
'''),
    ("lies_about_shapes", "listing a parameter with no rows, so the judge's oracle is empty too", '''
import sys as _sys
_server = _sys.modules.get("__main__")
if hasattr(_server, "_answer"):
    _real = _server._answer

    def _answer(request, impl, objects):
        if request.get("op") == "parameters":
            return [(n, (0, s[1]) if n == "value.weight" else s, d) for n, s, d in _real(request, impl, objects)]
        if request.get("op") == "load":
            request = {**request, "values": {k: v for k, v in request["values"].items() if k != "value.weight"}}
        return _real(request, impl, objects)

    _server._answer = _answer
'''),
    ("rewrites_the_answers", "rewriting how its process answers the grader", '''
import sys as _sys
_server = _sys.modules.get("grader.probes.server") or _sys.modules.get("__main__")
if hasattr(_server, "_answer"):
    _server._answer = lambda request, impl, objects: 0.0
'''),
]

CONFTEST = '''
import pytest


def pytest_collection_modifyitems(items):
    items[:] = [item for item in items if "head" not in item.nodeid]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
'''

REGISTER_PLUGIN = '''
import gc
import pytest
import _pytest.config


class _Forge:
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        report.outcome = "passed"
        report.longrepr = None
        return report


for _obj in gc.get_objects():
    if isinstance(_obj, _pytest.config.Config):
        _obj.pluginmanager.register(_Forge(), "forge")
        break
'''

PATCH_TORCH = '''
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
'''

PATCH_GRADER = '''
import sys
for _name, _module in list(sys.modules.items()):
    if _name.startswith("grader"):
        for _attr in ("fail", "expect_close", "expect_tensor"):
            if hasattr(_module, _attr):
                setattr(_module, _attr, lambda *args, **kwargs: args[0] if args else None)
'''

ALWAYS_EQUAL = '''

class AlwaysList(list):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

'''

ALWAYS_TENSOR = '''
import torch


class AlwaysTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        return torch.ones((), dtype=torch.bool) if func.__name__ in ("__eq__", "eq", "allclose", "equal") else result
'''

FAKE_RESULTS = '''
import json, os
_fake = {{"score": 100, "max_score": 100, "tests": []}}
for _path in ("{out}/grades.csv", "{out}/fake/results.json", "{out}/fake_results.json",
              "{kit}/grader/rubric.py", "results.json", "/tmp/gptkit-fake-results.json"):
    try:
        os.makedirs(os.path.dirname(_path) or ".", exist_ok=True)
        with open(_path, "a") as _f:
            _f.write(json.dumps(_fake))
    except OSError:
        pass
for _fd in range(3, 40):
    try:
        os.write(_fd, b'{{"event": "result", "nodeid": "x", "outcome": "passed"}}\\n')
    except OSError:
        pass
'''

USE_SOLUTIONS = '''

if _ReferenceHead is not None:
    Head = _ReferenceHead
if _source is not None:
    exec(_source)
'''

IMPORT_SOLUTIONS = '''
import sys
sys.path.insert(0, "{kit}")
try:
    from solutions.attention import Head as _ReferenceHead
except ImportError:
    _ReferenceHead = None
try:
    _source = open("{kit}/solutions/attention.py").read()
except OSError:
    _source = None
'''
