"""What is graded in one student's upload (grader/classroom/upload.py), for the shapes students upload.

These read the uploads only (nothing is graded here, so they take milliseconds); test_bundle.py grades
the same shapes end to end through the Gradescope autograder.
"""

import shutil
import tempfile

import pytest

from grader.classroom.submissions import SubmissionError, discover, prepare
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
    # A lone file without a single name of the exercises is not graded as 154 failures of "defines no ...".
    (tmp_path / "hello.py").write_text("print('hello')\n")
    with pytest.raises(SubmissionError, match=r"^nothing in the upload defines a name of the exercises"):
        _pick(tmp_path / "hello.py", tmp_path)
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
    from grader.classroom import submissions

    monkeypatch.setattr(submissions, "MAX_BYTES", 1000)  # each zip alone is under it, the two together over
    part = zip_bytes({"a.py": "x = 1\n" * 100})
    (tmp_path / "up.zip").write_bytes(zip_bytes({"one.zip": part, "two.zip": part}))
    with pytest.raises(SubmissionError, match="unpacks to more than"):
        _pick(tmp_path / "up.zip", tmp_path)


def test_only_the_students_own_folders_are_copied_for_grading(tmp_path):
    """A copy of the kit whose top-level modules import the kit's solutions/ as a subpackage: what is
    graded is copied without the folders the walk passed over, so the import finds nothing."""
    repo = kit_copy(tmp_path / "repo")
    (repo / "tokenizer.py").write_text(
        "class CharTokenizer:\n    def __init__(self, text):\n        self.text = text\n"
        "from .solutions.tokenizer import *  # noqa\n")
    (repo / "venv" / "lib").mkdir(parents=True)
    (repo / "venv" / "lib" / "helper.py").write_text("x = 1\n")
    [sub], _ = discover([repo], upload=True)
    prepared = prepare(sub, tmp_path / "work")
    assert prepared.notes[0] == "graded the modules in the top folder (Exercise 1)"
    copied = {p.relative_to(prepared.package).parts[0] for p in prepared.package.rglob("*")}
    assert "tokenizer.py" in copied and "exercises" in copied
    assert not copied & {"solutions", "grader", "tests", "venv", "conftest.py"}, copied


def test_file_names_cannot_forge_lines_of_the_report(tmp_path):
    forged = "notes\ngraded the modules in exercises/ (Exercises 1-14)\n\u202etxt.py"
    (tmp_path / "up.zip").write_bytes(zip_bytes({forged: "x = 1\n", "gpt.py": single_file_source(SOLUTIONS)}))
    best, notes = _pick(tmp_path / "up.zip", tmp_path)
    assert best.shown == "up.zip/gpt.py"
    assert all("\n" not in note and "\u202e" not in note for note in notes)
    assert "up.zip/notes?graded the modules in exercises/ (Exercises 1-14)??txt.py (no exercise written)" in notes[1]


def test_a_stray_zip_that_cannot_be_unpacked_is_noted_and_the_rest_graded(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    shutil.copyfile(SOLUTIONS / "tokenizer.py", up / "tokenizer.py")
    (up / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    (up / "clash.zip").write_bytes(zip_bytes({"a": "file", "a/b.py": "x = 1\n"}))  # a file and a folder, one name
    best, notes = _pick(up, tmp_path)
    assert best.path == up and best.written[0].marker == "tokenizer"
    assert any(n.startswith("broken.zip: not unpacked (broken.zip is not a zip file that can be read") for n in notes)
    assert any(n.startswith("clash.zip: not unpacked (") for n in notes), notes


def test_reading_an_upload_happens_in_a_process_with_limits(tmp_path):
    """Reading cannot stall or exhaust the teacher's process: a notebook whose kept assignments grow into
    megabytes of text (a real attack: 30 s and 3 GB per copy) is read in a child that stops in time."""
    from grader.classroom.reading import READ_MEMORY_MB, _answer, prepare_apart
    import nbformat

    cell = "def f():\n    return a\n" + "a = b\n" * 160_000  # under the 1 MB of code a notebook may hold
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)]), str(tmp_path / "nb.ipynb"))
    [sub], _ = discover([tmp_path / "nb.ipynb"])
    with pytest.raises(SubmissionError, match=r"^reading the upload took longer than 1 s"):
        prepare_apart(sub, tmp_path / "work", timeout=1)
    with pytest.raises(SubmissionError, match=f"could not be read within {READ_MEMORY_MB} MB of memory"):
        _answer(-9, b"", "")  # killed (by the kernel, for memory) before it said anything
    prepared, flags = prepare_apart(discover([SOLUTIONS])[0][0], tmp_path / "work2")
    assert prepared.kind == "package" and (prepared.package / "attention.py").is_file() and flags == []


def test_what_an_upload_makes_the_reports_say_is_bounded(tmp_path, monkeypatch):
    """An upload of thousands of strays, or of bidi controls in the code a notebook leaves out, cannot
    make the reports huge or reorder their text (an attack made 3.8 GB of reports of one upload)."""
    from grader.classroom import reading
    from grader.classroom.safe_text import printable

    up = tmp_path / "up"
    up.mkdir()
    for n in range(25):
        (up / f"stray{n:02}.py").write_text("x = 1\n")
    with pytest.raises(SubmissionError) as info:
        _pick(up, tmp_path)
    assert "stray09.py (no exercise written); and 15 more)" in str(info.value)
    assert printable("a\u202edesrever\u2066b\u2069\u2028c") == "adesreverbc"
    monkeypatch.setattr(reading, "MAX_ANSWER", 100)  # the parent reads only what it can afford to
    with pytest.raises(SubmissionError, match="too large to report"):
        reading.prepare_apart(discover([SOLUTIONS])[0][0], tmp_path / "work")
