"""The judge's allowlist of system calls (grader/sandbox/syscalls.py, installed by
confine.filter_system_calls): each kind of call it refuses is tried in a fresh Python with the filter and
without it (the control: the same call reaches the kernel there, so each test can fail)."""

import platform
import signal
import subprocess
import sys
import textwrap

import pytest

from grader.sandbox import confine, syscalls
from tests.kit import KIT_ROOT

pytestmark = [
    pytest.mark.skipif(platform.system() != "Linux", reason="seccomp is Linux's"),
    pytest.mark.skipif(platform.system() == "Linux" and confine._libseccomp() is None,
                       reason="libseccomp is not installed: the grader runs without a system-call filter here"),
]

# Run before each probe: no core file when the filter kills it; the filter as the test asks; call(),
# the C library's syscall() with the number libseccomp gives for a name (the filter's own numbers).
PREAMBLE = """\
import ctypes, os, resource, struct, sys
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
seccomp = ctypes.CDLL("libseccomp.so.2")
if sys.argv[1] != "off":
    from grader.sandbox import confine
    why_not = confine.filter_system_calls(allow_unix_sockets=sys.argv[1] == "cuda")
    assert why_not is None, why_not

def call(name_or_number, *args):
    number = name_or_number
    if isinstance(number, str):
        number = seccomp.seccomp_syscall_resolve_name(number.encode())
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return libc.syscall(ctypes.c_long(number), *args)

def result(value):
    return "ok" if value >= 0 else f"errno {ctypes.get_errno()}"

"""

# i386's socket(AF_UNIX, SOCK_STREAM, 0) through int 0x80, from 64-bit code: push rbx; mov eax, 359;
# mov ebx, 1; mov ecx, 1; xor edx, edx; int 0x80; pop rbx; ret. The student's way around the old filter.
I386_SOCKET = """\
import mmap
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(bytes.fromhex("53 b8 67 01 00 00 bb 01 00 00 00 b9 01 00 00 00 31 d2 cd 80 5b c3"))
fd = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
print("ok" if fd >= 0 else f"errno {-fd}")
"""

SYSV = """\
ident = call("{get}", 0, {args})  # IPC_PRIVATE
if ident >= 0:
    call("{ctl}", ident, {rmid}, None)  # IPC_RMID: leave nothing behind
print(result(ident))
"""

IO_URING = "print(result(call('io_uring_setup', 1, ctypes.create_string_buffer(120))))"
# An array map of one entry: map_type 2, key_size 4, value_size 4, max_entries 1.
BPF = "print(result(call('bpf', 0, struct.pack('IIII', 2, 4, 4, 1).ljust(72, bytes(1)), 72)))"
# A software event (type 1, size 64, task clock) of this process, user space only.
PERF = """\
attr = bytearray(64)
struct.pack_into("IIQ", attr, 0, 1, 64, 1)
struct.pack_into("Q", attr, 40, (1 << 5) | (1 << 6))  # exclude_kernel, exclude_hv
print(result(call("perf_event_open", ctypes.create_string_buffer(bytes(attr), 64), 0, -1, -1, 0)))
"""
PROCESS_VM_READV = """\
class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]
source, target = ctypes.create_string_buffer(b"secret!"), ctypes.create_string_buffer(8)
local, remote = Iovec(ctypes.addressof(target), 8), Iovec(ctypes.addressof(source), 8)
print(result(call("process_vm_readv", os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)))
"""
CLONE_NEWUSER = """\
pid = call("clone", 0x10000000 | 17, 0, 0, 0, 0)  # CLONE_NEWUSER, SIGCHLD: a fork in a user namespace
if pid == 0:
    os._exit(0)
if pid > 0:
    os.waitpid(pid, 0)
print(result(pid))
"""
MQ_OPEN = """\
name = f"gptkit-probe-{os.getpid()}".encode()  # the C library drops mq_open's leading "/"
queue = call("mq_open", name, os.O_CREAT | os.O_RDWR, 0o600, None)
if queue >= 0:
    call("mq_unlink", name)
print(result(queue))
"""

OWN_FILE = """\
import atexit, tempfile
fd, name = tempfile.mkstemp()
atexit.register(os.unlink, name)
path = name.encode()
"""

