"""The notebook edition run as a student runs it: in a real Jupyter kernel (nbclient + ipykernel, the
kit's `test` extra), cell after cell, with the output the notebook shows.

To keep the kit's tests short, each notebook grades once at its end (the cells under each exercise run
the same command, tested in test_notebook.py), and the answer key's planted mistake is graded in the
same kernel.
"""

import pytest

nbclient = pytest.importorskip("nbclient", reason="the notebook kernel tests need the test extra: pip install -e .[test]")
pytest.importorskip("ipykernel", reason="the notebook kernel tests need the test extra: pip install -e .[test]")

import nbformat  # noqa: E402

from grader.notebook.edition import build  # noqa: E402
from grader.rubric import EXTRA_POINTS, TOTAL_POINTS  # noqa: E402
from kit import KIT_ROOT  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def graded_once(notebook, *extra_cells):
    """The notebook without its grading cells but the last, and ``extra_cells`` after it."""
    cells = [c for c in notebook.cells if not (c.cell_type == "code" and c.source.startswith("grade("))]
    last = next(c for c in reversed(notebook.cells) if c.cell_type == "code" and c.source.startswith("grade("))
    notebook.cells = cells + [last] + [nbformat.v4.new_code_cell(source) for source in extra_cells]
    return notebook


def run_in_kernel(notebook, tmp_path):
    """Execute every cell in a fresh python3 kernel; the text each code cell printed, in order."""
    client = nbclient.NotebookClient(notebook, timeout=540, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return ["".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")
            for cell in notebook.cells if cell.cell_type == "code"]


def test_the_stubs_notebook_grades_0_as_not_implemented_in_notebook_terms(tmp_path):
    notebook = graded_once(build(KIT_ROOT / "exercises"))
    out = run_in_kernel(notebook, tmp_path)[-1]
    assert "total 0 / 100" in out, out
    assert "not implemented yet: Exercise 1: CharTokenizer.__init__" in out, out
    # Notebook terms: the cell that holds the TODO and the grading call, no file and no terminal command.
    assert "fill in the TODO at cell [" in out and 'then run: grade(globals(), "tokenizer")' in out, out
    assert "pytest" not in out and ".py" not in out and "gptkit-notebook-" not in out, out


def test_the_answer_key_gets_every_point_and_a_planted_mistake_shows_its_hint(tmp_path):
    notebook = build(KIT_ROOT / "solutions")
    head = next(c.source for c in notebook.cells if c.cell_type == "code" and c.source.startswith("class Head"))
    broken = head.replace("F.softmax(wei, dim=-1)", "F.softmax(wei, dim=1)")
    assert broken != head
    notebook.cells[-1].source = "grade(globals(), extras=True)"
    out = run_in_kernel(graded_once(notebook, broken, 'grade(globals(), "head")'), tmp_path)
    assert f"total {TOTAL_POINTS} / {TOTAL_POINTS}" in out[-3], out[-3]
    assert f"extras {EXTRA_POINTS} / {EXTRA_POINTS}" in out[-3], out[-3]
    planted = out[-1]  # Head defined again in a later cell: the cell run last is what is graded
    # The right diagnosis leads, and the first failure is shown in full under the table.
    assert "mistake:  softmax over the wrong dim (over the queries t)" in planted, planted
    assert "in full:" in planted and "expected:" in planted and "got:" in planted, planted
    # The place is the cell that defined Head last, numbered as Jupyter shows it (the planted one).
    assert f"look at:  Head.forward, in cell [{len(out) - 1}]" in planted, planted
    assert "deselected" not in planted and " passed" not in planted, planted  # pytest's counts are left out
    assert "pytest" not in planted and "gptkit-notebook-" not in planted, planted
