"""The system calls the judge and its child (the submission's process) may make: an allowlist, as data.

The anchor is Docker's default seccomp profile (github.com/moby/profiles, seccomp/default.json, v0.2.3,
as moby/moby vendors it): what a container started with ``docker run`` and no options may call, which
Python, torch and CUDA are known to run under. Any call not allowed here fails with EPERM.
grader/sandbox/confine.py (filter_system_calls) builds the filter from these tables with libseccomp;
a name that libseccomp does not know on this machine's architecture is skipped.

Where this list differs from Docker's, and why (the tables below say it beside each name):

- Stricter than Docker: SysV IPC, POSIX message queues, ptrace and process_vm_readv/writev (Docker
  allows them from Linux 4.8), modify_ldt, socketcall, and changes of a file's mode, owner, times or
  extended attributes (chmod, chown, utime, setxattr and their kin) are refused (DENIED); socket() only for
  AF_INET and AF_INET6 (Docker: every family but AF_VSOCK), AF_UNIX too with CUDA; socketpair() only
  of stream sockets (Docker: any); chroot not allowed (Docker allows it with CAP_SYS_CHROOT, which a
  default container has and the sandbox gives up).
- As in a default Docker container: calls Docker allows only with capabilities that such a container
  lacks (mount and the new mount API, unshare, setns, bpf, perf_event_open, ...) are left out; clone()
  may make no namespace and personality() takes Docker's values only; clone3 answers ENOSYS.
- Docker's calls for one architecture (arch_prctl, ARM's set_tls, ...) are allowed on every one, but
  modify_ldt: libseccomp skips the names this machine does not have.
"""

# Docker's list of calls allowed without conditions, less those in DENIED and socketpair (below).
ALLOWED = (
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
    "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
    "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
    "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lgetxattr", "link", "linkat",
    "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek", "lseek",
    "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
    "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mremap", "mseal", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
    "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
    "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
    "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages",
    "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "send", "sendfile",
    "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
    "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe",
    "vfork", "vmsplice", "wait4", "waitid", "waitpid",
    "write", "writev",
)

# Docker's calls for one architecture: x86-64; ARM; RISC-V; s390; PowerPC.
ALLOWED_ON_ONE_ARCHITECTURE = (
    "arch_prctl", "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls",
    "sync_file_range2", "riscv_flush_icache", "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr",
    "swapcontext",
)

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_TYPE_MASK, SOCK_STREAM, SOCK_SEQPACKET = 0xF, 1, 5  # the type's low bits; SOCK_CLOEXEC and such above
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID and NEWNET: Docker's mask for clone().
CLONE_NEW_NAMESPACES = 0x7E020000

# Calls allowed only with some argument values: (name, argument number, mask, value). The call is
# allowed when (argument & mask) == value for one of its lines; mask None compares the whole argument.
ALLOWED_IF = (
    # Internet sockets only (Docker: every family but AF_VSOCK). The sandbox's network namespace has no
    # network and Landlock refuses TCP; a Unix socket could reach a socket file outside the sandbox
    # (Landlock does not cover connecting to one), a netlink one the kernel's services.
    ("socket", 0, None, AF_INET),
    ("socket", 0, None, AF_INET6),
    # Pairs of stream sockets only (Docker: any). A datagram pair's socket can still send to (or be
    # connected to) a named Unix socket outside the sandbox; a stream pair's cannot. Python's
    # socket.socketpair() and multiprocessing.Pipe() make stream pairs.
    ("socketpair", 1, SOCK_TYPE_MASK, SOCK_STREAM),
    ("socketpair", 1, SOCK_TYPE_MASK, SOCK_SEQPACKET),
    # Docker's values: PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (asks
    # for the current one). Not ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC and the like.
    ("personality", 0, None, 0x0),
    ("personality", 0, None, 0x8),
    ("personality", 0, None, 0x20000),
    ("personality", 0, None, 0x20008),
    ("personality", 0, None, 0xFFFFFFFF),
    # Threads and processes, but no new namespaces (Docker's rule; its first argument is the flags but on s390).
    ("clone", 0, CLONE_NEW_NAMESPACES, 0),
)

# With CUDA only: its driver may talk to its daemons (nvidia-persistenced, MPS) over Unix sockets.
ALLOWED_IF_UNIX_SOCKETS = (
    ("socket", 0, None, AF_UNIX),
    ("socketpair", 0, None, AF_UNIX),
)

# Refused with ENOSYS ("no such call") rather than EPERM, as Docker does: clone3's flags are in memory,
# which a seccomp filter cannot read, so no rule can refuse its namespace flags; on ENOSYS the C library
# falls back to clone(), which ALLOWED_IF checks.
NOT_IMPLEMENTED = ("clone3",)

# Refused in any case (some of them allowed by Docker), and why. None is in the tables above.
DENIED = {
    **dict.fromkeys(("keyctl", "add_key", "request_key"),
                    "the kernel's key rings: a user's key rings are shared with its processes outside the sandbox"),
    **dict.fromkeys(("shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64",
                     "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "ipc"),
                    "SysV IPC (Docker allows it): nothing here needs it, and without an IPC namespace of the "
                    "sandbox's own (a kernel without them) its shared memory, semaphores and queues are the "
                    "machine's: a way to other processes, other submissions' included"),
    **dict.fromkeys(("mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
                     "mq_timedreceive_time64", "mq_notify", "mq_getsetattr"),
                    "POSIX message queues (Docker allows them): in the IPC namespace too, as SysV IPC"),
    **dict.fromkeys(("io_uring_setup", "io_uring_enter", "io_uring_register"),
                    "io_uring: a second way to make system calls, outside this filter, and a frequent source of "
                    "kernel bugs"),
    "bpf": "BPF programs and maps: the kernel's insides",
    "perf_event_open": "performance counters: other processes' and the kernel's activity",
    "userfaultfd": "stops the kernel in the middle of a copy: the usual first step of a kernel exploit",
    **dict.fromkeys(("mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
                     "move_mount", "open_tree", "mount_setattr"),
                    "mounts: would change what the sandbox's files are"),
    **dict.fromkeys(("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
                    "reading and writing other processes (Docker allows the first three): the judge's, from its child"),
    **dict.fromkeys(("unshare", "setns"), "new or other namespaces: a user namespace gives back capabilities"),
    "socketcall": "i386's door to every socket call, which would skip socket()'s rule where it exists",
    "modify_ldt": "16- and 32-bit code segments (Docker allows it on x86): nothing here runs such code, and "
                  "the filter kills 32-bit system calls",
    "chroot": "Docker allows it with CAP_SYS_CHROOT, which the sandbox gives up",
    **dict.fromkeys(("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32",
                     "fchownat", "lchown", "lchown32", "utime", "utimes", "utimensat", "utimensat_time64",
                     "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
                     "fremovexattr", "setxattrat", "removexattrat"),
                    "changing a file's mode, owner, times or extended attributes (Docker allows it): Landlock "
                    "does not cover these, and a worker that runs as root (where the user nobody cannot read "
                    "Python) owns the machine's files; nothing the grader or torch runs needs them"),
}
