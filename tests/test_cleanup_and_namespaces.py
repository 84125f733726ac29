"""Nothing a submission makes outlives its grading, and root in the sandbox is not root outside.

The remover (grader/sandbox/cleanup.py) deletes folders at any depth, closed to their owner, and links
without following them; the worker's namespaces (grader/sandbox/namespaces.py) take its System V IPC
objects and its processes with it, and map root inside to an unprivileged user outside where the
kernel allows. The remover and the IPC namespace each have a control: the attack works without them."""

import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys

import pytest

from grader import launch
from grader.sandbox import supervisor, namespaces
from grader.sandbox.cleanup import remove_tree

DEPTH = 3000  # shutil.rmtree gives up near 1,000 (Python's recursion limit); the attack used 1,500


def _make_deep(top_fd, name="deep", depth=DEPTH):
    """``depth`` nested folders under ``top_fd`` with a file at the bottom; walked down by descriptor, as
    a path that deep is longer than the system accepts."""
    os.mkdir(name, dir_fd=top_fd)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=top_fd)
    for _ in range(depth - 1):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    with os.fdopen(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "wb") as f:
        f.write(b"x" * 2**20)
    os.close(fd)


def _make_hostile(scratch, outside, depth=DEPTH):
    """What a submission may leave: a deep tree, folders of mode 000 and 500 with files in them, and
    links to a folder and a file outside (``outside``, which holds ``keep``)."""
    os.mkdir(scratch)
    fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _make_deep(fd, depth=depth)
    finally:
        os.close(fd)
    for mode in (0o000, 0o500):
        closed = os.path.join(scratch, f"closed{mode:o}")
        os.makedirs(os.path.join(closed, "inner"))
        open(os.path.join(closed, "inner", "file"), "w").close()
        os.chmod(os.path.join(closed, "inner"), mode)
        os.chmod(closed, mode)
    os.symlink(outside, os.path.join(scratch, "to-folder"))
    os.symlink(os.path.join(outside, "keep"), os.path.join(scratch, "to-file"))


def _outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (outside / "keep").write_text("the teacher's")
    return outside


def _remove_as_owner(folder, outside):
    """Build the hostile tree (not as deep: the other test has the depth) in ``folder`` and remove it, as
    the tree's owner and not root: where the test runs as root, in a child that becomes the user nobody
    first (root reads and deletes in folders of any mode; their owner must open them first). Returns
    what went wrong ("" when all went)."""
    if os.geteuid() != 0:
        _make_hostile(os.path.join(folder, "scratch"), outside, depth=20)
        remove_tree(os.path.join(folder, "scratch"))
        return "" if not os.path.lexists(os.path.join(folder, "scratch")) else "left"
    os.chown(folder, namespaces.UNPRIVILEGED, namespaces.UNPRIVILEGED)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only os calls, and always os._exit
        try:
            os.close(read)
            os.chdir(folder)  # nobody cannot walk the test's folders down to it: relative paths from here
            os.setgroups([])
            os.setgid(namespaces.UNPRIVILEGED)
            os.setuid(namespaces.UNPRIVILEGED)
            _make_hostile("scratch", str(outside), depth=20)
            remove_tree("scratch")
            os.write(write, b"" if not os.path.lexists("scratch") else b"left")
        except BaseException as exc:
            os.write(write, repr(exc).encode()[:1000])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        said = f.read().decode()
    os.waitpid(pid, 0)
    return said


@pytest.mark.timeout(60)
def test_the_remover_deletes_deep_trees_closed_folders_and_links_but_not_their_targets(tmp_path):
    outside = _outside(tmp_path)
    scratch = tmp_path / "scratch"
    _make_hostile(scratch, outside)
    remove_tree(scratch)  # as the grader does it (root, where it grades as root)
    assert not os.path.lexists(scratch)
    (tmp_path / "mine").mkdir()
    assert _remove_as_owner(tmp_path / "mine", outside) == ""
    assert (outside / "keep").read_text() == "the teacher's"
    assert os.listdir(tmp_path / "mine") == []


