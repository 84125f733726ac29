"""Text from a submission made safe for every place the grader writes it: the terminal, grades.csv,
JUnit XML, JSON, and the file system (a report folder's name).

A submission controls its file names, its error messages and its source lines, and all of these
reach the reports. The rules are decided here, once:

- ``printable``: lone surrogates replaced, terminal escape sequences, control characters and
  bidirectional controls dropped (newlines and tabs kept), and the few characters XML 1.0 cannot hold; what is left is safe on a
  terminal and in UTF-8, JSON and XML.
- ``one_line``: a name shown inside a line, its unsafe characters, newlines and tabs as ``?``.
- ``csv_cell``: a cell a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@`` first) gets a
  leading ``'``.
- ``folder_name``: a name that is one plain path component, not hidden, not ``.``/``..``, not
  starting with ``-`` and not one of the grader's own files.
"""

import re

# CSI (ESC [ ... final byte) and OSC (ESC ] ... BEL or ESC \) sequences, then any other ESC pair.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?")
# C0 controls but tab and newline, DEL, C1 controls, the non-characters XML 1.0 forbids, and the
# bidirectional controls and separators that reorder or break what follows them on screen.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[{_UNSAFE}]")
_LINE_BREAKERS = re.compile(f"[{_UNSAFE}\t\n]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
RESERVED = {"grades.csv", "report.html"}  # what the grader itself writes at the top of --out
MAX_NAME = 100


def printable(text):
    """``text`` (any str) with what a terminal, XML or UTF-8 cannot take safely taken out."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    return _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n")))


def one_line(name):
    """A name (a file's, say) as a report may show it inside a line: each character that is unsafe, or
    would break the line or reorder what follows it, shown as "?" (a name with a newline must not
    make a line of its own, such as a forged "graded ...")."""
    return _LINE_BREAKERS.sub("?", name)


def clipped(text, most):
    """``text`` cut to ``most`` characters, with "..." where it was cut."""
    return text if len(text) <= most else text[:most - 3] + "..."


def csv_cell(text):
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def folder_name(name):
    """``name`` as one safe path component for a submission's report folder."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in printable(name))
    # Never hidden, and never read as an option ("-alice") or, in grades.csv, as a formula: a name is
    # read back from there as it was written (a regrade, merge).
    name = name.lstrip(".-")[:MAX_NAME] or "submission"
    return f"_{name}" if name.lower() in RESERVED else name
