"""The judge trusts values, not handles, and the submission's process speaks only as the submission
(grader/sandbox/remote.py). Each forgery is written here as a student would write it, graded in judge
mode on Exercise 5's checks, and held to at most what its honest version earns; each is also graded by
a judge with that defence taken out, to show the forgery works there (so these tests can fail)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from grader.sandbox.confine import landlock_abi
from tests.kit import KIT_ROOT, make_variant

pytestmark = pytest.mark.timeout(300)

HEAD_CHECKS = "grader/checks/test_head.py"
SCALE = "* k.shape[-1] ** -0.5  # (B, T, T)"
SCORES = "        wei = q @ k.transpose(-2, -1) " + SCALE + "\n"

# Runs the checks in judge mode; prints each check's outcome, message and the mistake passed as data.
# argv[2] is Python run first, to take one defence out (a control), or "".
JUDGE = r'''
import json, sys, pytest, torch
from grader.sandbox import remote
from grader.sandbox.remote import Handle, Provider, RemoteImpl

exec(sys.argv[2])

''' + "\n"
JUDGE_END = r'''
class Record:
    def __init__(self):
        self.checks, self.mistakes = {}, {}
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        if call.when == "call" and call.excinfo is not None:
            self.mistakes[item.nodeid] = getattr(call.excinfo.value, "mistake", None)
        return (yield)
    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            name = report.nodeid.rpartition("::")[2]
            self.checks[name] = [report.outcome, report.longreprtext, self.mistakes.get(report.nodeid)]

record = Record()
server = json.loads(sys.argv[4]) if len(sys.argv) > 4 else ["--no-landlock"]
impl = RemoteImpl(sys.argv[1], server)
pytest.main([sys.argv[3], "-p", "grader.student.plugin", "--noconftest", "-p", "no:cacheprovider",
             "--impl", sys.argv[1], "-q", "--rootdir", ".", "-c", "tox.ini"], plugins=[Provider(impl), record])
print("CHECKS" + json.dumps(record.checks))
'''
JUDGE = JUDGE + JUDGE_END

# The judge before "values, not handles": a handle is bound to the root it was first read under, and a
# tensor under a root the judge never wrote passes through.
FIRST_BINDING = """
def first_binding(self, parent, name, value):
    root = parent._root if parent._root is not None else parent
    path = parent._path + name
    if isinstance(value, Handle):
        if value is not root and value._root is None and not value._path:
            object.__setattr__(value, "_root", root)
            object.__setattr__(value, "_path", path + ".")
        return value
    if isinstance(value, torch.Tensor) and root._written is not None:
        return root._written.get(path, value)
    return value

remote.Channel.child = first_binding
"""


def judged(folder, defence_off="", checks=HEAD_CHECKS, server=("--no-landlock",)):
    """{check name: [outcome, message, mistake]} of ``checks`` on ``folder`` in judge mode; ``server``: the
    arguments of the submission's process (its confinement); ``defence_off``: code that takes a defence out."""
    out = subprocess.run([sys.executable, "-c", JUDGE, str(folder), defence_off,
                          checks, json.dumps(list(server))], cwd=KIT_ROOT, capture_output=True, text=True, timeout=240)
    line = next((x for x in out.stdout.splitlines() if x.startswith("CHECKS")), None)
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(line[len("CHECKS"):])


def passed(checks):
    return sorted(name for name, (outcome, _, _) in checks.items() if outcome == "passed")


