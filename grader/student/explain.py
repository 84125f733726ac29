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
from grader.failure import GradingFailure
from grader.impl import ImplementationError
from grader.rubric import BY_NUMBER
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
# How an error raised in the student's own code is reported.
RAISED = "your code raised "


class Explanation:
    """A longrepr that pytest, its short summary line and its JUnit XML writer can all show."""

    def __init__(self, text, path="", lineno=0, kind=FAILURE, same_error=None, picture=None, raised=None,
                 stub=None, missing=("", "")):
        self.text = text
        # For an error raised in the student's code: (the error's first line, where), as the text says them.
        self.raised = raised
        # The facts that say an exercise's code is not there, for the reports: the number of the exercise
        # whose stub raised (stub_number), and the contract module or name the graded folder lacks
        # (ImplementationError's missing_module and missing_name).
        self.stub = stub
        self.missing_module, self.missing_name = missing
        self.picture = picture  # the attention picture at the end of a check's message (GradingFailure.picture)
        self.kind = kind
        self.reprcrash = CrashLocation(str(path), lineno, text.splitlines()[0] if text else "")
        self.same_error = same_error  # for an error raised in the student's code: see _raised_in_student_code

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


def stub_number(exc):
    """The number of the exercise whose stub raised ``exc``: a NotImplementedError in the stubs' idiom
    ("Exercise 5: Head.forward"); None for any other."""
    match = STUB_MESSAGE.match(str(exc).strip()) if isinstance(exc, NotImplementedError) else None
    return int(match.group(1)) if match else None


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


@dataclass(frozen=True)
class Translation:
    """What to do about an error torch raised: ``message`` is a piece of torch's own words (torch 2.13),
    ``code`` (a regex), when given, what the student's statement that raised must contain, for words
    that have other causes elsewhere."""

    message: str
    hint: str
    code: str = ""


SOFTMAX_FIRST = ("torch.multinomial takes probabilities, not logits: probs = F.softmax(logits, dim=-1), "
                 "then torch.multinomial(probs, num_samples=1)")
NOT_PROBABILITIES = ("torch.multinomial takes probabilities (none negative, inf or nan, each row summing to "
                     "more than 0): sample from F.softmax(logits, dim=-1)")
# The lecture's idx (B, T) and idx_next (B, 1) joined along dim 0 fail unless T == 1.
CAT_WITHOUT_DIM = ("torch.cat joins along dim 0 unless a dim is given: torch.cat((idx, idx_next), dim=1) "
                   "appends along time")
# x.T on a 3-D tensor reverses all its dims, (B, T, hs) -> (hs, T, B), with only a warning (once per
# process, in pytest's warnings summary); the error comes from the matmul that uses it.
TRANSPOSE_3D = ("k.T reverses all the dims of k, not the last two (a (B, T, hs) k becomes (hs, T, B); torch warns "
                "that .T on more than 2 dims is deprecated): k.transpose(-2, -1)")
# The mask is registered (block_size, block_size); a shorter input is (B, T, T).
# A view of a tensor that transpose() made non-contiguous: the heads merged back with view, or split with
# view after a transpose.
VIEW_NOT_CONTIGUOUS = ("view needs a contiguous tensor: after transpose(1, 2), write .contiguous().view(B, T, C) "
                       "(or reshape); split the heads with view(B, T, n_head, head_size).transpose(1, 2)")
# The position table looked up for the whole block while idx is shorter.
POSITIONS_NOT_SLICED = ("the positions are torch.arange(T) for T = idx.shape[1], which may be less than "
                        "block_size: self.position_embedding_table(torch.arange(T, device=idx.device))")
MASK_NOT_SLICED = "slice the mask to the input's length: self.tril[:T, :T] (T may be less than block_size)"
SIZES = "must match the size of tensor b"
BATCH_SIZES = "Expected size for first two dimensions of batch"

