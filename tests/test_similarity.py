"""Near-copy flags (grader/classroom/similarity.py): copies are flagged however they are disguised,
honest solutions are not, though they all follow the lecture. Pure functions on source text, but for
one read of a submission in the reader's process and one merge of shards written here; nothing is graded.

The honest solutions are tests/similarity/*.py, each written on its own in a style of its own; the
copies are made here from them and from solutions/ as a student would disguise one. The figures
next to similarity.THRESHOLD come from test_the_measured_figures (run it with -s to see them)."""

import csv
import itertools
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.classroom import similarity
from grader.classroom.reports import Graded, graded_from_record, graded_record, write_csv, write_submission
from kit import KIT_ROOT, SOLUTIONS, single_file_source

HONEST = sorted(p for p in (Path(__file__).parent / "similarity").glob("*.py") if p.name != "__init__.py")
RENAMES = {"wei": "weights", "idx": "tokens", "logits": "scores", "x": "h", "ids": "numbers", "chars": "symbols",
           "B": "nb", "T": "nt", "C": "nc", "ix": "starts", "out": "result", "config": "cfg", "module": "layer"}


# -- copies, disguised as a student would ---------------------------------------------------------------

def renamed(source):
    return re.sub(r"\b(" + "|".join(RENAMES) + r")\b", lambda m: RENAMES[m.group(1)], source)


def recommented(source):
    """Every comment taken out, one of the copier's own put on every tenth line."""
    lines = [re.sub(r"\s*#.*$", "", line) for line in source.splitlines()]
    return "\n".join(line + ("  # my own work" if i % 10 == 9 and line.strip() else "")
                     for i, line in enumerate(lines)) + "\n"


def reordered(source):
    """The file's classes and functions in the reverse order."""
    chunks = [[]]
    for line in source.splitlines(keepends=True):
        if re.match(r"(class |def |@)", line) and not (chunks[-1] and chunks[-1][-1].startswith("@")):
            chunks.append([])
        chunks[-1].append(line)
    return "".join(chunks[0] + [line for chunk in reversed(chunks[1:]) for line in chunk])


def rewritten(source, every):
    """Every ``every``-th assignment in a method written in two lines: ``tmp_ = ...``, then ``x = tmp_``."""
    out, seen = [], 0
    for line in source.splitlines():
        match = re.match(r"^(\s{8,})([A-Za-z_][\w.]*) = (.+)$", line)
        if match and not match.group(3).rstrip().endswith(("(", "[", ",")):
            seen += 1
            if seen % every == 0:
                indent, target, value = match.groups()
                out += [f"{indent}tmp_ = {value}", f"{indent}{target} = tmp_"]
                continue
        out.append(line)
    return "\n".join(out) + "\n"


def disguised(source, every=10):
    return reordered(rewritten(recommented(renamed(source)), every))


# -- what the class holds ---------------------------------------------------------------------------------

def reference_modules():
    return {p.name: p.read_text() for p in sorted(SOLUTIONS.glob("*.py"))}


def student(name, *sources):
    """A graded submission whose code is ``sources`` (its fingerprints, as the reader takes them)."""
    found = set()
    for source in sources:
        found |= similarity.fingerprints(source)
    return Graded(name, f"/class/{name}", "package", fingerprints=sorted(found))


def honest_class():
    return [student(path.stem, path.read_text()) for path in HONEST]


def share(first, second):
    """The share of the smaller set's fingerprints in both, exercises/ left out, as copy_pairs counts it."""
    _, base = similarity.kit_fingerprints()
    a, b = set(first.fingerprints) - base, set(second.fingerprints) - base
    return len(a & b) / min(len(a), len(b))


def reference():
    return student("reference", *reference_modules().values())


# -- the tokens -------------------------------------------------------------------------------------------

def test_names_comments_docstrings_and_layout_change_no_token():
    one = 'def f(x):\n    """Add one."""\n    y = x + 1  # one more\n    return y\n'
    two = "def grow(value):\n\n    # no docstring\n    result = value + \\\n        1\n    return result\n"
    assert similarity.tokens(one) == similarity.tokens(two) == [
        "def", "N", "(", "N", ")", ":", "N", "=", "N", "+", "0", "return", "N"]


def test_code_that_cannot_be_read_gives_its_tokens_up_to_there():
    assert similarity.tokens('x = f"{a!r:>{w}} b" + "c"\n') == ["N", "=", "S", "+", "S"]  # 3.12 splits f-strings
    assert similarity.tokens("x = 1\ny = '''never closed\n") == ["N", "=", "0", "N", "="]
    assert similarity.tokens("def f():\n    x = 1\n  y = 2\n")[:6] == ["def", "N", "(", ")", ":", "N"]
    assert similarity.fingerprints("") == set()


