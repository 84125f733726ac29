"""Find the submissions a teacher points at, and turn each into a folder shaped like ``exercises/``.

A submission is a folder with the contract's modules, a single ``.py`` file holding all its names,
a notebook, a copy of the kit, or a ``.zip`` of any of these. A folder without modules of its own is a
class: each of its entries is a submission (``--upload`` says it is one student's instead). What to
grade inside a folder or a zip is picked by grader/classroom/upload.py. Nothing here runs a
submission's code.
"""

from dataclasses import dataclass, field
from pathlib import Path

from grader.impl import SINGLE_FILE, SINGLE_FILE_MARK
from grader.rubric import MODULES
from grader.classroom.safe_text import folder_name
from grader.classroom.submitted_files import SubmissionError, copy_package, is_kit_copy, passed_over, plain_file
from grader.classroom.upload import pick
from grader.sandbox.cleanup import discard

KINDS = {".py": "file", ".ipynb": "notebook", ".zip": "zip"}
LEFT_OUT_SHOWN = 40  # statements of a notebook listed as left out: a real one leaves out a few dozen


@dataclass
class Submission:
    name: str  # the file or folder name without its extension
    path: Path
    kind: str  # "package" | "file" | "notebook" | "zip" | "not a submission"
    problem: str = ""  # why an entry of a class folder is not a submission (reported as an error)


@dataclass
class Prepared:
    """A submission turned into a package folder, and what the teacher should know about it."""

    package: Path
    kind: str  # what was found in the end ("package", "file", "notebook")
    notes: list = field(default_factory=list)
    extracted: str = ""  # the code taken from a notebook
    shown: str = ""  # the graded file or folder as the teacher knows it: bob/attention.py, bob.py
    fingerprints: list = field(default_factory=list)  # of the graded code (grader/classroom/similarity.py)


def _has_modules(folder):
    return any(plain_file(folder / f"{m}.py") for m in MODULES)


def _kind_of(path):
    if path.is_dir():
        return "package" if _has_modules(path) or is_kit_copy(path) else None
    return KINDS.get(path.suffix.lower())


def discover(paths, upload=False):
    """The submissions named by ``paths`` (files, folders, or class folders), sorted by name.

    Returns (submissions, skipped) where ``skipped`` lists (entry, why) for the entries of class folders
    that are not submissions; they are among the submissions too, of kind "not a submission", which
    prepare refuses with that reason. A path that does not exist or is not a submission raises SubmissionError.
    A symbolic link inside a class folder or a submission is never followed: it could lead to another
    student's work or to the kit's answers (only a path the teacher names is taken as it is).

    With ``upload``, each path is one student's upload as a whole (a Gradescope submission), graded as
    one submission whatever it holds (grader/classroom/upload.py picks what to grade in it).
    """
    found, skipped = [], []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise SubmissionError(f"{raw}: no such file or folder")
        kind = "package" if upload and path.is_dir() else _kind_of(path)
        if kind is not None:
            found.append(Submission(path.stem if path.is_file() else path.name, path.resolve(), kind))
        elif path.is_dir():
            for entry in sorted(path.iterdir()):
                if passed_over(entry):
                    continue
                why = None
                if entry.is_symlink():
                    why = "a symbolic link: links are not followed"
                elif (entry_kind := _kind_of(entry) or ("package" if entry.is_dir() else None)) is None:
                    why = "not a folder, .py, .ipynb or .zip"
                if why:
                    # In the reports as an error, so that no student drops off the grade sheet unseen.
                    skipped.append((str(entry), why))
                    found.append(Submission(entry.stem, entry, "not a submission", why))
                    continue
                found.append(Submission(entry.stem if entry.is_file() else entry.name, entry.resolve(), entry_kind))
        else:
            raise SubmissionError(
                f"{raw}: not a submission. Give a folder shaped like exercises/, a .py file, a .ipynb "
                f"notebook, a .zip of one of these, or a folder of such submissions."
            )
    return _unique_names(found), skipped


