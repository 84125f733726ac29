"""Notebooks written as in the lecture's Colab notebook, graded in teacher mode: imports the grader's
machine lacks, a global ``device`` and hyper-parameters computed with a call, files only Colab has."""

import contextlib
import csv
import importlib.util
import io
import json
import re
import subprocess
import sys

import nbformat
import pytest

from grader.rubric import CORE, TOTAL_POINTS
from grader.notebook.edition import build
from grader.classroom.notebook_source import LOAD_MARK, extract_cells, load_failures
from kit import KIT_ROOT, SOLUTIONS, notebook_from

COLAB_SETUP = """\
!pip install -q tiktoken
from google.colab import drive
drive.mount('/content/drive')
import matplotlib.pyplot as plt
import torch
device = 'cuda' if torch.cuda.is_available() else 'cpu'
dropout = float('0.0')
torch.manual_seed(1337)
"""

COLAB_TRAINING = """\
with open('/content/drive/MyDrive/input.txt') as f:
    text = f.read()
model = GPTLanguageModel(GPTConfig(vocab_size=65)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
losses = []
for step in range(5000):
    raise SystemExit('training must not run when grading')
plt.plot(losses)
"""


def load(extracted):
    """Run an extracted source as the sandbox would import it; (its names, what it printed to stderr)."""
    namespace, stderr = {"__name__": "extracted"}, io.StringIO()
    with contextlib.redirect_stderr(stderr):
        exec(compile(extracted.source, "extracted.py", "exec"), namespace)
    return namespace, stderr.getvalue()


# --- extract_cells, on cells given as strings: fast, nothing graded ---

def test_an_import_missing_here_stands_in_and_fails_only_if_used():
    extracted = extract_cells([
        "from google.colab import drive\nimport no_such_module_anywhere.pyplot as plt\nimport torch\nimport math",
        "def plot(losses):\n    plt.plot(losses)\n\ndef square_root(x):\n    return math.sqrt(x)",
    ])
    names, stderr = load(extracted)
    assert names["square_root"](4) == 2
    with pytest.raises(ImportError, match="no_such_module_anywhere.pyplot is not installed where this notebook is graded"):
        names["plot"]([1, 2])
    google, missing = load_failures(stderr)
    # "No module named 'google.colab'" where some other package installed google
    assert re.fullmatch(r"cell 1, line 1: google\.colab is not installed where this notebook is graded "
                        r"\(ModuleNotFoundError: No module named 'google(\.colab)?'\); drive stands in for it and "
                        r"fails only if used", google), google
    assert missing == ("cell 1, line 2: no_such_module_anywhere.pyplot is not installed where this notebook is "
                       "graded (ModuleNotFoundError: No module named 'no_such_module_anywhere'); plt stands in for "
                       "it and fails only if used")
    # The standard library and torch are imported as they are: always there where the kit runs.
    assert "\nimport torch\nimport math\n" in extracted.source
    assert extracted.left_out == []


def test_definitions_keep_the_top_level_assignments_they_read_and_nothing_else():
    extracted = extract_cells([
        "import torch\ndevice = 'cuda' if torch.cuda.is_available() else 'cpu'\nn_embd = int(32)\nn_head = 4\n"
        "head_size = n_embd // n_head\ntorch.manual_seed(1337)\nunused = int(3)",
        "chars = sorted(set('hello'))\nstoi = {ch: i for i, ch in enumerate(chars)}\nencode = lambda s: [stoi[c] for c in s]",
        "class Model(torch.nn.Module):\n    def __init__(self, size=head_size, device=device):\n        super().__init__()\n"
        "        logits = encode('hole')\n        self.out = (size, device, logits)",
        "model = Model()\nlogits = model(1)\nfor step in range(10):\n    loss = step\nlosses = estimate(model)",
    ])
    names, stderr = load(extracted)
    device = "cuda" if names["torch"].cuda.is_available() else "cpu"
    assert names["Model"]().out == (8, device, [1, 3, 2, 0])
    assert stderr == ""
    # A method's own ``logits`` does not make the top-level ``logits = model(1)`` needed, nor ``model``.
    assert extracted.left_out == [
        "cell 1, line 6: torch.manual_seed(1337)", "cell 1, line 7: unused = int(3)",
        "cell 4, line 1: model = Model()", "cell 4, line 2: logits = model(1)",
        "cell 4, line 3: for step in range(10):", "cell 4, line 5: losses = estimate(model)",
    ]
    assert "device = 'cuda' if torch.cuda.is_available() else 'cpu'" in extracted.source


