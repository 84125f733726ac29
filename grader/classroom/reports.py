"""What a graded class becomes on disk: per submission a Gradescope ``results.json`` and a JUnit XML,
for the class a ``grades.csv``, and on the terminal a progress line and a summary table."""

import csv
import io
import json
import math
import os
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from grader.rubric import BY_MARKER, BY_NUMBER, EXERCISES
from grader.classroom.safe_text import clipped, csv_cell, printable

STATUSES = ("ok", "timeout", "crashed", "tampered", "error")  # in rising order of severity
_STATUS_OF = {"timeout": "timeout", "not run": "timeout", "crashed": "crashed", "output": "crashed",
              "processes": "crashed", "tampered": "tampered"}
KIND_WORDS = {"package": "a folder of modules", "file": "one .py file", "notebook": "a notebook", "zip": "a zip"}
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
    checks: list = field(default_factory=list)  # (catalog.Check, supervisor.Verdict) in lecture order
    notes: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    error: str = ""  # why the submission could not be graded at all
    execution_time: float = 0.0
    sandbox: dict = field(default_factory=dict)
    # module -> what it raised at import and where, as submitted ("NameError: ... (bob/block.py:3)")
    import_errors: dict = field(default_factory=dict)
    fingerprints: list = field(default_factory=list)  # of the graded code, for near-copies (similarity.py)

    def make_printable(self):
        """Every text the submission could have written (messages, notes, flags), made safe for the
        terminal, the CSV and XML (grader/classroom/safe_text.py); done once, before any report is written."""
        self.source, self.error = printable(self.source), printable(self.error)
        self.notes = [printable(note) for note in self.notes]
        self.flags = [printable(flag) for flag in self.flags]
        self.import_errors = {printable(module): printable(error) for module, error in self.import_errors.items()}
        self.checks = [(check, replace(verdict, message=printable(verdict.message), mistake=printable(verdict.mistake),
                                       raised=tuple(printable(text) for text in verdict.raised)))
                       for check, verdict in self.checks]

    def _points(self, track, earned):
        return round(sum(check.points for check, verdict in self.checks
                         if BY_MARKER[check.marker].track == track and (not earned or verdict.outcome == "passed")), 4)

    @property
    def score(self):
        """The core's points: the grade."""
        return self._points("core", earned=True)

    @property
    def max_score(self):
        return self._points("core", earned=False)

    @property
    def extra_score(self):
        """The extras' points, kept apart from the grade."""
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
                return f"{check.title}: {verdict.message.splitlines()[0] if verdict.message else verdict.outcome}"
        return _why_nothing_passed(self.checks) or _why_imports_failed(self.import_errors)


def _why_nothing_passed(checks):
    """Why nothing could be graded, when no check passed and most of those that failed stopped at the same
    line of the submission's code with the same error: most often code that cannot even be loaded (a
    module missing where it is graded, a name used before it is defined), which leaves 0 points and
    status ok; the teacher should not have to open results.json to learn why. (The others then fail
    on what they expected: a check that expects a ValueError says so.) "" otherwise."""
    if any(verdict.outcome == "passed" for _, verdict in checks):
        return ""
    failed = [verdict.raised for _, verdict in checks if verdict.outcome == "failed"]
    raised = [error_and_where for error_and_where in failed if error_and_where]
    if not raised:
        return ""
    (error, where), count = Counter(raised).most_common(1)[0]
    if 2 * count <= len(failed):
        return ""
    share = "every check" if count == len(failed) else f"{count} of the {len(failed)} checks that failed"
    return (f"nothing could be graded: {share} stopped at the same error in the submission's code: "
            f"{error} ({where})")


def _why_imports_failed(import_errors):
    """The modules that raised as they were imported: every check that needs one fails, often without
    a word of it in the check's own message, so the teacher reads it in ``why``. Modules that raised the
    same error at the same place are one: the module whose file it is, and those that import it."""
    by_error = {}
    for module, error in sorted(import_errors.items()):
        by_error.setdefault(error, []).append(module)
    parts = []
    for error, modules in by_error.items():
        first, *others = sorted(modules, key=lambda m: f"{m}.py:" not in error)  # its own file first
        also = f", and so did {', '.join(f'{m}.py' for m in others)}, which import{'s' if len(others) == 1 else ''} it" if others else ""
        parts.append(f"{first}.py raised at import: {error}{also}; the checks that need {'them' if others else 'it'} failed")
    return "; ".join(parts)