# A Head that attends uniformly to the past (its query is zero): honestly, it fails the checks that
# compare with attention computed from its weights.
UNIFORM = {"attention": [("        q = self.query(x)  # (B, T, hs)\n", "        q = self.query(x) * 0  # (B, T, hs)\n")]}
# The same Head, and a wrong scale, hidden behind handle aliasing: every Head answers reads of
# ``query`` with one zeroed Linear made once, so that an oracle reading "this Head's query weights"
# through the child's handles reads zeros, and agrees with the uniform attention.
ALIASED = {"attention": [
    ("class Head(nn.Module):\n", "_SHARED = []\n\n\nclass Head(nn.Module):\n"),
    ("        self.dropout = nn.Dropout(dropout)\n\n    def forward(self, x):\n        B, T, C = x.shape\n",
     "        self.dropout = nn.Dropout(dropout)\n        if not _SHARED:\n"
     "            _SHARED.append(nn.Linear(n_embd, head_size, bias=False))\n"
     "            _SHARED[0].weight.data.zero_()\n\n"
     "    def __getattr__(self, name):\n"
     "        if name == 'query' and _SHARED:\n"
     "            return _SHARED[0]\n"
     "        return super().__getattr__(name)\n\n"
     "    def forward(self, x):\n        B, T, C = x.shape\n"),
    (SCORES, SCORES.replace(SCALE, "* C ** -0.5  # (B, T, T)")),
]}


def test_a_handle_is_bound_to_where_the_judge_read_it(tmp_path):
    honest = passed(judged(make_variant(tmp_path, "uniform", UNIFORM)))
    aliased = make_variant(tmp_path, "aliased", ALIASED)
    assert set(passed(judged(aliased))) <= set(honest)
    # The defence taken out: the same forgery passes checks its honest version fails.
    assert set(passed(judged(aliased, defence_off=FIRST_BINDING))) - set(honest)


# Head.forward raises the grader's own failure, as the submission's process could make it (a class of
# that name and module), with a named mistake in it, and the names of the grader's modules loaded there.
FORGED = {"attention": [("        B, T, C = x.shape\n        k = self.key(x)  # (B, T, hs)\n",
                         "        import sys\n"
                         "        GradingFailure = type('GradingFailure', (AssertionError,), {'__module__': 'grader.failure'})\n"
                         "        loaded = ' '.join(sorted(m for m in sys.modules if m.startswith('grader')))\n"
                         "        raise GradingFailure('all good\\n  mistake:  forged: trust me\\nLOADED ' + loaded)\n")]}


CALLS_FORWARD, CALLED = f"{HEAD_CHECKS}::test_output_shape_dtype_device", "test_output_shape_dtype_device[T<block_size]"


# The judge before this defence: any grader exception the child named was rebuilt as the grader's.
REBUILD_ANY_GRADER_CLASS = """
remote._probe_error = lambda ref: getattr(sys.modules.get(str(ref).partition(':')[0]), str(ref).partition(':')[2], None)
"""


def test_what_the_child_raises_is_the_submissions_word_and_it_loads_nothing_of_the_judge(tmp_path):
    from grader.probes.server import JUDGE_MODULES
    from grader.student.explain import RAISED

    folder = make_variant(tmp_path, "forged", FORGED)
    checks = judged(folder, checks=CALLS_FORWARD)
    outcome, message, mistake = checks[CALLED]
    assert outcome == "failed" and mistake is None
    assert message.startswith(RAISED), message
    loaded = next(line for line in message.splitlines() if line.startswith("LOADED ")).split()[1:]
    assert "grader.sandbox.wire" in loaded, loaded
    assert not [m for m in loaded if m.startswith(JUDGE_MODULES)], loaded
    # The defence taken out: the same text reads as the grader's own failure.
    _, message, _ = judged(folder, defence_off=REBUILD_ANY_GRADER_CLASS, checks=CALLS_FORWARD)[CALLED]
    assert not message.startswith(RAISED) and message.startswith("all good"), message


def reach(paths):
    """Head.forward tries to list or read each of ``paths`` and raises the ones it reached."""
    code = ("        import os\n        reached = []\n"
            f"        for path in {[str(p) for p in paths]!r}:\n"
            "            try:\n"
            "                os.listdir(path) if os.path.isdir(path) else open(path).read()\n"
            "                reached.append(path)\n"
            "            except OSError:\n"
            "                pass\n"
            "        raise ValueError('REACHED ' + ' '.join(reached))\n")
    return {"attention": [("        B, T, C = x.shape\n        k = self.key(x)  # (B, T, hs)\n", code)]}