def test_an_assignment_that_fails_leaves_its_name_undefined_and_the_rest_loads():
    extracted = extract_cells([
        "with open('/content/drive/MyDrive/input.txt') as f:\n    text = f.read()\nchars = sorted(set(text))\n"
        "prompt = '''First\n  Citizen'''.strip()",
        "def vocabulary():\n    return chars\n\ndef first_line():\n    return prompt\n\ndef answer():\n    return 42",
    ])
    names, stderr = load(extracted)
    assert names["answer"]() == 42 and "text" not in names and "chars" not in names
    assert names["first_line"]() == "First\n  Citizen"  # a string over several lines keeps its value
    failures = load_failures(stderr)
    assert len(failures) == 2, stderr
    assert failures[0].startswith("cell 1, line 1 failed when the notebook was loaded (FileNotFoundError: ")
    assert failures[0].endswith("f, text are left undefined")
    assert failures[1] == ("cell 1, line 3 failed when the notebook was loaded (NameError: name 'text' is not "
                           "defined); chars is left undefined")
    assert all(line.startswith(LOAD_MARK) for line in stderr.splitlines())


def test_future_imports_go_to_the_top_of_the_extracted_source():
    extracted = extract_cells(["import torch", "from __future__ import annotations\ndef f(x: Undefined) -> None:\n    pass"])
    assert extracted.source.startswith("from __future__ import annotations\n")
    names, _ = load(extracted)
    assert names["f"].__annotations__["x"] == "Undefined"


# --- teacher mode end to end: one grading of two notebooks ---

def colab_notebook(path, setup=COLAB_SETUP):
    """The reference solutions as a student would write them in Colab."""
    notebook_from(SOLUTIONS, path, training_cell=False)
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        cell.source = (cell.source.replace('device="cpu"):', "device=device):")  # get_batch's default
                       .replace("dropout=0.0):", "dropout=dropout):")
                       .replace("    def encode(self, s):",
                                "    def encode_tensor(self, s, device=device):\n"
                                "        return torch.tensor(self.encode(s), device=device)\n\n"
                                "    def encode(self, s):"))
    nb.cells.insert(2, nbformat.v4.new_code_cell(setup))
    nb.cells.append(nbformat.v4.new_code_cell("n_layer = int(6)\nmax_iters = 5000"))
    nb.cells.append(nbformat.v4.new_code_cell("def show_sample(n=200):\n    print(text[:n])"))
    nb.cells.append(nbformat.v4.new_code_cell(COLAB_TRAINING))
    nbformat.write(nb, str(path))
    source = "".join(cell.source for cell in nb.cells)
    for changed in ("def encode_tensor(self, s, device=device):", "block_size, device=device):", "dropout=dropout):"):
        assert changed in source, f"the solutions changed: {changed!r} is not in the notebook"
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("colab")
    folder = root / "class"
    folder.mkdir()
    colab_notebook(folder / "colab.ipynb")
    # device is computed from a name the notebook never defines: the class that reads it cannot be defined.
    broken = COLAB_SETUP.replace("device = 'cuda' if torch.cuda.is_available() else 'cpu'",
                                 "device = torch.device(DEVICE_NAME)")
    assert broken != COLAB_SETUP
    colab_notebook(folder / "nothing_loads.ipynb", broken)
    # The notebook edition's answer key, as a student would save it (its setup cell imports the kit).
    nbformat.write(build(KIT_ROOT / "solutions"), str(folder / "answer_key.ipynb"))
    out = root / "out"
    markers = [arg for ex in CORE for arg in ("-m", ex.marker)]
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out), "--jobs", "2",
                           *markers], cwd=KIT_ROOT, capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["name"]: row for row in csv.DictReader((out / "grades.csv").open())}
    return out, rows


@pytest.mark.timeout(900)
def test_a_colab_notebook_of_the_reference_gets_full_marks_and_says_what_was_not_run(graded):
    out, rows = graded
    row = rows["colab"]
    assert (float(row["total"]), row["status"], row["why"]) == (TOTAL_POINTS, "ok", ""), row
    report = json.loads((out / "colab" / "results.json").read_text())["output"]
    left_out = next(line for line in report.splitlines() if line.startswith("left out of the notebook (not run; cell N is its N-th code cell): "))
    for statement in ("drive.mount('/content/drive')", "torch.manual_seed(1337)", "model = GPTLanguageModel(",
                      "optimizer = torch.optim.AdamW(", "for step in range(5000):", "plt.plot(losses)",
                      "!pip install -q tiktoken"):
        assert statement in left_out, report
    failed = next(line for line in report.splitlines() if line.startswith("failed as the notebook loaded"))
    assert "google.colab is not installed where this notebook is graded" in failed, report
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib.pyplot is not installed where this notebook is graded" in failed, report
    assert "(FileNotFoundError: " in failed and "f, text are left undefined" in failed, report
    extracted = (out / "colab" / "extracted.py").read_text()
    assert "    device = 'cuda' if torch.cuda.is_available() else 'cpu'\n" in extracted


