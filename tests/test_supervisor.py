"""How the teacher's process reads a worker's events: only results in turn, and confirmed, count."""

import json
import subprocess
import sys
import time

import pytest

from grader.sandbox.supervisor import Limits, SandboxResult, _RunState
from tests.kit import KIT_ROOT, make_variant

A, B = "grader/checks/test_a.py::test_a", "grader/checks/test_b.py::test_b"


def _feed(events, stop=None, returncode=0, remaining=(A, B)):
    remaining = list(remaining)
    result = SandboxResult({})
    state = _RunState(Limits(), deadline=float("inf"))
    for event in events:
        line = event if isinstance(event, bytes) else json.dumps(event).encode()
        stop = stop or state.handle(line, remaining, result, None)
    state.finish(stop, returncode, remaining, result)
    return result, remaining


def start(nodeid):
    return {"event": "start", "nodeid": nodeid}


def outcome(nodeid, value="passed", message=""):
    return {"event": "result", "nodeid": nodeid, "outcome": value, "message": message}


FINISHED = {"event": "finished", "exit_code": 0}


def test_results_in_turn_count():
    result, remaining = _feed([start(A), outcome(A), start(B), outcome(B, "failed", "wrong"), FINISHED])
    assert {k: v.outcome for k, v in result.verdicts.items()} == {A: "passed", B: "failed"}
    assert remaining == []


def test_a_result_the_process_did_not_live_past_does_not_count():
    # What a forged "passed" followed by os._exit looks like.
    result, remaining = _feed([start(A), outcome(A)], returncode=0)
    assert result.verdicts[A].outcome == "crashed" and "right after this check" in result.verdicts[A].message
    assert remaining == [B]


def test_a_result_out_of_turn_is_tampering():
    result, _ = _feed([start(A), outcome(B)])
    assert result.verdicts[A].outcome == "tampered"
    result, _ = _feed([start(A), outcome(A), outcome(A)])
    assert result.verdicts[A].outcome == "tampered"
    result, _ = _feed([start(A), start(B)])
    assert result.verdicts[A].outcome == "tampered"


def test_lines_the_worker_never_writes_are_tampering():
    for line in (b"not json", json.dumps({"event": "result"}).encode(), json.dumps({"event": "other"}).encode(),
                 json.dumps(outcome(A, "excellent")).encode()):
        result, _ = _feed([start(A), line])
        assert result.verdicts[A].outcome == "tampered", line


def test_a_crash_while_importing_blocks_the_module():
    result, remaining = _feed([start(A), {"event": "import", "module": "attention"}], returncode=-11)
    assert result.verdicts[A].outcome == "crashed" and "SIGSEGV" in result.verdicts[A].message
    assert "attention" in result.blocked and remaining == [B]


def test_a_timeout_while_importing_blocks_the_module():
    events = [start(A), {"event": "import", "module": "block"},
              {"event": "import-failed", "module": "block", "detail": "Failed: Timeout (>5.0s) from pytest-timeout.",
               "timed_out": True}, outcome(A, "timeout"), FINISHED]
    result, _ = _feed(events)
    assert result.verdicts[A].outcome == "timeout" and "block" in result.blocked


def test_the_words_of_a_timeout_raised_by_the_submission_block_nothing():
    # The judge says whether pytest-timeout raised it (timed_out); the submission's own exception may
    # carry the same words.
    events = [start(A), {"event": "import", "module": "block"},
              {"event": "import-failed", "module": "block", "detail": "ValueError: Timeout (>5.0s) from pytest-timeout.",
               "timed_out": False}, outcome(A, "failed"), FINISHED]
    result, _ = _feed(events)
    assert result.blocked == {}


def test_an_ordinary_import_error_does_not_block_the_module():
    events = [start(A), {"event": "import", "module": "block"},
              {"event": "import-failed", "module": "block", "detail": "NameError: x"}, outcome(A, "failed"), FINISHED]
    result, _ = _feed(events)
    assert result.blocked == {}


def test_a_check_with_its_own_longer_limit_gets_it_and_the_others_the_teachers():
    from grader.classroom.catalog import Check

    state = _RunState(Limits(timeout=60), deadline=float("inf"), budgets={A: 300.0})
    state.handle(json.dumps(start(A)).encode(), [A, B], SandboxResult({}), None)
    assert state.check_deadline(state.started) == state.started + 300 + 10
    assert "300 s for this check" in state.timeout_verdict()[1]
    state.handle(json.dumps(outcome(A)).encode(), [A, B], SandboxResult({}), None)
    state.handle(json.dumps(start(B)).encode(), [A, B], SandboxResult({}), None)
    assert state.check_deadline(state.started) == state.started + 60 + 10
    # The longer of the teacher's --timeout and the check's own marker wins.
    assert Check("n", "head", 5, "n", 1.0, timeout=300).budget(60) == 300
    assert Check("n", "head", 5, "n", 1.0, timeout=30).budget(60) == 60
    assert Check("n", "head", 5, "n", 1.0).budget(60) == 60