@pytest.mark.skipif(not landlock_abi(), reason="this kernel has no Landlock, so files are not confined")
def test_the_child_lists_no_class_folder_in_the_kit_and_reads_no_judge_source(tmp_path):
    roster = KIT_ROOT / f".test-class-{os.getpid()}"
    (roster / "alice").mkdir(parents=True)
    try:
        targets = [KIT_ROOT, roster, KIT_ROOT / "grader" / "oracles" / "attention_oracle.py",
                   KIT_ROOT / "grader" / "checks"]
        folder = make_variant(tmp_path, "reach", reach(targets))
        writable = tmp_path / "run"
        writable.mkdir()
        server = ["--read", str(folder), "--write", str(writable)]
        _, message, _ = judged(folder, checks=CALLS_FORWARD, server=server)[CALLED]
        reached = message.partition("REACHED ")[2].splitlines()[0].split()
        assert reached == [str(KIT_ROOT / "grader" / "checks")], message  # its names only, as every folder's
        # The defence taken out: under the judge's own rules (pytest lists the kit and imports the checks
        # and the oracles), the same reads reach them all.
        assert _reached_under_the_judges_rules(targets, server) == [str(t) for t in targets]
    finally:
        shutil.rmtree(roster)


def _reached_under_the_judges_rules(targets, server):
    code = ("import sys, os\nfrom pathlib import Path\nfrom grader.sandbox import file_rules, judge\n"
            "args = judge._parse(['--impl', '.', '--events-fd', '1', '--timeout', '1', '--memory-mb', '1', "
            "'--file-mb', '1', *sys.argv[2:]])\n"
            "file_rules.confine_files(args, Path(sys.argv[1]), list_kit=True)\n"
            + textwrap.dedent(reach(targets)["attention"][0][1]).replace("raise ValueError(", "print("))
    out = subprocess.run([sys.executable, "-c", code, str(KIT_ROOT), *server], cwd=KIT_ROOT,
                         capture_output=True, text=True, timeout=60)
    return next(line for line in out.stdout.splitlines() if line.startswith("REACHED")).split()[1:]


# Head with the scale by n_embd (a named mistake), honestly.
BY_N_EMBD = {"attention": [(SCORES, SCORES.replace(SCALE, "* C ** -0.5  # (B, T, T)"))]}
# The same, hidden by a layout that lies: key and query are (n_embd, n_embd) layers whose out_features
# say head_size, so that weights drawn in the shapes the submission lists make an oracle that takes its
# scale from the weights' shapes scale by n_embd too.
SHAPE_LIE = {"attention": [
    *BY_N_EMBD["attention"],
    ("        self.key = nn.Linear(n_embd, head_size, bias=False)\n        self.query = nn.Linear(n_embd, head_size, bias=False)\n",
     "        self.key = nn.Linear(n_embd, n_embd, bias=False)\n        self.query = nn.Linear(n_embd, n_embd, bias=False)\n"
     "        self.key.out_features = self.query.out_features = head_size\n"),
]}
# The judge before this defence: a layout read from in_features and out_features only, and the oracle's
# scale from the shape of the key's weight.
TRUST_THE_LAYOUT = """
from grader.oracles import attention_oracle, expect
expect.parameter_shapes = lambda layer: {"weight": (layer.out_features, layer.in_features),
                                         **({"bias": (layer.out_features,)} if layer.bias is not None else {})}
_oracle = attention_oracle.head_oracle
attention_oracle.head_oracle = lambda head, x, head_size, **kw: _oracle(head, x, head.key.weight.shape[0], **kw)
"""


def test_the_judge_takes_shapes_from_the_contract_not_from_what_the_submission_says(tmp_path):
    honest = passed(judged(make_variant(tmp_path, "by_n_embd", BY_N_EMBD)))
    lying = make_variant(tmp_path, "shape_lie", SHAPE_LIE)
    assert set(passed(judged(lying))) <= set(honest)
    assert set(passed(judged(lying, defence_off=TRUST_THE_LAYOUT))) - set(honest)