def test_padding_hides_no_copy_and_too_much_code_is_flagged_not_compared(tmp_path, monkeypatch):
    """Comments cost nothing (a copy after 600 kB of them is still seen); past the caps the submission is
    not compared on a part of its code (which a padding of it could choose) but flagged for the teacher."""
    copy = set(similarity.fingerprints(single_file_source(SOLUTIONS)))
    (tmp_path / "aaa.py").write_text(("# " + "x" * 98 + "\n") * 6000)
    (tmp_path / "gpt.py").write_text(single_file_source(SOLUTIONS))
    assert copy <= set(similarity.folder_fingerprints(tmp_path))
    monkeypatch.setattr(similarity, "MAX_FINGERPRINTS", 10)
    assert similarity.folder_fingerprints(tmp_path) is None
    monkeypatch.setattr(similarity, "MAX_FINGERPRINTS", 10**6)
    monkeypatch.setattr(similarity, "MAX_READ_BYTES", 1000)
    assert similarity.folder_fingerprints(tmp_path) is None


# -- copies are flagged -----------------------------------------------------------------------------------

def test_six_identical_copies_of_the_reference_are_flagged():
    graded = [student(f"s{i}", *reference_modules().values()) for i in range(6)]
    flags = similarity.copy_flags(graded)
    assert flags["s0"] == ["near-copy of s1 (100 % shared)",
                           "near-copy of s2 (100 % shared)",
                           "near-copy of s3 (100 % shared)",
                           "near-copy of s4 (100 % shared)",
                           "near-copy of 2 more (report.html lists them)"]  # s5 and the kit's solutions
    assert len(similarity.copy_pairs(graded)) == 15 + 6  # every pair, and each against the reference
    assert all(len(found) == 5 for found in flags.values())
    assert similarity.copy_flags(graded[:2])["s1"] == [
        "near-copy of s0 (100 % shared)",
        "near-copy of the kit's solutions (100 % shared)"]


def test_renamed_reordered_and_edited_copies_are_flagged():
    pairs = [(student("bob", *reference_modules().values()),
              student("eve", *(disguised(code) for code in reversed(reference_modules().values()))))]
    pairs += [(student(p.stem, p.read_text()), student("copier", disguised(p.read_text()))) for p in HONEST]
    for original, copy in pairs:
        assert share(original, copy) >= similarity.THRESHOLD + 0.1, original.name
        flags = similarity.copy_flags([original, copy])
        assert any(f.startswith(f"near-copy of {copy.name} (") for f in flags[original.name]), original.name


def test_renaming_alone_changes_no_fingerprint():
    code = single_file_source(SOLUTIONS)
    assert similarity.fingerprints(renamed(recommented(code))) == similarity.fingerprints(code)
    # Reordered, only the runs that span two functions change: every function ends next to another one.
    assert share(student("a", reordered(code)), student("b", code)) >= similarity.THRESHOLD + 0.15


def test_a_copy_of_the_reference_is_flagged_against_it():
    graded = [student("alice", disguised(single_file_source(SOLUTIONS))), *honest_class()]
    flags = similarity.copy_flags(graded)
    assert [f.partition(" (")[0] for f in flags["alice"]] == ["near-copy of the kit's solutions"]


def test_a_copy_of_one_module_is_flagged():
    attention = (SOLUTIONS / "attention.py").read_text()
    assert similarity.copy_flags([student("dan", disguised(attention))])["dan"]


# -- honest work is not -----------------------------------------------------------------------------------

def test_honest_independent_solutions_are_not_flagged():
    assert similarity.copy_pairs(honest_class()) == []


def test_students_who_did_not_start_are_not_flagged():
    blank = [(KIT_ROOT / "exercises" / name).read_text() for name in reference_modules()]
    assert similarity.copy_pairs([student(f"s{i}", *blank) for i in range(3)]) == []


def test_without_solutions_the_reference_is_left_out(tmp_path):
    shutil.copytree(KIT_ROOT / "exercises", tmp_path / "exercises")  # a kit whose solutions/ was deleted
    code = single_file_source(SOLUTIONS)
    flags = similarity.copy_flags([student("a", code), student("b", code)], kit_root=tmp_path)
    assert [f.partition(" (")[0] for f in flags["a"]] == ["near-copy of b"]


# -- the measured figures (similarity.THRESHOLD's comment) -----------------------------------------------

def copies_of(honest, every):
    """Each honest solution's and the reference's disguised copy, against its original."""
    found = [share(g, student("copy", disguised(p.read_text(), every))) for g, p in zip(honest, HONEST)]
    return found + [share(honest[-1], student("copy", *(disguised(c, every) for c in reference_modules().values())))]


