"""How the grader's words name places and commands: in a terminal, files and ``pytest -m head``; in the
notebook edition, cells and ``grade(globals(), "head")``. Every message that says where to look or what
to run next asks a voice, so the notebook never shows a temporary file or a terminal command.
"""

import os
import re
from pathlib import Path

CHOICES = ("terminal", "notebook")

# The line grader/classroom/notebook_source.py writes above the code kept from each cell.
CELL_HEADER = re.compile(r"^# --- cell (\d+) ---$")


class Terminal:
    label = None  # the table is headed by the graded folder

    def run(self, marker):
        return f"pytest -m {marker}"

    def place(self, path, lineno):
        return f"{_short_path(path)}:{lineno}"

    def where(self, place):
        return place

    def home(self, exercise):
        return f"in {exercise.module}.py"

    def again(self):
        return "run pytest again"

    def all_passed(self, core_done):
        if core_done:
            return "the core is done: train your own GPT with python -m grader train (see the README)"
        return "every check that ran passed; run pytest to see what is next"

    def extras(self, marker):
        return f"add --extras, or one with -m, e.g. pytest -m {marker}"


class Notebook:
    """Places are the notebook's cells, numbered as Jupyter and Colab number them (``[12]``): the grader
    reads the cells from IPython's ``In``, where cell n is the input of execution count n."""

    label = "your notebook"

    def run(self, marker):
        return f'grade(globals(), "{marker}")'

    def place(self, path, lineno):
        cell = _cell_of_line(path, lineno)
        return f"cell [{cell}]" if cell else "your notebook"

    def where(self, place):
        # impl.where gives "FOLDER/submission.py, Head.forward": in a notebook, the cell that defines it.
        file, _, name = place.partition(", ")
        if not name:
            return "your notebook"
        cell = _cell_defining(file, name.split(".")[0])
        return f"{name}, in cell [{cell}]" if cell else f"{name}, in your notebook"

    def home(self, exercise):
        return "in its section of the notebook"

    def again(self):
        return "run this cell again"

    def all_passed(self, core_done):
        if core_done:
            return "the core is done: every exercise of the lecture's GPT passes"
        return "every check that ran passed; grade(globals()) shows what is next"

    def extras(self, marker):
        return f'grade(globals(), extras=True), or one in its own section, e.g. grade(globals(), "{marker}")'


def _cell_of_line(path, lineno):
    """The number of the notebook cell that line ``lineno`` of the extracted source came from, or None."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()[:lineno]
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        match = CELL_HEADER.match(line)
        if match:
            return int(match.group(1))
    return None


def _cell_defining(path, name):
    """The number of the last cell that defined the class or function ``name``, or None."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    definition = re.compile(rf"^(class|def|async def) {re.escape(name)}\b")
    cell = found = None
    for line in lines:
        header = CELL_HEADER.match(line)
        if header:
            cell = int(header.group(1))
        elif definition.match(line):
            found = cell
    return found


def _short_path(path):
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def voice(name):
    return Notebook() if name == "notebook" else Terminal()
