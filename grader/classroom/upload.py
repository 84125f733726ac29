"""What to grade in one student's upload, as students really upload: a whole repository, loose files
with strays, a notebook beside scratch ``.py`` files, zips inside zips, the whole contract in one file
of any name.

Every way the upload could be graded is a candidate: each folder holding modules of the contract, each
``.py`` file and each notebook, inside zips too. Each is read, never run, and credited with the
exercises it writes: the exercise's names (rubric.EXERCISES) defined at the top level, where the
grading will look for them, with a body that is more than a stub. For one file, anywhere in it. For a
folder, in the exercise's module as Python imports it from the folder: a package folder attention/
comes before attention.py, and a name may come from another module of the folder
(``from .model import Head``), which is then graded with it. The candidate that writes the most
points is graded; on a tie, a folder of modules, then one file, then a notebook, then the one nearest
the top. The report says what was graded and what was not.
"""

import ast
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.classroom import submitted_files
from grader.classroom.folder_imports import Folder
from grader.classroom.safe_text import one_line
from grader.classroom.submitted_files import (KIT_OWN, SubmissionError, is_kit_copy, not_the_students, passed_over,
                                              plain_file, unzip)
from grader.rubric import EXERCISES, MODULES, span
from grader.classroom.notebook_source import MAX_CODE, NotebookError, extract
from grader.sandbox.cleanup import discard
from grader.stubs import raises_not_implemented, top_level

# A walk of an upload stops here: a repository has a few hundred files, and a virtual environment or a
# dataset uploaded by mistake should cost seconds, not minutes.
MAX_ENTRIES = 20_000
MAX_ZIPS = 20  # zips unpacked in one upload, nested ones included
MAX_NESTING = 3  # a zip in a zip in a zip
MAX_LEVELS = 10  # folders below the upload's top
PREFERENCE = {"package": 0, "file": 1, "notebook": 2}
CONTRACT_NAMES = {name for ex in EXERCISES for name in ex.names}


@dataclass
class Candidate:
    path: Path  # where it is now (in the upload, or where a zip was unpacked)
    shown: str  # how the report names it: its path in the upload, zips as folders
    kind: str  # "package" | "file" | "notebook"
    written: list = field(default_factory=list)  # the exercises it writes (rubric.Exercise)
    defines: bool = False  # whether it defines any name of the contract at all, if only as a stub
    problem: str = ""  # why it could not be read, if it could not
    extracted: object = None  # a notebook's ExtractedSource, kept for grading: it is read once
    # A folder's: the files Python runs when it is graded (its modules and what they import from it),
    # and those of its modules that Python does not import, each with what it imports in its place.
    runs: frozenset = frozenset()
    shadowed: dict = field(default_factory=dict)

    @property
    def points(self):
        return sum(ex.max_points for ex in self.written)

    def rank(self):
        return (-self.points, PREFERENCE[self.kind], self.shown.count("/"), self.shown)

    def describe(self, why=""):
        name = self.shown
        if self.kind == "package":
            name = "the modules in " + ("the top folder" if name == "./" else name)
            # The files graded with its modules: model.py, where attention.py takes Head from.
            helpers = sorted(self.label(p) for p in self.runs
                             if p.parent != self.path or (p.stem not in MODULES and p.name != "__init__.py"))
            if helpers:
                name += ", with " + ", ".join(_some(helpers, 5))
        return f"{name} ({'; '.join(filter(None, [self.problem or _exercise_list(self.written), why]))})"

    def holds(self, other):
        """Whether ``other`` (a file, or a folder's modules) is graded with this folder."""
        return self.kind == "package" and other is not self and (other.runs or {other.path}) <= self.runs

    def label(self, path):
        """How the report names ``path``, a file or folder inside this folder."""
        top = "" if self.shown == "./" else self.shown
        return top + one_line(path.relative_to(self.path).as_posix()) + ("/" if path.is_dir() else "")


def _exercise_list(exercises):
    return span(exercises) if exercises else "no exercise written"