def with_variant(variant):
    modules = reference_modules()
    for module, edits in variant.edits.items():
        for old, new in edits:
            modules[f"{module}.py"] = modules[f"{module}.py"].replace(old, new, 1)
    return student(variant.name, *modules.values())


def test_the_measured_figures():
    from variants import all_variants

    honest = [*honest_class(), reference()]
    independent = [share(a, b) for a, b in itertools.combinations(honest, 2)]
    copies = {every: copies_of(honest, every) for every in (20, 10, 5, 3)}
    variants = [share(honest[-1], with_variant(v)) for v in all_variants() if v.exercise is None]
    print(f"\nindependent pairs: {min(independent):.2f} to {max(independent):.2f}; the reference with one valid "
          f"alternative: {min(variants):.2f} to {max(variants):.2f}; copies, every n-th assignment rewritten: "
          + "; ".join(f"n={n}: {min(c):.2f} to {max(c):.2f}" for n, c in copies.items()))
    assert max(independent) <= similarity.THRESHOLD - 0.05
    assert min(variants) >= similarity.THRESHOLD + 0.2
    assert min(copies[20] + copies[10]) >= similarity.THRESHOLD + 0.1
    assert min(copies[5]) >= similarity.THRESHOLD


# -- in the reports ---------------------------------------------------------------------------------------

def test_mark_copies_replaces_the_old_copy_flags_only():
    code = single_file_source(SOLUTIONS)
    graded = [student("a", code), student("b", (KIT_ROOT / "exercises" / "gpt.py").read_text())]
    graded[0].flags = ["calls os.system", "near-copy of zed (99 % ...)"]
    graded[1].flags = ["near-copy of a (90 % ...)"]
    changed = similarity.mark_copies(graded)
    assert [g.name for g in changed] == ["a", "b"]
    assert graded[0].flags[0] == "calls os.system" and graded[0].flags[1].startswith("near-copy of the kit's")
    assert len(graded[0].flags) == 2 and graded[1].flags == []
    assert similarity.mark_copies(graded) == []


def test_graded_json_keeps_the_fingerprints():
    graded = student("a", single_file_source(SOLUTIONS))
    again = graded_from_record(json.loads(json.dumps(graded_record(graded))), {})
    assert again.fingerprints == graded.fingerprints and again.fingerprints
    del (record := graded_record(graded))["fingerprints"]  # a graded.json from before the flags
    assert graded_from_record(record, {}).fingerprints == []


def test_merge_flags_copies_across_shards(tmp_path):
    from grader.classroom.merge import merge

    code = single_file_source(SOLUTIONS)
    for shard, graded in (("one", student("alice", code)), ("two", student("bob", disguised(code))),
                          ("two", student("carol", HONEST[0].read_text()))):
        write_submission(tmp_path / shard, graded)
    for shard, names in (("one", ["alice"]), ("two", ["bob", "carol"])):
        rows = [graded_from_record(json.loads((tmp_path / shard / n / "graded.json").read_text()), {}) for n in names]
        similarity.mark_copies(rows)  # as grade does in each shard: bob alone is no copy of alice there
        write_csv(tmp_path / shard, rows, [])
    assert merge([tmp_path / "one", tmp_path / "two"], tmp_path / "merged") == 3
    with (tmp_path / "merged" / "grades.csv").open(encoding="utf-8") as f:
        flags = {row["name"]: row["flags"] for row in csv.DictReader(f)}
    assert "near-copy of bob (" in flags["alice"] and "near-copy of alice (" in flags["bob"]
    assert flags["carol"] == ""
    record = json.loads((tmp_path / "merged" / "bob" / "graded.json").read_text())
    assert any(f.startswith("near-copy of alice (") for f in record["flags"]) and record["fingerprints"]
    page = (tmp_path / "merged" / "report.html").read_text()
    assert '<table id="copies">' in page and "<td>alice</td><td>bob</td>" in page


def test_the_class_report_says_when_there_are_none(tmp_path):
    from grader.classroom.class_report import render

    assert "No submission is flagged as a near-copy" in render(honest_class(), [])


@pytest.mark.timeout(120)
def test_the_reader_sends_the_fingerprints(tmp_path):
    from grader.classroom.reading import prepare_apart
    from grader.classroom.submissions import Submission

    (tmp_path / "work").mkdir()  # grade_one's scratch folder
    path = tmp_path / "alice.py"
    path.write_text(single_file_source(SOLUTIONS))
    prepared, _ = prepare_apart(Submission("alice", path, "file"), tmp_path / "work" / "submission")
    assert prepared.fingerprints == sorted(similarity.fingerprints(path.read_text()))
