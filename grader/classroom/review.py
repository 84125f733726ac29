"""Lines of a submission a teacher may want to read: code that reaches for the grader, the process
or the system rather than for torch. A flag costs no points; it only says where to look."""

import io
import re
import tokenize

PATTERNS = (
    (re.compile(r"\bos\._exit\b|\bsys\.exit\b"), "ends the process"),
    (re.compile(r"\bctypes\b"), "uses ctypes"),
    (re.compile(r"\bsubprocess\b|\bos\.(fork|system|popen|spawn\w*|exec\w*)\b|\bmultiprocessing\b"),
     "starts processes"),
    (re.compile(r"\bgc\.get_(objects|referrers)\b|\bsys\._getframe\b|\binspect\.(stack|currentframe)\b"),
     "inspects the running program"),
    (re.compile(r"\b_?pytest\b|\bpluggy\b|\bgrader\b|\bunittest\b"), "refers to the test framework or grader"),
    (re.compile(r"\bsolutions\b"), "refers to solutions"),
    (re.compile(r"setattr\(\s*(torch|builtins|F)\b|^\s*(torch|F|builtins)(\.\w+)+\s*=[^=]", re.M),
     "reassigns a torch or builtin name"),
    (re.compile(r"\bdef\s+__eq__\b|__eq__\s*="), "defines __eq__"),
    (re.compile(r"/proc/|\bsocket\b|\bsignal\b|\bresource\b"), "touches the system"),
)


def _code_only(text):
    """``text`` with comments and strings blanked (line numbers kept): a docstring that says
    "run pytest" is not a flag."""
    lines = text.splitlines(keepends=True)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    # Each line is rebuilt once, whatever the number of strings on it: a line of a million strings
    # rebuilt per string would take hours (found by an attack helper), in the teacher's process.
    blanks = {}  # row -> [(start, end)]
    for tok in tokens:
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        (srow, scol), (erow, ecol) = tok.start, tok.end
        for row in range(srow, erow + 1):
            end = ecol if row == erow else len(lines[row - 1].rstrip("\n"))
            blanks.setdefault(row, []).append((scol if row == srow else 0, end))
    for row, spans in blanks.items():
        chars = list(lines[row - 1])
        for start, end in spans:
            chars[start:end] = " " * (end - start)
        lines[row - 1] = "".join(chars)
    return "".join(lines)


# A file larger than this is not read for flags (a course's largest answer is ~30 kB); it is flagged.
MAX_REVIEWED_BYTES = 2 * 2**20


def flags(package):
    """``["ends the process (attention.py:3)", ...]`` for the .py files of ``package``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        try:
            size = path.stat().st_size
            if size > MAX_REVIEWED_BYTES:
                found.append(f"too large to read for flags ({path.relative_to(package)}: {size / 2**20:.1f} MB)")
                continue
            text = _code_only(path.read_text(errors="replace"))
        except OSError:
            continue
        for pattern, what in PATTERNS:
            match = pattern.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{what} ({path.relative_to(package)}:{line})")
    return found
