"""Teacher mode against hostile and broken submissions: every attack gets a verdict and no points it
did not earn, the correct parts keep theirs, the reports stay the grader's own, and the batch ends."""

import csv
import json
import os
import subprocess
import sys

import pytest

from grader.sandbox.confine import landlock_abi
from grader.classroom.reports import VERDICT_TEXT
from tests.hostile import FULL, hostile_submissions
from tests.kit import KIT_ROOT, make_variant

pytestmark = pytest.mark.timeout(1200)

# Without Landlock the worker cannot stop a submission from opening files by path (README, "What the
# sandbox protects"): the attacks that do so are then expected to succeed, and their tests skip.
NEEDS_LANDLOCK = {"imports_solutions", "fake_results"}


def _skip_without_landlock(name):
    if name in NEEDS_LANDLOCK and not landlock_abi():
        pytest.skip("this kernel has no Landlock, so files are not confined (see the README)")

# Small limits keep the attacks cheap; each is far above what the reference needs for these three
# exercises (its slowest check here takes ~0.3 s, a worker starts in ~4 s).
LIMITS = ["--timeout", "5", "--total-timeout", "150", "--memory", "3000", "--max-output", "16",
          "--max-processes", "8"]


def _sleepers():
    """PIDs of the processes the child_processes and too_many_processes attacks start."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if b"sleep" in args[0] and (b"737" in args or b"738" in args or b"739" in args):
                found.append(int(pid))
            if any(b"time.sleep(738)" in a for a in args):
                found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    out = root / "out"  # where the class graded on all of MARKERS reports (fake_results aims here)
    attacks = hostile_submissions(out, KIT_ROOT)
    groups = {}  # markers -> (class folder, out folder)
    for attack in attacks:
        index = len(groups)
        klass, group_out = groups.setdefault(attack.markers, (root / f"class{index}", out if not index else
                                                              root / f"out{index}"))
        klass.mkdir(exist_ok=True)
        folder = make_variant(klass, attack.name, attack.edits)
        for name, text in attack.extra_files.items():
            (folder / name).write_text(text)
    rubric_before = (KIT_ROOT / "grader" / "rubric.py").read_bytes()
    scratch = root / "tmp"  # where grade makes its scratch folders: nothing may be left there
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    procs = []
    # Side by side: most of the time goes on waiting out hangs and time limits.
    for markers, (klass, group_out) in groups.items():
        cmd = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(group_out), "--jobs", "2", *LIMITS]
        for marker in markers:
            cmd += ["-m", marker]
        procs.append(subprocess.Popen(cmd, cwd=KIT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outputs = [proc.communicate(timeout=1100) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stdout + stderr
    rows, results = {}, {}
    for klass, group_out in groups.values():
        rows |= {row["name"]: row for row in csv.DictReader((group_out / "grades.csv").open())}
    for attack in attacks:
        group_out = groups[attack.markers][1]
        results[attack.name] = json.loads((group_out / attack.name / "results.json").read_text())
    return {"attacks": {a.name: a for a in attacks}, "rows": rows, "results": results, "out": out,
            "rubric_before": rubric_before, "scratch": scratch}


def _names():
    return [a.name for a in hostile_submissions("OUT", KIT_ROOT)]


@pytest.mark.parametrize("name", _names())
def test_attack_scores_only_what_it_earned(graded, name):
    _skip_without_landlock(name)
    attack = graded["attacks"][name]
    row = graded["rows"][name]
    for marker, points in attack.scores.items():
        if isinstance(points, str):  # at most the points of an honest control, which must lose some
            honest = float(graded["rows"][points][marker])
            assert honest < FULL[marker], f"the control {points} must lose points on {marker}"
            assert float(row[marker]) <= honest, (
                f"{name} ({attack.what}): {marker} got {row[marker]}, more than the honest {points}'s {honest}")
            continue
        assert float(row[marker]) == points, (
            f"{name} ({attack.what}): {marker} got {row[marker]}, expected {points}\n{row}")
    assert not attack.status or row["status"] == attack.status, f"{name}: status {row['status']} ({row['why']}), expected {attack.status}"


@pytest.mark.parametrize("name", _names())
def test_attack_gets_a_verdict_that_says_what_happened(graded, name):
    _skip_without_landlock(name)
    attack = graded["attacks"][name]
    result = graded["results"][name]
    texts = [t["output"] for t in result["tests"]] + [result["output"]]
    if attack.verdict == "failed":
        assert any(t["status"] == "failed" for t in result["tests"]), name
        # Whatever the submission answers, the grading process itself (the judge) does not crash.
        assert not any(t.startswith("[" + VERDICT_TEXT["crashed"] + "]") for t in texts), (name, texts)
    elif attack.verdict:
        label = "[" + VERDICT_TEXT[attack.verdict] + "]"
        assert any(t.startswith(label) for t in texts), (name, label, texts)
    if attack.message:
        assert any(attack.message in t for t in texts), (name, attack.message, texts)


def test_the_whole_class_is_graded(graded):
    assert set(graded["rows"]) == set(graded["attacks"])
    for name, result in graded["results"].items():
        assert result["extra_data"]["max_score"] == sum(FULL[m] for m in graded["attacks"][name].markers), name


def test_no_process_outlives_the_grading(graded):
    assert _sleepers() == []


def test_nothing_is_left_in_the_scratch_folders(graded):
    # deep_folders leaves 1,500 nested folders, some closed to their owner; file_bomb 10,200 files.
    assert list(graded["scratch"].iterdir()) == []


def test_fake_files_do_not_reach_the_reports_or_the_kit(graded):
    _skip_without_landlock("fake_results")
    out = graded["out"]
    assert not (out / "fake").exists()
    assert not (out / "fake_results.json").exists()
    assert (KIT_ROOT / "grader" / "rubric.py").read_bytes() == graded["rubric_before"]
    assert "score" not in (out / "grades.csv").read_text().splitlines()[0]
    assert not os.path.exists("/tmp/gptkit-fake-results.json")


def test_a_flag_points_the_teacher_at_the_attack(graded):
    for name in ("os_exit_at_import", "segfault", "patches_torch", "registers_a_plugin", "imports_solutions"):
        assert graded["rows"][name]["flags"], name
