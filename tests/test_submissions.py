"""Teacher mode's preparation of submissions: discovery, notebooks, zips (no grading here)."""

import zipfile

import nbformat
import pytest

from grader.impl import SINGLE_FILE, Implementation
from grader.rubric import EXERCISES, MODULES, span
from grader.classroom.notebook_source import NotebookError, extract
from grader.classroom.submissions import SubmissionError, discover, prepare
from tests.kit import SOLUTIONS, notebook_from, single_file_source


def _package(tmp_path, name="alice"):
    folder = tmp_path / name
    folder.mkdir()
    for module in MODULES:
        (folder / f"{module}.py").write_text((SOLUTIONS / f"{module}.py").read_text())
    return folder


def test_a_folder_with_modules_is_one_submission(tmp_path):
    folder = _package(tmp_path)
    subs, skipped = discover([folder])
    assert [(s.name, s.kind) for s in subs] == [("alice", "package")] and skipped == []


def test_a_class_folder_holds_one_submission_per_entry(tmp_path):
    klass = tmp_path / "class"
    klass.mkdir()
    _package(klass, "alice")
    (klass / "bob.py").write_text(single_file_source(SOLUTIONS))
    notebook_from(SOLUTIONS, klass / "carol.ipynb")
    with zipfile.ZipFile(klass / "dan.zip", "w") as zf:
        zf.writestr("dan/tokenizer.py", "")
    (klass / "notes.txt").write_text("not a submission")
    (klass / ".hidden").mkdir()
    subs, skipped = discover([klass])
    assert [(s.name, s.kind) for s in subs] == [
        ("alice", "package"), ("bob", "file"), ("carol", "notebook"), ("dan", "zip"), ("notes", "not a submission")]
    assert skipped == [(str(klass / "notes.txt"), "not a folder, .py, .ipynb or .zip")]
    # On the grade sheet as an error, so that a student who uploaded the wrong file does not vanish from it.
    with pytest.raises(SubmissionError, match=r"^notes.txt is not a submission: not a folder, .py, .ipynb or .zip$"):
        prepare(subs[-1], tmp_path / "work")


def test_names_that_clash_keep_their_extension(tmp_path):
    (tmp_path / "alice.py").write_text("")
    notebook_from(SOLUTIONS, tmp_path / "alice.ipynb")
    subs, _ = discover([tmp_path / "alice.py", tmp_path / "alice.ipynb"])
    assert sorted(s.name for s in subs) == ["alice_ipynb", "alice_py"]


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(SubmissionError, match="no such file or folder"):
        discover([tmp_path / "nobody"])
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SubmissionError, match="not a submission"):
        discover([tmp_path / "notes.txt"])


def test_a_single_file_becomes_a_package_with_every_module(tmp_path):
    (tmp_path / "bob.py").write_text(single_file_source(SOLUTIONS))
    [sub], _ = discover([tmp_path / "bob.py"])
    prepared = prepare(sub, tmp_path / "work")
    assert (prepared.package / SINGLE_FILE).read_text() == single_file_source(SOLUTIONS)
    impl = Implementation(prepared.package)
    assert impl.get("attention", "Head").__name__ == "Head"
    assert impl.where("attention", "Head.forward").endswith("submission.py, Head.forward")


def test_a_notebook_keeps_definitions_and_reports_what_it_left_out(tmp_path):
    path = notebook_from(SOLUTIONS, tmp_path / "carol.ipynb")
    extracted = extract(path)
    assert "class Head(nn.Module):" in extracted.source
    assert "head_size = n_embd // 6" in extracted.source  # constants that use constants stay
    assert "for step in range" not in extracted.source and "print('done')" not in extracted.source
    assert "text = open" not in extracted.source
    left_out = "\n".join(extracted.left_out)
    assert "model = GPTLanguageModel" in left_out and "for step in range(5000):" in left_out
    assert "pip install" not in extracted.source and "%matplotlib" not in extracted.source  # magics never run
    compile(extracted.source, "extracted.py", "exec")


def test_a_notebook_keeps_decorators_and_skips_cells_that_do_not_parse(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from dataclasses import dataclass\n\n@dataclass\nclass C:\n    a: int = 1"),
        nbformat.v4.new_code_cell("def broken(:\n    pass"),
        nbformat.v4.new_code_cell("%%time\nx = 1"),
        nbformat.v4.new_code_cell("vocab_size = len(chars)\nsize = vocab_size * 2"),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    extracted = extract(path)
    assert "@dataclass\nclass C:" in extracted.source
    # vocab_size calls len(chars), so it is left out, and so is everything that reads it
    assert "vocab_size" not in extracted.source
    left_out = "\n".join(extracted.left_out)
    assert "cell 2: a syntax error" in left_out and "cell 3: a %% cell magic" in left_out
    assert "size = vocab_size * 2" in left_out


@pytest.mark.parametrize("content", [
    "{ not json",
    # valid JSON, but a code cell whose source is a number (nbformat reads it and only logs the error)
    '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"id": "a", "cell_type": "code", "source": 5, '
    '"metadata": {}, "outputs": [], "execution_count": null}]}',
], ids=["not-json", "source-not-text"])
def test_a_file_that_is_not_a_notebook_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookError, match="not a notebook"):
        extract(path)
    [sub], _ = discover([path])
    with pytest.raises(SubmissionError, match="not a notebook"):
        prepare(sub, tmp_path / "work")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from grader.classroom import submitted_files, upload

    # A .py file is parsed only up to 1 MB of code (ast takes ~1 GB per MB), any other file read up to 50 MB.
    monkeypatch.setattr(upload, "MAX_CODE", 1000)
    monkeypatch.setattr(submitted_files, "MAX_BYTES", 2000)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "big.py").write_text("class Head:\n    pass\n" + "x = 1\n" * 500)
    (tmp_path / "up" / "big.ipynb").write_text("{" + " " * 3000 + "}")
    [sub], _ = discover([tmp_path / "up"], upload=True)
    with pytest.raises(SubmissionError, match=r"\(found: big.py \(larger than 0 MB, not read\); big.ipynb "
                                              r"\(larger than 0 MB\)\)"):
        prepare(sub, tmp_path / "work")


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_a_zip_of_a_wrapped_package_is_found_inside(tmp_path):
    entries = {f"alice/exercises/{m}.py": (SOLUTIONS / f"{m}.py").read_text() for m in MODULES}
    entries["__MACOSX/._x"] = "junk"
    [sub], _ = discover([_zip(tmp_path / "alice.zip", entries)])
    prepared = prepare(sub, tmp_path / "work")
    assert sorted(p.name for p in prepared.package.glob("*.py")) == sorted(f"{m}.py" for m in MODULES)
    assert prepared.notes[0] == f"graded the modules in alice.zip/alice/exercises/ ({span(EXERCISES)})"


