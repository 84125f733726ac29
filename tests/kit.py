"""Helpers for the kit's own tests: run the graded checks in a fresh process, make broken variants."""

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = KIT_ROOT / "solutions"
CHECKS = KIT_ROOT / "grader" / "checks"


@dataclass
class CheckRun:
    returncode: int
    output: str
    cases: dict  # test name (with parameters) -> (outcome, message)
    points: dict  # test name -> the points it carries (from the rubric)

    def score(self):
        return sum(p for name, p in self.points.items() if self.cases[name][0] == "passed")


def run_checks(impl, *args, tmp_path, timeout=600):
    """Run ``pytest --impl IMPL`` on the graded checks in a fresh process; read its JUnit XML."""
    junit = tmp_path / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", str(CHECKS), "--impl", str(impl), f"--junitxml={junit}",
           "-o", "junit_family=xunit1", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, cwd=KIT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    cases, points = {}, {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = f"{Path(case.get('file', '')).stem}::{case.get('name')}"
            outcome, message = "passed", ""
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    outcome = "skipped" if kind == "skipped" else "failed"
                    message = (node.get("message") or "") + "\n" + (node.text or "")
            cases[name] = (outcome, message)
            for prop in case.iter("property"):
                if prop.get("name") == "points":
                    points[name] = float(prop.get("value"))
    return CheckRun(proc.returncode, proc.stdout + proc.stderr, cases, points)


def make_variant(tmp_path, name, edits):
    """A copy of solutions/ with ``edits`` = {module: [(old, new), ...]} applied; each ``old`` must occur once."""
    folder = tmp_path / name
    shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for module, replacements in edits.items():
        path = folder / f"{module}.py"
        source = path.read_text()
        for old, new in replacements:
            count = source.count(old)
            assert count == 1, f"variant {name}: {old!r} occurs {count} times in {module}.py, expected once"
            source = source.replace(old, new)
        path.write_text(source)
    return folder