# Errors a student meets often, and what to do about each: the first that fits is shown.
COMMON_ERRORS = (
    Translation("probability tensor contains either `inf`, `nan` or element < 0", SOFTMAX_FIRST,
                code=r"multinomial\(\s*logits\b"),
    Translation("invalid multinomial distribution", SOFTMAX_FIRST, code=r"multinomial\(\s*logits\b"),
    Translation("probability tensor contains either `inf`, `nan` or element < 0", NOT_PROBABILITIES),
    Translation("invalid multinomial distribution", NOT_PROBABILITIES),
    # The sequence to join, closed with no dim after it: torch.cat((idx, idx_next)), torch.cat([a, b]).
    Translation("Sizes of tensors must match except in dimension 0", CAT_WITHOUT_DIM,
                code=r"\bcat\(\s*[(\[][^()\[\]]*[)\]]\s*\)"),
    Translation(SIZES, TRANSPOSE_3D, code=r"\.T\b"),
    Translation(BATCH_SIZES, TRANSPOSE_3D, code=r"\.T\b"),
    Translation(SIZES, MASK_NOT_SLICED, code=r"\btril\b(?!\s*\[)"),
    Translation(SIZES, POSITIONS_NOT_SLICED, code=r"\bpos"),
    Translation("view size is not compatible with input tensor's size and stride", VIEW_NOT_CONTIGUOUS),
    Translation("Expected target size", "F.cross_entropy wants logits of shape (B*T, V) and targets of shape "
                                        "(B*T,): logits.view(B*T, V), targets.view(B*T)"),
    Translation("mat1 and mat2 shapes cannot be multiplied", "a Linear got a last dim it was not built for: "
                                                             "check n_embd, head_size and the concatenation of the heads"),
)


# Warnings of torch's that explain a failure: a piece of the warning -> what to do. torch gives each once
# per process, so only the first check to run the line hears it (student mode only: in teacher mode the
# submission's process heard it).
COMMON_WARNINGS = (
    ("The use of `x.T` on tensors of dimension other than 2", TRANSPOSE_3D),
)


def warning_hint(warning):
    """The hint for a warning of COMMON_WARNINGS, or None."""
    return next((hint for piece, hint in COMMON_WARNINGS if piece in str(warning)), None)


def hint_for(exc, statement=""):
    """The hint of the first of COMMON_ERRORS that fits ``exc`` raised by ``statement``, or None."""
    text, code = str(exc), _code_of(statement)
    return next((t.hint for t in COMMON_ERRORS if t.message in text and (not t.code or re.search(t.code, code))),
                None)


def _code_of(statement):
    """The statement without its comments (a comment may name tril or .T); naive about a # in a string."""
    return "\n".join(line.split("#", 1)[0] for line in str(statement).splitlines())


def _raised_in_student_code(exc, entry, voice):
    """The error, where it was raised, the statement and a hint; what makes it the same error as
    another check's (Explanation.same_error: the place, the type and the hint, else the message with its
    numbers left out: the same line fails the same way for inputs of other sizes); and the error and
    where, as data (Explanation.raised)."""
    source = ""
    try:
        source = str(entry.statement).strip()
    except Exception:  # the source may be gone (a notebook cell, a deleted file)
        pass
    place = voice.place(entry.path, entry.lineno + 1)
    error, where = f"{type(exc).__name__}: {exc}", f"{place}, in {entry.name}"
    text = f"{RAISED}{error}\n  at {where}"
    hint = hint_for(exc, source)
    same = (place, type(exc).__name__, hint or re.sub(r"\d+", "N", str(exc)))
    if source:
        text += f"\n    {source}"
    if hint:
        text += "\n" + GradingFailure.line(GradingFailure.HINT_LABEL, hint)
    return text, same, (error.splitlines()[0], where)


def _in_voice(message, voice):
    """A check's message with its "look at:" place said as ``voice`` says places."""
    label = GradingFailure.line(GradingFailure.WHERE_LABEL, "")
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
                           kind=NOT_IMPLEMENTED, stub=stub_number(exc))
    if isinstance(exc, ImplementationError):
        return Explanation(_in_voice(str(exc), voice), *location, missing=(exc.missing_module, exc.missing_name))
    if isinstance(exc, (GradingFailure, BlockedImport)):
        return Explanation(_in_voice(str(exc), voice), *location, picture=getattr(exc, "picture", None))
    if student is not None:
        text, same, raised = _raised_in_student_code(exc, student, voice)
        return Explanation(text, *location, same_error=same, raised=raised)
    return None
