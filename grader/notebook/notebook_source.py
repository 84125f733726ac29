"""The definitions in a notebook, as one Python source, and a list of what was left out.

A notebook mixes the code to grade with code that trains, prints or plots at top level. Only
imports, functions, classes and assignments of constant expressions are kept, so grading never runs
a student's training loop; every statement left out is listed for the report.
"""

import ast
import builtins
from dataclasses import dataclass, field

import nbformat


class NotebookError(Exception):
    """The file is not a notebook nbformat can read."""


@dataclass
class ExtractedSource:
    source: str
    left_out: list = field(default_factory=list)  # "cell 3, line 2: model.train()" lines


_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_CONSTANT_NODES = (
    ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
    ast.operator, ast.unaryop, ast.Attribute,
)


def _is_constant_expression(node):
    """Literals, names and arithmetic on them (``n_embd = 384``, ``head_size = n_embd // n_head``)."""
    return node is not None and all(isinstance(n, _CONSTANT_NODES) for n in ast.walk(node))


def _names_used(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _names_bound(stmt):
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in stmt.names}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _keeps(stmt, defined):
    """Whether ``stmt`` is kept; an assignment only when every name it reads is already defined."""
    if isinstance(stmt, _KEPT):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        value = stmt.value
        if value is None:
            return isinstance(stmt, ast.AnnAssign)
        return _is_constant_expression(value) and _names_used(value) <= defined
    # A bare string is a docstring or a note: harmless, and nothing to report.
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _without_magics(source):
    """Comment out IPython lines (``%pip``, ``!nvidia-smi``) so the cell parses; None for a %% cell."""
    if source.lstrip().startswith("%%"):
        return None
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("# " + line if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def _first_line(lines, stmt):
    text = lines[stmt.lineno - 1].strip()
    return text if len(text) <= 70 else text[:67] + "..."


def extract(path):
    """Read the notebook at ``path`` and return an ExtractedSource; raises NotebookError."""
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises JSON, validation and reader errors of several kinds
        raise NotebookError(f"{path.name} is not a notebook that nbformat can read: {exc}") from None
    sources = [cell.get("source") for cell in notebook.cells if cell.get("cell_type") == "code"]
    if any(type(source) is not str for source in sources):  # nbformat reads an invalid one and only logs it
        raise NotebookError(f"{path.name} is not a notebook that nbformat can read: a code cell's source is not text")
    return extract_cells(sources)


def extract_cells(sources):
    """The definitions in code cells given as strings, in the order they ran; an ExtractedSource."""
    parts, left_out = [], []
    defined = set(dir(builtins))
    for number, source in enumerate(sources, start=1):
        source = _without_magics(source)
        if source is None:
            left_out.append(f"cell {number}: a %% cell magic")
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            left_out.append(f"cell {number}: a syntax error at line {exc.lineno}: {exc.msg}")
            continue
        lines = source.splitlines()
        kept = []
        for stmt in tree.body:
            if not _keeps(stmt, defined):
                left_out.append(f"cell {number}, line {stmt.lineno}: {_first_line(lines, stmt)}")
                continue
            defined |= _names_bound(stmt)
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            kept.append("\n".join(lines[start - 1:stmt.end_lineno]))
        if kept:
            parts.append(f"# --- cell {number} ---\n" + "\n".join(kept))
    header = "# Extracted by the grader from a notebook: definitions only, top-level code left out.\n"
    return ExtractedSource(header + "\n\n".join(parts) + "\n", left_out)
