"""Which files of a submission are the student's work, and the caps on what a submission may bring.

One rule for the three places that read a submission: finding and copying the submissions
(grader/classroom/submissions.py), the upload picker (grader/classroom/upload.py) and the reading of a
folder as Python imports it (grader/classroom/folder_imports.py); what the picker credits is what the
grading copies (``copied``). Nothing here runs a submission's code.
"""

import os
import shutil
import stat
import zipfile
from pathlib import Path

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


class SubmissionError(Exception):
    """A submission that cannot be prepared for grading; the message says what to fix."""


def plain_file(path):
    return path.is_file() and not path.is_symlink()  # a link is never followed (see submissions.discover)


def passed_over(entry):
    """An entry of a folder that is never a submission or part of one: hidden, or the tools' clutter."""
    return entry.name in IGNORED or entry.name.startswith(".")


def is_kit_copy(folder):
    """A copy of the kit (a student's clone): one submission, whose exercises/ is the student's work."""
    return (folder / "exercises").is_dir() and (folder / "grader").is_dir()


def copy_package(source, dest):
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
    """Whether copy_package(source, ...) copies ``path``, a file or folder inside ``source``.
    upload.py asks it too: what it credits is what the grading will find."""
    parts = path.relative_to(source).parts
    kit = is_kit_copy(source)
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
    return (passed_over(folder) or folder.is_symlink() or folder.name in ENVIRONMENTS
            or (folder / "pyvenv.cfg").is_file() or (in_kit_copy and folder.name in KIT_OWN))


def unzip(archive, dest, limit=MAX_BYTES):
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
