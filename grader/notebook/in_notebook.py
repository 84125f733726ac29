"""``grade(globals(), "head")``: grade the definitions a notebook has run, from a cell of that notebook.

The notebook written by ``python -m grader notebook`` calls it under each exercise. It reads the cells
run so far from IPython's history (``In``, in the order they ran, so a cell run again counts in its
latest form), keeps their definitions as teacher mode does (grader/classroom/notebook_source.py), writes them as
a one-file submission into a temporary folder and runs ``python -m grader check`` on it in a fresh
process, so every run sees the latest code and a crash in it cannot take the notebook down.
"""

import ast
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from grader import launch
from grader.classroom.notebook_source import extract_cells
from grader.rubric import BY_MARKER, CORE, EXTRAS
from grader.classroom.submissions import single_file_package
from grader.stubs import raises_not_implemented, top_level


class NotebookGradingError(Exception):
    """grade() cannot grade from here; the message says what to do instead."""


def cells_run(namespace):
    """The sources of the cells run so far, oldest first, from IPython's ``In`` list (In[1] first)."""
    history = namespace.get("In") if isinstance(namespace, dict) else None
    if not isinstance(history, list):
        raise NotebookGradingError(
            "grade(globals()) reads the cells you ran from IPython's history, and there is none here: "
            "call it from a cell of the notebook in Jupyter or Colab. Outside a notebook, grade the saved "
            "file: python -m grader check --impl FOLDER, or python -m grader grade NOTEBOOK.ipynb --out DIR")
    # In[0] is always empty: cell n of the list is In[n], the cell Jupyter and Colab show as [n].
    return [cell if isinstance(cell, str) else "" for cell in history[1:]]


def grade(namespace, *markers, extras=False, device="auto", timeout=1800):
    """Grade the notebook's definitions: the core (``extras=True`` adds the extras), or the
    exercises of ``markers`` (e.g. ``"head"``). An extra whose functions all still raise
    NotImplementedError is not attempted: it is named, not graded.

    Prints the score table (points per exercise, the first failing check of each and its hint).
    """
    unknown = [m for m in markers if m not in BY_MARKER]
    if unknown:
        raise NotebookGradingError(f"no exercise is called {unknown[0]!r}; the markers are: "
                                   + ", ".join(BY_MARKER))
    extracted = extract_cells(cells_run(namespace))
    markers, extras = _attempted_only(extracted.source, markers, extras)
    if markers is None:  # every exercise asked for is an extra not attempted yet: nothing to run
        return
    with tempfile.TemporaryDirectory(prefix="gptkit-notebook-") as tmp:
        folder = Path(tmp) / "notebook"
        folder.mkdir()
        single_file_package(extracted.source.encode(), folder, "notebook")
        pictures = Path(tmp) / "pictures.json"
        cmd = launch.python_module("grader", "check", "--impl", str(folder), "--device", device, "--voice", "notebook",
                                   "--pictures-json", str(pictures))
        for marker in markers:
            cmd += ["-m", marker]
        if extras:
            cmd.append("--extras")
        # The output goes through print(), so Jupyter shows it in the cell whatever its stdout is.
        # No colours: the output is read, trimmed, and printed by this process.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=launch.environment(dict(os.environ, PY_COLORS="0")))
        shown = _pictures_shown(pictures)
    # A picture of attention weights in the failure shown in full is drawn as an image, from the weights
    # the grading process wrote. Imported here: it needs torch, which the notebook's own cells have
    # loaded by now, and importing grade() should not.
    from grader.oracles.attention_picture import print_with_pictures

    print_with_pictures(_the_table(proc.stdout + proc.stderr), shown)


def _pictures_shown(path):
    """The pictures the grading process wrote to ``path`` (--pictures-json), or none when it wrote no file
    (it ended before its table)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def _attempted_only(source, markers, extras):
    """(markers, extras) to grade, leaving out the extras whose functions are all still the stubs: their
    checks would only say "not implemented", after a grading process of several seconds each ("Run all"
    on a fresh notebook ran five of them). Prints which were left out; markers None: nothing is left."""
    asked = [BY_MARKER[m] for m in markers] if markers else list(EXTRAS) if extras else []
    skipped = [ex for ex in asked if ex.track == "extra" and still_stubs(source, ex)]
    if not skipped:
        return markers, extras
    for ex in skipped:
        print(f"Exercise {ex.number}, {ex.title}: not attempted yet, so not graded (its functions still raise "
              f"NotImplementedError). Fill in its TODOs, then run: grade(globals(), \"{ex.marker}\")")
    if markers:
        kept = tuple(m for m in markers if BY_MARKER[m] not in skipped)
        return (kept or None), extras
    # extras=True: the core and the extras attempted, named one by one (--extras would add them all)
    return tuple(ex.marker for ex in CORE + tuple(ex for ex in EXTRAS if ex not in skipped)), False


def still_stubs(source, exercise):
    """True when every function and method that ``source`` defines for ``exercise``'s names still raises
    NotImplementedError, as the stubs do; False when one is written, or a name is not defined (its
    grading says so)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    last = {name: node for name, node in top_level(tree).items() if name in exercise.names}
    if set(last) != set(exercise.names):
        return False
    functions = [node for top in last.values() for node in ast.walk(top) if isinstance(node, ast.FunctionDef)]
    return all(any(raises_not_implemented(statement) for statement in function.body) for function in functions)


def _the_table(output):
    """The score table and what follows it, without pytest's progress and counts (a notebook has no use
    for "147 deselected"); everything when there is no table (an error before any check ran)."""
    lines = output.rstrip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("=") and " gptkit: " in line), None)
    if start is None:
        return "\n".join(lines)
    table = lines[start:]
    # pytest's own closing line ("== 12 passed in 3.1s =="), which the kit does not write.
    if table and re.fullmatch(r"=* ?\d+ .* in [\d.]+s( \([\d:]+\))? ?=*", table[-1]):
        table = table[:-1]
    return "\n".join(table)
