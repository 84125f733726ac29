"""Teacher mode's judge (grader/sandbox/remote.py): the checks run unchanged against a submission that runs in
a child process, only data comes back, and the judge never loads the submission's code."""

import io
import pickle
import subprocess
import sys

import pytest
import torch

from grader.sandbox import wire
from tests.kit import KIT_ROOT

pytestmark = pytest.mark.timeout(300)

# Runs the graded checks in judge mode in a fresh interpreter, then says whether any module of the
# graded folder was loaded there.
JUDGE = r'''
import sys, pytest
from grader.sandbox.remote import Provider, RemoteImpl
impl = RemoteImpl(sys.argv[1], ["--no-landlock"])
code = pytest.main([*sys.argv[2:], "-p", "grader.student.plugin", "--noconftest", "-p", "no:cacheprovider",
                    "--impl", sys.argv[1], "-q", "-rf", "--rootdir", ".", "-c", "tox.ini"],
                   plugins=[Provider(impl)])
loaded = [name for name, module in sys.modules.items()
          if name.startswith("_gptkit_impl") or str(getattr(module, "__file__", "")).startswith(str(impl.path))]
print("LOADED", loaded, "EXIT", int(code))
'''


def run(impl, *args, judge=True):
    cmd = [sys.executable, "-c", JUDGE, impl, *args] if judge else [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--impl", impl, "-q", "-rf", *args]
    return subprocess.run(cmd, cwd=KIT_ROOT, capture_output=True, text=True, timeout=240).stdout


def test_the_reference_passes_and_the_judge_loads_none_of_it():
    out = run("solutions", "grader/checks/test_head.py", "grader/checks/test_tokenizer.py")
    assert "LOADED [] EXIT 0" in out, out
    assert " passed" in out and "failed" not in out, out


def test_a_stub_is_explained_as_in_student_mode():
    # The stub's NotImplementedError is raised in the submission's process; the judge says the same
    # as pytest on the student's machine: which exercise, and the line of the TODO.
    judged = run("exercises", "grader/checks/test_head.py::test_key_query_value_layout")
    local = run("exercises", "grader/checks/test_head.py::test_key_query_value_layout", judge=False)
    needle = "not implemented yet: Exercise 5: Head"
    assert needle in local, local
    line = next(line for line in local.splitlines() if "fill in the TODO at" in line).strip()
    assert needle in judged and line in judged, (judged, line)


class NotData:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(NotData()),  # a plain pickle that would call a function
    b"not a zip file at all",
], ids=["pickle-with-a-call", "garbage"])
def test_the_wire_refuses_what_is_not_data(payload):
    with pytest.raises(wire.WireError):
        wire.decode(payload)


def test_the_wire_refuses_a_frame_over_its_limit():
    import os
    read, write = os.pipe()
    os.write(write, (10**12).to_bytes(8, "little"))
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.receive(read)


def test_the_wire_carries_plain_data_only():
    class Sub(torch.Tensor):
        pass

    message = {"x": torch.ones(2), "n": (1, 2.5, None, "s"), "d": torch.float32}
    buffer = io.BytesIO(wire.encode(message))
    assert torch.equal(wire.decode(buffer.getvalue())["x"], torch.ones(2))
    with pytest.raises(wire.WireError):
        wire.encode({"x": torch.ones(2).as_subclass(Sub)})
    with pytest.raises(wire.WireError):
        wire.encode({"f": print})


