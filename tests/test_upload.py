"""What is graded in one student's upload (grader/classroom/upload.py), for the shapes students upload.

These read the uploads only (nothing is graded here, so they take milliseconds); test_bundle.py grades
the same shapes end to end through the Gradescope autograder.
"""

import shutil
import tempfile

import pytest

from grader.classroom.submissions import SubmissionError
from grader.classroom.upload import MAX_NESTING, pick
from tests.kit import KIT_ROOT, SOLUTIONS, kit_copy, notebook_from, single_file_source, zip_bytes

ALL = "(Exercises 1-14)"


def _pick(upload, tmp_path):
    return pick(upload, tempfile.mkdtemp(dir=tmp_path))


def test_a_copy_of_the_kit_grades_its_exercises_never_its_solutions(tmp_path):
    repo = kit_copy(tmp_path / "repo", solved=["tokenizer"])
    best, notes = _pick(repo, tmp_path)
    assert best.path == repo / "exercises" and best.kind == "package"
    assert notes[0] == "graded the modules in exercises/ (Exercise 1)"
    assert "its solutions/, tests/, grader/, benchmarks/, data/, conftest.py are the kit's own" in notes[-1]
    # The stubs write nothing: a notebook beside them, where the student worked, is graded instead.
    notebook_from(SOLUTIONS, repo / "my_gpt.ipynb")
    best, notes = _pick(repo, tmp_path)
    assert best.shown == "my_gpt.ipynb" and notes[0] == f"graded my_gpt.ipynb {ALL}"
    assert "the modules in exercises/ (Exercise 1)" in notes[1]


def test_a_notebook_beside_stray_files(tmp_path):
    (tmp_path / "up").mkdir()
    notebook_from(SOLUTIONS, tmp_path / "up" / "gpt.ipynb")
    (tmp_path / "up" / "scratch.py").write_text("import torch\nprint(torch.ones(2))\n")
    (tmp_path / "up" / "helpers.py").write_text("def encode(s):\n    return [ord(c) for c in s]\n")
    best, notes = _pick(tmp_path / "up", tmp_path)
    assert best.kind == "notebook" and notes == [
        f"graded gpt.ipynb {ALL}", "not graded: helpers.py (no exercise written); scratch.py (no exercise written)"]


def test_zips_inside_zips_with_a_scratch_file(tmp_path):
    inner = zip_bytes({"work/gpt.py": single_file_source(SOLUTIONS), "work/scratch.py": "x = 1\n"})
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"inner.zip": inner, "notes.txt": "hello"}))
    best, notes = _pick(tmp_path / "outer.zip", tmp_path)
    assert best.kind == "file" and notes[0] == f"graded outer.zip/inner.zip/work/gpt.py {ALL}"
    assert "outer.zip/inner.zip/work/scratch.py (no exercise written)" in notes[1]
    deep = single_file_source(SOLUTIONS)
    for level in range(MAX_NESTING + 1):
        deep = zip_bytes({f"level{level}.zip" if level else "gpt.py": deep})
    (tmp_path / "deep.zip").write_bytes(deep)
    with pytest.raises(SubmissionError, match="found nothing to grade"):
        _pick(tmp_path / "deep.zip", tmp_path)


@pytest.mark.parametrize("name", ["gpt.py", "my_model.py"])
def test_the_whole_contract_in_one_file_of_any_name(tmp_path, name):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / name).write_text(single_file_source(SOLUTIONS))
    best, notes = _pick(tmp_path / "up", tmp_path)
    assert best.kind == "file" and notes[0] == f"graded {name} {ALL}"
    if name == "gpt.py":  # also a module of the contract: as a folder of modules it writes only Exercise 9
        assert notes[1] == "not graded: the modules in the top folder (Exercise 9)"


def test_loose_modules_with_strays_and_ties(tmp_path):
    up = tmp_path / "up"
    shutil.copytree(SOLUTIONS, up)
    notebook_from(SOLUTIONS, up / "draft.ipynb")  # writes everything too: the modules win the tie
    (up / "all.py").write_text(single_file_source(SOLUTIONS))  # ... and over one file
    (up / "old").mkdir()
    (up / "old" / "gpt.py").write_text("class GPTLanguageModel:\n    def forward(self, idx):\n        return idx\n")
    best, notes = _pick(up, tmp_path)
    assert best.path == up and notes[0] == f"graded the modules in the top folder {ALL}"
    assert notes[1] == (f"not graded: all.py {ALL}; draft.ipynb {ALL}; the modules in old/ (Exercise 9); "
                        f"old/gpt.py (Exercise 9)")
    # A plain folder of modules needs no note.
    assert _pick(SOLUTIONS, tmp_path)[1] == []


def test_stubs_alone_are_graded_and_stubs_among_strays_are_explained(tmp_path):
    best, notes = _pick(KIT_ROOT / "exercises", tmp_path)
    assert best.written == [] and notes == []  # the checks will say what is not implemented
    up = tmp_path / "up"
    shutil.copytree(KIT_ROOT / "exercises", up)
    (up / "scratch.py").write_text("def encode(s):\n    raise NotImplementedError\n")
    (up / "broken.py").write_text("def f(:\n")
    with pytest.raises(SubmissionError) as info:
        _pick(up, tmp_path)
    assert str(info.value).startswith(
        "nothing in the upload writes an exercise (found: the modules in the top folder (no exercise written); "
        "broken.py (cannot be read as Python: SyntaxError); scratch.py (no exercise written))")


def test_environments_and_huge_uploads(tmp_path, monkeypatch):
    up = tmp_path / "up"
    (up / "venv" / "lib").mkdir(parents=True)
    (up / "venv" / "lib" / "gpt.py").write_text(single_file_source(SOLUTIONS))  # installed, not the student's
    (up / "mine.py").write_text(single_file_source(SOLUTIONS).replace("class Head", "class NotHead"))
    best, notes = _pick(up, tmp_path)
    assert best.shown == "mine.py" and notes == ["graded mine.py (Exercises 1-4, 6-14)"]
    from grader.classroom import upload

    monkeypatch.setattr(upload, "MAX_ENTRIES", 3)
    for n in range(5):
        (up / f"data{n}.txt").write_text("")
    with pytest.raises(SubmissionError, match="more than 3 files and folders; upload only your code"):
        _pick(up, tmp_path)


def test_the_zips_of_an_upload_share_one_size_cap(tmp_path, monkeypatch):
    from grader.classroom import upload

    monkeypatch.setattr(upload, "MAX_BYTES", 1000)  # each zip alone is under it, the two together over
    part = zip_bytes({"a.py": "x = 1\n" * 100})
    (tmp_path / "up.zip").write_bytes(zip_bytes({"one.zip": part, "two.zip": part}))
    with pytest.raises(SubmissionError, match="unpacks to more than"):
        _pick(tmp_path / "up.zip", tmp_path)
