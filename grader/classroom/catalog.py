"""The list of graded checks and their points, read by collecting the checks (no submission involved)."""

import contextlib
import io
import tempfile
from dataclasses import dataclass

import pytest

from grader.impl import KIT_ROOT
from grader.sandbox.time_limits import own_time_limit, time_limit
from grader.student.plugin import exercise_of
from grader.student.scoreboard import check_points

CHECKS = KIT_ROOT / "grader" / "checks"


@dataclass(frozen=True)
class Check:
    nodeid: str  # what the worker is asked to run, e.g. grader/checks/test_head.py::test_is_causal
    marker: str  # the exercise's marker, e.g. "head"
    number: int  # the exercise's number
    name: str  # e.g. "test_is_causal[T=8]"
    points: float
    timeout: float = 0.0  # the check's own time limit (its timeout marker), 0 when it has none

    def budget(self, timeout):
        """The check's time limit under a per-check limit of ``timeout`` seconds (see time_limit)."""
        return time_limit(timeout, self.timeout)

    @property
    def title(self):
        return f"Exercise {self.number} ({self.marker}): {self.name}"


class _Collector:
    def __init__(self):
        self.checks = []

    def pytest_collection_finish(self, session):
        points = check_points(session.items, exercise_of)
        for item in session.items:
            ex = exercise_of(item)
            if ex is not None:
                self.checks.append(Check(item.nodeid, ex.marker, ex.number, item.name, points[item.nodeid],
                                         own_time_limit(item)))


def collect(markers=None):
    """The graded checks in lecture order, optionally only those of ``markers``."""
    collector = _Collector()
    with tempfile.TemporaryDirectory() as empty:
        argv = [str(CHECKS), "--collect-only", "-q", "-p", "grader.student.plugin", "--noconftest",
                "--rootdir", str(KIT_ROOT), "-c", str(KIT_ROOT / "tox.ini"), "--impl", empty, "--device", "cpu", "--extras"]
        if markers:
            argv += ["-m", " or ".join(markers)]
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = pytest.main(argv, plugins=[collector])
    if code not in (0, 5) or not collector.checks:
        raise RuntimeError(f"collecting the graded checks failed (pytest exit {code}):\n{out.getvalue()}")
    return collector.checks