# Grades each folder twice in one interpreter, in student mode and in judge mode, and prints the
# failed checks of each as JSON.
PARITY = r'''
import json, sys, pytest
from grader.sandbox.remote import Provider, RemoteImpl


class Failed:
    def __init__(self):
        self.failed = {}

    def pytest_collection_modifyitems(self, items):
        # The training checks are judged apart from the trained weights with the grader's own loss, so
        # their verdicts differ by design (a model that reports a wrong loss; test_grade.py's LIARS).
        items[:] = [i for i in items if i.originalname not in ("test_training_reaches_loss_threshold",
                                                               "test_training_beats_the_bigram")]

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed[report.nodeid] = report.longreprtext


results = {}
for pair in sys.argv[1:]:
    folder, checks = pair.split("=")
    for mode in ("student", "judge"):
        recorder = Failed()
        plugins = [recorder] + ([Provider(RemoteImpl(folder, ["--no-landlock"]))] if mode == "judge" else [])
        pytest.main([checks, "-p", "grader.student.plugin", "--noconftest", "-p", "no:cacheprovider", "--impl", folder,
                     "-q", "--rootdir", ".", "-c", "tox.ini"], plugins=plugins)
        results[f"{folder}|{mode}"] = recorder.failed
print("PARITY" + json.dumps(results))
'''


def _sample_variants():
    """One broken variant of each exercise, one with a named mistake where there is one."""
    from grader.classroom import catalog
    from tests.variants import all_variants

    markers = sorted({c.marker for c in catalog.collect()})
    chosen = []
    for marker in markers:
        broken = [v for v in all_variants() if v.exercise == marker]
        chosen += sorted(broken, key=lambda v: v.hint is None)[:1]
    return markers, chosen


