"""The notebook edition: ``python -m grader notebook`` and the cells that grade the notebook's own code."""

import ast
import subprocess

import nbformat
import pytest

from grader.__main__ import main
from grader.notebook import in_notebook
from grader.notebook.in_notebook import NotebookGradingError, grade, still_stubs
from grader.notebook.edition import build
from grader.classroom.notebook_source import extract_cells
from grader.rubric import CORE, EXERCISES, EXTRAS
from kit import KIT_ROOT
from variants.attention import HEAD_MASK


def code_cells(notebook):
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def without_docstrings(node):
    """``ast.dump`` of a class or function with every docstring in it removed."""
    node = ast.parse(ast.unparse(node)).body[0]
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (isinstance(inner, (ast.ClassDef, ast.FunctionDef)) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            inner.body = body[1:] or [ast.Pass()]
    return ast.dump(node)


def definitions(tree):
    return {node.name: node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}


@pytest.fixture(scope="module")
def notebook():
    return build(KIT_ROOT / "exercises")


def test_notebook_is_valid_with_one_section_per_exercise_in_lecture_order(notebook):
    nbformat.validate(notebook)
    headings = [cell.source.splitlines()[0] for cell in notebook.cells
                if cell.cell_type == "markdown" and cell.source.startswith("## Exercise")]
    assert headings == [f"## Exercise {ex.number}: {ex.title}" for ex in EXERCISES]
    cells = code_cells(notebook)
    assert [c for c in cells if c.startswith("grade(")] == [f'grade(globals(), "{ex.marker}")' for ex in EXERCISES] + [
        "grade(globals())"]
    assert "from grader.notebook.in_notebook import grade" in cells[0]


def test_stubs_in_the_notebook_are_the_exercises(notebook):
    in_notebook = {}
    for source in code_cells(notebook):
        in_notebook.update(definitions(ast.parse(source)))
    for ex in EXERCISES:
        module = definitions(ast.parse((KIT_ROOT / "exercises" / f"{ex.module}.py").read_text()))
        for name in module:
            assert name in in_notebook, f"{ex.module}.py defines {name}, the notebook does not"
            assert without_docstrings(in_notebook[name]) == without_docstrings(module[name]), name
    stubs = sum(source.count("raise NotImplementedError(") for source in code_cells(notebook))
    assert stubs == sum((KIT_ROOT / "exercises" / f"{m}.py").read_text().count("raise NotImplementedError(")
                        for m in {ex.module for ex in EXERCISES})


def test_the_command_writes_a_notebook_and_never_overwrites_one_unasked(tmp_path, capsys):
    out = tmp_path / "exercises.ipynb"
    assert main(["notebook", "--out", str(out)]) == 0
    nbformat.validate(nbformat.read(str(out), as_version=4))
    before = out.read_bytes()
    assert main(["notebook", "--out", str(out)]) == 2
    assert "exists; give --force" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["notebook", "--out", str(out), "--force", "--impl", "solutions"]) == 0
    assert "NotImplementedError" not in "".join(code_cells(nbformat.read(str(out), as_version=4)))
    assert main(["notebook", "--out", str(tmp_path / "x.ipynb"), "--impl", str(tmp_path / "nothing")]) == 2
    assert "no folder" in capsys.readouterr().err


def test_grading_outside_a_notebook_says_what_to_do():
    with pytest.raises(NotebookGradingError, match="python -m grader grade"):
        grade({})
    with pytest.raises(NotebookGradingError, match="no exercise is called 'heads'"):
        grade({"In": []}, "heads")


def test_an_extra_is_attempted_once_one_of_its_functions_is_written(notebook):
    stubs = extract_cells(code_cells(notebook)).source
    answers = extract_cells(code_cells(build(KIT_ROOT / "solutions"))).source
    for ex in EXTRAS:
        assert still_stubs(stubs, ex), ex.marker
        assert not still_stubs(answers, ex), ex.marker
    one_written = stubs + "\n\ndef average_past_loop(x):\n    return x.cumsum(1) / 2\n"
    assert not still_stubs(one_written, EXTRAS[0])
    assert not still_stubs("", EXTRAS[0])  # not defined at all: its grading says so


def test_run_all_on_a_fresh_notebook_grades_no_unattempted_extra(notebook, monkeypatch, capsys):
    """An extra's grading cell left as the stubs names the extra and starts no grading; the last cell with
    extras=True grades the core and the extras attempted, one by one."""
    commands = []

    def run(cmd, **kwargs):
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(in_notebook.subprocess, "run", run)
    namespace = {"In": [""] + code_cells(notebook)}
    grade(namespace, "averaging")
    assert commands == []
    out = capsys.readouterr().out
    assert "Exercise 10, The mathematical trick: averaging the past: not attempted yet, so not graded" in out
    assert 'Fill in its TODOs, then run: grade(globals(), "averaging")' in out
    namespace["In"].append("def average_past_loop(x):\n    return x.cumsum(1) / 2\n")
    grade(namespace, extras=True)
    assert "--extras" not in commands[0]
    after = commands[0][commands[0].index("check"):]
    assert [after[i + 1] for i, arg in enumerate(after) if arg == "-m"] == [
        ex.marker for ex in CORE] + ["averaging"]
    out = capsys.readouterr().out
    assert "Exercise 10" not in out and all(f"Exercise {ex.number}, " in out for ex in EXTRAS[1:])


def test_grade_draws_the_pictures_the_grading_process_wrote_as_data(monkeypatch):
    """The picture of the failure shown in full reaches the notebook as its text and its weights (the
    grading process's --pictures-json file), not read back from the text."""
    from grader.oracles import attention_picture

    printed = []
    monkeypatch.setattr(attention_picture, "print_with_pictures", lambda *shown: printed.append(shown))
    cells = code_cells(build(KIT_ROOT / "solutions"))
    no_mask = [cell.replace(HEAD_MASK, "pass") for cell in cells if cell.startswith("class Head")]
    assert len(no_mask) == 1 and no_mask[0] not in cells
    grade({"In": [""] + cells + no_mask}, "head", device="cpu")
    [(text, pictures)] = printed
    assert len(pictures) == 1 and text.count(pictures[0]["text"]) == 1, text
    assert attention_picture.TITLE in pictures[0]["text"]
    yours = pictures[0]["yours"]["weights"]
    assert all(yours[t][t + 1] > 0 for t in range(7)), yours  # the future leaks, as numbers
