"""Read a submission in a child process with limits on its time, memory and output.

Reading an upload means unzipping it, parsing every candidate with ``ast`` (grader/classroom/upload.py),
taking the code out of a notebook and scanning it for flags (review.py). None of this runs the
submission's code, but a hostile upload can make any of it slow or huge: a coding cookie that Python
decodes in quadratic time, a file that ``ast`` needs gigabytes for, a notebook whose kept assignments
grow into megabytes of text. So it happens here, in a process of its own under limits; the process
that grades the class only reads what it prints, as JSON, and its limits and deadline stay in force.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import launch
from grader.classroom.safe_text import clipped
from grader.classroom.submissions import Prepared, Submission, SubmissionError

# What reading an honest upload takes: well under a second and 100 MB (a copy of the kit, a notebook of
# the exercises); these are far above that, and far below what would stall a class.
READ_SECONDS = 60  # wall clock
READ_MEMORY_MB = 2048  # address space; Python with nbformat maps ~300 MB
READ_FILE_MB = 256  # any one file written (the copy of the graded code)
STDERR_KEPT = 2000  # bytes of the child's own errors kept for the message
# The answer holds the notebook's code (at most ~20 MB from the 1 MB of code a notebook may hold), the
# notes and flags (each capped at MAX_TEXT characters, at most a few dozen of them) and the code's
# fingerprints (similarity.MAX_FINGERPRINTS numbers of at most 15 digits: 320 kB).
MAX_ANSWER = 64 * 2**20
MAX_TEXT = 5000


def prepare_apart(submission, dest, timeout=READ_SECONDS):
    """prepare(submission, dest), review.flags and the code's fingerprints (Prepared.fingerprints, from
    similarity.py), run in a child process; returns (Prepared, flags) or
    raises SubmissionError saying what went wrong, within ``timeout`` seconds."""
    request = {"name": submission.name, "path": str(submission.path), "kind": submission.kind,
               "problem": submission.problem, "dest": str(dest)}
    # Into files, not pipes: what this process reads of them is checked for size first.
    with tempfile.TemporaryFile() as answer, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(launch.python_module("grader.classroom.reading"), stdin=subprocess.PIPE,
                                stdout=answer, stderr=errors, start_new_session=True,
                                preexec_fn=_limit_self, cwd=Path(dest).parent, env=launch.environment(os.environ))
        try:
            proc.communicate(json.dumps(request).encode(), timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SubmissionError(f"reading the upload took longer than {timeout:.0f} s (unzipping it and "
                                  "reading its files, before any of its code runs): upload only your code") from None
        errors.seek(-min(STDERR_KEPT, errors.seek(0, os.SEEK_END)), os.SEEK_END)
        stderr = errors.read().decode("utf-8", "replace")
        if answer.seek(0, os.SEEK_END) > MAX_ANSWER:
            raise SubmissionError("the upload could not be read: what the reader found is too large to report")
        answer.seek(0)
        out = answer.read()
    return _answer(proc.returncode, out, stderr)


def _answer(returncode, out, stderr):
    try:
        answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    except (IndexError, ValueError):
        memory = "MemoryError" in stderr or returncode in (-signal.SIGKILL, -signal.SIGSEGV)
        raise SubmissionError("the upload could not be read" + (f" within {READ_MEMORY_MB} MB of memory"
                              if memory else f" (the reader exited with code {returncode})")
                              + ": upload only your code") from None
    if "error" in answer:
        raise SubmissionError(answer["error"])
    prepared = Prepared(Path(answer["package"]), answer["kind"], answer["notes"], answer["extracted"],
                        answer["shown"], _fingerprints(answer.get("fingerprints")))
    return prepared, answer["flags"]


def _fingerprints(found):
    """The fingerprints the reader sent (grader/classroom/similarity.py): ints, MAX_FINGERPRINTS at most."""
    from grader.classroom.similarity import MAX_FINGERPRINTS

    found = found if isinstance(found, list) else []
    return [f for f in found[:MAX_FINGERPRINTS] if type(f) is int]


def _limit_self():
    """In the child, before it starts: its memory, CPU time and file sizes capped."""
    for limit, value in ((resource.RLIMIT_AS, READ_MEMORY_MB * 2**20), (resource.RLIMIT_CPU, READ_SECONDS),
                         (resource.RLIMIT_FSIZE, READ_FILE_MB * 2**20)):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):  # a lower hard limit already: keep it
            pass


def _read(request):
    """What the child prints: the prepared submission, or the error that says why it cannot be."""
    from grader.classroom import review
    from grader.classroom.submissions import prepare

    submission = Submission(request["name"], Path(request["path"]), request["kind"], request["problem"])
    try:
        prepared = prepare(submission, Path(request["dest"]))
        flags = review.flags(prepared.package)
    except SubmissionError as exc:
        return {"error": _capped(str(exc))}
    except (MemoryError, RecursionError):
        return {"error": f"the upload could not be read within {READ_MEMORY_MB} MB of memory: upload only your code"}
    except OSError as exc:  # a file the upload holds that cannot be written here (a name too long, say)
        return {"error": _capped(f"the upload could not be unpacked ({type(exc).__name__}: {exc.strerror or exc})")}
    found = _code_fingerprints(prepared.package)
    if found is None:
        from grader.classroom.similarity import TOO_LARGE
        flags.append(TOO_LARGE)
    return {"package": str(prepared.package), "kind": prepared.kind, "notes": [_capped(n) for n in prepared.notes],
            "extracted": prepared.extracted, "shown": _capped(prepared.shown), "flags": [_capped(f) for f in flags],
            "fingerprints": found or []}


def _code_fingerprints(package):
    """The graded code's fingerprints, for the near-copy flags; none when they cannot be taken (they are
    a hint to the teacher, never a reason not to grade)."""
    from grader.classroom.similarity import package_fingerprints

    try:
        return package_fingerprints(package)
    except (OSError, ValueError, MemoryError, RecursionError):
        return []


def _capped(text):
    """A note, flag or error as the reports hold it: MAX_TEXT characters at most (each is repeated in
    every report, an error in every check's verdict)."""
    return clipped(text, MAX_TEXT)


def main():
    import logging
    import warnings

    # nbformat warns once per odd cell (a notebook can hold a million): the report says what matters.
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    answer = _read(json.loads(sys.stdin.read()))
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
