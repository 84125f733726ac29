"""Grade many implementations in one process: one ``pytest.main`` per implementation, torch imported once.

    python tests/grade_many.py JOBS.json

``JOBS.json`` is a list of ``{"impl": folder, "paths": [checks], "args": [pytest arguments], "junit": path,
"log": path}``, with ``"record": path`` on a job whose run should record which of the implementation's
modules each check executed (see Recorder). Each implementation is imported under a package name of
its own (grader/impl.py), so the runs do not see each other's modules, and the checks seed every random
choice they make. tests/kit.py's ``run_checks_many`` uses it for the variants, where isolation between
variants is not what is tested.
"""

import contextlib
import json
import sys
from pathlib import Path

import pytest

KIT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT_ROOT))


def case_key(item):
    """How tests/kit.py's read_junit names a check: ``test_head::test_x[param]``."""
    return f"{Path(str(item.fspath)).stem}::{item.name}"


class Recorder:
    """Which of the implementation's modules each check executed code of, or asked the grader for.

    A check that never ran a line of a module, and never looked a name up in it, gives the same
    verdict whatever that module holds: so a variant need only be graded on the checks that touch the
    modules it edits. Code a fixture ran counts for every check that uses the fixture.
    """

    def __init__(self, folder):
        self.folder = str(Path(folder).resolve())
        self.fixtures = {}
        self.checks = {}

    @contextlib.contextmanager
    def tracing(self):
        from grader.impl import Implementation

        seen, folder, module = set(), self.folder, Implementation.module

        def tracer(frame, event, arg):  # called on each Python call; no line tracing (returns None)
            if frame.f_code.co_filename.startswith(folder):
                seen.add(Path(frame.f_code.co_filename).stem)

        def recording_module(impl, name):
            seen.add(name)
            return module(impl, name)

        before = sys.gettrace()
        Implementation.module = recording_module
        sys.settrace(tracer)
        try:
            yield seen
        finally:
            sys.settrace(before)
            Implementation.module = module

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        with self.tracing() as seen:
            yield
        self.fixtures.setdefault(fixturedef.argname, set()).update(seen)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        with self.tracing() as seen:
            yield
        for name in item.fixturenames:
            seen |= self.fixtures.get(name, set())
        self.checks[case_key(item)] = {"nodeid": item.nodeid, "modules": sorted(seen - {"__init__"})}


def main(jobs_file):
    for job in json.loads(Path(jobs_file).read_text()):
        recorder = Recorder(job["impl"]) if job.get("record") else None
        paths = job.get("paths") or [str(KIT_ROOT / "grader" / "checks")]
        with open(job["log"], "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = pytest.main([*paths, "--impl", job["impl"], "--extras", f"--junitxml={job['junit']}",
                                "-o", "junit_family=xunit1", *job.get("args", [])],
                               plugins=[recorder] if recorder else [])
            print(f"exit code {int(code)}")
        if recorder:
            Path(job["record"]).write_text(json.dumps(recorder.checks, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