def _unique_names(submissions):
    """Names as the reports use them: safe folder names (safe_text.folder_name); a clash (alice.py and
    alice.ipynb) keeps the extension, and names still equal after that, or equal but for case (one
    folder on macOS and Windows), get -2, -3, ..."""
    counts = {}
    for sub in submissions:
        counts[sub.name] = counts.get(sub.name, 0) + 1
    for sub in submissions:
        if counts[sub.name] > 1 and sub.path.suffix:
            sub.name = f"{sub.name}_{sub.path.suffix.lstrip('.')}"
        sub.name = folder_name(sub.name)
    seen = {}
    for sub in sorted(submissions, key=lambda s: (s.name.lower(), str(s.path))):
        key = sub.name.lower()
        if key in seen:
            seen[key] += 1
            while f"{key}-{seen[key]}" in seen:
                seen[key] += 1
            sub.name = f"{sub.name}-{seen[key]}"
            seen[sub.name.lower()] = 1
        else:
            seen[key] = 1
    return sorted(submissions, key=lambda s: s.name)


def prepare(submission, dest):
    """Copy or convert ``submission`` into ``dest`` (a new folder) as a package; returns Prepared.

    What to grade in a folder or a zip is picked by grader/classroom/upload.py, which also refuses a
    file that defines none of the exercises' names."""
    if submission.problem:
        raise SubmissionError(f"{submission.path.name} is not a submission: {submission.problem}")
    dest = Path(dest)
    dest.mkdir(parents=True)
    unpacked = dest.parent / f"{dest.name}.unzipped"
    unpacked.mkdir()
    try:
        chosen, notes = pick(submission.path, unpacked)
        prepared = _prepare_path(chosen, dest)
    finally:
        discard(unpacked)
    prepared.notes[:0] = notes
    # A zip's or a file's own name starts chosen.shown; a folder's does not.
    top = f"{submission.name}/" if submission.kind == "package" else ""
    prepared.shown = "extracted.py" if prepared.kind == "notebook" else top + chosen.shown.removeprefix("./")
    return prepared


def _prepare_path(chosen, dest):
    """The candidate upload.pick chose (read already: within the size limits, a notebook's code taken
    out) as a package in ``dest``."""
    if chosen.kind == "package":
        copy_package(chosen.path, dest)
        return Prepared(dest, "package")
    if chosen.kind == "file":
        return single_file_package(chosen.path.read_bytes(), dest, "file")
    # A notebook: its code, taken out once, when it was picked.
    source, extracted = chosen.path, chosen.extracted
    prepared = single_file_package(extracted.source.encode(), dest, "notebook")
    prepared.extracted = extracted.source
    # The messages name extracted.py, which a student on Gradescope never sees: say what it is.
    prepared.notes.append(f"extracted.py, where a message names it, is the code taken from {source.name} and "
                          "graded (your teacher has it); each of its parts starts with the cell it came from")
    if extracted.left_out:
        # Cells as the notebook's code cells, counted from 1: the numbers Jupyter shows change as cells run.
        shown = extracted.left_out[:LEFT_OUT_SHOWN] + (
            [f"and {len(extracted.left_out) - LEFT_OUT_SHOWN} more (extracted.py shows what was kept)"]
            if len(extracted.left_out) > LEFT_OUT_SHOWN else [])
        prepared.notes.append("left out of the notebook (not run; cell N is its N-th code cell): "
                              + "; ".join(shown))
    return prepared


def single_file_package(code, dest, kind):
    """A package whose modules each take the names of one file (``submission.py``)."""
    (dest / SINGLE_FILE).write_bytes(code)
    (dest / SINGLE_FILE_MARK).write_text("graded as one file: every module takes its names from submission.py\n")
    for module in MODULES:
        (dest / f"{module}.py").write_text(
            f'"""Written by the grader: {module} takes the names defined in submission.py."""\n'
            "from . import submission as _submission\n\n"
            "globals().update({k: v for k, v in vars(_submission).items() if not k.startswith('__')})\n"
        )
    return Prepared(dest, kind)
