"""The definitions in a notebook, as one Python source, and a list of what was left out.

A notebook mixes the code to grade with code that trains, prints or plots at top level. Kept are
imports, functions, classes, assignments of constant expressions, and the other top-level assignments
(and ``if``/``with``/``try`` blocks) that bind a name the kept code reads: ``device = 'cuda' if ...``
read by a class, ``encode = lambda s: ...`` read by a function. Loops, bare calls and assignments no
kept code reads are left out, so grading never runs a student's training loop; each is listed for the
report.

A notebook written in Colab imports what the grader's machine may lack (``google.colab``,
``matplotlib``), and reads files it lacks (``open('input.txt')``). So that one such line does not stop
the rest from loading, the extracted source imports every module outside the standard library and
torch in a ``try``: one that fails binds its names to a stand-in that raises, saying why, only if used;
and it runs every kept assignment that is not a constant expression in a ``try``: one that fails
leaves its names undefined. Either failure prints a line marked ``LOAD_MARK`` to stderr, which
``load_failures`` reads back from the grading's output for the report: the grader's own process
never runs the submission's code, so what fails is only known where it runs.
"""

import ast
import builtins
import symtable
import sys
from dataclasses import dataclass, field

import nbformat

# The code the teacher's own process reads, parses and follows name by name (outputs and pictures do not
# count): the exercises' notebook holds about 60 KB, so 1 MB is plenty, and it bounds the time and
# memory (a few KB a statement) that reading a notebook can cost.
MAX_CODE = 2**20
LOAD_MARK = "gptkit notebook: "  # starts each line the extracted source prints when part of it fails to load


class NotebookError(Exception):
    """The file is not a notebook nbformat can read."""


@dataclass
class ExtractedSource:
    source: str
    left_out: list = field(default_factory=list)  # "cell 3, line 2: model.train()" lines


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)
# Kept when they bind a name the kept code reads. Loops are never run: they train, evaluate or print.
_RUN_IF_NEEDED = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.If, ast.With, ast.Try)
_CONSTANT_NODES = (
    ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
    ast.operator, ast.unaryop, ast.Attribute,
)
# Imported as they are: always there where the kit runs. Any other import may be missing there.
_ALWAYS_AVAILABLE = set(sys.stdlib_module_names) | {"torch", "__future__"}

# Defined at the top of the extracted source when it needs them, under names a notebook is unlikely to use.
_HELPERS = """\
# --- Written by the grader: a failed import or assignment below does not stop the rest from loading.
import sys as _grader_sys


class _GraderStandIn:
    \"\"\"Stands for what an import that failed here would have bound; fails, saying why, only if used.\"\"\"

    def __init__(self, why):
        self._why = why

    def __getattr__(self, attribute):
        if attribute.startswith("__"):  # a probe (copy, pickle, inspect) gets the usual answer
            raise AttributeError(attribute)
        raise ImportError(self._why)

    def __call__(self, *args, **kwargs):
        raise ImportError(self._why)

    def __mro_entries__(self, bases):  # a class that inherits from it
        raise ImportError(self._why)

    def __repr__(self):
        return f"<{self._why}>"


def _grader_import_failed(where, module, error, outcome):
    missing = "is not installed" if isinstance(error, ModuleNotFoundError) else "could not be imported"
    why = f"{module} {missing} where this notebook is graded ({type(error).__name__}: {error})"
    print(f"@LOAD_MARK@{where}: {why}; {outcome}", file=_grader_sys.stderr)
    return _GraderStandIn(f"{why}; see {where}")


def _grader_not_set(where, error, outcome):
    print(f"@LOAD_MARK@{where} failed when the notebook was loaded ({type(error).__name__}: {error}); {outcome}",
          file=_grader_sys.stderr)
""".replace("@LOAD_MARK@", LOAD_MARK)


def _is_constant_expression(node):
    """Literals, names and arithmetic on them (``n_embd = 384``, ``head_size = n_embd // n_head``)."""
    return node is not None and all(isinstance(n, _CONSTANT_NODES) for n in ast.walk(node))