def test_the_remover_takes_a_file_a_link_or_nothing(tmp_path):
    outside = _outside(tmp_path)
    (tmp_path / "link").symlink_to(outside)
    remove_tree(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    remove_tree(tmp_path / "never-made")
    assert sorted(os.listdir(tmp_path)) == ["outside"] and (outside / "keep").exists()


@pytest.mark.timeout(60)
def test_control_shutil_rmtree_leaves_the_deep_tree(tmp_path):
    """Without the remover: the attack that left 100 MB behind and made the row an error."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _make_deep(fd, depth=1500)
    finally:
        os.close(fd)
    try:
        try:
            shutil.rmtree(tmp_path / "deep", ignore_errors=True)
        except RecursionError:
            return
        if not os.path.lexists(tmp_path / "deep"):
            pytest.skip(f"this Python's shutil.rmtree ({sys.version.split()[0]}) deletes trees this deep")
    finally:
        remove_tree(tmp_path / "deep")


def test_each_worker_gets_an_empty_folder_whatever_the_last_one_left(tmp_path, monkeypatch):
    outside = _outside(tmp_path)
    _make_hostile(tmp_path / "run", outside, depth=1500)
    result = supervisor.SandboxResult({})
    assert supervisor._empty_folder(tmp_path, result) == tmp_path / "run" and os.listdir(tmp_path / "run") == []
    # Should it fail (not seen since the remover), the next worker writes elsewhere, and the report says so.
    monkeypatch.setattr(supervisor, "remove_tree", lambda path: os.stat("/nowhere/at/all"))
    other = supervisor._empty_folder(tmp_path, result)
    assert other.parent == tmp_path and other.name.startswith("run-") and os.listdir(other) == []
    assert result.cleanup and "could not all be deleted" in result.cleanup[0], result.cleanup


def test_a_cleanup_that_fails_keeps_the_graded_row(monkeypatch):
    """Not seen since the remover: should it fail, the grade stands and the report says what is left."""
    from grader.classroom import grade
    from grader.classroom.submissions import discover
    from grader.data import verify
    from grader.classroom import catalog
    from grader.sandbox import cleanup
    from tests.kit import KIT_ROOT

    checks = catalog.collect(["tokenizer"])
    left = []

    def fails(path):
        left.append(path)
        raise OSError(13, "Permission denied", str(path))

    def all_pass(package, scratch, checks, *_):
        return supervisor.SandboxResult({c.nodeid: supervisor.Verdict("passed") for c in checks})

    monkeypatch.setattr(cleanup, "remove_tree", fails)
    monkeypatch.setattr(grade, "_run_checks", all_pass)
    (submission,), _ = discover([KIT_ROOT / "solutions"])
    try:
        graded, _ = grade.grade_one(submission, checks, supervisor.Limits(), verify(), "cpu")
    finally:
        monkeypatch.undo()
        for path in left:
            remove_tree(path)
    assert graded.error == "" and graded.status == "ok", graded.error
    assert {v.outcome for _, v in graded.checks} == {"passed"}
    assert any(f"could not delete all it wrote in {left[0]}" in note for note in graded.notes), graded.notes


def _namespaces_or_skip():
    cmd = namespaces.namespace_command()
    if not cmd:
        pytest.skip("no namespaces here (no unshare, or the system refuses it): the worker runs without them")
    return list(cmd)


SHM = """\
import ctypes, sys  # 0o1000: IPC_CREAT
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.shmget(int(sys.argv[1]), 1 << 20, 0o1000 | 0o600) >= 0 else 3)
"""


def _shm_ids(key):
    with open("/proc/sysvipc/shm") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [int(row[1]) for row in rows if int(row[0]) == key]


def _run_inside(cmd, *args, env=None):
    env = env or launch.environment({"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return subprocess.run([*cmd, *launch.python("-c", *args)], env=env, cwd="/", capture_output=True, text=True,
                          timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.exists("/proc/sysvipc/shm"), reason="no System V shared memory here")
def test_a_shared_memory_segment_ends_with_the_worker():
    cmd = _namespaces_or_skip()
    if "--ipc" not in cmd:
        pytest.skip("this kernel gives the worker no IPC namespace")
    key = secrets.randbelow(2**30) + 1
    made = _run_inside(cmd, SHM, str(key))
    assert made.returncode == 0, made.stderr
    assert _shm_ids(key) == []
    # The control: the same without an IPC namespace leaves the segment (64 MB each, in the attack).
    control = _run_inside([arg for arg in cmd if arg != "--ipc"], SHM, str(key))
    left = _shm_ids(key)
    libc = ctypes.CDLL(None, use_errno=True)
    for shmid in left:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    assert control.returncode == 0 and len(left) == 1, control.stderr
    assert _shm_ids(key) == []


WHO = """\
import json, os
print(json.dumps([os.getuid(), open('/proc/self/uid_map').read().split()[:3],
                  [line.split()[1:] for line in open('/proc/self/status') if line.startswith('Groups:')][0]]))