def pick(upload, scratch):
    """The Candidate to grade in ``upload`` (a folder, a zip, a .py file or a notebook), and notes for
    the report.

    ``scratch`` is an empty folder for unpacking zips. Raises SubmissionError when nothing in the upload
    can be graded."""
    walk = _Walk(Path(scratch))
    walk.visit(Path(upload), "", 0)
    readable = [c for c in walk.candidates if not c.problem]
    best = min(readable, key=Candidate.rank, default=None)
    others = [c for c in walk.candidates if c is not best and not (best and best.holds(c))]
    # One candidate is graded even when it writes nothing, if it has the contract's names (the stubs: the
    # checks then say what is missing); among several that write nothing, any choice would be a guess.
    if best is None or (not best.points and (others or not best.defines)):
        raise SubmissionError(_nothing_found(walk))
    # An upload that is what is graded (a folder of modules, one file) needs no word; any other says what.
    notes = [f"graded {best.describe()}"] if others or best.path != Path(upload) else []
    if others:
        described = [c.describe(f"Python imports {best.shadowed[c.path]} in its place"
                                if c.path in best.shadowed else "") for c in sorted(others, key=Candidate.rank)]
        notes.append("not graded: " + "; ".join(_some(described)))
    notes += _some(walk.notes)
    return best, notes


def _some(items, most=10):
    """The first ``most`` items, and how many more: an upload can hold thousands, a report shows a few."""
    return items[:most] + ([f"and {len(items) - most} more"] if len(items) > most else [])


def _nothing_found(walk):
    packages = [c for c in walk.candidates if c.kind == "package"]
    found = _some([c.describe() for c in sorted(walk.candidates, key=Candidate.rank)
                   if not any(p.holds(c) for p in packages)])
    if walk.links:
        found.append(f"not followed, as symbolic links: {', '.join(_some(walk.links))}")
    if not walk.candidates:
        what = "found nothing to grade in the upload"
    elif not any(c.defines for c in walk.candidates):
        what = "nothing in the upload defines a name of the exercises (CharTokenizer, get_batch, Head, ...)"
    else:
        what = "nothing in the upload writes an exercise"
    return (what + (f" (found: {'; '.join(found)})" if found else "") + ". Upload the .py files of exercises/ "
            "(tokenizer.py, attention.py, ...), one .py file holding every name, or one notebook; "
            "a zip of these, or of your copy of the kit, works too.")