def test_judge_mode_fails_the_same_checks_as_student_mode(tmp_path):
    # The checks run unchanged in both modes: a broken variant fails the same checks with
    # the same messages, each graded on its own exercise's checks (test_variants grades every variant in
    # student mode). Measured: ~30 s for 14 variants on 2 cores.
    import json

    from tests.kit import make_variant

    markers, variants = _sample_variants()
    assert len(variants) == len(markers), (markers, variants)
    folders = [str(make_variant(tmp_path, v.name, v.edits)) for v in variants]
    pairs = [f"{folder}=grader/checks/test_{v.exercise}.py" for v, folder in zip(variants, folders)]
    # Two interpreters side by side, one per core.
    procs = [subprocess.Popen([sys.executable, "-c", PARITY, *half], cwd=KIT_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for half in (pairs[0::2], pairs[1::2])]
    results = {}
    for proc in procs:
        out, err = proc.communicate(timeout=280)
        line = next((x for x in out.splitlines() if x.startswith("PARITY")), None)
        assert line, out[-3000:] + err[-3000:]
        results |= json.loads(line[len("PARITY"):])
    for variant, folder in zip(variants, folders):
        student, judged = results[f"{folder}|student"], results[f"{folder}|judge"]
        assert student, f"{variant.name} fails no check in student mode"
        assert sorted(student) == sorted(judged), (variant.name, sorted(student), sorted(judged))
        for nodeid, text in student.items():
            # The same words; numbers may differ where a check samples (the random draws of a call
            # follow the judge's seed, not the same stream).
            assert _words(text, folder) == _words(judged[nodeid], folder), (variant.name, nodeid)


def _words(message, folder):
    import re
    return re.sub(r"\d+(\.\d+)?", "#", message.replace(folder, ""))


def test_a_crash_of_the_submissions_process_is_reported_and_the_next_check_gets_a_fresh_one(tmp_path):
    from tests.kit import make_variant

    variant = make_variant(tmp_path, "exits", {"attention": [
        ("        k = self.key(x)  # (B, T, hs)\n", "        import os\n        os._exit(3)\n")]})
    out = run(str(variant), "grader/checks/test_head.py::test_output_shape_dtype_device",
              "grader/checks/test_head.py::test_key_query_value_layout")
    # The two checks that call forward say why; the layout check after them gets a fresh process.
    assert "the submission's process exited with code 3 while a check waited on it" in out, out
    assert "2 failed, 1 passed" in out, out


# The GPU checks' own steps, judged apart with the device given (CPU here, CUDA on a GPU runner): the
# same probes and judges as on a GPU, so only CUDA itself is left untried without one.
GPU_CHECK_ON = r'''
import sys
from grader.checks import test_gpt
from grader.sandbox.remote import RemoteImpl
impl = RemoteImpl(sys.argv[1], ["--no-landlock"])
try:
    test_gpt.runs_and_backpropagates(impl, "cpu")
    # The lecture check's path at a tiny size: trained in the child with bf16 autocast, the loss measured
    # by the judge on the device given, with bf16 as the loop measured it.
    from grader.probes import training
    recipe = training.Recipe(iters=30, batch_size=8, block_size=16, learning_rate=3e-3, eval_iters=4,
                             n_embd=32, n_head=4, n_layer=1)
    val, apart, _ = test_gpt.train_own_gpt(impl, "hello there, general kenobi. " * 200, recipe, "cpu", bf16=True)
    # Measured: 2.71 untrained (log 15, the text's characters), 0.89 after the 30 steps (0.888 without bf16).
    assert apart and 0 < val < 1.5, (val, apart)
    print("VERDICT passed")
except BaseException as exc:
    print("VERDICT failed", exc)
'''


@pytest.mark.parametrize("edit, verdict", [
    (None, "passed"),
    ("loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T)).detach()  # ()", "no gradient"),
], ids=["reference", "detached-loss"])
def test_the_gpu_checks_steps_are_judged_apart(tmp_path, edit, verdict):
    from tests.kit import make_variant

    old = "loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()"
    folder = make_variant(tmp_path, "v", {"gpt": [(old, edit)]} if edit else {})
    out = subprocess.run([sys.executable, "-c", GPU_CHECK_ON, str(folder)], cwd=KIT_ROOT, capture_output=True,
                         text=True, timeout=120).stdout
    assert "VERDICT " + ("passed" if verdict == "passed" else "failed") in out, out
    assert verdict in out, out


# Grades one folder's checks in student mode and in judge mode, and prints, per failed check, the facts
# that say an exercise's code is not there (the explanation's stub, missing_module and missing_name).
FACTS = r'''
import json, sys, pytest
from grader.sandbox.remote import Provider, RemoteImpl


class Facts:
    def __init__(self):
        self.facts = {}

    def pytest_runtest_logreport(self, report):
        if report.failed:
            why = report.longrepr
            self.facts[report.nodeid] = [getattr(why, key, None) for key in ("stub", "missing_module", "missing_name")]


folder, checks = sys.argv[1:]
results = {}
for mode in ("student", "judge"):
    recorder = Facts()
    plugins = [recorder] + ([Provider(RemoteImpl(folder, ["--no-landlock"]))] if mode == "judge" else [])
    pytest.main([checks, "-p", "grader.student.plugin", "--noconftest", "-p", "no:cacheprovider", "--impl", folder,
                 "-q", "--rootdir", ".", "-c", "tox.ini"], plugins=plugins)
    results[mode] = recorder.facts
print("FACTS" + json.dumps(results))
'''


def test_the_judge_knows_a_stub_a_missing_module_and_a_missing_name_as_student_mode_does(tmp_path):
    """The facts come from the judge's own request and the graded folder, never from the words of the
    submission's process, and are the same as the student's pytest finds them."""
    import json
    import shutil

    from grader.rubric import BY_MARKER

    no_module = tmp_path / "no_module"
    shutil.copytree(KIT_ROOT / "solutions", no_module, ignore=shutil.ignore_patterns("__pycache__"))
    (no_module / "layernorm.py").unlink()
    no_name = tmp_path / "no_name"
    shutil.copytree(no_module, no_name)
    (no_name / "layernorm.py").write_text("import torch\n")
    expected = {"exercises": [BY_MARKER["layernorm"].number, "", ""], str(no_module): [None, "layernorm", ""],
                str(no_name): [None, "", "LayerNorm1d"]}
    for folder, facts in expected.items():
        out = subprocess.run([sys.executable, "-c", FACTS, folder, "grader/checks/test_layernorm.py"], cwd=KIT_ROOT,
                             capture_output=True, text=True, timeout=240).stdout
        line = next((x for x in out.splitlines() if x.startswith("FACTS")), None)
        assert line, out[-3000:]
        results = json.loads(line[len("FACTS"):])
        assert results["student"] and results["judge"] == results["student"], (folder, results)
        assert all(found == facts for found in results["judge"].values()), (folder, results["judge"])
