"""How the teacher's process reads a worker's events: only results in turn, and confirmed, count."""

import json

from grader.sandbox.isolate import Limits, SandboxResult, _RunState

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
              {"event": "import-failed", "module": "block", "detail": "Failed: Timeout (>5.0s) from pytest-timeout."},
              outcome(A, "timeout"), FINISHED]
    result, _ = _feed(events)
    assert result.verdicts[A].outcome == "timeout" and "block" in result.blocked


def test_an_ordinary_import_error_does_not_block_the_module():
    events = [start(A), {"event": "import", "module": "block"},
              {"event": "import-failed", "module": "block", "detail": "NameError: x"}, outcome(A, "failed"), FINISHED]
    result, _ = _feed(events)
    assert result.blocked == {}


def test_a_check_with_its_own_longer_limit_gets_it_and_the_others_the_teachers():
    from grader.judges.catalog import Check

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
