"""Scores the graded checks as they run and prints the student's table at the end.

A check earns its points only when it passed; a failure, an error, a skip or a timeout scores 0.
"""

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.failure import GradingFailure
from grader.rubric import EXERCISES, EXTRA_POINTS, EXTRAS, EXTRAS_SPAN, GRADERS_PARTS, POINTS, TOTAL_POINTS
from grader.student.explain import warning_hint


@dataclass
class CheckResult:
    exercise: object  # rubric.Exercise
    name: str  # the check's name as pytest shows it, parameters included
    max_points: float
    outcome: str = "not run"  # "passed" | "failed" | "skipped" | "not run"
    message: str = ""
    same_error: tuple = None  # an error raised in the student's code: explain.Explanation.same_error
    mistake: str = None  # the mistake the check named (GradingFailure.mistake, as the plugin passes it)
    note: str = ""  # what a passed check was graded on, when not all the student's own (GRADERS_PARTS)
    picture: str = None  # the picture at the end of its message (GradingFailure.picture), with its numbers

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
        """The failure to show first: one whose mistake a check named, else the first in lecture order."""
        failures = [c for c in self.checks if c.outcome in ("failed", "skipped") and c.max_points]
        return next((c for c in failures if c.mistake), failures[0] if failures else None)


GRADER = Path(__file__).resolve().parents[1]  # a warning heard in the grader's own code is not the student's

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
            warnings.warn(pytest.PytestWarning(f"grader/rubric.py gives no points to {ex.marker}: {item.originalname}"))
        points[item.nodeid] = table.get(item.originalname, 0) / per_function[(ex.marker, item.originalname)]
    return points


class Scoreboard:
    """A pytest plugin object: registered by the grading plugin, one per session."""

    def __init__(self, label, voice):
        self.label = label
        self.voice = voice
        self.results = {}  # nodeid -> CheckResult, filled at collection
        self.extras_left_out = False  # plain pytest grades the core only (see the plugin)
        self.data_missing = False  # set by the plugin when Tiny Shakespeare could not be obtained
        self.warned = {}  # nodeid -> (where, the hint) for a warning of torch's heard in that check
        self.pictures_shown = []  # {"text": as written, then the numbers it was drawn from}, for --pictures-json

    def add(self, item, exercise, max_points):
        self.results[item.nodeid] = CheckResult(exercise, item.name, max_points)

    def pytest_runtest_logreport(self, report):
        # Called for setup, call and teardown: a check passes only if none of them failed.
        result = self.results.get(report.nodeid)
        if result is None or result.outcome == "failed":
            return
        if report.failed:
            result.outcome, result.message = "failed", _message(report)
            result.same_error = getattr(report.longrepr, "same_error", None)
            result.mistake = getattr(report, "gptkit_mistake", None)
            result.picture = getattr(report.longrepr, "picture", None)
        elif report.skipped:
            result.outcome, result.message = "skipped", _skip_reason(report)
        elif report.when == "call":
            result.outcome = "passed"
            result.note = str(dict(report.user_properties).get(GRADERS_PARTS, ""))

    def pytest_warning_recorded(self, warning_message, nodeid):
        # Heard after the check's reports: its hint is added to the failure when the failures are shown.
        hint = warning_hint(warning_message.message)
        if hint and nodeid in self.results and not Path(warning_message.filename).resolve().is_relative_to(GRADER):
            self.warned[nodeid] = (self.voice.place(warning_message.filename, warning_message.lineno), hint)

    def _add_warned_hints(self, reports):
        """A failed check in which torch warned of a known mistake says so, unless its message already
        does (explain.py's hint for the error that followed it)."""
        for report in reports:
            result, (place, hint) = self.results.get(report.nodeid), self.warned.get(report.nodeid, ("", ""))
            if result is None or not hint or hint in result.message:
                continue
            line = GradingFailure.line(GradingFailure.HINT_LABEL, f"torch warned at {place}: {hint}")
            result.message += "\n" + line
            if isinstance(getattr(report.longrepr, "text", None), str):
                report.longrepr.text += "\n" + line

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

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter):
        # Outermost: the failures are put in order before pytest prints them, and the table comes after
        # pytest's short summary, the last thing a student reads.
        self._add_warned_hints(terminalreporter.stats.get("failed", []))
        self._named_mistakes_first(terminalreporter.stats.get("failed", []))
        try:
            return (yield)
        finally:
            self._write_table(terminalreporter)

    def _named_mistakes_first(self, reports):
        """Within each exercise, the failures whose mistake a check named come first (a stable sort)."""
        def rank(report):
            result = self.results.get(report.nodeid)
            if result is None:
                return (0, 0)
            return (result.exercise.number, 0 if getattr(report, "gptkit_mistake", None) else 1)

        reports.sort(key=rank)
        self._mark_consequences(reports)
        self._same_errors_once(reports)
        self._pictures_once(reports)

    def _mark_consequences(self, reports):
        """One mistake often fails many checks of its exercise. After the first check that named it, a
        check naming the same mistake takes one line; one that names none says, briefly, that it may
        follow from it."""
        first_named = {}  # exercise -> (the check that named a mistake first, its mistake line)
        for report in reports:
            result, text = self.results.get(report.nodeid), getattr(report.longrepr, "text", None)
            if result is None or text is None:  # text: an Explanation, the grader's own message
                continue
            mistake = getattr(report, "gptkit_mistake", None)
            first = first_named.get(result.exercise)
            if mistake and first is None:
                first_named[result.exercise] = (result.name, mistake)
            elif mistake and mistake == first[1]:
                report.longrepr.text = f"{text.splitlines()[0]}\n  the same mistake as {first[0]}, above"
            elif first is not None and not mistake:
                report.longrepr.text = text + f"\n  (this may follow from the mistake named in {first[0]})"

    def _same_errors_once(self, reports):
        """One wrong line of the student's code often fails many checks (k.T in a head fails 17): the
        first check shows the error in full, each later one with the same error at the same line says
        so in one line."""
        first = {}  # Explanation.same_error -> the CheckResult of the first check that showed it
        for report in reports:
            result, key = self.results.get(report.nodeid), getattr(report.longrepr, "same_error", None)
            if result is None or key is None:
                continue
            if key not in first:
                first[key] = result
                continue
            report.longrepr.text = (f"{report.longrepr.text.splitlines()[0]}\n"
                                    f"  {same_error_line(first[key], result.exercise)}")

    def _pictures_once(self, reports):
        """The attention picture is drawn from one fixed input, so every failed attention check of an
        exercise draws the same one: the first failure shows it, the later ones say so in one line."""
        shown = set()  # (exercise, picture)
        for report in reports:
            result, picture = self.results.get(report.nodeid), getattr(report.longrepr, "picture", None)
            if result is None or not picture or picture not in report.longrepr.text:
                continue
            if (result.exercise, picture) in shown:
                report.longrepr.text = report.longrepr.text.replace(
                    picture, "  (the same attention weights as pictured above)")
            shown.add((result.exercise, picture))

    def _write_table(self, terminalreporter):
        scores = self.exercises()
        if not scores:
            return
        tr = terminalreporter
        tr.section(f"gptkit: {self.label}")
        next_up = None  # (exercise, the failure its line shows)
        shown = {}  # same_error -> the failure whose lines showed it, for an error that fails exercises after
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
                    next_up = next_up or (ex, first)
                    for line in _summary_lines(first, shown.get(first.same_error)):
                        tr.write_line(f"        {line}")
                    if first.same_error is not None:
                        shown.setdefault(first.same_error, first)
                for note in dict.fromkeys(c.note for c in score.checks if c.outcome == "passed" and c.note):
                    tr.write_line(f"        note: {note}")
            got, most = self.total(track)
            of_all = "" if most == of else f" (of the {_num(most)} points these checks carry)"
            tr.write_line(f"  {title} {_num(got)} / {_num(of)}{of_all}")
        if self.extras_left_out:
            tr.write_line(f"  extras ({_num(EXTRA_POINTS)} points, {EXTRAS_SPAN}) "
                          f"not graded: {self.voice.extras(EXTRAS[0].marker)}")
        self._write_next(tr, next_up)

    def _picture_shown_in_full(self, failure):
        """Keeps the picture of the failure shown in full as it was written there, with its numbers
        (grader/oracles/attention_picture.py's Picture), for the notebook to draw it from them."""
        picture = failure.picture
        if picture and getattr(picture, "data", None) and picture in failure.message:
            self.pictures_shown.append({"text": _indented(picture), **picture.data})

    def _write_next(self, tr, next_up):
        if self.data_missing:
            tr.write_line(f"next: get Tiny Shakespeare (the first check that needed it says how), then "
                          f"{self.voice.again()}")
            return
        if next_up is None:
            tr.write_line(self.voice.all_passed(core_done=self.total("core")[0] >= TOTAL_POINTS))
            return
        ex, failure = next_up
        if tr.config.option.tbstyle == "no" and failure.outcome == "failed" and failure.message.count("\n") > 1:
            # The failures were not printed (python -m grader, the notebook): the one to fix first, in full.
            tr.write_line(f"{failure.name}, in full:")
            for line in _indented(failure.message).splitlines():
                tr.write_line(line)
            self._picture_shown_in_full(failure)
        tr.write_line(f"next: Exercise {ex.number}, {ex.title}, {self.voice.home(ex)} (lecture {ex.chapter}); "
                      f"run: {self.voice.run(ex.marker)}")


