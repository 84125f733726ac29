"""Confine the process that runs a submission's code, from inside it, before that code is loaded.

- Resource limits: address space (memory), size of files written, no core dumps.
- Landlock (Linux 5.13 and later, no privileges needed): the process may read only what Python,
  torch and the grader need, write only its scratch folder, send no signals to and trace no process
  outside itself. The kit's other files (``solutions/``, ``tests/``, the reports) cannot be opened.
- seccomp (built with libseccomp): an allowlist of system calls (grader/sandbox/syscalls.py), modelled on
  Docker's default one. No Unix socket (none outside the sandbox can be connected to, which Landlock
  does not cover), no key rings, SysV IPC, io_uring, BPF, mounts, namespaces, tracing of other
  processes; a call of another architecture (i386's, x32's) kills the process.
- An import guard: ``solutions``, ``tests`` and modules that ended an earlier run cannot be imported.

Only the standard library (and libseccomp, through ctypes) is used, so this runs before torch is imported.
"""

import ctypes
import ctypes.util
import errno
import importlib.abc
import os
import platform
import sys

from grader.sandbox import syscalls

# Landlock's system calls and flags (linux/landlock.h); the numbers are the same on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_WRITE_TREE = (
    (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
)  # remove dir/file, make char/dir/reg/sock/fifo/block/sym
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi():
    """Landlock's ABI version on this kernel, or 0 where it is missing or disabled."""
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0),
                           ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def landlock(read, write, list_only=(), devices=(), abi=None):
    """Allow reading (and executing) under ``read``, everything under ``write`` but making device files
    or sending ioctls to them (a root worker could otherwise make one for the disk), listing the folders
    under ``list_only`` (names, not contents), opening the device files ``devices`` for reading,
    writing and ioctl (the GPU's, for CUDA), nothing else.

    Returns the ABI used; raises OSError when the kernel refuses. Paths that do not exist are skipped.
    """
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise OSError("Landlock is not available on this kernel")
    handled = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _WRITE_TREE
    if abi >= 2:
        handled |= _REFER
    if abi >= 3:
        handled |= _TRUNCATE
    if abi >= 5:
        handled |= _IOCTL_DEV
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:  # no TCP at all: nothing a submission needs, and no way to report elsewhere
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:  # no signals to, and no abstract sockets of, processes outside the sandbox
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    ruleset = libc.syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        device_access = (READ_FILE | WRITE_FILE | _IOCTL_DEV) & handled
        write_access = handled & ~(_MAKE_CHAR | _MAKE_BLOCK | _IOCTL_DEV)
        for paths, access in ((read, EXECUTE | READ_FILE | READ_DIR), (write, write_access), (list_only, READ_DIR),
                              (devices, device_access)):
            for path in paths:
                _allow(libc, ruleset, path, access)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return abi


def _allow(libc, ruleset, path, access):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= _FILE_ONLY
        rule = _PathBeneathAttr(access, fd)
        if libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)


def limit_resources(memory_mb, file_mb):
    """Address space and written-file size caps, and no core files; returns the names of the limits
    the system refused (macOS, for one, does not enforce an address-space limit).

    ``memory_mb=None`` sets no address-space cap: CUDA reserves far more address space than the GPU
    has memory, so any cap a teacher would choose stops CUDA from starting.
    """
    import resource  # POSIX only; the student's pytest on Windows never gets here

    refused = []
    limits = [("RLIMIT_FSIZE", file_mb * 2**20), ("RLIMIT_CORE", 0)]
    if memory_mb is not None:
        limits.insert(0, ("RLIMIT_AS", memory_mb * 2**20))
    for name, limit in limits:
        try:
            resource.setrlimit(getattr(resource, name), (limit, limit))
        except (ValueError, OSError, AttributeError):
            refused.append(name)
    return refused


# libseccomp's constants (seccomp.h): the actions, filter attributes and comparisons used below.
_ACT_KILL_PROCESS, _ACT_ALLOW, _ACT_ERRNO = 0x80000000, 0x7FFF0000, 0x00050000  # _ACT_ERRNO | an errno
_ATTR_ACT_BADARCH, _ATTR_CTL_TSYNC = 2, 4
_CMP_EQ, _CMP_MASKED_EQ = 4, 7


class _ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def filter_system_calls(allow_unix_sockets=False):
    """Allow this process and every process it starts only the system calls of grader/sandbox/syscalls.py
    (seccomp, built with libseccomp). Any other call fails with EPERM; a call of another architecture
    (i386's ``int 0x80`` from 64-bit code, x86-64's x32 calls) kills the process, as the allowlist
    speaks of this architecture's calls only. ``allow_unix_sockets``: for CUDA's driver.

    Returns None once the filter is in place, else why it is not, in words."""
    if platform.system() != "Linux":
        return "not Linux"
    lib = _libseccomp()
    if lib is None:
        return "libseccomp is not installed"
    ctx = lib.seccomp_init(_ACT_ERRNO | errno.EPERM)
    if not ctx:
        return "libseccomp could not start a filter"
    try:
        problem = _add_rules(lib, ctx, allow_unix_sockets)
        if problem is None and (code := lib.seccomp_load(ctx)) != 0:
            problem = f"the kernel refused the filter: {os.strerror(-code)}"
        return problem
    finally:
        lib.seccomp_release(ctx)


def system_call_filter_available():
    """Whether filter_system_calls can work here (Linux, with libseccomp installed)."""
    return platform.system() == "Linux" and _libseccomp() is not None