GRADED_FILE = "graded.json"  # everything the class's reports are made from; what `merge` reads


def graded_record(graded):
    """A Graded as JSON: each check by its node id, with its verdict."""
    return {"name": graded.name, "source": graded.source, "kind": graded.kind,
            "checks": [[check.nodeid, verdict.outcome, verdict.message, round(verdict.seconds, 3), verdict.mistake,
                        list(verdict.raised), verdict.stub, verdict.missing_module, verdict.missing_name]
                       for check, verdict in graded.checks],
            "notes": graded.notes, "flags": graded.flags, "error": graded.error,
            "execution_time": graded.execution_time, "sandbox": graded.sandbox,
            "import_errors": graded.import_errors, "fingerprints": graded.fingerprints}


def graded_from_record(record, checks_by_nodeid):
    """The Graded that graded_record wrote; ``checks_by_nodeid``: the catalog's checks."""
    from grader.sandbox.supervisor import Verdict

    # graded_record's fields, in order; a record written before a field was added lacks it
    def verdict(outcome, message, seconds, mistake="", raised=(), stub=0, missing_module="", missing_name=""):
        return Verdict(outcome, message, seconds, mistake, tuple(raised), stub, missing_module, missing_name)

    checks = [(checks_by_nodeid[nodeid], verdict(*fields)) for nodeid, *fields in record["checks"]]
    return Graded(record["name"], record["source"], record["kind"], checks, record["notes"], record["flags"],
                  record["error"], record["execution_time"], record["sandbox"], record.get("import_errors", {}),
                  fingerprints=record.get("fingerprints", []))


def read_graded(folder, checks_by_nodeid):
    """The Graded that write_graded left in ``folder`` (one submission's report folder)."""
    record = json.loads((folder / GRADED_FILE).read_text(encoding="utf-8"))
    return graded_from_record(record, checks_by_nodeid)


def _number(points):
    return int(points) if float(points).is_integer() else round(points, 6)


SHOWN_DECIMALS = 2  # the points results.json shows per check


def _gpu_used(graded):
    """Whether the checks ran where a GPU was used: as grade recorded it (``sandbox["device"]``), else as
    the GPU checks tell it: one that passed or failed ran on CUDA; without a GPU they are skipped."""
    device = graded.sandbox.get("device")
    if device is not None:
        return str(device).startswith("cuda")
    return any(not check.points and verdict.outcome in ("passed", "failed") for check, verdict in graded.checks)


def _did_not_apply(check, verdict, gpu_used):
    """A check that carries no points (the GPU checks: rubric.py lists no points for them) and neither
    earned nor lost anything: skipped or not run, or, where no GPU was used, anything but a pass (on a
    CPU a GPU check never runs: at most it is charged for another check's timeout or crash). Gradescope
    has no status for it but passed or failed."""
    if check.points or verdict.outcome == "passed":
        return False
    return verdict.outcome in ("skipped", "not run") or not gpu_used


def _absent(ex, verdict):
    """"own" when the check failed because exercise ``ex``'s code is not there (its stub raised
    NotImplementedError, its module or one of its names is missing), "other" when it failed on another
    exercise's stub (it needed that one first), None otherwise. From the verdict's fields, as the judge
    knew them (grader/sandbox/supervisor.py, Verdict), never from its message, which quotes the submission."""
    if verdict.outcome != "failed":
        return None
    if verdict.stub == ex.number or verdict.missing_module == ex.module or verdict.missing_name in ex.names:
        return "own"
    return "other" if verdict.stub in BY_NUMBER else None


