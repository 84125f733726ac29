"""Scores the graded checks as they run and prints the student's table at the end.

A check earns its points only when it passed; a failure, an error, a skip or a timeout scores 0.
"""

import warnings
from collections import Counter
from dataclasses import dataclass, field

import pytest

from grader.judges.rubric import EXERCISES, EXTRA_POINTS, POINTS, TOTAL_POINTS


@dataclass
class CheckResult:
    exercise: object  # rubric.Exercise
    name: str  # the check's name as pytest shows it, parameters included
    max_points: float
    outcome: str = "not run"  # "passed" | "failed" | "skipped" | "not run"
    message: str = ""

    @property
    def points(self):
        return self.max_points if self.outcome == "passed" else 0.0


@dataclass
class ExerciseScore:
    exercise: object
    checks: list = field(default_factory=list)

    @property
    def points(self):
        return sum(c.points for c in self.checks)

    @property
    def max_points(self):
        return sum(c.max_points for c in self.checks)

    def first_failure(self):
        return next((c for c in self.checks if c.outcome in ("failed", "skipped") and c.max_points), None)


def check_points(items, exercise_of):
    """nodeid -> points, from the rubric; a parametrized check's points are split among its parameters."""
    per_function = Counter((exercise_of(item).marker, item.originalname) for item in items if exercise_of(item))
    points = {}
    for item in items:
        ex = exercise_of(item)
        if ex is None:
            continue
        table = POINTS.get(ex.marker, {})
        if item.originalname not in table and not item.get_closest_marker("gpu"):
            warnings.warn(pytest.PytestWarning(f"grader/judges/rubric.py gives no points to {ex.marker}: {item.originalname}"))
        points[item.nodeid] = table.get(item.originalname, 0) / per_function[(ex.marker, item.originalname)]
    return points


class Scoreboard:
    """A pytest plugin object: registered by the grading plugin, one per session."""

    def __init__(self, label):
        self.label = label
        self.results = {}  # nodeid -> CheckResult, filled at collection

    def add(self, item, exercise, max_points):
        self.results[item.nodeid] = CheckResult(exercise, item.name, max_points)

    def pytest_runtest_logreport(self, report):
        # Called for setup, call and teardown: a check passes only if none of them failed.
        result = self.results.get(report.nodeid)
        if result is None or result.outcome == "failed":
            return
        if report.failed:
            result.outcome, result.message = "failed", _message(report)
        elif report.skipped:
            result.outcome, result.message = "skipped", _skip_reason(report)
        elif report.when == "call":
            result.outcome = "passed"

    def exercises(self):
        """ExerciseScore per exercise that had checks run, in lecture order."""
        scores = {}
        for result in self.results.values():
            if result.outcome != "not run":
                scores.setdefault(result.exercise, ExerciseScore(result.exercise)).checks.append(result)
        return [scores[ex] for ex in EXERCISES if ex in scores]

    def total(self, track="core"):
        scores = [s for s in self.exercises() if s.exercise.track == track]
        return sum(s.points for s in scores), sum(s.max_points for s in scores)

    def pytest_terminal_summary(self, terminalreporter):
        scores = self.exercises()
        if not scores:
            return
        tr = terminalreporter
        tr.section(f"gptkit: {self.label}")
        next_up = None
        for track, of, title in (("core", TOTAL_POINTS, "total"), ("extra", EXTRA_POINTS, "extras")):
            in_track = [score for score in scores if score.exercise.track == track]
            if not in_track:
                continue
            if track == "extra":
                tr.write_line("  extras (the lecture's other steps and its suggested exercises; apart from the 100):")
            for score in in_track:
                ex, first = score.exercise, score.first_failure()
                status = "done" if first is None else ""
                tr.write_line(f"  {ex.number:>2}. {ex.title:<42} {_num(score.points):>5} / {_num(score.max_points):<3} {status}")
                if first is not None:
                    # The core comes first: an extra is suggested next only once the core is done.
                    next_up = next_up or ex
                    for line in _summary_lines(first):
                        tr.write_line(f"        {line}")
            got, most = self.total(track)
            of_all = "" if most == of else f" (of the {_num(most)} points these checks carry)"
            tr.write_line(f"  {title} {_num(got)} / {_num(of)}{of_all}")
        if next_up is None:
            tr.write_line("every check that ran passed.")
        else:
            tr.write_line(
                f"next: Exercise {next_up.number}, {next_up.title}, in {next_up.module}.py "
                f"(lecture {next_up.chapter}); run: pytest -m {next_up.marker}"
            )


def _num(x):
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def _message(report):
    return str(report.longrepr) if report.longrepr is not None else ""


def _skip_reason(report):
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _summary_lines(result):
    """The first failing check of an exercise in two lines or so: its name, what went wrong, the hint."""
    lines = [line for line in result.message.splitlines() if line.strip()]
    head = lines[0].strip() if lines else result.outcome
    keep = [f"{result.name}: {head}"]
    keep += [line.strip() for line in lines[1:] if line.strip().startswith(("hint:", "look at:", "fill in"))]
    return keep[:3]
