"""What a graded class becomes on disk: per submission a Gradescope ``results.json`` and a JUnit XML,
for the class a ``grades.csv``, and on the terminal a progress line and a summary table."""

import csv
import io
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

from grader.judges.rubric import BY_MARKER, EXERCISES
from grader.student.explain import RAISED
from grader.classroom.safe_text import csv_cell, printable

STATUSES = ("ok", "timeout", "crashed", "tampered", "error")  # in rising order of severity
_STATUS_OF = {"timeout": "timeout", "not run": "timeout", "crashed": "crashed", "output": "crashed",
              "processes": "crashed", "tampered": "tampered"}
VERDICT_TEXT = {
    "passed": "passed", "failed": "failed", "skipped": "skipped", "timeout": "timed out",
    "memory": "ran out of memory", "crashed": "crashed", "output": "wrote too much",
    "processes": "started too many processes", "tampered": "tampered with the grader", "not run": "not run",
}


@dataclass
class Graded:
    """One submission's grade: every check's verdict, and what the teacher should know."""

    name: str
    source: str
    kind: str
    checks: list = field(default_factory=list)  # (catalog.Check, isolate.Verdict) in lecture order
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    error: str = ""  # why the submission could not be graded at all
    execution_time: float = 0.0
    sandbox: dict = field(default_factory=dict)

    def make_printable(self):
        """Every text the submission could have written (messages, notes, flags), made safe for the
        terminal, the CSV and XML (grader/classroom/safe_text.py); done once, before any report is written."""
        from grader.sandbox.isolate import Verdict

        self.source, self.error = printable(self.source), printable(self.error)
        self.notes = [printable(note) for note in self.notes]
        self.flags = [printable(flag) for flag in self.flags]
        self.checks = [(check, Verdict(verdict.outcome, printable(verdict.message))) for check, verdict in self.checks]

    def _points(self, track, earned):
        return round(sum(check.points for check, verdict in self.checks
                         if BY_MARKER[check.marker].track == track and (not earned or verdict.outcome == "passed")), 4)

    @property
    def score(self):
        """The core's points (Exercises 1-9): the grade."""
        return self._points("core", earned=True)

    @property
    def max_score(self):
        return self._points("core", earned=False)

    @property
    def extra_score(self):
        """The extras' points (Exercises 10-14), kept apart from the grade."""
        return self._points("extra", earned=True)

    @property
    def extra_max_score(self):
        return self._points("extra", earned=False)

    def exercise_score(self, marker):
        return round(sum(c.points for c, v in self.checks if c.marker == marker and v.outcome == "passed"), 4)

    @property
    def status(self):
        if self.error:
            return "error"
        worst = "ok"
        for _, verdict in self.checks:
            status = _STATUS_OF.get(verdict.outcome, "ok")
            if STATUSES.index(status) > STATUSES.index(worst):
                worst = status
        return worst

    @property
    def why(self):
        if self.error:
            return self.error
        status = self.status
        for check, verdict in self.checks:
            if _STATUS_OF.get(verdict.outcome) == status:
                return f"{check.name}: {verdict.message.splitlines()[0] if verdict.message else verdict.outcome}"
        return _why_nothing_passed(self.checks)


def _why_nothing_passed(checks):
    """Why nothing could be graded, when no check passed and most of those that failed stopped at the same
    line of the submission's code with the same error: most often code that cannot even be loaded (a
    module missing where it is graded, a name used before it is defined), which leaves 0 points and
    status ok; the teacher should not have to open results.json to learn why. (The others then fail
    on what they expected: a check that expects a ValueError says so.) "" otherwise."""
    if any(verdict.outcome == "passed" for _, verdict in checks):
        return ""
    failed = [(verdict.message or "").splitlines()[:2] for _, verdict in checks if verdict.outcome == "failed"]
    raised = [tuple(lines) for lines in failed if lines and lines[0].startswith(RAISED)]
    if not raised:
        return ""
    error, count = Counter(raised).most_common(1)[0]
    if 2 * count <= len(failed):
        return ""
    # explain.py's second line says where: "  at extracted.py:12, in Head"
    where = error[1].strip() if len(error) > 1 else ""
    place = f" ({where.removeprefix('at ')})" if where.startswith("at ") else ""
    share = "every check" if count == len(failed) else f"{count} of the {len(failed)} checks that failed"
    return (f"nothing could be graded: {share} stopped at the same error in the submission's code: "
            f"{error[0].removeprefix(RAISED)}{place}")


def _number(points):
    return int(points) if float(points).is_integer() else round(points, 6)


