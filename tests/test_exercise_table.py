"""The pages a student reads list the exercises as the rubric's table does (grader/rubric.py).

The code reads the table; these pages are prose, so they are checked against it instead: adding an
exercise is a row in the table, and these tests name each page that still needs its line.
"""

import re

from grader.impl import KIT_ROOT
from grader.rubric import CORE_SPAN, EXERCISES, EXTRA_POINTS, EXTRAS_SPAN, MODULES, TOTAL_POINTS


def read(name):
    return (KIT_ROOT / name).read_text(encoding="utf-8")


def test_readme_tables_have_one_row_per_exercise():
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|.*\| `(\w+)\.py` \|", read("README.md"), re.M)
    expected = [(str(ex.number), ex.marker, ex.module) for ex in EXERCISES]
    assert rows == expected, "README.md's tables of exercises (| number | `marker` | ... | `module.py` | ...) differ"


def test_readme_spans_and_points_are_the_tables():
    text = read("README.md")
    spans = set(re.findall(r"Exercises \d+-\d+", text))
    assert spans <= {CORE_SPAN, EXTRAS_SPAN}, f"README.md names {sorted(spans)}; the tracks are {CORE_SPAN}, {EXTRAS_SPAN}"
    for phrase in (f"extras ({EXTRA_POINTS} points, {EXTRAS_SPAN})", f"Their points ({EXTRA_POINTS})",
                   f"{TOTAL_POINTS} points for the core, and {EXTRA_POINTS} for the extras"):
        assert phrase in text, f"README.md should say {phrase!r}"


def test_contract_names_every_module_and_both_tracks():
    text = read("CONTRACT.md")
    for heading in (f"## The core ({CORE_SPAN})", f"## The extras ({EXTRAS_SPAN})"):
        assert heading in text, f"CONTRACT.md has no heading {heading!r}"
    missing = [module for module in MODULES if f"`{module}.py`" not in text]
    assert not missing, f"CONTRACT.md does not name {missing}"


def test_exercises_package_lists_every_exercise():
    text = read("exercises/__init__.py")
    listed = re.findall(r"^ {4}(\d+) +(\w+)\.py .* pytest -m (\w+)$", text, re.M)
    expected = [(str(ex.number), ex.module, ex.marker) for ex in EXERCISES]
    assert listed == expected, "exercises/__init__.py's list (number, file, pytest -m marker) differs from the rubric's"