def test_a_timeout_in_a_call_of_the_submissions_function_is_charged_by_function_not_by_exercise():
    from grader.sandbox.supervisor import _hung_arguments, _hung_exercises, _hung_functions
    from grader.sandbox.judge import _parse

    events = [start(A), outcome(A, "timeout", "did not finish") | {"hung": "block.FeedForward.forward"},
              start(B), outcome(B, "timeout", "not run: ...") | {"charged": "block.FeedForward.forward"}, FINISHED]
    result, remaining = _feed(events)
    assert remaining == [] and result.hangs == {A: "block.FeedForward.forward"}  # B did not wait
    assert _hung_functions(result) == {"block.FeedForward.forward": A}
    assert _hung_exercises(result, {A: "feedforward", B: "feedforward"}) == {}  # the exercise's others still run
    # The next worker is told, after the checks it runs.
    args = _parse(["--impl", "pkg", "--events-fd", "3", "--timeout", "1", "--memory-mb", "1", "--file-mb", "1", B,
                   *_hung_arguments(result)])
    assert args.nodeids == [B] and args.hung == [f"block.FeedForward.forward={A}"]


def test_a_timeout_not_in_a_call_of_the_submissions_function_charges_the_exercise():
    from grader.sandbox.supervisor import _hung_exercises

    result, _ = _feed([start(A), outcome(A, "timeout", "did not finish"), FINISHED])
    assert result.hangs == {A: ""} and _hung_exercises(result, {A: "head", B: "head"}) == {"head": A}
    # Stopped from here (the worker did not answer): nothing is known of the call in flight either.
    result, remaining = SandboxResult({}), [A, B]
    state = _RunState(Limits(), deadline=float("inf"))
    state.handle(json.dumps(start(A)).encode(), remaining, result, None)
    state.finish(("timeout", "did not finish within the time limit"), None, remaining, result)
    assert result.hangs == {A: ""} and result.verdicts[A].outcome == "timeout"
    # A label that is not one is not passed on.
    result, _ = _feed([start(A), outcome(A, "timeout") | {"hung": "x\n--impl=/"}, FINISHED])
    assert result.hangs == {A: ""}


ENDLESS_FFWD = {"block": [("        return self.net(x)  # (B, T, C)\n", "        while True:\n            pass\n")]}


@pytest.mark.timeout(300)
def test_a_hang_costs_one_time_limit_not_one_per_check_that_calls_it(tmp_path):
    """An endless FeedForward.forward graded on Exercises 7 to 9 with a 10 s limit (its slowest check
    that runs, a GPT's, takes ~3 s): the first check that calls forward waits its limit; every later one
    that calls it, directly (Exercise 7) or through the submission's own code (the GPT's training,
    Exercise 9), is charged at once by the judge; the checks that do not call it (Block's, with the
    grader's stand-ins as branches) keep their points; one worker does it all. Before, each exercise
    waited its own limit and the worker restarted to charge the rest of the exercise (with --jobs 1 and
    10 s, beside the reference: ~51 s for the class, ~17 s for the reference alone; now ~41 s)."""
    from grader.classroom.reports import VERDICT_TEXT

    klass, out = tmp_path / "class", tmp_path / "out"
    klass.mkdir()
    make_variant(klass, "hang", ENDLESS_FFWD)
    cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--timeout", "10",
           "-m", "feedforward", "-m", "block", "-m", "gpt"]
    began = time.monotonic()
    proc = subprocess.run(cmd, cwd=KIT_ROOT, capture_output=True, text=True, timeout=280)
    took = time.monotonic() - began
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {"hang": json.loads((out / "hang" / "results.json").read_text())}
    print(f"graded in {took:.1f} s")

    label = f"[{VERDICT_TEXT['timeout']}] "
    tests = {t["name"].rpartition(": ")[2] + f" ({t['tags'][0]})": t for t in results["hang"]["tests"]}
    waited = [name for name, t in tests.items() if t["output"].startswith(label + "did not finish within")]
    charged = {name for name, t in tests.items()
               if t["output"] == label + "not run: FeedForward.forward did not finish in time in "
                                         "test_output_shape_dtype_device, and this check calls it"}
    assert waited == ["test_output_shape_dtype_device (feedforward)"], waited
    assert charged == {"test_matches_oracle (feedforward)", "test_dropout_active_in_train_mode (feedforward)",
                       "test_position_wise (feedforward)", "test_training_beats_the_bigram (gpt)"}, charged
    others = {name: t["status"] for name, t in tests.items() if name not in charged and name not in waited}
    assert set(others.values()) == {"passed"} and {"block", "gpt"} <= {t["tags"][0] for t in tests.values()}, others
    graded = json.loads((out / "hang" / "graded.json").read_text())
    assert graded["sandbox"]["processes"] == 1  # no worker restarted to skip an exercise's checks



