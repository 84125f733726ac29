"""Grade one prepared submission in a sandboxed process, and decide each check's verdict here.

This module runs in the teacher's process and never imports a submission's code. It starts
``python -m grader.sandbox.judge`` in a scratch folder, inside fresh PID, network, IPC and user namespaces
where the system allows (so every process and IPC object the submission makes ends with it, and root
inside is nobody outside), and reads the worker's events.
It enforces the per-check and total time limits, the cap on output and on processes, and restarts
the worker for the remaining checks after a crash, a hang or tampering, so one bad part never costs
the points of the good ones.
"""

import json
import os
import secrets
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import launch
from grader.sandbox.cleanup import remove_tree
from grader.sandbox.namespaces import namespace_command, open_to_worker
from grader.sandbox.labels import LABEL

OUTCOMES = ("passed", "failed", "skipped", "timeout", "memory", "crashed", "output", "processes",
            "tampered", "not run")
STARTUP_SECONDS = 120  # python, torch, pytest and the checks' collection, on a busy 2-core machine
LOG_HEAD = 64 * 1024  # bytes of a submission's output kept for the report
MAX_EVENT = 64 * 1024  # the worker's longest event is a few kB (a failure message is cut at 4000 characters)
# The grader sends a check's start and result and a few import events per check; a channel carrying
# far more is not the grader's, and reading it would only cost the parent memory and time.
EVENTS_PER_CHECK, EVENTS_EXTRA = 50, 1000
MAX_MISTAKE = 300  # characters of a named mistake; the grader's longest is about 200
MAX_RAISED = 4000  # characters of a raised error's line and of where, as of a failure message
MAX_IMPORT_ERROR = 500  # characters of what a module raised at import, kept for the reports


@dataclass(frozen=True)
class Limits:
    timeout: float = 60.0  # seconds per check; the slowest check takes ~9 s on 2 cores
    total: float = 900.0  # seconds per submission
    memory_mb: int = 4096  # address space; torch alone maps ~0.7 GB
    processes: int = 8  # processes at once, the worker included
    output_mb: int = 16  # printed output
    file_mb: int = 256  # any one file written
    disk_mb: int = 1024  # everything written in the worker's writable folder
    files: int = 10000  # files in the worker's writable folder
    # Why the total time is what it is, when it is not the teacher's --total-timeout (grade's --deadline).
    total_reason: str = ""

    def out_of_time(self):
        """The verdict's message for a check cut short, or never run, for want of total time."""
        return f"not run: {self.total_reason or f'the submission used up its total time limit of {self.total:.0f} s'}"


@dataclass
class Verdict:
    outcome: str
    message: str = ""
    # Seconds from the check's start event to its result, as this process read them (for junit.xml);
    # 0 for a check that never started (not run, charged for another's timeout).
    seconds: float = 0.0
    # The mistake the check named ("scaled by n_embd instead of head_size: ..."), from the judge's own
    # table of mistakes (grader/failure.py, Mistake), never from a message's text: the class report groups these.
    mistake: str = ""
    # For an error raised in the submission's code: (its first line, where), as the judge's explanation
    # of it says them; () otherwise. The reports say why nothing could be graded from these.
    raised: tuple = ()
    # What says the exercise's code is not there (the reports leave an extra not attempted out), as the
    # judge knows it: the number of the exercise whose stub the check reached (0: none), and the module
    # of the contract whose file the graded folder lacks, or the name its module does not define.
    stub: int = 0
    missing_module: str = ""
    missing_name: str = ""


@dataclass
class SandboxResult:
    verdicts: dict  # nodeid -> Verdict, for every check asked for
    output: str = ""  # the head of what the submission printed
    output_bytes: int = 0
    runs: int = 0  # how many worker processes it took
    landlock: int = 0  # the Landlock ABI used (0: files were not confined)
    namespaces: bool = False
    refused_limits: list = field(default_factory=list)  # resource limits the system did not accept
    blocked: dict = field(default_factory=dict)  # module -> why it was not imported again
    # nodeid -> the submission's function it was calling when it waited out its time limit
    # ("block.FeedForward.forward", as the judge knows it; "" when that was not a call of one)
    hangs: dict = field(default_factory=dict)
    import_errors: dict = field(default_factory=dict)  # module -> (what importing it raised, where), the first time
    events: list = field(default_factory=list)  # what happened, for the report
    cleanup: list = field(default_factory=list)  # what could not be deleted, for the report (not seen so far)


