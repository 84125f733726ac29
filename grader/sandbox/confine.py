"""Confine the process that runs a submission's code, from inside it, before that code is loaded.

- Resource limits: address space (memory), size of files written, no core dumps.
- Landlock (Linux 5.13 and later, no privileges needed): the process may read only what Python,
  torch and the grader need, write only its scratch folder, send no signals to and trace no process
  outside itself. The kit's other files (``solutions/``, ``tests/``, the reports) cannot be opened.
- seccomp: no Unix socket can be made, so none outside the sandbox can be connected to.
- An import guard: ``solutions``, ``tests`` and modules that ended an earlier run cannot be imported.

Only the standard library is used, so this runs before torch is imported.
"""

import ctypes
import importlib.abc
import os
import platform
import sys

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


# seccomp (linux/seccomp.h, linux/filter.h, linux/audit.h): one filter on socket(2).
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_EACCES = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ERRNO with EACCES
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
_AF_UNIX = 1
_X32_SYSCALL_BIT = 0x40000000  # x86_64's x32 numbers would bypass a filter on the 64-bit ones
_SOCKET_SYSCALL = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # AUDIT_ARCH_*, __NR_socket


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def no_unix_sockets():
    """Refuse socket(AF_UNIX, ...) to this process and its children (seccomp), so that no socket file
    outside the sandbox can be connected to (Landlock does not cover connecting to one). Nothing the
    grader or torch runs needs one. Returns False where seccomp or the machine is not supported."""
    arch = _SOCKET_SYSCALL.get(platform.machine())
    if platform.system() != "Linux" or arch is None:
        return False
    audit_arch, socket_nr = arch
    program = [
        (_LD_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 0, 6, audit_arch),  # another architecture's calls: allow (as before the filter)
        (_LD_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE, 3, 0, _X32_SYSCALL_BIT),  # x32 calls: refuse
        (_JEQ, 0, 3, socket_nr),
        (_LD_ABS, 0, 0, 16),  # the low 32 bits of args[0], the address family
        (_JEQ, 0, 1, _AF_UNIX),
        (_RET, 0, 0, _RET_EACCES),
        (_RET, 0, 0, _RET_ALLOW),
    ]
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    prog = _SockFprog(len(program), filters)
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


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