def gradescope(graded):
    """The Gradescope autograder results format (one object per submission)."""
    numbers = {}
    tests = []
    for check, verdict in graded.checks:
        numbers[check.number] = numbers.get(check.number, 0) + 1
        text = verdict.message or VERDICT_TEXT[verdict.outcome]
        if verdict.outcome not in ("passed", "failed"):
            text = f"[{VERDICT_TEXT[verdict.outcome]}] {text}"
        tests.append({
            "name": check.title,
            "number": f"{check.number}.{numbers[check.number]}",
            "score": _number(check.points if verdict.outcome == "passed" else 0),
            "max_score": _number(check.points),
            "status": "passed" if verdict.outcome == "passed" else "failed",
            "output": text if verdict.outcome != "passed" else "",
            "tags": [check.marker],
            "visibility": "visible",
        })
    lines = [f"Graded {graded.kind} {graded.source}: {_number(graded.score)} / {_number(graded.max_score)}, "
             f"status {graded.status}" + (f" ({graded.why})" if graded.why else "")]
    if graded.extra_max_score:
        lines.append(f"extras (not in the score above): {_number(graded.extra_score)} / "
                     f"{_number(graded.extra_max_score)}")
    lines += graded.notes
    if graded.flags:
        lines.append("for review: " + "; ".join(graded.flags))
    # The top-level score is the core's: Gradescope takes it over the sum of the tests, so the extras'
    # tests show their points without adding to the grade.
    return {
        "score": _number(graded.score),
        "max_score": _number(graded.max_score),
        "execution_time": round(graded.execution_time, 1),
        "output": "\n".join(lines),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"status": graded.status, "why": graded.why, "kind": graded.kind, "flags": graded.flags,
                       "sandbox": graded.sandbox, "extras": {"score": _number(graded.extra_score),
                                                             "max_score": _number(graded.extra_max_score)}},
    }


def junit(graded):
    """A JUnit XML document (bytes): one testcase per check, its points as a property."""
    suite = ET.Element("testsuite", name=graded.name, tests=str(len(graded.checks)),
                       time=f"{graded.execution_time:.1f}")
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    if graded.error:
        case = ET.SubElement(suite, "testcase", classname="submission", name="prepare")
        ET.SubElement(case, "error", message=graded.error).text = graded.error
        counts["errors"] += 1
    for check, verdict in graded.checks:
        module, _, _ = check.nodeid.partition("::")
        case = ET.SubElement(suite, "testcase", classname=module.replace("/", ".").removesuffix(".py"),
                             name=check.name)
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="points", value=str(_number(check.points)))
        ET.SubElement(props, "property", name="exercise", value=check.marker)
        if verdict.outcome == "failed":
            node, counts["failures"] = "failure", counts["failures"] + 1
        elif verdict.outcome == "skipped":
            node, counts["skipped"] = "skipped", counts["skipped"] + 1
        elif verdict.outcome != "passed":
            node, counts["errors"] = "error", counts["errors"] + 1
        else:
            continue
        first = verdict.message.splitlines()[0] if verdict.message else VERDICT_TEXT[verdict.outcome]
        ET.SubElement(case, node, message=first, type=verdict.outcome).text = verdict.message
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _write(path, data):
    """Write through a temporary file, so a report is never half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def write_submission(out, graded, extracted=""):
    folder = out / graded.name
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "results.json", json.dumps(gradescope(graded), indent=2) + "\n")
    _write(folder / "junit.xml", junit(graded))
    if extracted:
        _write(folder / "extracted.py", extracted)


def csv_columns(markers):
    """``total`` and ``max`` are the core's; ``extras`` and ``extras_max`` appear when extras are graded."""
    extras = ["extras", "extras_max"] if any(BY_MARKER[m].track == "extra" for m in markers) else []
    return ["name", "total", "max", *extras, *markers, "status", "why", "flags"]


def write_csv(out, class_grades, markers):
    rows = []
    for graded in sorted(class_grades, key=lambda g: g.name):
        row = {"name": graded.name, "total": _number(graded.score), "max": _number(graded.max_score),
               "extras": _number(graded.extra_score), "extras_max": _number(graded.extra_max_score),
               "status": graded.status, "why": graded.why.replace("\n", " ")[:300], "flags": "; ".join(graded.flags)}
        for marker in markers:
            row[marker] = _number(graded.exercise_score(marker))
        rows.append({key: csv_cell(value) if isinstance(value, str) else value for key, value in row.items()})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(markers), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _write(out / "grades.csv", buffer.getvalue())


class Progress:
    """A progress bar on a terminal, one line per finished submission elsewhere."""

    def __init__(self, total, stream=None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def update(self, graded):
        self.done += 1
        width = 24
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        line = (f"[{bar}] {self.done}/{self.total}  {graded.name}: {_number(graded.score)}/"
                f"{_number(graded.max_score)} {graded.status}")
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def summary_table(class_grades, markers):
    numbers = {ex.marker: ex.number for ex in EXERCISES}
    extras = any(BY_MARKER[m].track == "extra" for m in markers)
    headers = ["submission", *(f"E{numbers[m]}" for m in markers), "total", *(["extras"] if extras else []), "status"]
    rows = [[g.name, *(str(_number(g.exercise_score(m))) for m in markers),
             f"{_number(g.score)}/{_number(g.max_score)}",
             *([f"{_number(g.extra_score)}/{_number(g.extra_max_score)}"] if extras else []),
             g.status + (f" ({g.why[:60]})" if g.why else "")]
            for g in sorted(class_grades, key=lambda g: g.name)]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]))
    return "\n".join(lines)
