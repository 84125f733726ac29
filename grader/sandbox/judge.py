"""The judge of one submission: ``python -m grader.sandbox.judge`` (started by ``grade``).

It confines itself first (limits, a system-call allowlist, Landlock), then runs the graded checks with pytest;
the submission's code runs only in its child, a probe server (grader/sandbox/remote.py), and only data comes
back, so nothing the submission does reaches the checks. It streams one JSON line per event to the
file descriptor the parent gave it:

    {"event": "confined", "landlock": 7}
    {"event": "start", "nodeid": ...}
    {"event": "import", "module": "attention"} / {"event": "imported", ...}  (the child's first imports)
    {"event": "result", "nodeid": ..., "outcome": "passed|failed|skipped|memory|timeout|crashed", "message": ...}

A failure's result carries, as data, the mistake the check named (``"mistake": ...``), for an error
raised in the submission's code the error's first line and where (``"raised": [error, where]``), and
what says an exercise's code is not there: the number of the exercise whose stub raised (``"stub": 5``),
the contract module or name the graded folder lacks (``"missing_module"``, ``"missing_name"``).

A timeout's result says which of the submission's functions the check was calling when its time ran out,
when it was one (``"hung": "block.FeedForward.forward"``: the call in flight, a fact of this process),
and a check charged at once because it called one known to hang says which (``"charged": ...``): the
parent passes the functions known to hang to the next worker (``--hung``).

The parent turns the results into scores.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

import pytest

from grader.sandbox import confine, file_rules
from grader.failure import GradingFailure
from grader.sandbox.hang import KnownHang
from grader.sandbox.labels import shown

MAX_MESSAGE = 4000  # characters of a failure message kept for the report


class EventStream:
    def __init__(self, fd):
        self.fd = fd

    def send(self, **event):
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data):]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox.judge")
    parser.add_argument("--impl", required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--read", action="append", default=[], help="extra paths it may read")
    parser.add_argument("--write", action="append", default=[], help="the folders it may write in")
    parser.add_argument("--block", action="append", default=[], metavar="MODULE=REASON")
    parser.add_argument("--hung", action="append", default=[], metavar="FUNCTION=CHECK",
                        help="a function of the submission that did not finish in time in CHECK: calls of it "
                             "are refused at once")
    parser.add_argument("--no-landlock", action="store_true")
    parser.add_argument("--probe-cuda", action="store_true",
                        help="confine as for grading, report whether CUDA works, run no check")
    parser.add_argument("nodeids", nargs="*")
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    stream = EventStream(args.events_fd)
    kit_root = Path(__file__).resolve().parents[2]
    workdir = os.getcwd()

    cuda = args.device == "cuda"
    refused = confine.limit_resources(None if cuda else args.memory_mb, args.file_mb)
    if cuda:
        refused.append("RLIMIT_AS (not set with CUDA, which reserves more address space than any cap)")
        # CUDA's driver may talk to its daemons over Unix sockets: allowed there (not yet tried on a GPU).
        refused.append("no Unix sockets (allowed with CUDA)")
    if not confine.own_session_keyring():
        refused.append("a session key ring of its own")
    # The allowlist of system calls (grader/sandbox/syscalls.py), inherited by the judge's child.
    if why_not := confine.filter_system_calls(allow_unix_sockets=cuda):
        refused.append(f"no system-call filter ({why_not})")
    # pytest walks from its rootdir (the kit) down to the checks: the judge may list the kit's folders.
    abi = file_rules.confine_files(args, kit_root, list_kit=True)
    if not confine.drop_capabilities() and os.geteuid() == 0:
        refused.append("dropping root's capabilities")
    stream.send(event="confined", landlock=abi, refused_limits=refused)

    if args.probe_cuda:
        stream.send(event="cuda", **_cuda_works())
        os._exit(0)

    # The kit's root is where `solutions` would be found; the grader is already imported.
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) not in (str(kit_root), workdir)]

    provider = _judge_provider(args, stream)
    reporter = _Reporter(stream, args.timeout, provider.gptkit_impl.channel)
    argv = [
        *(str(kit_root / nodeid) for nodeid in args.nodeids),
        "-p", "grader.student.plugin", "--noconftest", "-p", "no:cacheprovider",
        "--rootdir", str(kit_root), "-c", str(kit_root / "tox.ini"), "-q", "-s", "--tb=short",
        "--impl", args.impl, "--device", args.device,
        "-o", f"timeout={args.timeout}", "-o", "timeout_method=signal",
    ]
    code = pytest.main(argv, plugins=[reporter, provider])
    stream.send(event="finished", exit_code=int(code))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter shutdown: the parent has every result, the child is ended with it


def _judge_provider(args, stream):
    """The judge's implementation: the submission runs in a probe server, confined as this process is
    and more (a Landlock domain of its own), and this process stays out of its reach."""
    from grader.sandbox.remote import Provider, RemoteImpl

    confine.not_dumpable()  # no process of the same user may read or write this one's memory
    server = ["--device", args.device]
    for path in args.read:
        server += ["--read", path]
    for path in args.write:
        server += ["--write", path]
    for item in args.block:
        server += ["--block", item]
    if args.no_landlock:
        server.append("--no-landlock")
    impl = RemoteImpl(args.impl, server)
    impl.channel.hung = dict(item.split("=", 1) for item in args.hung if "=" in item)
    impl.channel.on_import = lambda event, name, exc=None, where="": stream.send(
        event=event, module=name, detail="" if exc is None else f"{type(exc).__name__}: {exc}"[:500],
        where=where[:500], timed_out=exc is not None and _timed_out(exc))
    impl.channel.start()  # it imports torch while this process collects the checks
    return Provider(impl)


def _cuda_works():
    """Whether CUDA runs here, and if not, torch's own reason."""
    import torch

    try:
        (torch.ones(1, device="cuda") + 1).item()
        return {"ok": True, "detail": torch.cuda.get_device_name()}
    except Exception as exc:  # torch raises RuntimeError, AssertionError or its own errors here
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:1000]}


