"""Find the submissions a teacher points at, and turn each into a folder shaped like ``exercises/``.

A submission is a folder with the contract's modules, a single ``.py`` file holding all its names,
a notebook, a copy of the kit, or a ``.zip`` of any of these. A folder without modules of its own is a
class: each of its entries is a submission (``--upload`` says it is one student's instead). What to
grade inside a folder or a zip is picked by grader/classroom/upload.py. Nothing here runs a
submission's code.
"""

import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.impl import SINGLE_FILE, SINGLE_FILE_MARK
from grader.judges.rubric import MODULES
from grader.classroom.safe_text import folder_name
from grader.sandbox.cleanup import discard

KINDS = {".py": "file", ".ipynb": "notebook", ".zip": "zip"}
IGNORED = {"__pycache__", "__MACOSX", ".git", ".ipynb_checkpoints", ".DS_Store"}
# Folders that hold installed packages, never a student's own work.
ENVIRONMENTS = {"site-packages", "node_modules", "venv", "env", ".venv"}
# In a copy of the kit (a folder with exercises/ and grader/), its own files are not the student's work.
KIT_OWN = ("solutions", "tests", "grader", "benchmarks", "data", "conftest.py")

# Caps on what a submission may bring: far above any honest submission (the reference is ~30 kB),
# far below what would fill a disk.
MAX_FILES = 500
MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 4
LEFT_OUT_SHOWN = 40  # statements of a notebook listed as left out: a real one leaves out a few dozen


class SubmissionError(Exception):
    """A submission that cannot be prepared for grading; the message says what to fix."""


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
    return any(_plain_file(folder / f"{m}.py") for m in MODULES)


def _plain_file(path):
    return path.is_file() and not path.is_symlink()  # a link is never followed (see discover)


def _passed_over(entry):
    """An entry of a folder that is never a submission or part of one: hidden, or the tools' clutter."""
    return entry.name in IGNORED or entry.name.startswith(".")


def _is_kit_copy(folder):
    """A copy of the kit (a student's clone): one submission, whose exercises/ is the student's work."""
    return (folder / "exercises").is_dir() and (folder / "grader").is_dir()


def _kind_of(path):
    if path.is_dir():
        return "package" if _has_modules(path) or _is_kit_copy(path) else None
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
                if _passed_over(entry):
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
    from grader.classroom.upload import pick

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
        _copy_package(chosen.path, dest)
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


def _copy_package(source, dest):
    """Copy the graded folder: its .py files, and its folders but those that are never the student's work
    (the walk of upload.py passes over the same ones: what is graded is what was read)."""
    files, total = 0, 0
    for folder, subfolders, names in os.walk(source):
        here = Path(folder)
        rel = here.relative_to(source)
        subfolders[:] = sorted(d for d in subfolders if copied(here / d, source))
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in sorted(names):
            path = here / name
            if not copied(path, source):
                continue
            files += 1
            total += path.stat().st_size
            if files > MAX_FILES or total > MAX_BYTES:
                raise SubmissionError(
                    f"{source.name} holds more than {MAX_FILES} files or {MAX_BYTES // 2**20} MB; "
                    f"submit only the .py files"
                )
            shutil.copyfile(path, dest / rel / name)


def copied(path, source):
    """Whether _copy_package(source, ...) copies ``path``, a file or folder inside ``source``.
    upload.py asks it too: what it credits is what the grading will find."""
    parts = path.relative_to(source).parts
    kit = _is_kit_copy(source)
    folders = parts if path.is_dir() else parts[:-1]
    for depth in range(1, len(folders) + 1):
        if depth > MAX_DEPTH or not_the_students(source.joinpath(*parts[:depth]), depth == 1 and kit):
            return False
    # A link is never copied: it could point at the kit or another student's work. Nor is anything but
    # Python source: what runs is what the reports and the near-copy flags read (code kept in a .txt
    # file and run with exec() would escape both), and a compiled module could be anything.
    return path.is_dir() or (path.is_file() and not path.is_symlink() and path.suffix == ".py"
                             and path.name not in IGNORED and not (len(parts) == 1 and kit and path.name in KIT_OWN)
                             and _is_source(path))


def _is_source(path):
    """Whether the .py file ``path`` is text Python could run as source: no NUL byte, which Python refuses
    in source and every zip archive holds (a zip named lib.py, put on sys.path, is imported from)."""
    try:
        with open(path, "rb") as f:
            return b"\0" not in f.read(MAX_BYTES + 1)
    except OSError:
        return False


def not_the_students(folder, in_kit_copy=False):
    """A folder that is never a student's work: hidden or the tools' clutter, a link, a virtual
    environment or installed packages, or (``in_kit_copy``: its parent is a copy of the kit) one of the
    kit's own folders."""
    return (_passed_over(folder) or folder.is_symlink() or folder.name in ENVIRONMENTS
            or (folder / "pyvenv.cfg").is_file() or (in_kit_copy and folder.name in KIT_OWN))


def _unzip(archive, dest, limit=MAX_BYTES):
    """Extract ``archive`` into ``dest``, refusing paths that escape it, links, and zip bombs: at most
    ``limit`` bytes in all, counted as written (the sizes in a zip's directory can lie). Returns the
    bytes written."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a zip file that can be read: {exc}") from None
    too_big = f"{archive.name} unpacks to more than {MAX_FILES} files or {MAX_BYTES // 2**20} MB"
    with zf:
        members = zf.infolist()
        if len(members) > MAX_FILES or sum(m.file_size for m in members) > limit:
            raise SubmissionError(too_big)
        dest.mkdir(parents=True)
        root = dest.resolve()
        written = 0
        for member in members:
            name = member.filename
            target = (dest / name).resolve()
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or not target.is_relative_to(root):
                raise SubmissionError(f"{archive.name}: the entry {name!r} points outside the archive")
            if stat.S_ISLNK(member.external_attr >> 16):
                raise SubmissionError(f"{archive.name}: the entry {name!r} is a symbolic link")
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                data = src.read(limit - written + 1)
                written += len(data)
                if written > limit:
                    raise SubmissionError(too_big)
                out.write(data)
    return written
