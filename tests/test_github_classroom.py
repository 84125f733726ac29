"""The GitHub Classroom workflow gives Classroom the total that `grade` gives, check by check.

The grade sheets here are written by the kit's own report writer (grader/classroom/reports.py) for made-up
verdicts, not by a real grading run, which takes minutes."""

import base64
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from grader.classroom import github_classroom
from grader.classroom.github_classroom import RESULTS, classroom_workflow, workflow_exercises
from grader.rubric import BY_MARKER, CORE, TOTAL_POINTS

from kit import KIT_ROOT

# Failures chosen so that the checks' scores, added up as the reporter adds them (binary floats), would
# print 94.33330000000001 rather than 94.3333: the total must still come out exactly grade's.
FAILED = {("batching", "test_split_honours_train_fraction[0.8]"), ("bigram", "test_loss_is_mean_cross_entropy"),
          ("head", "test_uses_the_past[T=5,t=4]"), ("multihead", "test_no_python_loop_over_heads"),
          ("gpt", "test_too_long_sequence_is_a_clear_error"),
          ("averaging", "test_is_causal[version1-loop]"), ("layernorm", "test_written_by_hand")}


@pytest.fixture(scope="module")
def checks():
    from grader.classroom import catalog

    return catalog.collect()


def graded(checks, failed=frozenset(), markers=None):
    """A made-up grade: every check passed but those of ``failed`` ((marker, name) pairs); the GPU checks
    skipped, as on a machine without one."""
    from grader.classroom.reports import Graded
    from grader.sandbox.supervisor import Verdict

    verdicts = []
    for check in checks:
        if markers and check.marker not in markers:
            continue
        if not check.points:
            verdict = Verdict("skipped", "needs CUDA")
        elif (check.marker, check.name) in failed:
            verdict = Verdict("failed", f"{check.name} expected something else\nsecond line")
        else:
            verdict = Verdict("passed")
        verdicts.append((check, verdict))
    return Graded("exercises", "exercises", "directory", verdicts)


def write_grade_sheet(tmp_path, grade):
    from grader.classroom.reports import write_submission

    write_submission(tmp_path / "grades", grade)
    return tmp_path / RESULTS