"""


@pytest.mark.timeout(120)
def test_root_in_the_worker_is_not_root_outside_or_the_sandbox_line_says_so():
    cmd = _namespaces_or_skip()
    user = namespaces.worker_user()
    if user == "root":  # the grader runs as root and nobody cannot run its Python: said, and refused
        from grader.classroom.grade import describe_sandbox

        line = describe_sandbox()
        assert line.startswith("partial: ") and "the workers run as root" in line, line
        assert "put Python, torch and the kit where every user may read them" in line, line
        return
    who = _run_inside(cmd, WHO)
    assert who.returncode == 0, who.stderr
    uid, (inside, outside, _), groups = json.loads(who.stdout)
    assert uid == int(inside)
    expected = namespaces.UNPRIVILEGED if user == "nobody" else os.getuid()
    assert int(outside) == expected and expected != 0, who.stdout
    if user == "nobody":
        assert groups == [], who.stdout  # nor does it keep root's group


@pytest.mark.timeout(60)
def test_the_user_namespace_of_nobody_maps_root_inside_to_nobody_outside():
    """The first way namespace_command tries as root, with a program nobody can run wherever Python
    lives: root inside, nobody outside, no group of root's."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None or sys.platform != "linux":
        pytest.skip("only the grader running as root runs its workers as nobody (needs Linux's unshare)")
    cmd, who = namespaces._candidates(unshare)[0]
    assert who == "nobody"
    shell = [*cmd, "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; grep '^Groups:' /proc/self/status"]
    run = subprocess.run(shell, capture_output=True, text=True, cwd="/", timeout=30)
    if run.returncode != 0:
        pytest.skip(f"this system refuses a user namespace to nobody: {run.stderr.strip()}")
    uid, mapping, groups = run.stdout.splitlines()
    assert uid == "0" and mapping.split() == ["0", str(namespaces.UNPRIVILEGED), "1"], run.stdout
    assert groups.split() == ["Groups:"], run.stdout


SPAWN = """\
import subprocess, sys, time
subprocess.Popen(["sleep", "300"], start_new_session=True)  # its own session, as a submission may do
print("started", flush=True)
time.sleep(300)
"""


@pytest.mark.timeout(120)
def test_the_workers_processes_end_with_it():
    cmd = _namespaces_or_skip()
    token = secrets.token_hex(8)
    env = launch.environment({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GPTKIT_SANDBOX": token})
    proc = subprocess.Popen([*cmd, *launch.python("-c", SPAWN)], env=env, cwd="/", stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert proc.stdout.readline() == b"started\n"
        assert len(supervisor._sandbox_pids(token, proc.pid)) >= 2  # the test sees them: the control
        supervisor._kill_all(proc, token)
        assert supervisor._sandbox_pids(token) == []
    finally:
        for pid in supervisor._sandbox_pids(token):
            os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.wait()