# name -> (the probe's code, what it gives under the filter, what it gives without it). "ok": the call
# worked; "errno N": it failed with N; "killed by SIG...": the process was killed.
EPERM, ENOENT, EINVAL, ENOSYS = "errno 1", "errno 2", "errno 22", "errno 38"
KILLED = f"killed by {signal.SIGSYS.name}"  # SCMP_ACT_KILL_PROCESS ends the process as SIGSYS would
REFUSED = {
    "socket(AF_UNIX)": ("print(result(libc.socket(1, 1, 0)))", EPERM, "ok"),
    "socket(AF_NETLINK)": ("print(result(libc.socket(16, 3, 0)))", EPERM, "ok"),
    "socketpair(AF_UNIX, SOCK_DGRAM)": ("print(result(libc.socketpair(1, 2, 0, (ctypes.c_int * 2)())))",
                                        EPERM, "ok"),
    "i386 socket (int 0x80)": (I386_SOCKET, KILLED, "ok"),
    # x32's socket(AF_UNIX): killed by the filter; a kernel without x32 (most) answers ENOSYS.
    "x32 socket": ("print(result(call(41 | 0x40000000, 1, 1, 0)))", KILLED, ("ok", ENOSYS)),
    "add_key": ("print(result(call('add_key', b'user', b'gptkit-probe', b'x', 1, -2)))", EPERM, "ok"),
    "keyctl": ("print(result(call('keyctl', 0, -2, 1)))", EPERM, "ok"),  # the process's key ring's id
    "shmget": (SYSV.format(get="shmget", args="4096, 0o1600", ctl="shmctl", rmid=0), EPERM, "ok"),
    "semget": (SYSV.format(get="semget", args="1, 0o1600", ctl="semctl", rmid="0, 0"), EPERM, "ok"),
    "msgget": (SYSV.format(get="msgget", args="0o1600", ctl="msgctl", rmid=0), EPERM, "ok"),
    "mq_open": (MQ_OPEN, EPERM, "ok"),
    "io_uring_setup": (IO_URING, EPERM, "ok"),
    "bpf": (BPF, EPERM, "ok"),
    "perf_event_open": (PERF, EPERM, "ok"),
    "userfaultfd": ("print(result(call('userfaultfd', os.O_CLOEXEC | 1)))", EPERM, "ok"),  # user mode only
    # A mount point that does not exist: the kernel looks it up first, so the control mounts nothing.
    "mount": ("print(result(call('mount', b'none', b'/gptkit-no-such-folder', b'tmpfs', 0, None)))",
              EPERM, ENOENT),
    "fsopen": ("print(result(call('fsopen', b'tmpfs', 1)))", EPERM, "ok"),
    "ptrace(PTRACE_TRACEME)": ("print(result(call('ptrace', 0, 0, 0, 0)))", EPERM, "ok"),
    "process_vm_readv": (PROCESS_VM_READV, EPERM, "ok"),
    "unshare(CLONE_NEWUSER)": ("print(result(call('unshare', 0x10000000)))", EPERM, "ok"),
    "clone(CLONE_NEWUSER)": (CLONE_NEWUSER, EPERM, "ok"),
    # ENOSYS, so that the C library falls back to clone(); the control's empty arguments are invalid.
    "clone3": ("print(result(call('clone3', None, 0)))", ENOSYS, EINVAL),
    "personality(ADDR_NO_RANDOMIZE)": ("print(result(call('personality', 0x0040000)))", EPERM, "ok"),
    # On a file of its own: a worker that runs as root owns the machine's files, which Landlock does not
    # keep it from changing the mode, owner, times or attributes of.
    "chmod": (OWN_FILE + "print(result(call('fchmodat', -100, path, 0o4755, 0)))", EPERM, "ok"),
    "fchmod": (OWN_FILE + "print(result(call('fchmod', fd, 0o4755)))", EPERM, "ok"),
    "chown": (OWN_FILE + "print(result(call('fchownat', -100, path, os.getuid(), os.getgid(), 0)))", EPERM, "ok"),
    "utimensat": (OWN_FILE + "print(result(call('utimensat', -100, path, None, 0)))", EPERM, "ok"),
    "setxattr": (OWN_FILE + "print(result(call('setxattr', path, b'user.gptkit', b'x', 1, 0)))", EPERM,
                 ("ok", "errno 95")),  # EOPNOTSUPP: a file system without user attributes
}
X86_64_ONLY = {"i386 socket (int 0x80)", "x32 socket"}

# Calls the filter lets through: the same answer with it and without it.
ALLOWED = {
    "socket(AF_INET)": "print(result(libc.socket(2, 2, 0)))",
    "socket(AF_INET6)": "print(result(libc.socket(10, 2, 0)))",
    "socketpair(AF_UNIX, SOCK_STREAM)": "print(result(libc.socketpair(1, 1, 0, (ctypes.c_int * 2)())))",
    "personality(0xffffffff)": "print(result(call('personality', 0xFFFFFFFF)))",  # asks for the current one
    "fork": "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\nprint('ok')",
}


