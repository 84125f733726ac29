"""Helpers for the kit's own tests: run the graded checks in a fresh process, make broken variants."""

import io
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = KIT_ROOT / "solutions"
CHECKS = KIT_ROOT / "grader" / "checks"


@dataclass
class CheckRun:
    returncode: int
    output: str
    cases: dict  # test name (with parameters) -> (outcome, message)
    points: dict  # test name -> the points it carries (from the rubric)

    def score(self):
        return sum(p for name, p in self.points.items() if self.cases[name][0] == "passed")


def run_checks(impl, *args, tmp_path, timeout=600):
    """Run ``pytest --impl IMPL --extras`` on the graded checks in a fresh process; read its JUnit XML."""
    junit = tmp_path / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", str(CHECKS), "--impl", str(impl), "--extras", f"--junitxml={junit}",
           "-o", "junit_family=xunit1", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, cwd=KIT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    return read_junit(junit, proc.returncode, proc.stdout + proc.stderr)


def run_checks_many(jobs, tmp_path, timeout=3000):
    """Grade several implementations in one fresh process (tests/grade_many.py): torch and pytest start
    once instead of once each. ``jobs``: dicts with ``impl`` and optionally ``args`` (pytest arguments),
    ``paths`` (checks or node ids; default all checks) and ``record`` (see grade_many.Recorder).
    Returns a CheckRun each."""
    import json

    spec = []
    for i, job in enumerate(jobs):
        spec.append({**{k: str(v) if k in ("impl", "record") else v for k, v in job.items()},
                     "junit": str(tmp_path / f"junit{i}.xml"), "log": str(tmp_path / f"log{i}.txt")})
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(KIT_ROOT / "tests" / "grade_many.py"), str(tmp_path / "jobs.json")],
                          cwd=KIT_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    runs = []
    for job in spec:
        log = Path(job["log"])
        output = log.read_text() if log.exists() else proc.stdout + proc.stderr
        code = int(output.rsplit("exit code ", 1)[1]) if "exit code " in output else proc.returncode or -1
        runs.append(read_junit(Path(job["junit"]), code, output))
    return runs


def read_junit(junit, returncode, output):
    """A CheckRun from pytest's JUnit XML (xunit1: the points are properties of each case)."""
    cases, points = {}, {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = f"{Path(case.get('file', '')).stem}::{case.get('name')}"
            outcome, message = "passed", ""
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    outcome = "skipped" if kind == "skipped" else "failed"
                    message = (node.get("message") or "") + "\n" + (node.text or "")
            cases[name] = (outcome, message)
            for prop in case.iter("property"):
                if prop.get("name") == "points":
                    points[name] = float(prop.get("value"))
    return CheckRun(returncode, output, cases, points)


def table_entry(output, number):
    """Exercise ``number``'s lines in the table pytest prints at the end: its score line and the
    failure it shows (the check, what went wrong, the mistake or hint)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"{number}. "))
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 8):
            break
        entry.append(line.strip())
    return "\n".join(entry)


def make_variant(tmp_path, name, edits):
    """A copy of solutions/ with ``edits`` = {module: [(old, new), ...]} applied; each ``old`` must occur once."""
    folder = tmp_path / name
    shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for module, replacements in edits.items():
        path = folder / f"{module}.py"
        source = path.read_text()
        for old, new in replacements:
            count = source.count(old)
            assert count == 1, f"variant {name}: {old!r} occurs {count} times in {module}.py, expected once"
            source = source.replace(old, new)
        path.write_text(source)
    return folder


def import_order():
    """The contract's modules, in lecture order except that each one's relative imports come before it
    (as solutions/ imports them): the order in which one file or one notebook can hold them all."""
    from grader.rubric import MODULES

    order = []

    def visit(module):
        if module not in order:
            source = (SOLUTIONS / f"{module}.py").read_text()
            for imported in re.findall(r"^from \.(\w+) import", source, re.M):
                visit(imported)
            order.append(module)

    for module in MODULES:
        visit(module)
    return tuple(order)


MODULE_ORDER = import_order()


def single_file_source(folder):
    """The modules of ``folder`` as one file, relative imports removed (what a student submits as one .py)."""
    parts = []
    for module in MODULE_ORDER:
        lines = (Path(folder) / f"{module}.py").read_text().splitlines()
        parts.append("\n".join(line for line in lines if not line.startswith("from .")))
    return "\n\n".join(parts) + "\n"


def notebook_from(folder, path, training_cell=True):
    """A notebook as a student in Colab would save it: one cell per module, plus magics and top-level
    training and printing that grading must not run."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# Let's build GPT"), nbformat.v4.new_code_cell("!pip install torch\n%matplotlib inline")]
    for module in MODULE_ORDER:
        lines = (Path(folder) / f"{module}.py").read_text().splitlines()
        cells.append(nbformat.v4.new_code_cell("\n".join(l for l in lines if not l.startswith("from ."))))
    cells.append(nbformat.v4.new_code_cell("n_embd = 384\nhead_size = n_embd // 6\nblock_size = 256"))
    if training_cell:
        cells.append(nbformat.v4.new_code_cell(
            "text = open('input.txt').read()\nmodel = GPTLanguageModel(GPTConfig(vocab_size=65))\n"
            "for step in range(5000):\n    raise SystemExit('training must not run when grading')\n"
            "print('done')"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(nb, str(path))
    return path


def kit_copy(dest, solved=()):
    """A copy of the kit as a student's repository holds it, with the modules ``solved`` filled in."""
    tracked = subprocess.run(["git", "ls-files"], cwd=KIT_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(KIT_ROOT / name, dest / name)
    for module in solved:
        shutil.copyfile(SOLUTIONS / f"{module}.py", dest / "exercises" / f"{module}.py")
    return dest


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def step_script(workflow_text, name):
    """The shell script of the GitHub Actions step called ``name`` in ``workflow_text`` (its ``run:``, one
    line or a ``|`` block), as the runner hands it to bash."""
    lines = workflow_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {name}")
    run = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("run:"))
    inline = lines[run].strip().removeprefix("run:").strip()
    if inline != "|":
        return inline.strip("'") + "\n"
    indent = len(lines[run + 1]) - len(lines[run + 1].lstrip())
    body = []
    for line in lines[run + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        body.append(line[indent:])
    return "\n".join(body).rstrip() + "\n"
