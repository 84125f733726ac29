"""Teacher mode end to end: ``python -m grader grade`` on a class in every submission format."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile

import pytest

from grader.rubric import CORE, EXERCISES, EXTRA_POINTS, EXTRAS, MODULES, TOTAL_POINTS, span
from tests.kit import KIT_ROOT, SOLUTIONS, kit_copy, make_variant, notebook_from, single_file_source, zip_bytes

pytestmark = pytest.mark.timeout(900)


def grade(*args, timeout=800):
    cmd = [sys.executable, "-m", "grader", "grade", *map(str, args)]
    return subprocess.run(cmd, cwd=KIT_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The reference in every format, as students upload it (a copy of the kit, one .py file, a notebook
    beside a stray file, one .py file in zips in a zip), and one submission that cannot be graded, graded
    two at a time."""
    root = tmp_path_factory.mktemp("class")
    folder = root / "class"
    folder.mkdir()
    kit_copy(folder / "repo", solved=MODULES)
    (folder / "single.py").write_text(single_file_source(SOLUTIONS))
    (folder / "notebook").mkdir()
    notebook_from(SOLUTIONS, folder / "notebook" / "gpt.ipynb")
    (folder / "notebook" / "scratch.py").write_text("print('trying things')\n")
    inner = zip_bytes({"work/gpt.py": single_file_source(SOLUTIONS), "work/scratch.py": "x = 1\n"})
    (folder / "zipped.zip").write_bytes(zip_bytes({"inner.zip": inner, "notes.txt": "hello"}))
    (folder / "unreadable.zip").write_bytes(b"not a zip")
    out = root / "out"
    proc = grade(folder, "--out", out, "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["name"]: row for row in csv.DictReader((out / "grades.csv").open())}
    return {"out": out, "rows": rows, "proc": proc}


UPLOADED = {"repo": f"graded the modules in exercises/ ({span(EXERCISES)})", "single": "single (one .py file)",
            "notebook": f"graded gpt.ipynb ({span(EXERCISES)})",
            "zipped": f"graded zipped.zip/inner.zip/work/gpt.py ({span(EXERCISES)})"}


@pytest.mark.parametrize("name", UPLOADED)
def test_the_reference_gets_full_marks_in_every_format(klass, name):
    row = klass["rows"][name]
    assert float(row["total"]) == TOTAL_POINTS, row
    assert row["status"] == "ok", row
    assert UPLOADED[name] in json.loads((klass["out"] / name / "results.json").read_text())["output"]


def test_a_submission_that_cannot_be_read_is_an_error_and_the_rest_are_graded(klass):
    row = klass["rows"]["unreadable"]
    assert row["status"] == "error" and "not a zip file" in row["why"]
    assert float(row["total"]) == 0 and float(row["max"]) == TOTAL_POINTS
    assert len(klass["rows"]) == 5


def test_grades_csv_has_a_column_per_exercise(klass):
    header = (klass["out"] / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["name", "path", "total", "max", "extras", "extras_max", *(ex.marker for ex in EXERCISES),
                      "status", "why", "flags"]
    row = klass["rows"]["repo"]
    # The total is the core's 100; the extras are summed apart.
    assert sum(float(row[ex.marker]) for ex in CORE) == pytest.approx(float(row["total"]))
    assert sum(float(row[ex.marker]) for ex in EXTRAS) == pytest.approx(float(row["extras"]))
    assert float(row["extras"]) == float(row["extras_max"]) == EXTRA_POINTS


def test_results_json_is_in_gradescope_format(klass):
    result = json.loads((klass["out"] / "zipped" / "results.json").read_text())
    assert {"score", "execution_time", "tests", "output"} <= set(result)
    assert result["score"] == result["extra_data"]["max_score"] == TOTAL_POINTS
    assert result["execution_time"] > 0
    markers = {ex.marker for ex in EXERCISES}
    for test in result["tests"]:
        assert {"name", "score", "max_score", "status", "output", "tags"} <= set(test)
        assert test["status"] in ("passed", "failed")
        assert len(test["tags"]) == 1 and test["tags"][0] in markers
    # The extras' tests carry no points on Gradescope: the score is the core's (tests/test_reports_spec.py).
    assert sum(t["max_score"] for t in result["tests"]) == pytest.approx(TOTAL_POINTS, abs=1e-9)
    assert result["extra_data"]["extras"] == {"score": EXTRA_POINTS, "max_score": EXTRA_POINTS}


def test_the_notebook_report_says_what_was_left_out(klass):
    result = json.loads((klass["out"] / "notebook" / "results.json").read_text())
    assert "left out of the notebook (not run; cell N is its N-th code cell): " in result["output"]
    assert "cell 1, line 1: !pip install torch" in result["output"]  # IPython lines are listed too
    assert "model = GPTLanguageModel" in result["output"]
    assert (klass["out"] / "notebook" / "extracted.py").is_file()


def test_junit_xml_per_submission(klass):
    root = ET.parse(klass["out"] / "repo" / "junit.xml").getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests")) > 90
    points = {p.get("name") for p in suite.findall("properties/property")}
    assert all(f"points:{case.get('classname')}::{case.get('name')}" in points for case in cases)
    broken = ET.parse(klass["out"] / "unreadable" / "junit.xml").getroot().find("testsuite")
    assert int(broken.get("errors")) >= 1


def test_the_terminal_shows_progress_and_a_summary(klass):
    proc = klass["proc"]
    assert "5/5" in proc.stderr
    assert "submission" in proc.stdout and "status" in proc.stdout
    for name in ("repo", "single", "notebook", "zipped", "unreadable"):
        assert name in proc.stdout


def test_bad_command_lines_say_what_is_wrong(tmp_path):
    proc = grade(tmp_path / "nobody", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = grade(empty, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "found no submissions" in proc.stderr
    proc = grade(empty, "--out", tmp_path / "out", "--jobs", "0")
    assert proc.returncode == 2 and "must be more than 0" in proc.stderr


def _workers_under(path):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b"grader.sandbox.judge" in cmdline and str(path).encode() in cmdline:
                found.append(int(pid))
    return found


def test_ctrl_c_keeps_what_was_graded_and_ends_every_worker(tmp_path):
    klass = tmp_path / "class"
    for name in ("a", "b", "c"):
        shutil.copytree(SOLUTIONS, klass / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
                             "-m", "tokenizer", "-m", "gpt"], cwd=KIT_ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # wait for the first submission to be graded
        if "1/3" in line:
            break
    time.sleep(3)  # the second is being graded now
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "interrupted" in proc.stderr.read()
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert [row["name"] for row in rows] == ["a"] and float(rows[0]["total"]) == 20
    deadline = time.monotonic() + 10
    while _workers_under(tempfile.gettempdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _workers_under("gptkit-grade-") == []


def test_a_check_that_trains_keeps_its_own_longer_time_limit(tmp_path):
    # test_gpt_learns_to_add declares 300 s; a per-check limit of 5 s would end it long before it learns
    # (it trains for ~16 s of one core).
    out = tmp_path / "out"
    proc = grade(SOLUTIONS, "--out", out, "-m", "addition", "--timeout", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "solutions" / "results.json").read_text())
    verdicts = {t["name"].split(": ")[-1]: t for t in result["tests"]}
    trains = verdicts["test_gpt_learns_to_add"]
    assert trains["status"] == "passed", trains["output"]


def test_grading_on_cuda_asks_the_sandbox_first(tmp_path):
    # The sandbox must let CUDA run before a class is graded on it: where it does not (no GPU here, or
    # a confinement that hides it), grade stops at once with the reason and writes no reports, rather
    # than grading every check as a crash.
    import torch

    from grader.sandbox.supervisor import Limits, probe_cuda

    ok, detail = probe_cuda(tmp_path / "probe", Limits(), KIT_ROOT / "data" / "tinyshakespeare" / "input.txt")
    assert ok == torch.cuda.is_available(), detail
    assert detail and "without an answer" not in detail  # the worker itself answered
    if not torch.cuda.is_available():
        proc = grade(SOLUTIONS, "--out", tmp_path / "out", "--device", "cuda")
        assert proc.returncode == 2 and "CUDA is not available on this machine" in proc.stderr
        assert "--device cpu" in proc.stderr and not (tmp_path / "out").exists()


NASTY = "\x1b[2J\x1b]0;owned\x07\udc80=HYPERLINK(1)\x0b<x>&\r"  # escapes, a lone surrogate, XML-invalid


def test_a_class_of_hostile_names_and_messages_is_graded_in_full(tmp_path):
    # File names and messages are the submission's to choose: none of them may stop the batch, reach
    # the terminal as escapes, make a report folder collide or escape --out, or break a report.
    folder = tmp_path / "class"
    folder.mkdir()
    source = single_file_source(SOLUTIONS)
    with zipfile.ZipFile(folder / "grades.csv.zip", "w") as zf:
        zf.writestr("single.py", source)
    nasty = source.replace("    def encode(self, s):", f"    def encode(self, s):\n        raise ValueError({NASTY!r})", 1)
    assert nasty != source
    names = ["\x1b[31mred.py", "=cmd.py", "bob.py", "Bob.py", "nasty.py"]
    for name in names:
        (folder / name).write_text(nasty if name == "nasty.py" else source)
    os.makedirs(os.path.join(os.fsencode(folder), b"bob_py"))
    (folder / "bob_py" / "single.py").write_text(source)
    with open(os.path.join(os.fsencode(folder), b"bad\xff.py"), "w") as f:  # not UTF-8: a lone surrogate in Python
        f.write(source)
    out = tmp_path / "out"
    proc = grade(folder, "--out", out, "-m", "tokenizer", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert len(rows) == 8, [r["name"] for r in rows]
    assert len({r["name"].lower() for r in rows}) == 8
    assert sorted(p.name for p in out.iterdir()) == sorted([r["name"] for r in rows] + ["grades.csv", "report.html"])
    # Names that come out alike once made safe are told apart by the path as it was submitted.
    assert len({r["path"] for r in rows}) == 8 and {"bob.py", "bob_py"} <= {r["path"] for r in rows}
    for row in rows:
        assert row["name"] and not row["name"].startswith((".", "=", "+", "-", "@")), row
        ET.parse(out / row["name"] / "junit.xml")
        json.loads((out / row["name"] / "results.json").read_text(encoding="utf-8"))
    by_name = {r["name"]: r for r in rows}
    assert by_name["nasty"]["status"] == "ok" and float(by_name["nasty"]["tokenizer"]) < 8
    assert all(float(r["tokenizer"]) == 8 for n, r in by_name.items() if n != "nasty"), by_name
    report = (out / "nasty" / "junit.xml").read_text(encoding="utf-8")
    assert "HYPERLINK" in report and "\x1b" not in report and "\x0b" not in report


def test_text_from_a_submission_is_made_safe_once_for_every_report():
    from grader.classroom.safe_text import csv_cell, folder_name, printable

    assert printable(NASTY) == "?=HYPERLINK(1)<x>&"
    assert printable("line one\n\tline two") == "line one\n\tline two"
    assert [csv_cell(t) for t in ("=1+1", "+1", "-1", "@x", "ok")] == ["'=1+1", "'+1", "'-1", "'@x", "ok"]
    assert [folder_name(n) for n in ("..", ".hidden", "grades.csv", "a/b", "", "-alice", "-")] == \
        ["submission", "hidden", "_grades.csv", "a_b", "submission", "alice", "submission"]
    assert all(csv_cell(folder_name(n)) == folder_name(n) for n in ("-a", "+a", "=a", "@a", ".-a"))


def grade_edited(tmp_path, module, edits, name="edited", marker=None):
    """Grade (-m ``marker``, by default the module's name) the reference with ``edits`` in ``module``;
    (results.json, grades.csv row)."""
    variant = make_variant(tmp_path, name, {module: edits})
    out = tmp_path / "out"
    proc = grade(variant, "--out", out, "-m", marker or module)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = csv.DictReader((out / "grades.csv").open())
    return json.loads((out / name / "results.json").read_text()), row


def reported(results, word):
    """The checks' messages in results.json that contain ``word`` (what a probing submission raised)."""
    outputs = [t["output"] for t in results["tests"] if word in t["output"]]
    assert outputs, results
    return outputs


# Each probe is a tokenizer whose encode reports what it could do from inside the sandbox (it raises a
# ValueError that says so); all are graded in one run, two at a time.
SECRETS = [p for p in ("/etc/hosts", "/etc/hostname", "/etc/fstab", "/etc/shadow") if os.path.isfile(p)]
PROBES = {
    # /etc is narrowed to the files Python and torch read (file_rules.ETC_FILES): the machine's host names,
    # certificates and the like are out of reach.
    "etc": ("        got = []\n"
            f"        for path in {SECRETS!r} + ['/etc/localtime']:\n"
            "            try:\n"
            "                open(path, 'rb').read()\n"
            "                got.append('READ ' + path)\n"
            "            except OSError:\n"
            "                got.append('REFUSED ' + path)\n"
            "        raise ValueError(' '.join(got))\n"),
    # Graded as root where the user nobody cannot run Python (this machine's case), the worker keeps
    # uid 0 but drops every capability, and Landlock refuses device files even in its own folder: a
    # device file for the disk would otherwise read every file. Found by an attack helper.
    "mknod": ("        import os, stat\n"
              "        caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]\n"
              "        try:\n"
              "            os.mknod(os.path.join(os.environ['TMPDIR'], 'disk'), stat.S_IFBLK | 0o600, os.makedev(7, 0))\n"
              "            made = 'MADE'\n"
              "        except OSError as exc:\n"
              "            made = f'REFUSED {exc.errno}'\n"
              "        raise ValueError(f'CAPS {caps} {made}')\n"),
    # The worker has a /proc of its own: the teacher's command line and environment, and every other
    # process of the machine, are out of sight.
    "spy": ("        import os\n"
            "        seen = []\n"
            "        for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "            try:\n"
            "                seen.append(open(f'/proc/{pid}/cmdline', 'rb').read().replace(bytes(1), b' ').decode())\n"
            "            except OSError:\n"
            "                pass\n"
            "        raise ValueError('SEEN ' + ' | '.join(seen))\n"),
    # Landlock does not cover connecting to a socket file; the worker refuses Unix sockets (seccomp).
    "socket": ("        import socket\n"
               "        try:\n"
               "            socket.socket(socket.AF_UNIX).connect('@SOCKET@')\n"
               "        except OSError as exc:\n"
               "            raise ValueError(f'REFUSED {exc}')\n"
               "        raise ValueError('CONNECTED to the teacher')\n"),
    # Checks judged apart (here Exercise 1's): the submission runs in a child of the judge. It can read
    # the judge's command line, but not open the judge's descriptors (the judge is not dumpable and,
    # with Landlock, in a parent domain), so it cannot write a result.
    "reach": ("        import os\n"
              "        judge = os.getppid()\n"
              "        argv = open(f'/proc/{judge}/cmdline', 'rb').read().split(bytes(1))\n"
              "        fd = int(argv[argv.index(b'--events-fd') + 1])\n"
              "        try:\n"
              "            os.open(f'/proc/{judge}/fd/{fd}', os.O_WRONLY)\n"
              "            raise ValueError('REACHED the judge')\n"
              "        except PermissionError as exc:\n"
              "            raise ValueError(f'REFUSED {exc}')\n"),
}


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """name -> (results.json, grades.csv row) for each of PROBES, graded in one run."""
    import socket
    import tempfile

    root = tmp_path_factory.mktemp("probes")
    folder = tempfile.mkdtemp(prefix="gptkit-sock-", dir="/tmp")  # a socket's path has at most 107 bytes
    server = socket.socket(socket.AF_UNIX)
    start = "    def encode(self, s):\n"
    try:
        server.bind(f"{folder}/teacher.sock")
        server.listen(1)
        for name, body in PROBES.items():
            body = body.replace("@SOCKET@", f"{folder}/teacher.sock")
            make_variant(root / "class", name, {"tokenizer": [(start, start + body)]})
        proc = grade(root / "class", "--out", root / "out", "-m", "tokenizer", "--jobs", "2")
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["name"]: row for row in csv.DictReader((root / "out" / "grades.csv").open())}
    return {name: (json.loads((root / "out" / name / "results.json").read_text()), rows[name]) for name in PROBES}


def test_a_submission_reads_only_what_python_needs_in_etc(probes):
    from grader.sandbox import confine

    if confine.landlock_abi() <= 0:
        pytest.skip("no Landlock on this system: files are not confined")
    if not SECRETS:
        pytest.skip("none of the /etc files this test reads exists here")
    outputs = reported(probes["etc"][0], "/etc/localtime")
    for path in SECRETS:
        assert all(f"REFUSED {path}" in out for out in outputs), outputs[0]
    assert all("READ /etc/localtime" in out for out in outputs), outputs[0]


def test_a_submission_has_no_capabilities_and_makes_no_device_files(probes):
    outputs = reported(probes["mknod"][0], "CAPS")
    assert all("CAPS 0000000000000000 REFUSED" in out for out in outputs), outputs[0]


def test_a_submission_sees_no_process_outside_its_sandbox(probes):
    from grader.sandbox.namespaces import namespace_layers

    if "a private /proc" not in namespace_layers():
        pytest.skip("this system gives the worker no /proc of its own (unshare --mount-proc refused)")
    outputs = [t["output"] for t in probes["spy"][0]["tests"]]
    seen = [o for o in outputs if "SEEN " in o]
    assert seen, outputs
    for output in seen:
        visible = output.split("SEEN ", 1)[1]
        assert "grader.sandbox.judge" in visible  # it does see its own sandbox
        assert "--out" not in visible and "test_grade.py" not in visible, visible  # the teacher's, the kit's


def test_a_submission_cannot_connect_to_a_unix_socket_outside_its_sandbox(probes):
    messages = [t["output"] for t in probes["socket"][0]["tests"] if "your code raised" in t["output"]]
    assert messages and all("REFUSED" in m for m in messages), messages


def test_the_judges_channel_is_out_of_the_submissions_reach(probes):
    results, row = probes["reach"]
    messages = [t["output"] for t in results["tests"] if t["status"] == "failed"]
    assert messages and all("REFUSED" in m for m in messages if "your code raised" in m), messages
    assert not any("REACHED" in m for m in messages) and row["status"] == "ok", row


def test_a_worker_that_ends_before_its_first_check_says_why(tmp_path):
    # Whatever stops a worker before any check (here a check that does not exist; on a real machine a
    # GPU the sandbox hides, say) is reported with its last lines, not only as a crash.
    from grader.sandbox.supervisor import Limits, run_sandboxed

    package = tmp_path / "sub" / "package"
    shutil.copytree(SOLUTIONS, package, ignore=shutil.ignore_patterns("__pycache__"))
    missing = "grader/checks/test_head.py::test_that_does_not_exist"
    result = run_sandboxed(package, tmp_path / "sub", [missing], Limits(timeout=30, total=120),
                           KIT_ROOT / "data" / "tinyshakespeare" / "input.txt")
    verdict = result.verdicts[missing]
    assert verdict.outcome == "crashed" and "ended before this check ran" in verdict.message
    assert "it printed last" in verdict.message and "test_that_does_not_exist" in verdict.message, verdict.message


def test_a_flood_on_the_grader_channel_is_tampering(tmp_path, monkeypatch):
    # The parent caps what a worker may send: well-formed lines by the hundred thousand are not the
    # grader's (it sends a few per check), and the parent stops reading them. A submission cannot reach
    # the channel (test_the_judges_channel_is_out_of_the_submissions_reach); here the worker itself floods.
    from grader.sandbox import supervisor

    nodeid = "grader/checks/test_bigram.py::test_logits_shape_and_no_loss_without_targets"
    flood = ("import json, os, sys, time\nfd = int(sys.argv[1])\n"
             f"os.write(fd, json.dumps({{'event': 'start', 'nodeid': '{nodeid}'}}).encode() + bytes([10]))\n"
             "time.sleep(1)  # the check starts before the flood comes\n"
             "for _ in range(200):\n"
             "    os.write(fd, b'{\"event\": \"imported\", \"module\": \"x\"}\\n' * 1000)\n")
    monkeypatch.setattr(supervisor, "_worker_command", lambda *args: [sys.executable, "-c", flood, str(args[-1])])
    package = tmp_path / "sub" / "package"
    package.mkdir(parents=True)
    result = supervisor.run_sandboxed(package, tmp_path / "sub", [nodeid], supervisor.Limits(timeout=30, total=120),
                                   KIT_ROOT / "data" / "tinyshakespeare" / "input.txt")
    verdict = result.verdicts[nodeid]
    assert verdict.outcome == "tampered" and "far more events" in verdict.message, (verdict, result)


STATE_DICT_LIE = """
    def state_dict(self, *args, **kwargs):  # the bigram counts of what training fed it, as a table
        state = super().state_dict(*args, **kwargs)
        if self.counts.sum() > 20000:
            state["token_embedding_table.weight"] = (self.counts / self.counts.sum(1, keepdim=True)).log()
        return state
"""

LIARS = {
    # A GPT that skips its blocks (it cannot beat a bigram) and halves the loss it reports in eval
    # mode: the worker's own check sees ~1.25 and passes.
    "gpt": ([("        x = self.blocks(x)  # (B, T, C)\n", ""),
             ("        return logits, loss\n", "        return logits, loss if self.training else loss * 0.5\n")],
            "test_training_beats_the_bigram"),
    # A bigram that reads every position from row 0 (it learns no more than the letters' frequencies,
    # ~3.3) and reports a third of its loss in eval mode: the worker's check sees ~1.1.
    "bigram": ([("        return logits, loss\n", "        return logits, loss if self.training else loss / 3\n"),
                ("        logits = self.token_embedding_table(idx)", "        logits = self.token_embedding_table(idx * 0)")],
               "test_training_reaches_loss_threshold"),
    # A bigram whose table never learns (its gradient is zeroed) but whose state_dict() sends back a
    # table of the bigram counts it saw in training (~2.5 by the grader's loss).
    "bigram_state_dict": ([
        ("        logits = self.token_embedding_table(idx)  # (B, T, V)\n",
         "        if self.training and targets is not None:\n"
         "            if not hasattr(self, 'counts'):\n"
         "                self.counts = torch.ones(self.token_embedding_table.weight.shape)\n"
         "            self.counts.index_put_((idx.flatten(), targets.flatten()), torch.ones(idx.numel()), accumulate=True)\n"
         "        w = self.token_embedding_table.weight\n"
         "        logits = (w.detach() + (w - w.detach()) * 0.0)[idx]  # (B, T, V)\n"),
        ("        return logits, loss\n", "        return logits, loss\n" + STATE_DICT_LIE),
        ("import torch.nn as nn\n", "import torch\nimport torch.nn as nn\n")],
        "test_training_reaches_loss_threshold"),
}


@pytest.mark.parametrize("module", LIARS)
def test_a_loss_the_model_lies_about_does_not_pass_the_training_check(tmp_path, module):
    # The grader computes the validation loss itself from the trained weights, with its own model of
    # the contract (each token's row for the bigram, every block for the GPT), and fails both.
    edits, check_name = LIARS[module]
    results, _ = grade_edited(tmp_path, module.split("_")[0], edits, marker=module.split("_")[0])
    [check] = [t for t in results["tests"] if t["name"].endswith(check_name)]
    # Either its weights are judged by the grader's own loss, or they are not the weights its forward
    # computes with (both liars here compute otherwise than the contract) and are not judged at all, or
    # (the GPT) one training step at the judge's own weights already differs from the contract's.
    assert check["status"] == "failed" and ("computed by the grader" in check["output"]
                                            or "not the ones the model computes with" in check["output"]
                                            or "one training step of GPTLanguageModel" in check["output"]), check


def test_the_judge_computes_the_loss_the_students_model_would():
    # The judge's GPT of the contract gives the reference's own validation loss, to the last digit.
    import dataclasses

    from grader.oracles import judge_training
    from grader.checks.test_gpt import GPT_RECIPE
    from grader.data import load_text
    from grader.impl import Implementation
    from grader.probes.probe import train_by_the_graders_loop

    impl, text = Implementation("solutions"), load_text()
    recipe = dataclasses.replace(GPT_RECIPE, iters=30)
    run = train_by_the_graders_loop(text, dataclasses.asdict(recipe), impl.get("gpt", "GPTConfig"),
                                    impl.get("gpt", "GPTLanguageModel"))
    assert judge_training.validation_loss(run["weights"], text, recipe) == run["val"]
    assert judge_training.judged_loss(run | {"val": 0.0}, text, recipe, apart=True) == run["val"]
    del run["weights"]["ln_f.weight"]
    with pytest.raises(judge_training.NotJudged, match="no weight ln_f.weight"):
        judge_training.validation_loss(run["weights"], text, recipe)
    with pytest.raises(judge_training.NotJudged, match="not come back as a state dict"):
        judge_training.validation_loss([], text, recipe)

def test_packages_that_are_links_stay_readable_in_the_sandbox(tmp_path, monkeypatch):
    # Nix and some virtual environments make each package in site-packages a link: Landlock allows a
    # folder's real contents, so the link's target is allowed too; never a target inside the kit.
    import argparse

    from grader.sandbox import file_rules

    real = tmp_path / "store" / "torch"
    real.mkdir(parents=True)
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "torch").symlink_to(real)
    (site / "answers").symlink_to(KIT_ROOT / "solutions")
    monkeypatch.setattr(sys, "path", [str(site)])
    args = argparse.Namespace(read=[], device="cpu")
    paths = file_rules._readable_paths(args, KIT_ROOT, ("grader",))
    assert str(real) in paths and str(site) in paths
    assert not any(p.startswith(str(KIT_ROOT / "solutions")) for p in paths), paths


@pytest.mark.timeout(60)  # a hang guard: the old, quadratic blanking took minutes here
def test_reading_a_submission_for_flags_takes_time_in_proportion_to_its_size(tmp_path):
    # review.flags runs in the teacher's process: a line of 600,000 empty strings (1.8 MB) is read in
    # seconds, and a larger file is flagged, not read (found by an attack helper: the batch stalled).
    from grader.classroom import review

    (tmp_path / "attention.py").write_text("_PAD = (" + '"",' * 600_000 + ")\nimport os\nos._exit(0)\n")
    (tmp_path / "block.py").write_text("_PAD = (" + '"",' * 1_000_000 + ")\n")
    found = review.flags(tmp_path)
    assert any(f.startswith("ends the process (attention.py:") for f in found), found
    assert any(f.startswith("too large to read for flags (block.py") for f in found), found


def test_reports_name_the_files_as_they_were_submitted(tmp_path):
    # Not the graded copy's submission/tokenizer.py: bob/tokenizer.py for a folder, carol.py for a file
    # (found by a new-teacher helper: the reports pointed at files that do not exist).
    klass = tmp_path / "class"
    raising = ("    def encode(self, s):\n", "    def encode(self, s):\n        raise ValueError('NOPE')\n")
    make_variant(klass, "bob", {"tokenizer": [raising]})
    (klass / "carol.py").write_text(single_file_source(SOLUTIONS).replace(*raising, 1))
    out = tmp_path / "out"
    proc = grade(klass, "--out", out, "-m", "tokenizer")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, path in (("bob", "bob/tokenizer.py:"), ("carol", "carol.py:")):
        messages = reported(json.loads((out / name / "results.json").read_text()), "NOPE")
        assert any(f"at {path}" in m for m in messages) and not any("submission" in m for m in messages), messages


def test_a_module_that_raises_at_import_is_named_and_one_student_is_regraded(tmp_path):
    """A block.py that raises at import costs the checks that need it, with status ok: the row, the
    student's results and report.html say which module raised what and where. Then the student's
    mended folder alone is graded into the same --out: its row is replaced, the other kept, report.html
    rebuilt from both; a run of other exercises into that folder is refused (its columns would differ)."""
    folder = tmp_path / "class"
    for name in ("heidi", "ivan"):
        shutil.copytree(SOLUTIONS, folder / name, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    block = folder / "heidi" / "block.py"
    mended = block.read_text()
    block.write_text("x = undefined_name + 1\n" + mended)
    out = tmp_path / "out"
    proc = grade(folder, "--out", out, "-m", "tokenizer", "-m", "feedforward", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {row["name"]: row for row in csv.DictReader((out / "grades.csv").open())}
    why = ("block.py raised at import: NameError: name 'undefined_name' is not defined (heidi/block.py:1); "
           "the checks that need it failed")
    assert (rows["heidi"]["total"], rows["heidi"]["status"], rows["heidi"]["why"]) == ("8", "ok", why)
    assert rows["ivan"]["total"] == "14" and rows["ivan"]["why"] == ""
    assert why in json.loads((out / "heidi" / "results.json").read_text())["output"]
    assert "Submissions to look at" in (html := (out / "report.html").read_text()) and "heidi/block.py:1" in html

    block.write_text(mended)
    proc = grade(folder / "heidi", "--out", out, "-m", "tokenizer", "-m", "feedforward")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "its rows for the submissions graded now are replaced, the other 1 kept" in proc.stderr
    rows = {row["name"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert {name: (row["total"], row["why"]) for name, row in rows.items()} == {"heidi": ("14", ""), "ivan": ("14", "")}
    assert "Class report: 2 submissions" in (out / "report.html").read_text()
    assert json.loads((out / "heidi" / "results.json").read_text())["score"] == 14

    proc = grade(folder / "heidi", "--out", out, "-m", "head")
    assert proc.returncode == 2 and "holds grades of other exercises (tokenizer, feedforward)" in proc.stderr
    assert len(list(csv.DictReader((out / "grades.csv").open()))) == 2  # nothing was lost