def _names_used(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _names_bound(stmt):
    if isinstance(stmt, _IMPORTS):
        return {(alias.asname or alias.name).split(".")[0] for alias in stmt.names if alias.name != "*"}
    if isinstance(stmt, _DEFINITIONS):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _is_docstring(stmt):
    """A bare string is a docstring or a note: harmless, and nothing to report."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _is_plain_constant(stmt, defined):
    """An assignment of a constant expression whose every name is already defined: kept as it is."""
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return False
    if stmt.value is None:
        return isinstance(stmt, ast.AnnAssign)
    return _is_constant_expression(stmt.value) and _names_used(stmt.value) <= defined


def _may_be_missing(stmt):
    """An import of a module that may be missing where the notebook is graded: not of the standard library
    or torch, or relative (a notebook is in no package, so that one always fails)."""
    if isinstance(stmt, ast.ImportFrom):
        return stmt.level > 0 or stmt.module.split(".")[0] not in _ALWAYS_AVAILABLE
    return any(alias.name.split(".")[0] not in _ALWAYS_AVAILABLE for alias in stmt.names)


def _scope_reads(table):
    """Names a scope and the scopes inside it read from the module: a function's globals; in a class body
    every name read, as one not yet bound there is looked up in the module."""
    reads = set()
    for symbol in table.get_symbols():
        if symbol.is_referenced() and (symbol.is_global() or (table.get_type() == "class" and symbol.is_local())):
            reads.add(symbol.get_name())
    for child in table.get_children():
        reads |= _scope_reads(child)
    return reads


def _symbols(stmt):
    """(names the statement reads from the module, names it binds there), by Python's own scope rules:
    a function's locals and parameters are not read from the module. None for one Python refuses
    (``return`` outside a function)."""
    try:
        table = symtable.symtable(ast.unparse(stmt), "<cell>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return None
    reads = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    for child in table.get_children():
        reads |= _scope_reads(child)
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    return reads, binds


@dataclass
class _Statement:
    cell: int
    node: ast.stmt
    text: str  # its lines in the cell, decorators included
    how: str  # "as is", "guarded import", "left out", or "if needed" until it becomes "guarded" or "left out"
    reads: set = field(default_factory=set)
    binds: set = field(default_factory=set)

    @property
    def where(self):
        return f"cell {self.cell}, line {self.node.lineno}"


def _without_magics(source):
    """The cell with its IPython lines (``%pip``, ``!nvidia-smi``) commented out so that it parses, and
    those lines as (line number, text); None for a %% cell."""
    if source.lstrip().startswith("%%"):
        return None, []
    lines, magics = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        magic = line.lstrip().startswith(("%", "!"))
        lines.append("# " + line if magic else line)
        if magic:
            magics.append((number, line.strip()))
    return "\n".join(lines), magics


def _first_line(text):
    text = text.splitlines()[0].strip()
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
    code = sum(len(source) for source in sources)
    if code > MAX_CODE:
        raise NotebookError(f"{path.name} holds {code / 2**20:.1f} MB of code in its cells, more than the "
                            f"{MAX_CODE // 2**20} MB the grader reads; submit the notebook of the exercises")
    try:
        return extract_cells(sources)
    except (RecursionError, MemoryError):  # each statement is read apart; this is a last resort
        raise NotebookError(f"{path.name} is nested too deeply for the grader to read") from None


def _statements(sources, left_out):
    """Every top-level statement of the cells, in the order they ran, with how it is to be kept; a cell
    that cannot be read at all goes into ``left_out`` as (cell, 0, why)."""
    statements = []
    defined = set(dir(builtins))
    for number, source in enumerate(sources, start=1):
        source, magics = _without_magics(source)
        if source is None:
            left_out.append((number, 0, f"cell {number}: a %% cell magic"))
            continue
        left_out += [(number, line, f"cell {number}, line {line}: {_first_line(text)}") for line, text in magics]
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError) as exc:  # ValueError: a null byte, before Python 3.12
            left_out.append((number, 0, f"cell {number}: a syntax error at line {getattr(exc, 'lineno', '?')}: "
                                        f"{getattr(exc, 'msg', exc)}"))
            continue
        except (RecursionError, MemoryError):
            left_out.append((number, 0, f"cell {number}: nested too deeply for the grader to read"))
            continue
        lines = source.splitlines()
        for node, text in _statement_texts(tree.body, lines, left_out, number):
            statement = _Statement(number, node, text, "left out")
            symbols = _symbols(node)
            if isinstance(node, _IMPORTS):
                statement.how = "guarded import" if _may_be_missing(node) else "as is"
            elif isinstance(node, _DEFINITIONS) or _is_docstring(node) or _is_plain_constant(node, defined):
                statement.how = "as is"
            elif isinstance(node, _RUN_IF_NEEDED) and symbols:
                statement.how = "if needed"
            statement.reads, statement.binds = symbols or (_names_used(node), _names_bound(node))
            if statement.how == "as is":  # not a guarded import's names: they may stand for a missing module
                defined |= _names_bound(node)
            statements.append(statement)
    return statements


def _statement_texts(nodes, lines, left_out, number):
    """(node, its text) for each top-level statement of a cell: its lines as written (comments kept),
    or, where it shares a line with another (``import torch; train()``), the statement alone, so
    nothing else on that line comes along. One too deeply nested to write back is left out."""
    for i, node in enumerate(nodes):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        shares = (i > 0 and nodes[i - 1].end_lineno >= start) or \
                 (i + 1 < len(nodes) and nodes[i + 1].lineno <= node.end_lineno)
        try:
            text = ast.unparse(node) if shares else "\n".join(lines[start - 1:node.end_lineno])
        except (RecursionError, MemoryError):
            left_out.append((number, node.lineno, f"cell {number}, line {node.lineno}: nested too deeply "
                                                  "for the grader to read"))
            continue
        yield node, text


def _keep_what_is_read(statements):
    """Make each "if needed" statement that binds a name the kept code reads (directly, or through
    another such statement) "guarded"; the others are left out. Each name is followed once, so a
    chain of a million assignments costs a million steps, not a million squared."""
    binders = {}
    for statement in statements:
        if statement.how == "if needed":
            for name in statement.binds:
                binders.setdefault(name, []).append(statement)
    seen = set().union(*(s.reads for s in statements if s.how in ("as is", "guarded import")))
    pending = list(seen)
    while pending:
        for statement in binders.get(pending.pop(), ()):
            if statement.how == "if needed":
                statement.how = "guarded"
                pending += statement.reads - seen
                seen |= statement.reads
    for statement in statements:
        if statement.how == "if needed":
            statement.how = "left out"


def _indented(text, node):
    """``text`` indented one level, or the statement unparsed and indented where indenting the text
    would change it (a string over several lines)."""
    for candidate in (text, ast.unparse(node)):
        indented = "\n".join("    " + line if line else line for line in candidate.splitlines())
        try:
            body = ast.parse("if 1:\n" + indented).body[0].body
            if len(body) == 1 and ast.dump(body[0]) == ast.dump(node):  # that statement and nothing else
                return indented
        except SyntaxError:
            pass
    return indented


def _are(names, verb_one, verb_many):
    return f"{', '.join(names)} {verb_one if len(names) == 1 else verb_many}"


def _guarded_import(statement):
    node = statement.node
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
    else:
        module = ", ".join(alias.name for alias in node.names)
    names = sorted(_names_bound(node))
    target = " = ".join(names) + " = " if names else ""
    outcome = (_are(names, "stands", "stand") + " in for it and fail" + ("s" if len(names) == 1 else "")
               + " only if used") if names else "none of its names is defined"
    return (f"try:\n{_indented(statement.text, node)}\nexcept ImportError as _error:\n"
            f"    {target}_grader_import_failed({statement.where!r}, {module!r}, _error, {outcome!r})")


def _guarded_assignment(statement):
    outcome = _are(sorted(statement.binds), "is", "are") + " left undefined"
    return (f"try:\n{_indented(statement.text, statement.node)}\nexcept Exception as _error:\n"
            f"    _grader_not_set({statement.where!r}, _error, {outcome!r})")


def _is_future_import(statement):
    return isinstance(statement.node, ast.ImportFrom) and statement.node.module == "__future__"


def _kept_text(statement):
    if statement.how == "guarded import":
        return _guarded_import(statement)
    if statement.how == "guarded":
        return _guarded_assignment(statement)
    return statement.text


def _the_kits_own(node):
    """A statement the notebook edition writes, not the student (a cell that grades, ``grade(globals(),
    ...)``, or the setup cell's import of the grader): left out without a word, as no one's work."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        return (isinstance(call.func, ast.Name) and call.func.id == "grade" and bool(call.args)
                and isinstance(call.args[0], ast.Call) and getattr(call.args[0].func, "id", None) == "globals")
    return isinstance(node, ast.Try) and any(
        isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("grader.") for inner in node.body)


def extract_cells(sources):
    """The definitions in code cells given as strings, in the order they ran, and what they read at top
    level (see the module's docstring); an ExtractedSource."""
    left_out = []
    statements = _statements(sources, left_out)
    _keep_what_is_read(statements)
    left_out += [(s.cell, s.node.lineno, f"{s.where}: {_first_line(s.text)}") for s in statements
                 if s.how == "left out" and not _the_kits_own(s.node)]
    kept = [s for s in statements if s.how != "left out"]
    # Python takes ``from __future__`` imports only at the top of a file: the notebook's go there.
    futures = [s.text for s in kept if _is_future_import(s)]
    parts = []
    for cell in sorted({s.cell for s in kept}):
        texts = [_kept_text(s) for s in kept if s.cell == cell and not _is_future_import(s)]
        if texts:
            parts.append(f"# --- cell {cell} ---\n" + "\n".join(texts))
    if any(s.how in ("guarded import", "guarded") for s in kept):
        parts.insert(0, _HELPERS)
    header = "# Extracted by the grader from a notebook: definitions only, top-level code left out.\n"
    source = "\n".join(futures + [header]) + "\n\n".join(parts) + "\n"
    return ExtractedSource(source, [text for _, _, text in sorted(left_out, key=lambda item: item[:2])])


def load_failures(output):
    """What the extracted source reported failing as it loaded, from the grading's output: each line
    once, in order, without its mark."""
    found = []
    for line in output.splitlines():
        if line.startswith(LOAD_MARK) and line[len(LOAD_MARK):] not in found:
            found.append(line[len(LOAD_MARK):])
    return found
