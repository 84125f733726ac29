"""The Gradescope autograder bundle, run against a simulated /autograder, and the Classroom workflow."""

import base64
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from grader.classroom.bundle import build, collect
from grader.classroom.github_classroom import classroom_workflow
from grader.data import verify
from tests.kit import KIT_ROOT, SOLUTIONS, kit_copy, make_variant, notebook_from, single_file_source, step_script

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    path = build(root / "autograder.zip", ["--timeout", "30"])
    return root, path


def _outside_this_venv():
    """PATH without the folder of this test's own virtual environment: the image has none of it."""
    own = Path(sys.prefix) / "bin"
    keep = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != own]
    return os.pathsep.join(keep or ["/usr/bin", "/bin"])


@pytest.fixture(scope="module")
def image(autograder):
    """The autograder's image as Gradescope builds it: the bundle unzipped in AUTOGRADER_ROOT/source and
    its own setup.sh run there, which makes AUTOGRADER_ROOT/venv with torch and requirements.txt only.
    Nothing of this test's interpreter or site-packages is used (about 25 s: torch is installed anew).
    The torch pinned to this machine's version, so that the build installs it from a local wheel cache
    where there is one, and the data handed over with GPTKIT_DATA instead of downloaded."""
    root, bundle = autograder
    ag = root / "image"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(ag / "source")
    # pip's own settings (its configuration in HOME, PIP_* variables) as this machine has them: they say
    # where packages come from. A venv ignores the user's site-packages, so HOME brings no package.
    pip_settings = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k == "HOME"}
    env = {**pip_settings, "PATH": _outside_this_venv(), "LANG": "C.UTF-8", "AUTOGRADER_ROOT": str(ag),
           "GPTKIT_DATA": str(verify()), "GPTKIT_TORCH": f"torch=={torch.__version__.split('+')[0]}",
           # No network here: fail over to the local wheel cache at once, not after five retries.
           "PIP_RETRIES": "0", "PIP_TIMEOUT": "5"}
    proc = subprocess.run(["bash", str(ag / "source" / "setup.sh")], cwd=ag / "source", env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"setup.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    python = ag / "venv" / "bin" / "python"
    # The point of the exercise: the venv cannot import the grader by itself; run_autograder must
    # make it find the copy in source/kit, for grade and for every process grade starts.
    bare = subprocess.run([str(python), "-c", "import grader"], cwd="/", env=env, capture_output=True, text=True)
    assert bare.returncode != 0 and "No module named 'grader'" in bare.stderr
    return ag, env


def test_the_bundle_holds_the_grader_and_not_the_solutions(autograder):
    _, path = autograder
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "README.md", "kit/tox.ini",
            "kit/grader/classroom/grade.py", "kit/grader/checks/test_head.py"} <= set(names)
    with zipfile.ZipFile(path) as zf:
        readme, script = zf.read("README.md").decode(), zf.read("run_autograder").decode()
    assert "for an autograder timeout of 600 s; options passed on\nto `grade`: `--timeout 30`." in readme
    assert "Ubuntu 22.04" in readme and "1/2 vCPU, 768 MB" in readme and "@" not in readme
    assert 'TIME_LIMIT="${GPTKIT_TIME_LIMIT:-600}"' in script
    assert not any(name.startswith(("kit/solutions", "kit/tests", "kit/exercises")) for name in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert build(path.parent / "again.zip", ["--timeout", "30"]).read_bytes() == path.read_bytes()


def _run_autograder(image, submission_files, extra_args, time_limit=500):
    """Run run_autograder in the built image, as Gradescope does for each submission: a fresh
    submission/ and results/, the autograder's time limit ``time_limit`` (run_autograder must end
    within it: the test's guard), and from another working folder than the kit's."""
    ag, env = image
    for folder in ("submission", "results"):
        shutil.rmtree(ag / folder, ignore_errors=True)
    (ag / "submission").mkdir()
    for name, make in submission_files.items():
        make(ag / "submission" / name)
    # As the bundle's README says to run it: the data is the copy setup.sh put in the kit.
    env = {**{k: v for k, v in env.items() if k != "GPTKIT_DATA"},
           "GPTKIT_GRADE_ARGS": extra_args, "GPTKIT_TIME_LIMIT": str(time_limit)}
    proc = subprocess.run(["bash", str(ag / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=time_limit, cwd=ag / "submission")
    results = ag / "results" / "results.json"
    assert results.is_file(), proc.stdout + proc.stderr
    return json.loads(results.read_text())


def _kit_copy_with_solved_tokenizer(path):
    path.mkdir()
    kit_copy(path, solved=["tokenizer"])  # solutions/ is in it too, and must not be what is graded


# The uploads students make (tests/test_upload.py reads many more shapes, test_grade.py grades zips in a
# zip, and loose modules are the hang test's below): (files in /autograder/submission, the score of -m tokenizer -m head, the note that says what was graded).
UPLOADS = {
    "a repository": ({"repo": _kit_copy_with_solved_tokenizer}, 8, "graded the modules in repo/exercises/"),
    "a notebook and a stray .py": ({"gpt.ipynb": lambda p: notebook_from(SOLUTIONS, p),
                                    "scratch.py": lambda p: p.write_text("print('hi')\n")}, 23, "graded gpt.ipynb"),
    "the contract in gpt.py": ({"gpt.py": lambda p: p.write_text(single_file_source(SOLUTIONS))}, 23, "graded gpt.py"),
}


@pytest.mark.parametrize("shape", UPLOADS)
def test_run_autograder_grades_uploads_as_students_make_them(image, shape):
    files, score, note = UPLOADS[shape]
    result = _run_autograder(image, files, "-m tokenizer -m head")
    assert result["score"] == score and result["extra_data"]["max_score"] == 23, result["output"]
    assert note in result["output"]
    assert all(t["tags"][0] in ("tokenizer", "head") for t in result["tests"])


def test_a_hang_still_leaves_every_other_exercise_its_points(image, tmp_path):
    """Loose modules, one missing and one with an endless Head.forward, with the per-check limit longer
    than the whole budget: the deadline alone stops the hang, and results.json is written, within the
    autograder's time limit, with the tokenizer's points. (An upload with nothing to grade:
    test_reports_spec.py.)"""
    hang = make_variant(tmp_path, "hang", {"attention": [
        ("        k = self.key(x)  # (B, T, hs)\n", "        while True:\n            pass\n")]})
    files = {f"{m}.py": (lambda p, m=m: shutil.copyfile(hang / f"{m}.py", p)) for m in ("tokenizer", "attention")}
    limit = 60  # s: grading may take 30 (less 15 kept for the reports); the tokenizer needs ~5 of them
    result = _run_autograder(image, files, "-m tokenizer -m generate -m head --timeout 600", time_limit=limit)
    tokenizer = [t for t in result["tests"] if t["tags"] == ["tokenizer"]]
    assert sum(t["score"] for t in tokenizer) == 8  # all its points
    missing = [t for t in result["tests"] if t["tags"] == ["generate"]]  # generate.py was not uploaded
    assert missing and all(t["score"] == 0 and "generate.py is missing" in t["output"] for t in missing)
    stopped = [t for t in result["tests"] if t["tags"] == ["head"] and "grading stopped here" in t["output"]]
    assert stopped and all(t["score"] == 0 for t in stopped)  # the checks that call the endless forward


def test_collect_refuses_several_submissions(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "graded" / name).mkdir(parents=True)
        (tmp_path / "graded" / name / "results.json").write_text("{}")
    collect(tmp_path / "graded", tmp_path / "results.json")
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["score"] == 0 and "found 2 submissions" in result["output"]


def test_bundle_command_writes_both(tmp_path):
    cmd = [sys.executable, "-m", "grader", "bundle"]
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "ag.zip"), "--timeout", "20", "-m", "head"], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "ag.zip") as zf:
        script = zf.read("run_autograder").decode()
    assert "--timeout 20.0 -m head" in script
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "ag.zip"), "--time-limit", "60"], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--time-limit: must be at least 120 s, got 60" in proc.stderr
    # Checked here, not on Gradescope, where grade would refuse them for every submission.
    proc = subprocess.run([*cmd, "--out", str(tmp_path / "ag.zip"), "--memory", "0"], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--memory: must be more than 0, got 0" in proc.stderr
    proc = subprocess.run([*cmd, "--classroom", str(tmp_path / "wf" / "classroom.yml")], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and (tmp_path / "wf" / "classroom.yml").read_text() == classroom_workflow()


def test_the_classroom_workflow_grades_in_the_environment_it_makes(image, tmp_path):
    """The Classroom workflow's own steps, run by bash as Actions runs them, in a student's repository
    (Exercise 1 done): a fresh venv stands for setup-python's Python; the image's torch is visible to it
    (a .pth file), so that the Install step's torch line finds it installed, and the rest is the
    workflow's: it installs the student's kit, grades it, and each exercise's step gives Classroom
    its points."""
    _, image_env = image
    repo = kit_copy(tmp_path / "repo", solved=["tokenizer"])
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", str(tmp_path / "py")], check=True, timeout=120)
    (site,) = (tmp_path / "py" / "lib").glob("python3*/site-packages")
    (torch_site,) = (image[0] / "venv" / "lib").glob("python3*/site-packages")
    (site / "image-torch.pth").write_text(f"{torch_site}\n")
    env = dict(image_env, PATH=f"{tmp_path / 'py' / 'bin'}{os.pathsep}{image_env['PATH']}",
               GITHUB_OUTPUT=str(tmp_path / "output"))
    workflow = classroom_workflow(["tokenizer", "head"])
    for step in ("Install", "Grade sheet", "Exercise 1 (tokenizer)", "Exercise 5 (head)"):
        proc = subprocess.run(["bash", "-e", "-c", step_script(workflow, step)], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{step}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    outputs = [json.loads(base64.b64decode(line.removeprefix("result=")))
               for line in (tmp_path / "output").read_text().splitlines()]
    assert [sum(t["score"] for t in out["tests"]) for out in outputs] == [8, 0]
    assert all("not implemented" in t["message"] for t in outputs[1]["tests"])