class _Walk:
    """Goes through an upload once, unpacking zips into ``scratch``, and collects the candidates."""

    def __init__(self, scratch):
        self.scratch = scratch
        self.candidates, self.notes, self.links = [], [], []
        self.entries = self.zips = self.unpacked = 0

    def visit(self, path, shown, nesting):
        shown = shown or one_line(path.name)
        if plain_file(path) and path.suffix.lower() == ".zip":
            self._unpack(path, shown, nesting)
        elif path.is_dir():
            self._folder(path, "", nesting, 0)
        else:
            self._file(path, shown)

    def _folder(self, folder, shown, nesting, level):
        entries = sorted(folder.iterdir())
        self.entries += len(entries)
        if self.entries > MAX_ENTRIES:
            raise SubmissionError(f"the upload holds more than {MAX_ENTRIES} files and folders; upload only "
                                  "your code (a virtual environment or a dataset may have come along)")
        kit = is_kit_copy(folder)
        if kit:
            own = [name + ("" if "." in name else "/") for name in KIT_OWN if (folder / name).exists()]
            self.notes.append(f"{shown or 'the upload'} is a copy of the kit: its {', '.join(own)} are the "
                              "kit's own, not looked at")
        if any(plain_file(folder / f"{m}.py") for m in MODULES):
            self.candidates.append(_credit(Candidate(folder, (shown or ".") + "/", "package")))
        for entry in entries:
            label = f"{shown}/{one_line(entry.name)}" if shown else one_line(entry.name)
            if entry.is_symlink():  # it could lead to another student's work or to the kit's answers
                self.links.append(label)
            if entry.is_dir():
                if not not_the_students(entry, kit) and level < MAX_LEVELS:
                    self._folder(entry, label, nesting, level + 1)
            elif passed_over(entry) or entry.is_symlink() or (kit and entry.name in KIT_OWN):
                continue
            elif entry.suffix.lower() == ".zip" and plain_file(entry):
                self._unpack(entry, label, nesting, stray=True)
            else:
                self._file(entry, label)

    def _file(self, path, shown):
        kind = {".py": "file", ".ipynb": "notebook"}.get(path.suffix.lower())
        if kind and plain_file(path):
            self.candidates.append(_credit(Candidate(path, shown, kind)))

    def _unpack(self, archive, shown, nesting, stray=False):
        """Unpack a zip and walk it. One inside the upload that cannot be unpacked is noted and passed
        over (the rest may be graded); the upload itself, a zip, is refused."""
        if nesting >= MAX_NESTING or self.zips >= MAX_ZIPS:
            self.notes.append(f"{shown}: not unpacked (more than {MAX_NESTING} zips inside one another, "
                              f"or more than {MAX_ZIPS} zips)")
            return
        self.zips += 1
        dest = self.scratch / f"zip{self.zips}"
        try:
            # One cap for all the zips of an upload together, nested ones included.
            self.unpacked += unzip(archive, dest, submitted_files.MAX_BYTES - self.unpacked)
        except (SubmissionError, zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            why = str(exc) if isinstance(exc, SubmissionError) else f"{type(exc).__name__}: {exc}"
            if not stray:
                raise SubmissionError(why if isinstance(exc, SubmissionError)
                                      else f"{archive.name} cannot be unpacked ({why})") from None
            discard(dest)
            self.notes.append(f"{shown}: not unpacked ({why})")
            return
        self._folder(dest, shown, nesting + 1, 0)


def _credit(candidate):
    """``candidate`` with the exercises it writes, or the reason it cannot be read."""
    try:
        if candidate.kind == "package":
            _credit_folder(candidate)
        else:
            if candidate.kind == "notebook":
                candidate.extracted = _extract(candidate.path)
                tree = _parse(candidate.extracted.source)
            else:
                tree = _parse_file(candidate.path)
            candidate.written = [ex for ex in EXERCISES if _writes(tree, ex.names)]
            candidate.defines = bool(top_level(tree).keys() & CONTRACT_NAMES)
    except _Unreadable as exc:
        candidate.problem = str(exc)
    return candidate


def _credit_folder(candidate):
    """Credit a folder as the grading imports it: each module of the contract as Python finds it in
    the copy that is graded (a package folder attention/ comes before attention.py), its names followed
    through the imports from the same folder (``from .model import Head``)."""
    folder = Folder(candidate.path, _parse_file)
    # The grading needs attention.py to be there, then imports what Python finds for "attention".
    present = [m for m in MODULES if folder.copied(candidate.path / f"{m}.py")]
    for m in present:
        runs = folder.module((m,))
        if runs.file != candidate.path / f"{m}.py":
            candidate.shadowed[candidate.path / f"{m}.py"] = (
                f"the package {candidate.label(runs.where)}" if runs.where else candidate.label(runs.file))
        if runs.problem:
            raise _Unreadable(f"{candidate.label(runs.file)}: {runs.problem}")
    candidate.written = [ex for ex in EXERCISES if ex.module in present and all(
        (node := folder.definition((ex.module,), name)) is not None and not _is_stub(node) for name in ex.names)]
    candidate.defines = any(folder.definition((m,), name) is not None for m in present for name in CONTRACT_NAMES)
    candidate.runs = folder.runs(present)


class _Unreadable(ValueError):
    """A file that cannot be read as Python; the message says why."""


def _parse_file(path):
    if path.stat().st_size > MAX_CODE:  # a student's file is tens of KB; ast needs ~1 GB per MB
        raise _Unreadable(f"larger than {MAX_CODE // 2**20} MB, not read")
    # As text: a coding cookie (``# coding: punycode``) is not decoded here, where it could take hours.
    return _parse(path.read_bytes().decode("utf-8", "replace"))


def _extract(path):
    """The notebook's code (notebook_source.extract), refused unread when the file is too large."""
    if path.stat().st_size > submitted_files.MAX_BYTES:
        raise _Unreadable(f"larger than {submitted_files.MAX_BYTES // 2**20} MB")
    try:
        return extract(path)
    except NotebookError as exc:
        raise _Unreadable(str(exc)) from None


def _parse(source):
    # Parsing runs nothing; what it cannot read is not gradable (a syntax error would fail every check).
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise _Unreadable(f"cannot be read as Python: {type(exc).__name__}") from None


def _writes(tree, names):
    """Whether every name is defined at the top level of ``tree`` as more than a stub."""
    defined = top_level(tree)
    return all(name in defined and not _is_stub(defined[name]) for name in names)


def _is_stub(node):
    """A function whose body only raises NotImplementedError, passes or is ``...`` (a docstring aside);
    a class with no methods or with one such method (the kit's stubs give some methods whole)."""
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return not methods or any(_is_stub(m) for m in methods)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return all(_is_placeholder(statement) for statement in body)


def _is_placeholder(statement):
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True  # `...` or a string
    return raises_not_implemented(statement)

