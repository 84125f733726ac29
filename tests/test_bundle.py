"""The Gradescope autograder bundle, run against a simulated /autograder, and the Classroom workflow."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from grader.classroom.bundle import build, collect
from grader.classroom.github_classroom import classroom_workflow
from grader.data import verify
from grader.judges.rubric import CORE, TOTAL_POINTS
from tests.kit import KIT_ROOT, SOLUTIONS, notebook_from

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    path = build(root / "autograder.zip", ["--timeout", "30"])
    return root, path


def test_the_bundle_holds_the_grader_and_not_the_solutions(autograder):
    _, path = autograder
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "kit/tox.ini", "kit/grader/classroom/grade.py",
            "kit/grader/checks/test_head.py"} <= set(names)
    assert not any(name.startswith(("kit/solutions", "kit/tests", "kit/exercises")) for name in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert build(path.parent / "again.zip", ["--timeout", "30"]).read_bytes() == path.read_bytes()


def _run_autograder(root, bundle, submission_files, extra_args):
    """Lay out /autograder in a temporary folder as Gradescope does, and run run_autograder there."""
    ag = root / "autograder"
    shutil.rmtree(ag, ignore_errors=True)
    (ag / "submission").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(ag / "source")
    for name, make in submission_files.items():
        make(ag / "submission" / name)
    env = dict(os.environ, AUTOGRADER_ROOT=str(ag), GPTKIT_PYTHON=sys.executable,
               GPTKIT_DATA=str(verify()), GPTKIT_GRADE_ARGS=extra_args)
    proc = subprocess.run(["bash", str(ag / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=500)
    results = ag / "results" / "results.json"
    assert results.is_file(), proc.stdout + proc.stderr
    return json.loads(results.read_text())


def test_run_autograder_grades_a_notebook_upload(autograder):
    root, bundle = autograder
    result = _run_autograder(root, bundle, {"gpt.ipynb": lambda p: notebook_from(SOLUTIONS, p)},
                             "-m tokenizer -m head")
    assert result["score"] == result["extra_data"]["max_score"] == 23
    assert all(t["tags"][0] in ("tokenizer", "head") for t in result["tests"])


def test_run_autograder_grades_uploaded_modules(autograder):
    root, bundle = autograder
    files = {f"{m}.py": (lambda p, m=m: shutil.copyfile(SOLUTIONS / f"{m}.py", p))
             for m in ("tokenizer", "attention")}
    result = _run_autograder(root, bundle, files, "-m tokenizer -m head -m generate")
    assert result["score"] == 23  # generate.py was not uploaded: Exercise 4 scores 0
    missing = [t for t in result["tests"] if t["tags"] == ["generate"]]
    assert missing and all("generate.py is missing" in t["output"] for t in missing)


def test_run_autograder_explains_an_upload_with_nothing_to_grade(autograder):
    root, bundle = autograder
    result = _run_autograder(root, bundle, {"notes.txt": lambda p: p.write_text("hello")}, "-m tokenizer")
    assert result["score"] == 0 and "found nothing to grade" in result["output"]


def test_collect_refuses_several_submissions(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "graded" / name).mkdir(parents=True)
        (tmp_path / "graded" / name / "results.json").write_text("{}")
    collect(tmp_path / "graded", tmp_path / "results.json")
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["score"] == 0 and "found 2 submissions" in result["output"]


def test_classroom_workflow_has_one_step_per_exercise_with_its_points():
    text = classroom_workflow()
    for ex in CORE:
        assert f"command: python -m grader check -m {ex.marker}\n" in text
        assert f"id: {ex.marker}\n" in text
    points = [int(line.split(":")[1]) for line in text.splitlines() if line.strip().startswith("max-score:")]
    assert sum(points) == TOTAL_POINTS
    assert "@" not in text.replace("@v", "")  # every placeholder filled in
    # Triggered as Classroom's own workflow is, and not by the bot's first commit of each repository.
    assert "on:\n  push:\n  repository_dispatch:\n  workflow_dispatch:\n" in text
    assert "if: github.actor != 'github-classroom[bot]'" in text
    # Classroom adds up every step: the extras join only when asked for.
    assert "-m averaging" not in text and "-m averaging\n" in classroom_workflow(["head", "averaging"])


def test_bundle_command_writes_both(tmp_path):
    cmd = [sys.executable, "-m", "grader", "bundle"]
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "ag.zip"), "--timeout", "20", "-m", "head"], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "ag.zip") as zf:
        script = zf.read("run_autograder").decode()
    assert "--timeout 20.0 -m head" in script
    proc = subprocess.run([*cmd, "--classroom", str(tmp_path / "wf" / "classroom.yml")], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and (tmp_path / "wf" / "classroom.yml").read_text() == classroom_workflow()