def _outcome(report, call_excinfo):
    if call_excinfo is not None:
        exc = call_excinfo.value
        if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
            return "memory"
        if _timed_out(exc):
            return "timeout"
        if type(exc).__name__ == "ProbeProcessEnded":  # teacher mode: the submission's own process ended
            return "crashed"
        if _known_hang(exc) is not None:  # it called a function that did not finish in time before
            return "timeout"
    return report.outcome


def _timed_out(exc):
    """Whether ``exc`` is pytest-timeout's, raised in this process when a check ran out of time: its own
    type, not its words (the submission's exceptions come back as built-in ones, whatever they say)."""
    return isinstance(exc, pytest.fail.Exception) and "from pytest-timeout" in str(exc)


def _known_hang(exc):
    """The label of the function known to hang that ``exc`` refused a call of (KnownHang), or None."""
    return exc.label if isinstance(exc, KnownHang) else None


# pytest's own traceback text (--tb=short), read in this process: the grader writes none of it, and no
# submission code wrote it (that runs in the child, whose frames do not appear here).
_FRAME = re.compile(r"^\S.*:\d+: in \S+$")  # "grader/checks/test_head.py:40: in test_x", as pytest prints it
_CHECKS = "grader/checks/"  # the checks' own code: the rest (grader/sandbox/, oracles/, probes/, torch) is plumbing


def _frames_worth_showing(traceback):
    """What a timed-out (or crashed) check was doing, as the check's own source lines that were under
    way ("the check was at: expect_tensor(head(x), ...)"): the call of the submission's code that did not
    return. Not pytest's file paths and line numbers (the grader's), not the frames of the grader's
    plumbing (the wait on the submission's process, the training loop, torch), not pytest-timeout's line."""
    frames, current = [], None
    for line in traceback.splitlines():
        if _FRAME.match(line):
            current = [line]
            frames.append(current)
        elif current is not None and line.strip().strip("^~ ") and not line.startswith("E "):
            current.append(line.strip())
    return [f"  the check was at: {frame[1]}" for frame in frames if len(frame) > 1 and _CHECKS in frame[0]]