class _TimeRanOut(BaseException):
    """What pytest-timeout raises in the judge (its Failed is a BaseException too)."""


def test_the_judge_refuses_a_call_of_a_function_known_to_hang_and_the_child_refuses_it_inside_others(tmp_path):
    """The Channel's side, without a worker: a timeout in a call of FeedForward.forward names it; then
    a call of it is refused by the judge without asking the child, and a call of a Block (whose forward
    calls its FeedForward's in the submission's process) by the trap set there, at once; what does not
    call it (a FeedForward's construction) still runs, and the judge's random draws are as they were."""
    import signal

    import torch

    from grader.sandbox.remote import KnownHang, RemoteImpl

    impl = RemoteImpl(make_variant(tmp_path, "hang", ENDLESS_FFWD), ["--no-landlock"])
    channel = impl.channel
    try:
        ffwd = impl.get("block", "FeedForward")(32, 0.0)
        x = torch.randn(2, 4, 32)

        def time_ran_out(*_):
            raise _TimeRanOut()

        previous = signal.signal(signal.SIGALRM, time_ran_out)
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        try:
            with pytest.raises(_TimeRanOut):
                ffwd(x)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert channel.interrupted == "block.FeedForward.forward"
        channel.hung["block.FeedForward.forward"] = "grader/checks/test_feedforward.py::test_x"
        message = "not run: FeedForward.forward did not finish in time in test_x, and this check calls it"
        torch.manual_seed(0)
        torch.randint(0, 2**62, (2,))  # what the two calls below draw: one each, for the child's CUDA seed
        expected = torch.rand(3)
        torch.manual_seed(0)
        block = impl.get("block", "Block")(32, 4, 8, 0.0)  # builds a FeedForward: not a call of its forward
        ffwd = impl.get("block", "FeedForward")(32, 0.0)
        assert torch.equal(torch.rand(3), expected)  # the traps' requests drew nothing of the judge's
        with pytest.raises(KnownHang, match=message):
            block(x)  # in the child: Block.forward calls self.ffwd, where the trap is
        with pytest.raises(KnownHang, match=message):
            ffwd(x)  # here: the child is not asked
        assert channel.label(block) == "block.Block.forward" and channel.label(ffwd.net) is None
        assert channel.label(impl.get("block", "Block")) == "block.Block.__init__"
        assert channel.label(ffwd.eval) == "block.FeedForward.eval"
        # A constructor known to hang: trapped too, so a GPT that builds Blocks is refused at once.
        channel.hung["block.Block.__init__"] = "grader/checks/test_block.py::test_y"
        config = impl.get("gpt", "GPTConfig")(vocab_size=8, block_size=8, n_embd=32, n_head=4, n_layer=1)
        with pytest.raises(KnownHang, match="Block.__init__ did not finish in time in test_y"):
            impl.get("gpt", "GPTLanguageModel")(config)
    finally:
        impl.close()


def test_a_timeout_is_the_judges_own_exception_not_its_words():
    from types import SimpleNamespace

    from grader.sandbox.judge import _outcome

    report = SimpleNamespace(outcome="failed")
    words = "Timeout (>5.0s) from pytest-timeout."
    try:
        pytest.fail(words)
    except pytest.fail.Exception as exc:
        assert _outcome(report, SimpleNamespace(value=exc)) == "timeout"
    # What the submission's process raised comes back as a built-in exception, whatever it says.
    assert _outcome(report, SimpleNamespace(value=RuntimeError(words))) == "failed"


def test_a_result_carries_what_says_an_exercises_code_is_not_there_as_data():
    facts = {"stub": 11, "missing_module": "layernorm", "missing_name": "LayerNorm1d"}
    result, _ = _feed([start(A), {**outcome(A, "failed", "x"), **facts}, start(B),
                       {**outcome(B, "failed", "y"), "stub": True, "missing_module": "../x", "missing_name": 5},
                       FINISHED])
    verdict = result.verdicts[A]
    assert (verdict.stub, verdict.missing_module, verdict.missing_name) == (11, "layernorm", "LayerNorm1d")
    verdict = result.verdicts[B]  # what is not a number or a Python name is none
    assert (verdict.stub, verdict.missing_module, verdict.missing_name) == (0, "", "")
