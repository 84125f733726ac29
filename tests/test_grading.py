"""The graded checks against the reference, the untouched stubs, and a few hand-broken variants."""

import torch
import pytest

from kit import make_variant, run_checks

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def solutions_run(tmp_path_factory):
    return run_checks("solutions", tmp_path=tmp_path_factory.mktemp("solutions"))


@pytest.fixture(scope="module")
def exercises_run(tmp_path_factory):
    return run_checks("exercises", tmp_path=tmp_path_factory.mktemp("exercises"))


def test_solutions_pass_every_check(solutions_run):
    assert solutions_run.cases, f"no checks ran:\n{solutions_run.output}"
    for name, (outcome, message) in solutions_run.cases.items():
        if outcome == "skipped":
            assert NO_CUDA and "needs CUDA" in message, f"{name} skipped: {message}"
        else:
            assert outcome == "passed", f"{name} failed on the reference:\n{message}"
    assert solutions_run.returncode == 0, solutions_run.output


def test_solutions_score_100_and_every_extra_point(solutions_run):
    from grader.rubric import EXTRA_POINTS

    assert solutions_run.score() == pytest.approx(100 + EXTRA_POINTS)
    assert "total 100 / 100" in solutions_run.output
    assert f"extras {EXTRA_POINTS} / {EXTRA_POINTS}" in solutions_run.output


def test_stubs_score_0(exercises_run):
    assert exercises_run.score() == 0
    assert "total 0 / 100" in exercises_run.output


def test_rubric_names_exactly_the_graded_checks(solutions_run):
    from grader.rubric import POINTS, TOTAL_POINTS

    assert TOTAL_POINTS == 100
    collected = {(name.split("::")[0].removeprefix("test_"), name.split("::")[1].split("[")[0])
                 for name in solutions_run.cases}
    in_rubric = {(marker, check) for marker, checks in POINTS.items() for check in checks}
    gpu_checks = {pair for pair in collected if solutions_run.points.get(f"test_{pair[0]}::{pair[1]}", 1) == 0}
    assert in_rubric == collected - gpu_checks
    assert "rubric.py gives no points" not in solutions_run.output


def test_every_exercise_has_checks(solutions_run):
    files = {name.split("::")[0] for name in solutions_run.cases}
    from grader.rubric import EXERCISES

    assert files == {f"test_{ex.marker}" for ex in EXERCISES}


def test_stubs_fail_every_check_as_not_implemented(exercises_run, solutions_run):
    assert exercises_run.cases.keys() == solutions_run.cases.keys()
    for name, (outcome, message) in exercises_run.cases.items():
        if outcome == "skipped":
            continue
        assert outcome == "failed", f"{name} passed on the stubs"
        # An extra that builds on the core (EX3 loads a GPT) names the core exercise it needs first.
        assert "not implemented yet: Exercise" in message or "needs Exercise 9 first" in message, f"{name}: {message}"
    assert exercises_run.returncode == 1


def test_stub_failures_show_no_traceback(exercises_run):
    assert "Traceback" not in exercises_run.output
    # A stub's check is a line of the table, not a section of the failures.
    assert " FAILURES " not in exercises_run.output and " not implemented in " in exercises_run.output
    assert "fill in the TODO at exercises/attention.py:" in exercises_run.output
    assert "next: Exercise 1, Character tokenizer" in exercises_run.output


def test_one_exercise_selected_by_marker(tmp_path):
    run = run_checks("solutions", "-m", "head", tmp_path=tmp_path)
    assert run.cases and all(name.startswith("test_head::") for name in run.cases), run.cases
    assert run.returncode == 0


def test_unfinished_prerequisite_is_named(tmp_path):
    variant = make_variant(tmp_path, "no_mha", {"attention": [
        ("        self.n_head = n_head\n",
         '        raise NotImplementedError("Exercise 6: MultiHeadAttention.__init__")\n'),
    ]})
    run = run_checks(variant, "-m", "block", tmp_path=tmp_path)
    outcome, message = run.cases["test_block::test_sublayers"]
    assert outcome == "failed"
    assert "needs Exercise 6 first: MultiHeadAttention.__init__ is not implemented yet" in message


def test_error_in_student_code_points_at_its_line(tmp_path):
    variant = make_variant(tmp_path, "typo", {"attention": [
        ("        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)\n",
         "        wei = q @ k * k.shape[-1] ** -0.5  # (B, T, T)\n"),
    ]})
    run = run_checks(variant, "-m", "head", tmp_path=tmp_path)
    outcome, message = run.cases["test_head::test_output_shape_dtype_device[T=block_size]"]
    assert outcome == "failed"
    assert "your code raised RuntimeError" in message
    assert "attention.py:" in message and "in forward" in message and "wei = q @ k" in message