def probe(code, mode):
    """Run ``code`` in a fresh Python (no site-packages: the standard library and the grader only) with
    the filter (mode "filter"), the filter as with CUDA ("cuda") or none ("off"); what it printed, or
    how it was killed."""
    done = subprocess.run([sys.executable, "-S", "-c", PREAMBLE + textwrap.dedent(code), mode],
                          capture_output=True, text=True, cwd=KIT_ROOT, timeout=30)
    if done.returncode < 0:
        return f"killed by {signal.Signals(-done.returncode).name}"
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", REFUSED)
def test_the_filter_refuses(name):
    if name in X86_64_ONLY and platform.machine() != "x86_64":
        pytest.skip("x86-64's other system calls (i386's, x32's): there are none on this machine")
    code, filtered, unfiltered = REFUSED[name]
    control = probe(code, "off")
    if control == EPERM:  # the kernel's own settings or missing privileges: nothing to compare with
        pytest.skip(f"{name} is refused here even without the filter (EPERM)")
    if name.startswith("i386") and control != "ok":
        pytest.skip(f"this kernel runs no i386 system calls ({control})")
    assert control in (unfiltered if isinstance(unfiltered, tuple) else (unfiltered,))
    assert probe(code, "filter") == filtered


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ALLOWED)
def test_the_filter_allows(name):
    assert probe(ALLOWED[name], "off") == "ok"
    assert probe(ALLOWED[name], "filter") == "ok"


@pytest.mark.timeout(60)
def test_with_cuda_unix_sockets_are_allowed_and_the_rest_still_refused():
    assert probe(REFUSED["socket(AF_UNIX)"][0], "cuda") == "ok"
    assert probe(REFUSED["socketpair(AF_UNIX, SOCK_DGRAM)"][0], "cuda") == "ok"
    assert probe(REFUSED["keyctl"][0], "cuda") == EPERM


@pytest.mark.timeout(120)
def test_torch_threads_pipes_and_a_child_process_work_under_the_filter():
    code = """\
    import subprocess, threading
    import torch
    torch.set_num_threads(2)
    product = torch.randn(3) @ torch.randn(3)
    big = torch.randn(300, 300) @ torch.randn(300, 300)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(float((torch.ones(4) * 2).sum())))
    thread.start()
    thread.join()
    child = subprocess.run([sys.executable, "-c", "import socket; socket.socket(socket.AF_UNIX)"],
                           capture_output=True, text=True)  # the filter is inherited: refused there too
    print(product.shape == () and big.shape == (300, 300), seen, "PermissionError" in child.stderr)
    """
    done = subprocess.run([sys.executable, "-c", PREAMBLE + textwrap.dedent(code), "filter"],
                          capture_output=True, text=True, cwd=KIT_ROOT, timeout=110)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[8.0]", "True"]


def test_the_tables_deny_what_they_say():
    allowed = {*syscalls.ALLOWED, *syscalls.ALLOWED_ON_ONE_ARCHITECTURE, *syscalls.NOT_IMPLEMENTED,
               *(rule[0] for rule in syscalls.ALLOWED_IF + syscalls.ALLOWED_IF_UNIX_SOCKETS)}
    assert not allowed & set(syscalls.DENIED)
    assert len(set(syscalls.ALLOWED)) == len(syscalls.ALLOWED)
    must_deny = {"keyctl", "add_key", "request_key", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop",
                 "semtimedop", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "io_uring_setup", "io_uring_enter",
                 "io_uring_register", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2", "pivot_root",
                 "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree", "mount_setattr", "ptrace",
                 "process_vm_readv", "process_vm_writev", "unshare", "setns"}
    assert must_deny <= set(syscalls.DENIED)


def test_without_libseccomp_the_reason_is_plain(monkeypatch):
    monkeypatch.setattr(confine, "_libseccomp", lambda: None)
    assert confine.filter_system_calls() == "libseccomp is not installed"


# The session key ring this process is in (KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING, not created).
SESSION_KEYRING = """\
from grader.sandbox import confine
if sys.argv[2] == "own":
    assert confine.own_session_keyring()
print(call("keyctl", 0, -3, 0))
"""


@pytest.mark.timeout(60)
def test_the_worker_leaves_the_teachers_session_key_ring():
    # Where the filter is missing, the worker still holds none of the teacher's keys: it joins a fresh
    # session key ring first. The control: a process that does not is in the teacher's.
    def session(how):
        code = PREAMBLE + SESSION_KEYRING
        out = subprocess.run([sys.executable, "-c", code, "off", how], cwd=KIT_ROOT, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return int(out.stdout.split()[-1])

    teachers = session("inherit")
    if teachers < 0:
        pytest.skip("this machine has no session key ring to leave")
    assert session("inherit") == teachers
    assert session("own") not in (teachers, -1)
