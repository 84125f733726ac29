"""``python -m grader notebook``: the exercises as one Jupyter notebook, for Colab or Jupyter.

The notebook is written from the modules of ``exercises/`` (or ``--impl solutions`` for a teacher's
answer key) with nbformat: a setup cell with the imports, then one section per exercise in lecture
order (its docstrings as markdown, its code with the ``TODO`` lines, and a cell that grades it), and a
last cell that grades everything. The cells grade the notebook's own definitions (grader/notebook/in_notebook.py);
a notebook saved from it is also a submission for ``python -m grader grade``.
"""

import ast
import re
import sys
from pathlib import Path

from grader.impl import ImplementationError, resolve
from grader.rubric import CORE_SPAN, EXERCISES, EXTRAS_SPAN, TOTAL_POINTS

SETUP = '''\
# Run this cell first. In Colab, first add a cell above this one that installs the kit, e.g.
#   !pip install -q git+<your course's copy of the kit>
try:
    from grader.notebook.in_notebook import grade
except ImportError:
    raise ImportError("The kit is not installed here: install it (pip install <the kit's folder or "
                      "address>), then run this cell again.") from None
'''


class NotebookWriteError(Exception):
    """The notebook cannot be written; the message says why and what to do."""


def _docstring_lines(tree):
    """Line numbers (1-based) of every docstring in the module, the module's own included."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _code(source_lines, node, docstrings):
    """The source of a top-level statement, decorators included, docstrings left out (they are markdown)."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(line for number, line in enumerate(source_lines[start - 1:node.end_lineno], start=start)
                     if number not in docstrings).rstrip()


def _docs(node, prefix=""):
    """(qualname, docstring) for a class or function and the methods inside it that have one."""
    found = []
    doc = ast.get_docstring(node)
    if doc:
        found.append((prefix + node.name, doc))
    if isinstance(node, ast.ClassDef):
        for child in node.body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found += _docs(child, prefix=f"{node.name}.")
    return found


def _in_notebook_terms(doc):
    """A docstring's "Check it: pytest -m head" as the notebook's own grading cell says it."""
    return re.sub(r"Check it: pytest -m (\w+)", r'Check it: run the cell under the code, `grade(globals(), "\1")`', doc)


def sections(folder):
    """[(exercise, markdown, code)] in lecture order, and the absolute imports of every module."""
    folder = Path(folder)
    imports, result, seen_modules = [], [], set()
    names_of = {}
    for ex in EXERCISES:
        names_of.setdefault(ex.module, set()).update(ex.names)
    for ex in EXERCISES:
        path = folder / f"{ex.module}.py"
        if not path.is_file():
            raise NotebookWriteError(f"{path} is missing: the notebook is written from every module of the kit")
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        lines, docstrings = text.splitlines(), _docstring_lines(tree)
        first_of_module = ex.module not in seen_modules
        seen_modules.add(ex.module)
        code, docs = [], []
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                # Relative imports name other exercises' modules: in the notebook those are earlier cells.
                if first_of_module and not (isinstance(node, ast.ImportFrom) and node.level):
                    statement = ast.get_source_segment(text, node)
                    if statement not in imports:
                        imports.append(statement)
                continue
            if isinstance(node, ast.Expr) and node.lineno in docstrings:
                continue  # the module's docstring
            name = getattr(node, "name", None)
            if name in ex.names or (first_of_module and name not in names_of[ex.module]):
                code.append(_code(lines, node, docstrings))
                if name in ex.names:
                    docs += _docs(node)
        markdown = [f"## Exercise {ex.number}: {ex.title}", "",
                    f"`{ex.module}.py` in the kit; lecture {ex.chapter}."]
        module_doc = ast.get_docstring(tree)
        if first_of_module and module_doc:
            markdown += ["", module_doc]
        for qualname, doc in docs:
            markdown += ["", f"### `{qualname}`", "", _in_notebook_terms(doc)]
        result.append((ex, "\n".join(markdown), "\n\n\n".join(code)))
    return result, imports


def build(folder):
    """The notebook (an nbformat NotebookNode) for the modules in ``folder``."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell(
        "# Let's build GPT: the exercises\n\n"
        "The lecture \"Let's build GPT: from scratch, in code, spelled out\", one exercise at a time. "
        "Run the cells in order. In each exercise's code cell, replace every `# TODO` line and the "
        "`raise NotImplementedError` under it with your code; then run the cell under it, which grades "
        "that exercise with the kit's checks on the definitions you ran. The last cell grades them all.\n\n"
        f"{CORE_SPAN} are the lecture's GPT ({TOTAL_POINTS} points); {EXTRAS_SPAN.removeprefix('Exercises ')} "
        "are the extras, scored apart.")]
    found, imports = sections(folder)
    cells.append(nbformat.v4.new_code_cell(SETUP + "\n" + "\n".join(imports)))
    for ex, markdown, code in found:
        cells.append(nbformat.v4.new_markdown_cell(markdown))
        cells.append(nbformat.v4.new_code_cell(code))
        cells.append(nbformat.v4.new_code_cell(f'grade(globals(), "{ex.marker}")'))
    cells.append(nbformat.v4.new_markdown_cell(
        f"## Your score\n\nThe core ({CORE_SPAN}), graded together; `grade(globals(), extras=True)` adds the extras "
        "you have started (one whose functions all still raise `NotImplementedError` is named, not graded)."))
    cells.append(nbformat.v4.new_code_cell("grade(globals())"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def add_arguments(parser):
    parser.add_argument("--out", default="exercises.ipynb", metavar="FILE",
                        help="where to write the notebook (default: exercises.ipynb)")
    parser.add_argument("--impl", default="exercises", metavar="exercises|solutions|PATH",
                        help="the modules to write it from (default: exercises; solutions makes an answer key)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def run(args):
    import nbformat

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"notebook: {out} exists; give --force to overwrite it, or --out another file", file=sys.stderr)
        return 2
    try:
        notebook = build(resolve(args.impl))
    except (ImplementationError, NotebookWriteError, SyntaxError) as exc:
        print(f"notebook: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    nbformat.write(notebook, str(tmp))
    tmp.replace(out)
    n = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    print(f"wrote {out}: {len(EXERCISES)} exercises, {n} code cells. Open it in Jupyter or Colab and run "
          f"the cells in order.")
    return 0