def not_attempted(graded):
    """The extras the submission did not attempt, in lecture order: every check of
    the exercise failed as its code is not there (absent, or a stub), at least one on the exercise's own
    code (a check that needed another exercise first says nothing of this one). The core's exercises
    are never left out: they are the grade."""
    by_marker = {}
    for check, verdict in graded.checks:
        if check.points:
            by_marker.setdefault(check.marker, []).append(_absent(BY_MARKER[check.marker], verdict))
    return [ex for ex in EXERCISES if ex.track == "extra" and ex.marker in by_marker
            and None not in by_marker[ex.marker] and "own" in by_marker[ex.marker]]


def _not_attempted_line(ex):
    return (f"Exercise {ex.number} ({ex.marker}): not attempted (an extra: 0 of {_number(ex.max_points)} points, "
            f"kept apart from the score)")


def _shown_points(checks):
    """Each check's points with SHOWN_DECIMALS decimals (as Decimal), such that the checks of one check
    function (a parametrized check shares its points equally) add up exactly to the function's points:
    1 point over 3 parameters is 0.34, 0.33, 0.33, not 3 x 0.333333 = 0.999999. The cents left over by
    rounding down go to the largest remainders, the earlier check first on a tie."""
    step = Decimal(1).scaleb(-SHOWN_DECIMALS)
    groups = {}
    for index, check in enumerate(checks):
        groups.setdefault((check.marker, check.name.partition("[")[0]), []).append(index)
    shown = [Decimal(0)] * len(checks)
    for members in groups.values():
        weights = [Fraction(checks[i].points) for i in members]
        total = sum(weights)
        if not total:
            continue
        units = round(total / Fraction(step))  # the function's points, in hundredths
        exact = [units * w / total for w in weights]
        floors = [int(e) for e in exact]
        by_remainder = sorted(range(len(members)), key=lambda k: (-(exact[k] - floors[k]), k))
        for k in by_remainder[:units - sum(floors)]:
            floors[k] += 1
        for i, count in zip(members, floors):
            shown[i] = count * step
    return shown


def _json_number(value):
    """A Decimal as the JSON number it reads as: 2 rather than 2.0, 0.34 rather than 0.34000000000000002."""
    return int(value) if value == value.to_integral_value() else float(value)


def _test(check, verdict, number, points, visibility):
    """One check as a Gradescope test. The extras' checks carry 0 points: the top-level score is the
    core's, and Gradescope adds up the tests' points wherever a score is missing, so every test's
    max_score adds up to exactly the core's points; the extras' own points are said in their output."""
    passed = verdict.outcome == "passed"
    text = "" if passed else (verdict.message or VERDICT_TEXT[verdict.outcome])
    label = VERDICT_TEXT[verdict.outcome]
    if verdict.outcome not in ("passed", "failed") and not text.startswith(f"{label}:"):
        text = f"[{label}] {text}"
    extra = BY_MARKER[check.marker].track == "extra"
    if extra:
        earned = points if passed else Decimal(0)
        note = (f"(extra: {_json_number(earned)} of {_json_number(points)} points, "
                f"kept apart from the score)")
        text = f"{text}\n{note}" if text else note
    max_score = Decimal(0) if extra else points
    return {
        "name": check.title,
        "number": number,
        "score": _json_number(max_score if passed else Decimal(0)),
        "max_score": _json_number(max_score),
        "status": "passed" if passed else "failed",
        "output": text,
        "tags": [check.marker],
        "visibility": visibility,
    }


def _results(graded, visibility, lines, tests, left_out, skipped_extras):
    return {
        "score": _number(graded.score),  # the core's; overrides the sum of the tests
        "execution_time": math.ceil(graded.execution_time),  # whole seconds, as documented
        "output": "\n".join(lines),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"max_score": _number(graded.max_score), "status": graded.status, "why": graded.why,
                       "kind": graded.kind, "flags": graded.flags, "sandbox": graded.sandbox,
                       "extras": {"score": _number(graded.extra_score),
                                  "max_score": _number(graded.extra_max_score)},
                       "left_out": left_out, "not_attempted": [ex.marker for ex in skipped_extras]},
    }


def _summary_line(graded):
    return (f"{graded.name} ({KIND_WORDS.get(graded.kind, graded.kind)}): {_number(graded.score)} / "
            f"{_number(graded.max_score)}, status {graded.status}" + (f" ({graded.why})" if graded.why else ""))


