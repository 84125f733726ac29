"""Counts the graded checks per exercise as they run and prints the student's table at the end."""

from .rubric import EXERCISES


class Scoreboard:
    """A pytest plugin object: registered by the grading plugin, one per session."""

    def __init__(self, label):
        self.label = label
        self.exercise_of = {}  # nodeid -> Exercise, filled at collection
        self.outcomes = {}  # nodeid -> "passed" | "failed" | "skipped"

    def pytest_runtest_logreport(self, report):
        # Called for setup, call and teardown: a check passes only if none of them failed.
        if report.nodeid not in self.exercise_of or self.outcomes.get(report.nodeid) == "failed":
            return
        if report.failed or report.skipped or report.when == "call":
            self.outcomes[report.nodeid] = report.outcome

    def counts(self):
        """Exercise -> {"passed": n, "failed": n, "skipped": n} over the checks that ran, in lecture order."""
        counts = {}
        for nodeid, outcome in self.outcomes.items():
            tally = counts.setdefault(self.exercise_of[nodeid], {"passed": 0, "failed": 0, "skipped": 0})
            tally[outcome] += 1
        return {ex: counts[ex] for ex in EXERCISES if ex in counts}

    def pytest_terminal_summary(self, terminalreporter):
        counts = self.counts()
        if not counts:
            return
        tr = terminalreporter
        tr.section(f"gptkit: {self.label}")
        next_up = None
        for ex, tally in counts.items():
            run = tally["passed"] + tally["failed"]
            if tally["failed"] and next_up is None:
                next_up = ex
            status = "done" if not tally["failed"] else ""
            skipped = f"({tally['skipped']} skipped)" if tally["skipped"] else ""
            tr.write_line(f"  {ex.number}. {ex.title:<32} {tally['passed']:>2}/{run:<2} checks passed  {status} {skipped}")
        if next_up is None:
            tr.write_line("every check that ran passed.")
        else:
            tr.write_line(
                f"next: Exercise {next_up.number}, {next_up.title}, in {next_up.module}.py "
                f"(lecture {next_up.chapter}); run: pytest -m {next_up.marker}"
            )