def _libseccomp():
    """libseccomp with the functions used here typed, or None where it is missing (or too old for them)."""
    try:
        try:
            lib = ctypes.CDLL("libseccomp.so.2")
        except OSError:  # another name: find_library asks the loader's cache (and runs a program)
            lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so")
        lib.seccomp_init.restype = ctypes.c_void_p  # a pointer: the default int would cut it to 32 bits
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        # not seccomp_rule_add: it is variadic, and ctypes cannot pass structures through "..."
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
    except (OSError, AttributeError):
        return None
    return lib


def _add_rules(lib, ctx, allow_unix_sockets):
    """Put syscalls.py's tables into the filter ``ctx``; returns what libseccomp refused, or None."""
    if lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, _ACT_KILL_PROCESS) != 0:
        return "cannot kill a process that calls another architecture (needs libseccomp 2.4 and Linux 4.14)"
    if lib.seccomp_attr_set(ctx, _ATTR_CTL_TSYNC, 1) != 0:  # every thread, should one be running already
        return "libseccomp cannot filter every thread"
    conditions = syscalls.ALLOWED_IF + (syscalls.ALLOWED_IF_UNIX_SOCKETS if allow_unix_sockets else ())
    rules = [(name, _ACT_ALLOW, ()) for name in syscalls.ALLOWED + syscalls.ALLOWED_ON_ONE_ARCHITECTURE]
    rules += [(name, _ACT_ALLOW, (_comparison(arg, mask, value),)) for name, arg, mask, value in conditions]
    rules += [(name, _ACT_ERRNO | errno.ENOSYS, ()) for name in syscalls.NOT_IMPLEMENTED]
    for name, action, comparisons in rules:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:  # not a call of this architecture (or one this libseccomp does not know)
            continue
        array = (_ArgCmp * len(comparisons))(*comparisons)
        if (code := lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array)) != 0:
            return f"libseccomp refused the rule for {name}: {os.strerror(-code)}"
    return None


def _comparison(arg, mask, value):
    """Argument ``arg`` equals ``value``, or with ``mask``: (argument & mask) == value."""
    if mask is None:
        return _ArgCmp(arg, _CMP_EQ, value, 0)
    return _ArgCmp(arg, _CMP_MASKED_EQ, mask, value)


_KEYCTL = {"x86_64": 250, "aarch64": 219}  # __NR_keyctl
_KEYCTL_JOIN_SESSION_KEYRING = 1


def own_session_keyring():
    """Leave the teacher's session key ring for a new, empty one of this process's own (inherited by the
    processes it starts), so that no key of the teacher's login can be read or planted from here. The
    system-call filter refuses key rings afterwards; this holds where it is missing. Returns whether it
    worked (False where the machine has no key rings)."""
    number = _KEYCTL.get(platform.machine())
    if platform.system() != "Linux" or number is None:
        return False
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(ctypes.c_long(number), ctypes.c_long(_KEYCTL_JOIN_SESSION_KEYRING), None) >= 0


_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP, _PR_SET_SECUREBITS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and KEEP_CAPS off, each locked: uid 0 gains nothing on exec.
_SECUREBITS_LOCKED = 0b11101111
_CAPABILITY_V3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """Give up every capability, for this process and every process it starts: a worker that runs as
    root (where it cannot run as nobody) keeps uid 0 but none of root's powers (making device files,
    chroot, reading other users' files, ...). Returns whether this process is left with none. Linux only."""
    if platform.system() != "Linux":
        return False
    libc = _libc()
    for cap in range(64):  # EINVAL past the last capability; EPERM without CAP_SETPCAP (then none to drop)
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_SET_SECUREBITS, _SECUREBITS_LOCKED, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    libc.capset(ctypes.byref(_CapHeader(_CAPABILITY_V3, 0)), (_CapData * 2)())
    return _capabilities() == 0


def _capabilities():
    """This process's effective capabilities (a bit mask), from /proc/self/status; -1 where unknown."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("CapEff:"))
        return int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return -1


def not_dumpable():
    """Make this process non-dumpable: another process of the same user (a submission's) can no longer
    open its memory, file descriptors or environment under /proc, nor attach a debugger. Linux only."""
    if platform.system() == "Linux":
        _libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


class BlockedImport(ImportError):
    """An import the grader refuses; the message says why."""


class ImportGuard(importlib.abc.MetaPathFinder):
    """Refuses imports of the kit's reference and tests, of the grader's modules but ``grader_modules``
    (the oracles and the trainer are not among them, so a submission cannot answer the judge with the
    grader's own computation), and of the modules listed as ``blocked`` (a full module name -> why: it
    ended or hung an earlier run). Which module was loading when a process died is told by the judge,
    which asks for each (remote.Channel.get)."""

    FORBIDDEN = ("solutions", "tests", "exercises")

    def __init__(self, blocked, grader_modules):
        self.blocked = dict(blocked)
        self.grader_modules = grader_modules

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in self.FORBIDDEN or (top == "grader" and not _allowed(fullname, self.grader_modules)):
            raise BlockedImport(f"the grader does not let a submission import {fullname!r}: "
                                f"submit your own code, not the kit's")
        if fullname in self.blocked:
            raise BlockedImport(self.blocked[fullname])
        return None  # let the normal finders load it


def _allowed(fullname, patterns):
    """``fullname`` is one of ``patterns``, where "x.*" stands for every module under x."""
    return any(fullname == p or (p.endswith(".*") and fullname.startswith(p[:-1])) for p in patterns)


def install_import_guard(guard):
    sys.meta_path.insert(0, guard)