@pytest.mark.parametrize("entry", ["../escape.py", "/abs/path.py", "a/../../escape.py"])
def test_a_zip_entry_outside_the_archive_is_refused(tmp_path, entry):
    [sub], _ = discover([_zip(tmp_path / "evil.zip", {entry: "x = 1"})])
    with pytest.raises(SubmissionError, match="points outside the archive"):
        prepare(sub, tmp_path / "work")
    assert not (tmp_path / "escape.py").exists()


def test_a_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tokenizer.py", b"0" * (60 * 2**20))
    [sub], _ = discover([path])
    with pytest.raises(SubmissionError, match="more than"):
        prepare(sub, tmp_path / "work")


def test_a_zip_with_a_symbolic_link_is_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("tokenizer.py")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    [sub], _ = discover([path])
    with pytest.raises(SubmissionError, match="symbolic link"):
        prepare(sub, tmp_path / "work")


def test_an_ambiguous_or_broken_zip_says_what_it_found(tmp_path):
    [sub], _ = discover([_zip(tmp_path / "two.zip", {"a.py": "", "b.py": ""})])
    with pytest.raises(SubmissionError, match=r"defines a name of the exercises \(CharTokenizer, get_batch, Head, ...\) \(found: two.zip/a.py \(no exercise written\); two.zip/b.py"):
        prepare(sub, tmp_path / "work")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    [sub], _ = discover([tmp_path / "broken.zip"])
    with pytest.raises(SubmissionError, match="not a zip file"):
        prepare(sub, tmp_path / "work2")


def test_links_in_a_submitted_folder_are_not_followed(tmp_path):
    folder = _package(tmp_path)
    (folder / "secret.py").symlink_to(SOLUTIONS / "attention.py")
    [sub], _ = discover([folder])
    prepared = prepare(sub, tmp_path / "work")
    assert not (prepared.package / "secret.py").exists()


def test_symbolic_links_are_never_followed(tmp_path):
    # A link in a class folder or inside a submission could lead to another student's work or to the
    # answers: it is not graded as what it points at.
    klass = tmp_path / "class"
    klass.mkdir()
    _package(klass, "alice")
    (klass / "alice.py").write_text(single_file_source(SOLUTIONS))
    (klass / "eve").symlink_to(klass / "alice")  # a class entry that is a link
    (klass / "bob").mkdir()
    (klass / "bob" / "repo").symlink_to(klass / "alice")  # a submission holding only a link to a folder
    (klass / "dave").mkdir()
    (klass / "dave" / "mine.py").symlink_to(klass / "alice.py")  # ... or to a file
    (klass / "mallory").mkdir()
    for module in ("tokenizer", "attention"):  # a package whose modules are links
        (klass / "mallory" / f"{module}.py").symlink_to(klass / "alice" / f"{module}.py")
    subs, skipped = discover([klass])
    assert [s.name for s in subs] == ["alice", "alice_py", "bob", "dave", "eve", "mallory"], subs
    assert skipped == [(str(klass / "eve"), "a symbolic link: links are not followed")]
    with pytest.raises(SubmissionError, match="^eve is not a submission: a symbolic link: links are not followed$"):
        prepare(subs[4], tmp_path / "out" / "eve")
    for sub in subs[2:4] + subs[5:]:
        with pytest.raises(SubmissionError, match="not followed, as symbolic links"):
            prepare(sub, tmp_path / "out" / sub.name)


def test_only_python_source_is_copied_for_grading(tmp_path):
    # What runs is what the picker, the reports and the near-copy flags read: a data file with code in
    # it (run with exec) or a zip named lib.py (put on sys.path, imported from) stays out of the copy.
    up = tmp_path / "ann"
    up.mkdir()
    (up / "tokenizer.py").write_text((SOLUTIONS / "tokenizer.py").read_text())
    (up / "attention.txt").write_text((SOLUTIONS / "attention.py").read_text())
    with zipfile.ZipFile(up / "lib.py", "w") as archive:
        archive.writestr("sol_attention.py", (SOLUTIONS / "attention.py").read_text())
    [sub], _ = discover([up])
    copy = prepare(sub, tmp_path / "work").package
    assert sorted(p.name for p in copy.iterdir()) == ["tokenizer.py"]
