"""Turn a failed check into a short report for the student: what went wrong and where to look.

Tracebacks from inside the grader help nobody who is filling in a TODO, so a failure is reported as
the check's own message, as "not implemented yet" for a stub, or as the line of the student's code
that raised. ``--tb=long`` (or ``--fulltrace``) keeps pytest's full traceback.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox.confine import BlockedImport
from grader.judges.expect import GradingFailure
from grader.impl import ImplementationError
from grader.judges.rubric import BY_NUMBER
from grader.student.voice import Terminal

STUB_MESSAGE = re.compile(r"^Exercise (\d+): (\S+)$")


@dataclass
class CrashLocation:
    """What pytest's short summary and JUnit XML read: ``path``, ``lineno`` and a one-line ``message``."""

    path: str
    lineno: int
    message: str


# What kind of failure an Explanation reports: the terminal shows a stub's checks as "not implemented"
# (one line each in the table, none in the failures) and lists a named mistake ahead of the rest.
NOT_IMPLEMENTED = "not implemented"
FAILURE = "failure"
# How an error raised in the student's own code is reported; the teacher's reports look for it too.
RAISED = "your code raised "


class Explanation:
    """A longrepr that pytest, its short summary line and its JUnit XML writer can all show."""

    def __init__(self, text, path="", lineno=0, kind=FAILURE):
        self.text = text
        self.kind = kind
        self.reprcrash = CrashLocation(str(path), lineno, text.splitlines()[0] if text else "")

    def toterminal(self, tw):
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self):
        return self.text


def _last_entry_in(traceback, folder):
    """The innermost traceback entry whose file lies in ``folder``, or None."""
    folder = str(folder)
    for entry in reversed(traceback):
        path = str(entry.path)
        if path == folder or path.startswith(folder + os.sep):
            return entry
    return None


def _not_implemented(exc, entry, exercise, voice):
    place = voice.place(entry.path, entry.lineno + 1) if entry else "your code"
    match = STUB_MESSAGE.match(str(exc).strip())
    if not match:
        return f"not implemented yet: {exc or 'NotImplementedError'} ({place})"
    number, name = int(match.group(1)), match.group(2)
    needed = BY_NUMBER.get(number)
    if exercise is not None and needed is not None and number != exercise.number:
        return (
            f"needs Exercise {number} first: {name} is not implemented yet ({place}).\n"
            f"  Exercise {exercise.number} ({exercise.title}) uses it. "
            f"Do Exercise {number}, then run: {voice.run(needed.marker)}"
        )
    then = voice.run(needed.marker) if needed else "pytest"
    return f"not implemented yet: Exercise {number}: {name}\n  fill in the TODO at {place}, then run: {then}"


# Errors a student meets often, by a piece of torch's own message, and what to do about each.
COMMON_ERRORS = (
    ("Expected target size", "F.cross_entropy wants logits of shape (B*T, V) and targets of shape (B*T,): "
                             "logits.view(B*T, V), targets.view(B*T)"),
    ("mat1 and mat2 shapes cannot be multiplied", "a Linear got a last dim it was not built for: check "
                                                 "n_embd, head_size and the concatenation of the heads"),
)


def _hint_for(exc):
    text = str(exc)
    return next((hint for piece, hint in COMMON_ERRORS if piece in text), None)


def _raised_in_student_code(exc, entry, voice):
    source = ""
    try:
        source = str(entry.statement).strip()
    except Exception:  # the source may be gone (a notebook cell, a deleted file)
        pass
    text = (
        f"{RAISED}{type(exc).__name__}: {exc}\n"
        f"  at {voice.place(entry.path, entry.lineno + 1)}, in {entry.name}"
    )
    hint = _hint_for(exc)
    return text + (f"\n    {source}" if source else "") + (f"\n  hint:     {hint}" if hint else "")


def _in_voice(message, voice):
    """A check's message with its "look at:" place said as ``voice`` says places."""
    label = "  look at:  "
    return "\n".join(label + voice.where(line[len(label):]) if line.startswith(label) else line
                     for line in message.splitlines())


def explain(excinfo, impl_path, exercise, voice=Terminal()):
    """An Explanation for ``excinfo``, or None to keep pytest's own report."""
    exc = excinfo.value
    student = _last_entry_in(excinfo.traceback, Path(impl_path)) if impl_path else None
    # In teacher mode the submission's code raised in its own process, which said where.
    student = student or getattr(exc, "gptkit_student_frame", None)
    location = (student.path, student.lineno + 1) if student else ("", 0)
    if isinstance(exc, NotImplementedError):
        entry = student or excinfo.traceback[-1]
        return Explanation(_not_implemented(exc, student or entry, exercise, voice), entry.path, entry.lineno + 1,
                           kind=NOT_IMPLEMENTED)
    if isinstance(exc, (GradingFailure, ImplementationError, BlockedImport)):
        return Explanation(_in_voice(str(exc), voice), *location)
    if student is not None:
        return Explanation(_raised_in_student_code(exc, student, voice), *location)
    return None