def _sandbox_pids(token, root=None):
    """The sandbox's processes (Linux /proc): those descended from ``root`` (the worker's first process)
    and those carrying the sandbox's token in their environment. In a PID namespace an orphan is
    adopted by the worker, so it stays a descendant even when it dropped the token (``env={}``); without
    one, the token finds the processes that kept it."""
    marker = f"GPTKIT_SANDBOX={token}".encode()
    pids, parents = set(), {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parents[int(entry)] = int(f.read().rpartition(b")")[2].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    pids.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    if root is not None:
        children = {}
        for pid, parent in parents.items():
            children.setdefault(parent, []).append(pid)
        stack, seen = list(children.get(root, [])), set()
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack.extend(children.get(pid, []))
        pids |= seen
    return sorted(pids)


def _scratch_over_limit(folder, limits):
    """Why ``folder`` is over the limits on files written, or None (stops counting at the first excess)."""
    size, count = 0, 0
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            if count > limits.files:
                return f"wrote more than {limits.files} files"
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    size += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            if size > limits.disk_mb * 2**20:
                return f"wrote more than {limits.disk_mb} MB of files"
    return None


def _kill_all(proc, token):
    for _ in range(3):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in _sandbox_pids(token, proc.pid if proc.poll() is None else None):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        if not _sandbox_pids(token):
            return


class _Run:
    """One worker process and what it has reported so far."""

    def __init__(self, cmd, workdir, env, events_fd):
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=(events_fd,), start_new_session=True,
        )


def run_sandboxed(package, workdir, nodeids, limits, data_path, device="cpu", progress=None, cancel=None,
                  budgets=None, exercises=None):
    """Grade ``nodeids`` on the package folder ``package`` (inside ``workdir``); returns SandboxResult.

    ``budgets`` maps a nodeid to its time limit (time_limits.time_limit, by Check.budget; ``limits.timeout``
    for the others).

    ``cancel`` (a threading.Event) stops the grading early: the checks not yet graded are "not run".

    A hang is waited for once: when a check times out in a call of one of the submission's functions
    (the judge knows which call was in flight: ``FeedForward.forward``), later checks that call it,
    directly or through the submission's own code (a Block's forward), are charged at once by the
    judge (``--hung``, grader/sandbox/remote.py), and the others run as usual. ``exercises`` maps a
    nodeid to its exercise, for a timeout that was not in such a call (a probe, the grader's own code,
    a worker stopped from here): the exercise's other checks would most likely wait on the same
    endless code, so they are charged at once, and the time is left for the other exercises.

    The worker is a judge: it runs the submission's code only in a child process of its own
    (grader/sandbox/remote.py), so the verdicts it reports were decided where no submission code ran.
    """
    workdir = Path(workdir)
    result = SandboxResult({}, namespaces=bool(namespace_command()))
    remaining = list(nodeids)
    deadline = time.monotonic() + limits.total
    head = bytearray()
    exercises = exercises or {}
    while remaining and time.monotonic() < deadline and not (cancel and cancel.is_set()):
        _charge_hung_exercises(remaining, result, exercises, progress)
        if not remaining:
            break
        before, printed = len(remaining), len(head)
        _one_run(package, workdir, remaining, limits, data_path, device, deadline, result, head, progress, cancel,
                 budgets or {}, exercises)
        result.runs += 1
        if len(remaining) == before:  # no progress: charge the first check, so the loop always ends
            nodeid = remaining.pop(0)
            result.verdicts[nodeid] = Verdict("crashed", "the grading process ended before this check ran"
                                              + _last_lines(head[printed:]))
    why = ("not run: grading was interrupted" if cancel and cancel.is_set()
           else limits.out_of_time())
    for nodeid in remaining:
        result.verdicts[nodeid] = Verdict("not run", why)
    result.output = head.decode("utf-8", "replace")
    return result


def _last_lines(output, count=5):
    """What a worker printed last, for a run that ended before its first check: often why."""
    lines = bytes(output).decode("utf-8", "replace").strip().splitlines()[-count:]
    return ("; it printed last:\n" + "\n".join(line[:300] for line in lines)) if lines else ""


def _hung_exercises(result, exercises):
    """Exercise -> the first of its checks that waited out its time limit other than in a call of one
    of the submission's functions (those are charged by function, see _hung_functions)."""
    hung = {}
    for nodeid, function in result.hangs.items():
        if not function and nodeid in exercises:
            hung.setdefault(exercises[nodeid], nodeid)
    return hung


def _hung_functions(result):
    """The submission's function -> the first check that waited out its time limit in a call of it."""
    hung = {}
    for nodeid, function in result.hangs.items():
        if function:
            hung.setdefault(function, nodeid)
    return hung


def _charge_hung_exercises(remaining, result, exercises, progress=None):
    hung = _hung_exercises(result, exercises)
    for nodeid in [n for n in remaining if exercises.get(n) in hung]:
        remaining.remove(nodeid)
        first = hung[exercises[nodeid]].rpartition("::")[2]
        result.verdicts[nodeid] = Verdict("timeout", f"not run: {first} of the same exercise did not finish "
                                                     "in time, and this check would have waited on the same code")
        if progress:
            progress(nodeid, result.verdicts[nodeid])


def probe_cuda(workdir, limits, data_path):
    """Start one worker confined as for grading with ``--device cuda``, with no submission, and ask it
    whether CUDA works there. Returns ``(True, device name)`` or ``(False, why)``."""
    writable = Path(workdir) / "cuda-probe"
    remove_tree(writable)
    writable.mkdir(parents=True)
    open_to_worker(workdir, writable, writable)
    read_fd, write_fd = os.pipe()
    cmd = _worker_command(writable, writable, [], limits, "cuda", data_path, {}, write_fd) + ["--probe-cuda"]
    token = secrets.token_hex(8)
    try:
        proc = _Run(cmd, writable, _environment(writable, data_path, token), write_fd).proc
    finally:
        os.close(write_fd)
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        output = b"the probe did not answer within 120 s"
    finally:
        _kill_all(proc, token)
    with os.fdopen(read_fd, "rb") as events:
        for line in events.read(MAX_EVENT).splitlines():
            event = json.loads(line) if line.startswith(b"{") else {}
            if event.get("event") == "cuda":
                return bool(event.get("ok")), str(event.get("detail", ""))
    tail = output.decode("utf-8", "replace").strip().splitlines()[-3:]
    return False, "the sandboxed worker ended without an answer: " + " / ".join(tail)


def _worker_command(package, writable, remaining, limits, device, data_path, blocked, events_fd):
    cmd = [*namespace_command(), *launch.python_module("grader.sandbox.judge"), "--impl", str(package),
           "--events-fd", str(events_fd), "--timeout", str(limits.timeout),
           "--memory-mb", str(limits.memory_mb), "--file-mb", str(limits.file_mb),
           "--device", device, "--read", str(data_path), "--read", str(package), "--write", str(writable)]
    for module, reason in blocked.items():
        cmd += ["--block", f"{module}={reason}"]
    return cmd + list(remaining)


def _hung_arguments(result):
    """The worker's arguments (after the checks) that name the submission's functions known to hang."""
    return [arg for function, nodeid in _hung_functions(result).items() for arg in ("--hung", f"{function}={nodeid}")]


def _environment(writable, data_path, token):
    env = launch.environment({
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(writable), "TMPDIR": str(writable),
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        # One thread each: submissions graded side by side do not fight over cores, and the
        # training checks give the same numbers on every machine.
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "GPTKIT_DATA": str(data_path), "GPTKIT_SANDBOX": token,
    })
    # Where the GPU driver's library is found on many machines (a CUDA image, a cluster's module);
    # without it torch sees no GPU in the worker. Which GPU to use, likewise.
    for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _empty_folder(workdir, result):
    """The folder the next worker may write in, empty. Each worker gets one, and nothing else: the
    submission's own files stay as they were submitted, and what one run wrote does not reach the next."""
    writable = workdir / "run"
    try:
        remove_tree(writable)
    except OSError as exc:  # not seen: then the next worker writes elsewhere, and the report says so
        result.cleanup.append(f"what the submission wrote could not all be deleted before its next run ({exc})")
        return Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    writable.mkdir()
    return writable


def _one_run(package, workdir, remaining, limits, data_path, device, deadline, result, head, progress, cancel,
             budgets, exercises):
    """One worker on the checks ``remaining``, until it finishes them or must stop; its verdicts go into
    ``result`` and are taken out of ``remaining``."""
    token = secrets.token_hex(8)
    writable = _empty_folder(workdir, result)
    open_to_worker(workdir, writable, package)
    read_fd, write_fd = os.pipe()
    cmd = _worker_command(package, writable, remaining, limits, device, data_path, result.blocked, write_fd)
    cmd += _hung_arguments(result)
    try:
        run = _Run(cmd, workdir, _environment(writable, data_path, token), write_fd)
    finally:
        os.close(write_fd)
    state = _RunState(limits, deadline, budgets, exercises)
    streams = _Streams(run, read_fd, limits, len(remaining))
    stop = None  # (outcome, message) that ends this run early
    last_process_check = 0.0
    try:
        while streams.open and stop is None:
            now = time.monotonic()
            wait = max(0.0, min(state.check_deadline(now), deadline) - now)
            stop = streams.read(min(wait, 0.5), state, remaining, result, head, progress)
            now = time.monotonic()
            stop = stop or _time_stop(now, state, deadline, limits, cancel)
            if stop is None and now - last_process_check > 0.5:
                last_process_check = now
                stop = _sandbox_stop(token, run, writable, limits)
                if stop is None and run.proc.poll() is not None and not streams.selector.select(timeout=0.2):
                    break  # the worker is gone but a process it left behind holds its pipes open
    finally:
        _kill_all(run.proc, token)
        streams.close()
        os.close(read_fd)
    state.finish(stop, run.proc.returncode, remaining, result)


class _Streams:
    """A worker's two pipes: what it prints (kept in part, capped) and its events (capped in count)."""

    def __init__(self, run, events_fd, limits, checks):
        self.run, self.limits = run, limits
        self.selector = selectors.DefaultSelector()
        self.selector.register(run.proc.stdout, selectors.EVENT_READ, "output")
        self.selector.register(events_fd, selectors.EVENT_READ, "events")
        self.open = 2
        self.buffer = b""
        self.printed = 0  # the output cap is per worker: a restart does not inherit what the last one printed
        self.events, self.max_events = 0, EVENTS_PER_CHECK * checks + EVENTS_EXTRA

    def read(self, timeout, state, remaining, result, head, progress):
        """Read what is ready within ``timeout`` s; returns (outcome, message) when the run must stop."""
        stop = None
        for key, _ in self.selector.select(timeout=timeout):
            data = os.read(key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno(), 65536)
            if not data:
                self.selector.unregister(key.fileobj)
                self.open -= 1
            elif key.data == "output":
                stop = stop or self._output(data, result, head)
            else:
                stop = stop or self._events(data, state, remaining, result, progress)
        return stop

    def _output(self, data, result, head):
        result.output_bytes += len(data)
        self.printed += len(data)
        if len(head) < LOG_HEAD:
            head.extend(data[:LOG_HEAD - len(head)])
        if self.printed > self.limits.output_mb * 2**20:
            return ("output", f"printed more than the output limit of {self.limits.output_mb} MB")
        return None

    def _events(self, data, state, remaining, result, progress):
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        self.events += len(lines)
        if self.events > self.max_events:
            return ("tampered", "the grader's channel carried far more events than the grader sends")
        stop = None
        for line in lines:
            stop = stop or state.handle(line, remaining, result, progress)
        if len(self.buffer) > MAX_EVENT:  # a line longer than any event: not the worker's
            stop = stop or ("tampered", "something other than the grader wrote to the grader's channel")
        return stop

    def close(self):
        self.selector.close()
        self.run.proc.stdout.close()


def _time_stop(now, state, deadline, limits, cancel):
    """Why the run stops now for want of time (interrupted, the total limit, the check's limit), or None."""
    if cancel is not None and cancel.is_set():
        return ("not run", "not run: grading was interrupted")
    if now >= deadline:
        return ("not run", limits.out_of_time())
    if now >= state.check_deadline(now):
        return state.timeout_verdict()
    return None


def _sandbox_stop(token, run, writable, limits):
    """Why the run stops for what its processes did (too many of them, too much written), or None."""
    if len(_sandbox_pids(token, run.proc.pid)) > limits.processes:
        return ("processes", f"started more processes than the limit of {limits.processes} at once")
    disk = _scratch_over_limit(writable, limits)
    return ("output", disk) if disk is not None else None


def _raised(field):
    """A result's "raised" field as Verdict.raised: two texts, else ()."""
    if type(field) is list and len(field) == 2 and all(type(text) is str for text in field):
        return tuple(text[:MAX_RAISED] for text in field)
    return ()


def _absent_facts(event):
    """A result's "stub", "missing_module" and "missing_name" as Verdict's fields: a small number and
    Python names of at most 200 characters, else none."""
    stub = event.get("stub")
    names = {key: event.get(key) for key in ("missing_module", "missing_name")}
    return {"stub": stub if type(stub) is int and 0 < stub < 1000 else 0,
            **{key: value if type(value) is str and len(value) <= 200 and value.isidentifier() else ""
               for key, value in names.items()}}


def _describe_exit(returncode):
    if returncode is None:
        return "was stopped"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        # The grader's own limits stop a process otherwise (a MemoryError, a timeout verdict): a SIGKILL
        # from outside is most often the machine's, or the container's, memory running out.
        why = {"SIGSEGV": " (a segmentation fault)",
               "SIGKILL": " (most often, the machine ran out of memory: the grader needs about 1 GB)"}
        return f"was killed by {name}" + why.get(name, "")
    return f"exited with code {returncode}"


class _RunState:
    """Follows one worker's events: the check under way, imports under way, results to confirm."""

    def __init__(self, limits, deadline, budgets=None, exercises=None):
        self.limits = limits
        self.budgets = budgets or {}
        self.exercises = exercises or {}
        self.deadline = deadline
        self.current = None
        self.started = time.monotonic()
        self.importing = []  # modules whose import began and has not ended
        self.pending = None  # (nodeid, Verdict): a result counts once the next event confirms it
        self.pending_hang = None  # for a pending timeout the check waited out: the function it was calling
        self.finished = False
        self.landlock = None

    def check_deadline(self, now):
        if self.current is None:
            return self.started + STARTUP_SECONDS
        # pytest-timeout stops a check in the worker at limits.timeout; this catches what it cannot
        # (a loop in C code, a blocked signal), after a grace period.
        return self.started + self._limit() + 10

    def _limit(self):
        return self.budgets.get(self.current, self.limits.timeout)  # time_limits.time_limit, from grade

    def timeout_verdict(self):
        where = f" (while importing {self.importing[-1]}.py)" if self.importing else ""
        return ("timeout", f"did not finish within the time limit of {self._limit():.0f} s for this check{where}")

    def _confirm(self, remaining, result, progress):
        if self.pending is None:
            return
        nodeid, verdict = self.pending
        self.pending = None
        result.verdicts[nodeid] = verdict
        if self.pending_hang is not None and verdict.outcome == "timeout":
            result.hangs[nodeid] = self.pending_hang
        self.pending_hang = None
        remaining.remove(nodeid)
        if progress:
            progress(nodeid, verdict)

    def handle(self, line, remaining, result, progress):
        """Take one event line; returns (outcome, message) when the run must stop."""
        try:
            event = json.loads(line)
            kind = event["event"]
        except (ValueError, KeyError, TypeError):
            return ("tampered", "something other than the grader wrote to the grader's channel")
        if kind == "confined":
            self._confirm(remaining, result, progress)
            result.landlock = int(event.get("landlock", 0))
            result.refused_limits = [str(name) for name in event.get("refused_limits", [])]
            return None
        if kind in ("import", "imported", "import-failed"):
            module = str(event.get("module"))
            if kind == "import":
                self.importing.append(module)
            elif module in self.importing:
                self.importing.remove(module)
                if kind == "import-failed" and event.get("where"):  # raised in the submission's code
                    result.import_errors.setdefault(module, (str(event.get("detail", ""))[:MAX_IMPORT_ERROR],
                                                             str(event["where"])[:MAX_IMPORT_ERROR]))
                if kind == "import-failed" and event.get("timed_out") is True:
                    result.blocked.setdefault(module, f"{module}.py was not imported again: importing it took "
                                                      f"longer than the time limit of {self.limits.timeout:.0f} s")
            return None
        if kind == "start":
            self._confirm(remaining, result, progress)
            nodeid = event.get("nodeid")
            if self.current is not None or nodeid not in remaining:
                return ("tampered", "the grader's channel reported a check out of turn")
            if self.exercises.get(nodeid) in _hung_exercises(result, self.exercises):
                return ("skip", "an earlier check of this exercise timed out")  # a fresh worker skips them
            self.current, self.started = nodeid, time.monotonic()
            return None
        if kind == "result":
            nodeid, outcome = event.get("nodeid"), event.get("outcome")
            if nodeid != self.current or outcome not in OUTCOMES or self.pending is not None:
                return ("tampered", "the grader's channel reported a result out of turn")
            mistake = event.get("mistake")
            self.pending = (nodeid, Verdict(outcome, str(event.get("message", "")), time.monotonic() - self.started,
                                            mistake[:MAX_MISTAKE] if type(mistake) is str else "",
                                            _raised(event.get("raised")), **_absent_facts(event)))
            # A timeout the check waited out (not one charged at once for a function known to hang), and
            # the submission's function whose call it cut short, as the judge knows it.
            hung = event.get("hung")
            self.pending_hang = (None if outcome != "timeout" or event.get("charged") is not None else
                                 hung if isinstance(hung, str) and len(hung) <= 200 and LABEL.fullmatch(hung)
                                 else "")
            self.current = None
            self.started = time.monotonic()
            return None
        if kind == "finished":
            self._confirm(remaining, result, progress)
            self.finished = True
            return None
        return ("tampered", "the grader's channel carried an event the grader does not send")

    def finish(self, stop, returncode, remaining, result):
        """Charge the check under way (if any) with why the run ended."""
        if stop is None and self.finished:
            return
        if stop is None:
            stop = ("crashed", f"the grading process {_describe_exit(returncode)}")
        outcome, message = stop
        if self.pending is not None:
            if outcome == "tampered":
                # The result before the forgery cannot be told apart from a forged one.
                nodeid, pending = self.pending
                self.pending = (nodeid, Verdict("tampered", message, pending.seconds))
            elif self.current is None:
                # A result not followed by the next event: the process died right after writing it,
                # which a forged "passed" followed by os._exit would also look like.
                nodeid, pending = self.pending
                self.pending = (nodeid, Verdict(outcome, f"{message} right after this check", pending.seconds))
            self._confirm(remaining, result, None)
        if outcome in ("not run", "skip"):  # the check under way stays to be graded (or charged) later
            return
        if self.importing:
            module = self.importing[-1]
            result.blocked.setdefault(module, f"{module}.py was not imported again: importing it "
                                              f"{'took too long' if outcome == 'timeout' else 'ended the grading process'}"
                                              f" in an earlier run ({message})")
        if self.current is not None and self.current in remaining:
            if outcome == "timeout":  # stopped from here: which call was in flight is not known
                result.hangs[self.current] = ""
            remaining.remove(self.current)
            result.verdicts[self.current] = Verdict(outcome, message, time.monotonic() - self.started)
        result.events.append(f"{outcome}: {message}")
