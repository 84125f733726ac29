"""What is graded in one student's upload (grader/classroom/upload.py), for the shapes students upload.

These read the uploads only (nothing is graded here, so they take milliseconds), but one that grades a
package whose modules re-export each other's names; test_bundle.py grades the same shapes end to end
through the Gradescope autograder.
"""

import csv
import py_compile
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.classroom.submissions import SubmissionError, discover, prepare
from grader.classroom.folder_imports import Folder
from grader.classroom.upload import MAX_NESTING, Candidate, _credit, _parse_file, pick
from grader.rubric import EXERCISES, span
from tests.kit import KIT_ROOT, SOLUTIONS, kit_copy, notebook_from, single_file_source, zip_bytes

ALL = f"({span(EXERCISES)})"


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
    from grader.classroom import submitted_files

    monkeypatch.setattr(submitted_files, "MAX_BYTES", 1000)  # each zip alone is under it, the two together over
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


def _write(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_a_package_folder_beside_a_module_of_the_same_name_is_graded_in_its_place(tmp_path):
    """Python imports a folder attention/ with an __init__ file in place of attention.py; a folder without
    one loses to the module, and so does one whose only __init__ is compiled (.pyc), which the graded copy
    leaves out with every file but Python source. The picker credits what Python imports, and says so."""
    up = tmp_path / "up"
    up.mkdir()
    for module in ("tokenizer", "bigram", "attention", "block"):
        shutil.copyfile(SOLUTIONS / f"{module}.py", up / f"{module}.py")
    _write(up, {"attention/__init__.py": "class Head:\n    def forward(self, x):\n        return x\n",
                "block/notes.txt": "no __init__ here: a namespace package\n"})
    (up / "bigram").mkdir()
    py_compile.compile(str(up / "tokenizer.py"), cfile=str(up / "bigram" / "__init__.pyc"))
    [sub], _ = discover([up], upload=True)
    copy = prepare(sub, tmp_path / "work").package
    modules = ("tokenizer", "bigram", "attention", "block")
    # What Python finds for each module in the graded copy, asked of Python itself (find_spec runs none).
    found = subprocess.run(
        [sys.executable, "-c", "import importlib.util, sys; sys.path.insert(0, sys.argv[1]); "
         "print('\\n'.join(importlib.util.find_spec(sys.argv[2] + '.' + m).origin for m in sys.argv[3:]))",
         str(copy.parent), copy.name, *modules],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout.split()
    found = [str(Path(f).relative_to(copy)) for f in found]
    assert found == ["tokenizer.py", "bigram.py", "attention/__init__.py", "block.py"]
    best, notes = _pick(up, tmp_path)
    assert best.path == up and notes == [
        "graded the modules in the top folder, with attention/__init__.py (Exercises 1, 3, 5, 7-8)",
        "not graded: attention.py (Exercises 5-6; Python imports the package attention/ in its place)"]
    folder = Folder(up, _parse_file)
    assert [str(folder.module((m,)).file.relative_to(up)) for m in modules] == found
    assert not (copy / "bigram" / "__init__.pyc").exists() and not (copy / "block" / "notes.txt").exists()


def _lecture_split(up):
    """The lecture's code wrapped as a package: the model's classes in model.py, which the modules of
    the contract re-export (relative, absolute, by module, by star), and the rest in their own modules."""
    up.mkdir(parents=True)
    for module in ("tokenizer", "batching", "generate"):
        shutil.copyfile(SOLUTIONS / f"{module}.py", up / f"{module}.py")
    model = "\n\n".join("\n".join(line for line in (SOLUTIONS / f"{m}.py").read_text().splitlines()
                                  if not line.startswith(("from .attention", "from .block")))
                        for m in ("bigram", "attention", "block", "gpt"))
    return _write(up, {
        "model.py": model,  # imports .generate: graded alone, as one file, it fails
        "attention.py": "from .model import Head, MultiHeadAttention\n",
        "block.py": "from . import model\n\nBlock = model.Block\nFeedForward = model.FeedForward\n",
        "gpt.py": "try:\n    from .model import *\nexcept ImportError:\n    from model import *\n",
        "bigram.py": "from .model import BigramLanguageModel as BigramLanguageModel\n",
        "scratch.py": "x = 1\n"})


def test_modules_that_re_export_from_a_module_of_the_folder_are_graded_with_it(tmp_path):
    """Before, each module was credited only with what it defined itself: model.py alone wrote more
    (Exercises 3, 5-9) than the folder (1-2, 4), was graded as one file and got 0 (it imports .generate)."""
    up = _lecture_split(tmp_path / "up")
    best, notes = _pick(up, tmp_path)
    assert best.path == up and best.kind == "package"
    assert notes == ["graded the modules in the top folder, with model.py (Exercises 1-9)",
                     "not graded: scratch.py (no exercise written)"]
    assert up / "model.py" in best.runs


@pytest.mark.parametrize("files, written, runs", [
    # a module of the folder that is itself a package folder
    ({"attention.py": "from .nets import Head, MultiHeadAttention\n", "nets/__init__.py": "from .heads import *\n",
      "nets/heads.py": "HEAD"}, [5, 6], ["attention.py", "nets/__init__.py", "nets/heads.py"]),
    # names re-exported under another name, by import and by assignment
    ({"attention.py": "from . import model as m\nfrom .model import AttentionHead as Head\n"
                      "MultiHeadAttention = m.MHA\n", "model.py": "RENAMED"}, [5, 6], ["attention.py", "model.py"]),
    ({"attention.py": "from model import Head, MultiHeadAttention\n", "model.py": "HEAD"}, [5, 6],
     ["attention.py", "model.py"]),
    # a module of the folder that is not there: what the module defines itself is graded, and the check
    # fails with the ImportError
    ({"attention.py": "from .helpers import mask\nHEAD"}, [5, 6], ["attention.py"]),
    # what Python would not import: a cycle, above the folder, torch's own class, what __all__ leaves out
    ({"attention.py": "from .block import Head, MultiHeadAttention\n",
      "block.py": "from .attention import Head, MultiHeadAttention\n"}, [], ["attention.py", "block.py"]),
    ({"attention.py": "from ..model import Head, MultiHeadAttention\n", "model.py": "HEAD"}, [], ["attention.py"]),
    ({"attention.py": "HEAD\nfrom torch.nn import Linear as Head\n"}, [6], ["attention.py"]),
    ({"attention.py": "from .model import *\n", "model.py": "HEAD\n__all__ = ['Head']\n"}, [5],
     ["attention.py", "model.py"]),
], ids=["sibling-package", "renamed", "absolute", "missing", "cycle", "above", "torch", "__all__"])
def test_what_a_module_imports_from_its_folder(tmp_path, files, written, runs):
    head = (SOLUTIONS / "attention.py").read_text()
    renamed = head.replace("class Head", "class AttentionHead").replace("class MultiHeadAttention", "class MHA")
    up = _write(tmp_path / "up", {name: text.replace("RENAMED", renamed).replace("HEAD", head)
                                  for name, text in files.items()})
    credited = _credit(Candidate(up, "./", "package"))
    assert [ex.number for ex in credited.written] == written
    assert sorted(p.relative_to(up).as_posix() for p in credited.runs) == runs


def test_a_re_exporting_package_gets_its_points(tmp_path):
    """End to end (6 s to 13 s on two busy cores): the lecture's code split as re-exports gets the full
    points, and so does a module that imports its sibling by its absolute name (``from model import``)."""
    _lecture_split(tmp_path / "class" / "lecture")
    absolute = tmp_path / "class" / "absolute"
    absolute.mkdir()
    shutil.copyfile(SOLUTIONS / "tokenizer.py", absolute / "tokenizer.py")
    shutil.copyfile(SOLUTIONS / "attention.py", absolute / "model.py")
    (absolute / "attention.py").write_text("from model import Head, MultiHeadAttention\n")
    # A package folder attention/ beside attention.py: Python imports the folder, which defines no Head.
    shadowed = tmp_path / "class" / "shadowed"
    shutil.copytree(SOLUTIONS, shadowed, ignore=shutil.ignore_patterns("__pycache__"))
    (shadowed / "attention").mkdir()
    (shadowed / "attention" / "__init__.py").write_text("import math\n")
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out",
                           str(tmp_path / "out"), "-m", "tokenizer", "-m", "head", "--jobs", "2"],
                          cwd=KIT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    for name in ("lecture", "absolute"):
        row = rows[name]
        assert [row[k] for k in ("tokenizer", "head", "total", "max", "status")] == ["8", "15", "23", "23", "ok"], row
    assert rows["shadowed"]["head"] == "0"
    report = (tmp_path / "out" / "shadowed" / "results.json").read_text()
    assert "shadowed/attention.py is not what Python imports: the folder attention/ beside it comes first" in report
    assert "Python imports the package attention/ in its place" in report  # the picker's note
    # The reports name the submission's files, never the grader's private names or scratch folders.
    assert "_gptkit_impl" not in report and "gptkit-grade-" not in report
