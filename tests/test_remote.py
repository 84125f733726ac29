"""Teacher mode's judge (grader/remote.py): the checks run unchanged against a submission that runs in
a child process, only data comes back, and the judge never loads the submission's code."""

import io
import pickle
import subprocess
import sys

import pytest
import torch

from grader import wire
from tests.kit import KIT_ROOT

pytestmark = pytest.mark.timeout(300)

# Runs the graded checks in judge mode in a fresh interpreter, then says whether any module of the
# graded folder was loaded there.
JUDGE = r'''
import sys, pytest
from grader.remote import Provider, RemoteImpl
impl = RemoteImpl(sys.argv[1], ["--no-landlock"])
code = pytest.main([*sys.argv[2:], "-p", "grader.plugin", "--noconftest", "-p", "no:cacheprovider",
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