class _Reporter:
    """Turns pytest's reports into one verdict per check."""

    def __init__(self, stream, timeout, channel=None):
        self.stream = stream
        self.timeout = timeout
        self.channel = channel  # the judge's channel to the child: which call a timeout cut short
        self.hang = {}  # the result's "hung" or "charged" field
        self.limits = {}  # nodeid -> the check's own, longer time limit
        # [nodeid, outcome, message, a failure's facts (_facts)]
        self.current = None
        self.excinfo = {}

    def pytest_collection_modifyitems(self, items):
        # pytest-timeout takes a check's own timeout marker over the option: make it the check's time limit.
        from grader.sandbox.time_limits import own_time_limit, time_limit

        for item in items:
            if own := own_time_limit(item):
                limit = time_limit(self.timeout, own)
                item.add_marker(pytest.mark.timeout(limit), append=False)
                self.limits[item.nodeid] = limit

    @pytest.hookimpl(tryfirst=True, hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        # A child restarted after a timeout (or a crash) finishes starting before the next check's time
        # limit starts (pytest-timeout's, a wrapper inside this one), as the first child did.
        if self.channel is not None:
            try:
                self.channel.wait_ready()
            except Exception:  # the check that needs it reports why it is not there
                pass
        yield

    def pytest_runtest_logstart(self, nodeid, location):
        self.current = [nodeid, "passed", "", {}]
        self.hang = {}
        if self.channel is not None:
            self.channel.interrupted = None
        self.stream.send(event="start", nodeid=nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if call.excinfo is not None:
            self.excinfo[(item.nodeid, call.when)] = call.excinfo
        return report

    def pytest_runtest_logreport(self, report):
        if self.current is None or report.nodeid != self.current[0]:
            return
        if report.outcome != "passed" and self.current[1] == "passed":
            outcome = _outcome(report, self.excinfo.get((report.nodeid, report.when)))
            message = report.longreprtext or ""
            excinfo = self.excinfo.get((report.nodeid, report.when))
            known = _known_hang(excinfo.value) if outcome == "timeout" and excinfo is not None else None
            if known is not None:  # charged at once: the judge's own words say why
                message = str(excinfo.value)
                self.hang = {"charged": known}
            elif outcome == "timeout":  # say plainly which of the submission's functions was running
                label = self._hung(report.nodeid)
                limit = self.limits.get(report.nodeid, self.timeout)
                running = f"{shown(label)} was still running" if label else "the submission's code was still running"
                message = "\n".join([f"did not finish within the time limit of {limit:g} s for this check: "
                                      f"{running} (an endless loop, or far too slow)",
                                      *([] if label else _frames_worth_showing(message))])
            elif outcome == "crashed" and excinfo is not None:  # the submission's process ended: say so plainly
                message = "\n".join([str(excinfo.value), *_frames_worth_showing(message)])
            if report.outcome == "skipped":
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else message
                message = f"skipped: {reason.removeprefix('Skipped: ')}"  # pytest's reason reads "Skipped: why"
            self.current[1], self.current[2] = outcome, message[:MAX_MESSAGE]
            self.current[3] = _facts(excinfo, report.longrepr)
        if report.when == "teardown":
            self._finish()

    def _hung(self, nodeid):
        """A timeout: the submission's function whose call it cut short (if it was one) is known to hang
        from now on, in this worker (refused at once, see remote.Channel) and, through the result, the
        next ones."""
        label = self.channel.interrupted if self.channel is not None else None
        if label:
            self.channel.hung.setdefault(label, nodeid)
            self.hang = {"hung": label}
        return label

    def _finish(self):
        nodeid, outcome, message, facts = self.current
        self.current = None
        self.stream.send(event="result", nodeid=nodeid, outcome=outcome, message=message, **facts, **self.hang)


def _facts(excinfo, explanation):
    """A failure's facts for its result event, each only when there is one: the mistake the check named,
    and, as the judge's own Explanation (grader/student/explain.py, made in this process) holds them,
    the error the submission's code raised and where, the stub it reached, the module or name missing."""
    mistake = GradingFailure.named_in(excinfo.value) if excinfo is not None else None
    facts = {"mistake": mistake} if mistake else {}
    raised = getattr(explanation, "raised", None)
    if raised:
        facts["raised"] = [text[:MAX_MESSAGE] for text in raised]
    if getattr(explanation, "stub", None) is not None:
        facts["stub"] = explanation.stub
    for key in ("missing_module", "missing_name"):
        if getattr(explanation, key, ""):
            facts[key] = getattr(explanation, key)
    return facts


if __name__ == "__main__":
    main()