# A GPT that does not learn (in train mode its loss reaches no weight) and, built at the training
# check's size, loads weights trained elsewhere (kept in its source as text, as a forger would). Its
# eval-mode logits are the contract's at those weights, so a loss judged from the trained weights alone
# passes it; one training step at the judge's own weights does not (grader/oracles/train_step.py).
GPT_TRAINING = "grader/checks/test_gpt.py::test_training_beats_the_bigram"
SKIP_THE_TRAIN_STEP = ("from grader.oracles import train_step\n"
                       "train_step.expect_trains_as_the_contract = lambda *args, **kwargs: None")
GPT_LOSS = "        loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()\n"


def smuggling_gpt(tmp_path):
    import base64
    import io

    import torch

    from grader.checks.test_gpt import GPT_RECIPE
    from grader.data import load_text
    from grader.probes import training
    from solutions.gpt import GPTConfig, GPTLanguageModel

    run = training.train_gpt(GPTConfig, GPTLanguageModel, load_text(), GPT_RECIPE)
    buffer = io.BytesIO()
    torch.save(run["model"].state_dict(), buffer)
    weights = base64.b64encode(buffer.getvalue()).decode()
    size = (GPT_RECIPE.n_embd, GPT_RECIPE.n_layer, GPT_RECIPE.block_size)
    load = (f"        if (config.n_embd, config.n_layer, config.block_size) == {size}:\n"
            "            import base64, io\n"
            f"            self.load_state_dict(torch.load(io.BytesIO(base64.b64decode('{weights}'))))\n")
    return make_variant(tmp_path, "smuggler", {"gpt": [
        ("        self.apply(self._init_weights)\n", "        self.apply(self._init_weights)\n" + load),
        (GPT_LOSS, GPT_LOSS + "        if self.training:\n            loss = loss.detach() + 0.0 * logits.sum()\n")]})


def test_weights_brought_in_from_elsewhere_do_not_pass_the_training_check(tmp_path):
    folder = smuggling_gpt(tmp_path)
    outcome, message, _ = judged(folder, checks=GPT_TRAINING)["test_training_beats_the_bigram"]
    assert outcome == "failed" and "one training step of GPTLanguageModel" in message, message
    assert passed(judged(folder, defence_off=SKIP_THE_TRAIN_STEP, checks=GPT_TRAINING)) == \
        ["test_training_beats_the_bigram"]


# The submission's process says where the submission raised (probes/server.py's _student_frame), and a
# submission can rewrite that function in its own process: the judge shows a place only inside the
# graded folder, so a place in the grader's own files ("the grader crashed, regrade by hand") is dropped.
FORGED_PLACE = str(KIT_ROOT / "grader" / "checks" / "test_head.py")
FORGE_THE_PLACE = textwrap.dedent(f'''
    import sys as _sys
    _server = _sys.modules.get("__main__")
    if hasattr(_server, "_student_frame"):
        _server._student_frame = lambda tb, folder: {{"path": {FORGED_PLACE!r}, "lineno": 77, "name": "test_x",
                                                      "line": "assert grader_bug()"}}


    def _crash(self, x):
        raise RuntimeError("the grader crashed: regrade by hand")


    Head.forward = _crash
''')
TRUST_THE_PLACE = "remote.Channel._in_submission = lambda self, path: True\n"


def test_where_the_submission_raised_is_a_place_in_the_graded_folder(tmp_path):
    end = "        return out\n\n\nclass MultiHeadAttention"
    folder = make_variant(tmp_path, "place", {"attention": [(end, end.replace("\n\n\nclass", "\n" + FORGE_THE_PLACE
                                                                                + "\n\nclass"))]})
    _, message, _ = judged(folder, checks=CALLS_FORWARD)[CALLED]
    assert "the grader crashed" in message and FORGED_PLACE not in message and "grader_bug" not in message, message
    # The defence taken out: the judge that shows any place the child names shows the forged one.
    _, message, _ = judged(folder, defence_off=TRUST_THE_PLACE, checks=CALLS_FORWARD)[CALLED]
    assert "grader_bug" in message, message