@pytest.mark.timeout(900)
def test_the_notebook_editions_answer_key_gets_full_marks(graded):
    row = graded[1]["answer_key"]
    assert (float(row["total"]), row["status"], row["why"]) == (TOTAL_POINTS, "ok", ""), row


@pytest.mark.timeout(900)
def test_a_notebook_where_nothing_loads_says_why_it_got_nothing(graded):
    _, rows = graded
    row = rows["nothing_loads"]
    assert (float(row["total"]), row["status"]) == (0, "ok"), row
    # Most checks stop at it; the few that expect an error of their own (a ValueError) say what they expected.
    assert re.fullmatch(r"nothing could be graded: (every check|\d+ of the \d+ checks that failed) stopped at the "
                        r"same error in the submission's code: NameError: name 'device' is not defined "
                        r"\(extracted\.py:\d+, in CharTokenizer\)", row["why"]), row
    report = json.loads((graded[0] / "nothing_loads" / "results.json").read_text())["output"]
    assert ("cell 2, line 6 failed when the notebook was loaded (NameError: name 'DEVICE_NAME' is not defined); "
            "device is left undefined") in report, report


# Found by an attack on the grader: a notebook is read in the teacher's own process, before any sandbox.

@pytest.mark.timeout(30)  # a guard against the hang only: 4 s here; following it pass by pass took 40 s
def test_a_long_chain_of_assignments_is_followed_in_linear_time():
    n = 30000
    cell = "v0 = len('a')\n" + "\n".join(f"v{i} = len(str(v{i - 1}))" for i in range(1, n))
    extracted = extract_cells([cell + f"\ndef last():\n    return v{n - 1}\n"])
    assert f"    v{n - 1} = len(str(v{n - 2}))" in extracted.source and not extracted.left_out


def test_a_statement_after_a_semicolon_is_not_smuggled_in():
    extracted = extract_cells(["import torch; print('ran 1')",
                               "size = int(3); [print('ran 2') for i in range(3)]\ndef f():\n    return size",
                               "import matplotlib; print('ran 3')"])
    assert "print(" not in extracted.source.split("# --- cell 1 ---")[1], extracted.source
    assert [line.split(": ", 1)[1] for line in extracted.left_out] == [
        "print('ran 1')", "[print('ran 2') for i in range(3)]", "print('ran 3')"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        load(extracted)
    assert "ran" not in out.getvalue()


def test_a_deeply_nested_statement_is_left_out_not_a_grader_error():
    # Too deep for Python's parser (the whole cell), and for writing one statement back (it shares a line).
    deep_cell = "n_extra = " + " + ".join(["1"] * 3000)
    deep_statement = "n_more = " + " + ".join(["1"] * 1000) + "; y = 2\ndef g():\n    return n_more + y"
    extracted = extract_cells([deep_cell, deep_statement, "def h():\n    return 1"])
    assert extracted.left_out[0] == "cell 1: nested too deeply for the grader to read", extracted.left_out
    assert extracted.left_out[1].startswith("cell 2, line 1: nested too deeply"), extracted.left_out
    assert "def h():" in extracted.source


def test_a_notebook_with_more_code_than_the_grader_reads_is_refused(tmp_path):
    from grader.classroom.notebook_source import NotebookError, extract

    path = tmp_path / "huge.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\n" * 200_000)]), str(path))
    with pytest.raises(NotebookError, match=r"huge.ipynb holds 1.1 MB of code in its cells, more than the 1 MB"):
        extract(path)


def test_the_editions_own_cells_are_not_listed_as_left_out():
    """The cells the notebook edition writes (its setup cell's import of the grader, the grading cells)
    are no one's work: a student's notebook made from it lists only the student's own top-level code."""
    from grader.notebook.edition import SETUP

    extracted = extract_cells([SETUP, "x = 1\nprint(x)", 'grade(globals(), "head")', "grade(globals())",
                               "grade(globals(), extras=True)"])
    assert extracted.left_out == ["cell 2, line 2: print(x)"]