def _num(x):
    """Points as a student reads them: 8, 2.5, 0.33 (a check's points may be split three ways, and sums of
    thirds are not exact in floating point: 3.0000000001 is 3)."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _indented(text):
    """``text`` as the failure shown in full writes it: each line indented by 2."""
    return "\n".join(f"  {line}" for line in text.splitlines())


def _message(report):
    return str(report.longrepr) if report.longrepr is not None else ""


def _skip_reason(report):
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def same_error_line(earlier, exercise):
    """What a check whose error ``earlier`` showed in full says (in ``exercise``)."""
    name = earlier.name if earlier.exercise is exercise else f"{earlier.name} (Exercise {earlier.exercise.number})"
    return f"the same error, at the same line, as {name} above"


# The lines of a message that a summary keeps: the hint or the mistake a check named, the place to look
# at, a stub's "fill in", where the student's code raised (grader/student/explain.py).
_SUMMARY_LABELS = (GradingFailure.HINT_LABEL, GradingFailure.MISTAKE_LABEL, GradingFailure.WHERE_LABEL,
                   "fill in", "at ")


def _summary_lines(result, earlier=None):
    """The first failing check of an exercise in two lines or so: its name, what went wrong, the hint;
    or, for an error that another exercise's line showed (``earlier``), its name, the error and which."""
    lines = [line for line in result.message.splitlines() if line.strip()]
    head = lines[0].strip() if lines else result.outcome
    keep = [f"{result.name}: {head}"]
    if earlier is not None:
        return keep + [same_error_line(earlier, result.exercise)]
    keep += [line.strip() for line in lines[1:]
             if line.strip().startswith(_SUMMARY_LABELS)]
    return keep[:3]
