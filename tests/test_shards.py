"""A class graded in shards (grade --shard K/N on N machines) and merged gives what one machine gives."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from kit import KIT_ROOT, SOLUTIONS, make_variant, single_file_source

pytestmark = pytest.mark.timeout(900)
# A quick exercise and one with named mistakes: the sharding is tested, and that grading is the same
# every time (the merged reports come from a second grading of each submission).
MARKERS = ["-m", "tokenizer", "-m", "head"]


def command(*args):
    return [sys.executable, "-m", "grader", *map(str, args)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    folder = root / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(single_file_source(SOLUTIONS))
    shutil.copytree(KIT_ROOT / "exercises", folder / "bob", ignore=shutil.ignore_patterns("__pycache__"))
    broken = make_variant(root, "carol", {"attention": [
        ("wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5", "wei = q @ k.transpose(-2, -1) * C ** -0.5")]})
    (folder / "carol.py").write_text(single_file_source(broken))
    one = subprocess.run(command("grade", folder, "--out", root / "one", *MARKERS, "--jobs", "2"),
                         cwd=KIT_ROOT, capture_output=True, text=True, timeout=800)
    assert one.returncode == 0, one.stderr
    # The three shards at once, as three machines would run them.
    shards = [subprocess.Popen(command("grade", folder, "--out", root / f"shard{k}", "--shard", f"{k}/3", *MARKERS),
                               cwd=KIT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for k in (1, 2, 3)]
    for proc in shards:
        _, err = proc.communicate(timeout=800)
        assert proc.returncode == 0, err
    merged = subprocess.run(command("merge", *(root / f"shard{k}" for k in (1, 2, 3)), "--out", root / "merged"),
                            cwd=KIT_ROOT, capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stderr
    return root


def without_timings(path):
    """A report's content with the timings (which differ from run to run) taken out."""
    if path.name in ("results.json", "graded.json"):
        data = json.loads(path.read_text())
        data.pop("execution_time")
        if path.name == "graded.json":  # each check's seconds
            data["checks"] = [check[:3] + check[4:] for check in data["checks"]]  # [3]: seconds
        return data
    if path.name == "junit.xml":
        root = ET.fromstring(path.read_bytes())
        for element in root.iter():
            element.attrib.pop("time", None)
        return ET.tostring(root)
    return path.read_bytes()


def test_the_merged_reports_are_those_of_one_machine(runs):
    one, merged = runs / "one", runs / "merged"
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(merged) for p in merged.rglob("*") if p.is_file())
    assert {"grades.csv", "report.html"} <= {str(f) for f in files} and len(files) > 8
    for relative in files:
        assert without_timings(merged / relative) == without_timings(one / relative), relative
    carol = json.loads((one / "carol" / "results.json").read_text())
    assert 8 <= carol["score"] < 23  # the head scaled by n_embd loses points, the tokenizer keeps its 8
    # Byte for byte where nothing is timed.
    for name in ("grades.csv", "report.html"):
        assert (merged / name).read_bytes() == (one / name).read_bytes(), name


def test_the_shards_split_the_class_without_overlap(runs):
    names = [sorted(p.name for p in (runs / f"shard{k}").iterdir() if p.is_dir()) for k in (1, 2, 3)]
    assert names == [["alice"], ["bob"], ["carol"]]


def test_merge_refuses_what_it_cannot_merge(runs, tmp_path):
    twice = subprocess.run(command("merge", runs / "shard1", runs / "shard1", "--out", tmp_path / "m"),
                           cwd=KIT_ROOT, capture_output=True, text=True, timeout=300)
    assert twice.returncode == 2 and "alice is in both" in twice.stderr, twice.stderr
    into_full = subprocess.run(command("merge", runs / "shard2", "--out", runs / "one"),
                               cwd=KIT_ROOT, capture_output=True, text=True, timeout=300)
    assert into_full.returncode == 2 and "is not empty" in into_full.stderr, into_full.stderr