def gradescope(graded, visibility="visible"):
    """The Gradescope autograder results format (one object per submission), with only the keys
    Gradescope documents. Every text is plain text: a message quotes the submission's code, which
    Gradescope would otherwise read as HTML or Markdown.

    Gradescope shows a test as passed (green) or failed (red), nothing else: a test without a status is
    passed when it earned its max_score, so one of 0 points is always green, and one without points
    needs a status (its specification, "Test case status"). What neither passed nor failed is therefore
    no test, but a line of the top-level output, which has no colour: an extra not attempted (one line
    per exercise, not one red test per check) and a check that did not apply (a GPU check without a GPU).
    A submission that could not be read at all is one failed test that says why (``_could_not_grade``)."""
    if graded.error:
        return _could_not_grade(graded, visibility)
    skipped_extras = not_attempted(graded)
    left_aside = {ex.marker for ex in skipped_extras}
    gpu_used = _gpu_used(graded)
    numbers = {}
    tests, left_out = [], []
    for (check, verdict), points in zip(graded.checks, _shown_points([c for c, _ in graded.checks])):
        if check.marker in left_aside:
            continue
        numbers[check.number] = numbers.get(check.number, 0) + 1
        if _did_not_apply(check, verdict, gpu_used):
            left_out.append({"name": check.name, "why": (verdict.message or "skipped").splitlines()[0]})
            continue
        tests.append(_test(check, verdict, f"{check.number}.{numbers[check.number]}", points, visibility))
    lines = [_summary_line(graded)]
    if graded.extra_max_score:
        lines.append(f"extras (not in the score above): {_number(graded.extra_score)} / "
                     f"{_number(graded.extra_max_score)}")
    lines += [_not_attempted_line(ex) for ex in skipped_extras]
    lines += graded.notes
    if graded.flags:
        lines.append("for review: " + "; ".join(graded.flags))
    if left_out:
        # Each one's reason is the grader's (extra_data.left_out keeps it); the student needs the names.
        names = ", ".join(dict.fromkeys(item["name"] for item in left_out))
        lines.append(f"not listed (they did not apply here, and carry no points): {names}")
    return _results(graded, visibility, lines, tests, left_out, skipped_extras)


def _could_not_grade(graded, visibility):
    """The submission could not be read (graded.error): one failed test worth the core's points that
    says why, not one failed test per check repeating it (they were never run)."""
    lines = [_summary_line(graded), *graded.notes]
    if graded.flags:
        lines.append("for review: " + "; ".join(graded.flags))
    # Tagged as JUnit names its one case (grader/classroom/github_classroom.py reads a tag on every test).
    test = {"name": "The submission could not be graded", "number": "0", "score": 0,
            "max_score": _number(graded.max_score), "status": "failed", "output": graded.error,
            "tags": ["submission"], "visibility": visibility}
    return _results(graded, visibility, lines, [test], [], [])


def _case_outcome(graded, check, verdict, left_aside, gpu_used):
    """The JUnit element a verdict becomes (None for a pass): a submission that could not be prepared
    is one error (its "prepare" case), and its checks were skipped, never run; so are the checks of an
    extra not attempted and those that did not apply (results.json leaves them out)."""
    if verdict.outcome == "passed":
        return None
    if graded.error or check.marker in left_aside or _did_not_apply(check, verdict, gpu_used):
        return "skipped"
    if verdict.outcome == "failed":
        return "failure"
    if verdict.outcome == "skipped":
        return "skipped"
    return "error"