def step_result(results_path, marker, runners):
    """What the workflow's step for ``marker`` writes to $GITHUB_OUTPUT, decoded."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert github_classroom.main([str(results_path), marker, "--runners", ",".join(runners)]) == 0
    (line,) = out.getvalue().splitlines()
    assert line.startswith("result=")
    return json.loads(base64.b64decode(line.removeprefix("result=")))


def classroom_results(results_path, markers=None):
    runners = [ex.marker for ex in workflow_exercises(markers)]
    return {marker: step_result(results_path, marker, runners) for marker in runners}


def reporter_points(results):
    """The reporter's total and max: each test's score added up as JavaScript adds numbers (these floats),
    runners in order; runners with no max_score left out."""
    total, maximum = 0.0, 0
    for result in results.values():
        if result["max_score"]:
            maximum += result["max_score"]
            for test in result["tests"]:
                total += test["score"]
    return total, maximum


def exercise_points(result):
    return round(sum(test["score"] for test in result["tests"]), 4)


def test_classroom_total_is_grades_total_to_the_point(checks, tmp_path):
    grade = graded(checks, FAILED)
    path = write_grade_sheet(tmp_path, grade)
    results = classroom_results(path)
    total, maximum = reporter_points(results)
    assert (total, maximum) == (grade.score, TOTAL_POINTS) == (94.3333, 100)
    assert repr(total) == "94.3333"  # what the reporter prints: no 94.33330000000001
    assert json.loads(path.read_text())["score"] == total
    for ex in CORE:  # each exercise within a rounding unit of grade's, which rounds each on its own
        assert abs(exercise_points(results[ex.marker]) - grade.exercise_score(ex.marker)) <= 0.0001
        assert results[ex.marker]["max_score"] == ex.max_points
    assert results["tokenizer"]["status"] == "pass" and results["head"]["status"] == "fail"
    (lost,) = [t for t in results["head"]["tests"] if t["status"] == "fail"]
    assert lost["score"] == 0 and lost["name"].endswith("test_uses_the_past[T=5,t=4]")
    # The lines that say what went wrong (expected, got, look at, the mistake), not only the first.
    assert lost["message"] == "test_uses_the_past[T=5,t=4] expected something else\nsecond line" and lost["line_no"] == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_javascript_prints_grades_total(checks, tmp_path):
    """The reporter is JavaScript: its own sum, printed as its notice prints it, reads as grade's total."""
    grade = graded(checks, FAILED)
    results = classroom_results(write_grade_sheet(tmp_path, grade))
    env = {f"{marker.upper()}_RESULTS": base64.b64encode(json.dumps(result).encode()).decode()
           for marker, result in results.items()}
    script = ("let total = 0, max = 0;"
              "for (const runner of process.argv[1].split(',')) {"
              "  const r = JSON.parse(Buffer.from(process.env[runner.toUpperCase() + '_RESULTS'], 'base64').toString());"
              "  if (!r.max_score) continue; max += r.max_score; for (const t of r.tests) total += t.score; }"
              "console.log(`Points ${total}/${max}`);")
    proc = subprocess.run(["node", "-e", script, ",".join(results)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "Points 94.3333/100", proc.stderr


def test_a_failing_check_loses_exactly_its_points(checks, tmp_path):
    full = classroom_results(write_grade_sheet(tmp_path / "full", graded(checks)))
    assert reporter_points(full) == (100, 100)
    # One check of 4 points, then one parameter of 3 that share 1 point.
    for failed, lost in ((("block", "test_matches_oracle"), 4), (("head", "test_uses_the_past[T=5,t=4]"), 0.3333)):
        grade = graded(checks, {failed})
        results = classroom_results(write_grade_sheet(tmp_path / failed[1], grade))
        assert reporter_points(results)[0] == grade.score == round(100 - lost, 4)
        for marker, result in results.items():
            expected = BY_MARKER[marker].max_points - (lost if marker == failed[0] else 0)
            assert exercise_points(result) == round(expected, 4), marker


def test_extras_count_only_when_named(checks, tmp_path):
    # The default workflow: grade grades everything, Classroom counts the core only.
    everything = graded(checks, FAILED)
    total, maximum = reporter_points(classroom_results(write_grade_sheet(tmp_path / "all", everything)))
    assert (total, maximum) == (everything.score, 100)
    # Named with -m, an extra counts: the workflow grades those exercises only, and adds grade's two totals
    # as grade prints them (rounded each), not their exact sum rounded (32.6667).
    markers = ["head", "averaging", "layernorm"]
    some = graded(checks, FAILED | {("head", "test_uses_the_past[T=block_size,t=1]")}, markers)
    results = classroom_results(write_grade_sheet(tmp_path / "some", some), markers)
    assert list(results) == markers
    total, maximum = reporter_points(results)
    assert (some.score, some.extra_score) == (14.3333, 18.3333)
    assert total == round(some.score + some.extra_score, 4) == 32.6666
    assert maximum == 15 + 10 + 10


def test_no_grade_sheet_gives_0_and_says_why(tmp_path):
    (tmp_path / "broken.json").write_text('{"tests": [')
    (tmp_path / "empty.json").write_text('{"output": "Graded directory exercises: status error (no exercises/)", '
                                         '"tests": []}')
    for name, says in (("missing.json", "is missing"), ("broken.json", "could not be read"),
                       ("empty.json", "status error (no exercises/)")):
        results = classroom_results(tmp_path / name)
        assert reporter_points(results) == (0, 100)
        for marker, result in results.items():
            (test,) = result["tests"]
            assert result["status"] == test["status"] == "error" and test["score"] == 0
            assert f"No points for Exercise {BY_MARKER[marker].number}: " in test["message"]
            assert says in test["message"] and '"Grade sheet"' in test["message"]
            assert 'artifact "grades"' in test["message"]


def steps_of(text):
    return re.findall(r"^      - name: (Exercise \d+ \(\w+\))\n        id: (\w+)\n        if: always\(\)\n"
                      r"        run: \|\n((?:          .*\n)+)", text, re.M)


def test_the_workflow_has_one_step_per_exercise_and_the_reporter_reads_them_all():
    for markers in (None, ["head", "averaging"]):
        exercises = workflow_exercises(markers)
        ids = [ex.marker for ex in exercises]
        text = classroom_workflow(markers)
        steps = steps_of(text)
        assert [step_id for _, step_id, _ in steps] == ids
        assert re.findall(r"^          runners: (.*)$", text, re.M) == [",".join(ids)]
        assert re.findall(r"^          (\w+)_RESULTS: \"\$\{\{steps\.(\w+)\.outputs\.result\}\}\"$", text, re.M) == [
            (marker.upper(), marker) for marker in ids]
        for ex, (_, _, script) in zip(exercises, steps):
            assert f"github_classroom {RESULTS} {ex.marker} \\\n            --runners {','.join(ids)} >>" in script
            # The fallback, for when Python cannot run: 0 of the exercise's points, and why.
            fallback = json.loads(base64.b64decode(re.search(r'echo "result=([^"]+)"', script)[1]))
            assert fallback["max_score"] == ex.max_points and fallback["tests"][0]["score"] == 0
        assert not re.search(r"@[A-Z_]+@", text)  # every placeholder filled in
        grade = re.findall(r"^        run: (python -m grader grade .*)$", text, re.M)
        assert grade == ["python -m grader grade exercises --out grades"
                         + "".join(f" -m {m}" for m in ids if markers)]
        assert sum(ex.max_points for ex in exercises) == (TOTAL_POINTS if markers is None else 25)
    # What the template guaranteed before, kept.
    assert "on:\n  push:\n  repository_dispatch:\n  workflow_dispatch:\n" in text
    assert "if: github.actor != 'github-classroom[bot]'" in text
    assert "permissions:\n  checks: write\n  actions: read\n  contents: read\n" in text
    assert "      - uses: actions/upload-artifact@v4\n        if: always()\n        with:\n          name: grades\n" in text


def test_the_step_writes_its_result_and_falls_back_when_python_cannot_run(checks, tmp_path):
    """The step's own shell script, run as Actions runs it (bash -e), in a checkout whose grade step ran."""
    grade = graded(checks, FAILED)
    write_grade_sheet(tmp_path, grade)
    (_, _, script), = [s for s in steps_of(classroom_workflow()) if s[1] == "head"]
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "python").write_text("#!/bin/sh\nexit 1\n")
    (fake / "python").chmod(0o755)
    real = tmp_path / "real"
    real.mkdir()
    (real / "python").symlink_to(sys.executable)
    for bin_dir in (real, fake):
        output = tmp_path / f"output-{bin_dir.name}"
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
               "PYTHONPATH": str(KIT_ROOT)}
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        (line,) = output.read_text().splitlines()
        result = json.loads(base64.b64decode(line.removeprefix("result=")))
        if bin_dir is real:
            assert result == step_result(tmp_path / RESULTS, "head", [ex.marker for ex in CORE])
            assert "Exercise 5 (head): 14.6666 of 15 points, 18 of 19 checks passed" in proc.stderr
        else:
            assert result["status"] == "error" and result["tests"][0]["score"] == 0
            assert "the grader could not run in this step" in result["tests"][0]["message"]


def test_an_extra_not_attempted_is_0_points_and_says_so(tmp_path):
    """results.json lists an extra nobody started as one line (extra_data.not_attempted), not as checks:
    Classroom's step for it gives 0 points saying "not attempted", not that grading went wrong."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"score": 100, "output": "", "tests": [],
                                   "extra_data": {"not_attempted": ["addition"]}}))
    result = github_classroom.exercise_result(results, "addition", ["addition"])
    (test,) = result["tests"]
    assert (result["max_score"], test["score"]) == (BY_MARKER["addition"].max_points, 0)
    assert test["message"] == f"Exercise {BY_MARKER['addition'].number}: not attempted"