def junit(graded):
    """A JUnit XML document (bytes) as the Jenkins/xunit JUnit.xsd has it: one testcase per check (name,
    classname, time: the seconds the check ran, 0 for one that never started), the counts on the
    testsuite those of its cases, and the points (as results.json shows them) in the testsuite's
    properties, "points:<classname>::<name>": the schema allows no properties inside a testcase."""
    suite = ET.Element("testsuite", name=graded.name)
    props = ET.SubElement(suite, "properties")
    for key, value in (("score", graded.score), ("max_score", graded.max_score),
                       ("extras_score", graded.extra_score), ("extras_max_score", graded.extra_max_score)):
        ET.SubElement(props, "property", name=key, value=str(_number(value)))
    ET.SubElement(props, "property", name="status", value=graded.status)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if graded.error:
        case = _case(suite, counts, "submission", "prepare", graded.execution_time)
        ET.SubElement(case, "error", message=graded.error.splitlines()[0], type="error").text = graded.error
        counts["errors"] += 1
    skipped_extras = [] if graded.error else not_attempted(graded)
    left_aside = {ex.marker: ex for ex in skipped_extras}
    gpu_used = _gpu_used(graded)
    for (check, verdict), points in zip(graded.checks, _shown_points([c for c, _ in graded.checks])):
        module, _, _ = check.nodeid.partition("::")
        classname = module.replace("/", ".").removesuffix(".py")
        ET.SubElement(props, "property", name=f"points:{classname}::{check.name}", value=str(_json_number(points)))
        ET.SubElement(props, "property", name=f"exercise:{classname}::{check.name}", value=check.marker)
        case = _case(suite, counts, classname, check.name, verdict.seconds)
        node = _case_outcome(graded, check, verdict, left_aside, gpu_used)
        if node is None:
            continue
        counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[node]] += 1
        first = verdict.message.splitlines()[0] if verdict.message else VERDICT_TEXT[verdict.outcome]
        if check.marker in left_aside:
            first = _not_attempted_line(left_aside[check.marker])
        attributes = {"message": first} if node == "skipped" else {"message": first, "type": verdict.outcome}
        ET.SubElement(case, node, attributes).text = verdict.message
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{graded.execution_time:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _case(suite, counts, classname, name, seconds):
    counts["tests"] += 1
    return ET.SubElement(suite, "testcase", name=name, classname=classname, time=f"{max(seconds, 0.0):.3f}")


def _write(path, data):
    """Write through a temporary file, so a report is never half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def write_graded(out, graded):
    """``out/<name>/graded.json`` alone: once the class's near-copy flags are set (similarity.mark_copies),
    which need the whole class; results.json and junit.xml, written as the submission finished, stay."""
    _write(out / graded.name / GRADED_FILE, json.dumps(graded_record(graded), indent=1) + "\n")


def write_submission(out, graded, extracted="", visibility="visible"):
    folder = out / graded.name
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "results.json", json.dumps(gradescope(graded, visibility), indent=2) + "\n")
    write_graded(out, graded)
    _write(folder / "junit.xml", junit(graded))
    if extracted:
        _write(folder / "extracted.py", extracted)


def csv_columns(markers):
    """``path`` is the submission as it was found (its file or folder name in the class folder), as
    ``name`` can be the same for two (bob.py and bob_py/ are both bob_py); ``total`` and ``max`` are the
    core's; ``extras`` and ``extras_max`` appear when extras are graded."""
    extras = ["extras", "extras_max"] if any(BY_MARKER[m].track == "extra" for m in markers) else []
    return ["name", "path", "total", "max", *extras, *markers, "status", "why", "flags"]


def write_csv(out, class_grades, markers, bom=False):
    """grades.csv in UTF-8; with ``bom``, a byte-order mark first, without which Excel reads it in the
    system's code page and garbles accents."""
    rows = []
    for graded in sorted(class_grades, key=lambda g: g.name):
        row = {"name": graded.name, "path": Path(graded.source).name, "total": _number(graded.score),
               "max": _number(graded.max_score), "extras": _number(graded.extra_score),
               "extras_max": _number(graded.extra_max_score), "status": graded.status,
               "why": graded.why.replace("\n", " ")[:300], "flags": "; ".join(graded.flags)}
        for marker in markers:
            row[marker] = _number(graded.exercise_score(marker))
        rows.append({key: csv_cell(value) if isinstance(value, str) else value for key, value in row.items()})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=csv_columns(markers), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _write(out / "grades.csv", ("\ufeff" if bom else "") + buffer.getvalue())


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
             g.status + (f" ({clipped(' '.join(g.why.split()), 60)})" if g.why else "")]  # one line
            for g in sorted(class_grades, key=lambda g: g.name)]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]))
    return "\n".join(lines)
