"""The namespaces a worker starts in (``unshare``), the most confining the system allows, and whom it
runs as. Fresh PID, network, IPC and mount namespaces: no network, every process and System V IPC
object ends with the worker, and it has a /proc of its own. When the grader runs as root, the worker
runs as the user nobody, in a user namespace of nobody's (root inside, nobody outside)."""

import functools
import os
import shutil
import stat
import subprocess
import sys

from grader import launch

UNPRIVILEGED = 65534  # the user and group "nobody": who a worker runs as when the grader runs as root


def _candidates(unshare):
    """``(command, who)`` for each way to start the worker, most confining first: ``who`` is whom it
    runs as, seen from outside ("nobody", "root" or "you")."""
    # Fresh PID, network and IPC namespaces: no network, every process and every System V IPC object
    # or message queue ends with the worker. A mount namespace gives it a /proc of its own.
    base, proc = ("--ipc", "--pid", "--fork", "--kill-child", "--net"), ("--mount", "--mount-proc")
    user = ("--user", "--map-root-user")
    nobody = ("--setuid", str(UNPRIVILEGED), "--setgid", str(UNPRIVILEGED))
    if os.geteuid() == 0:
        candidates = [
            # Become nobody first, then make the namespaces in a user namespace of nobody's: root inside,
            # nobody outside, so its files, key rings and signals are nobody's. (unshare --map-users
            # needs newuidmap, which few systems have.)
            ((unshare, *nobody, "--", unshare, *user, *proc, *base), "nobody"),
            ((unshare, *proc, *nobody, *base), "nobody"),  # where user namespaces are refused
            # Root inside and outside, but its capabilities hold only in its own namespaces.
            ((unshare, *user, *proc, *base), "root"),
            ((unshare, *proc, *base), "root"),
            ((unshare, *base), "root"),
        ]
    else:
        candidates = [((unshare, *user, *proc, *base), "you"), ((unshare, *user, *base), "you")]
    # A kernel without IPC namespaces: the same, without them.
    candidates += [(tuple(arg for arg in cmd if arg != "--ipc"), who) for cmd, who in candidates]
    return [((*cmd, "--"), who) for cmd, who in candidates]


@functools.lru_cache(maxsize=None)
def _namespaces():
    """``(command, who)``: the first of ``_candidates`` that starts Python here, or ``((), who)``.
    Each is tried once per process."""
    alone = "root" if os.geteuid() == 0 else "you"
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return (), alone
    # As nobody, the test imports the grader and torch, as the worker will: nobody must be able to read
    # them. As oneself, Python's start is test enough (torch's import costs a second per grade run).
    test_as_nobody = launch.python("-c", "import grader.sandbox.confine, torch")
    test = launch.python("-c", "import grader.sandbox.confine")
    env = launch.environment({"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    for cmd, who in _candidates(unshare):
        try:
            run = subprocess.run([*cmd, *(test_as_nobody if who == "nobody" else test)], capture_output=True,
                                 timeout=120, env=env, cwd="/")
        except (OSError, subprocess.SubprocessError):
            continue
        if run.returncode == 0:
            return cmd, who
    return (), alone


def namespace_command():
    """``unshare`` arguments that start the worker in its namespaces, the most confining the system
    allows, or () where there are none."""
    return _namespaces()[0]


def worker_user():
    """Whom the worker runs as, seen from outside: "nobody" (the grader runs as root), "root" (as
    root, where nobody cannot run this Python) or "you" (the grader's own user)."""
    return _namespaces()[1]


def namespace_layers():
    """What namespace_command gives, in words, for the reports."""
    cmd = namespace_command()
    if not cmd:
        return []
    kinds = ["PID", "network"] + ["IPC"] * ("--ipc" in cmd) + ["user"] * ("--user" in cmd)
    layers = [f"{', '.join(kinds[:-1])} and {kinds[-1]} namespaces"]
    if "--mount-proc" in cmd:
        layers.append("a private /proc")
    if worker_user() == "nobody":
        layers.append("the user nobody")
    return layers


def nobody_cannot_read():
    """The first folder or file on the way to Python, torch or the grader that users other than its
    owner (nobody, say) cannot read, as ``"/root (mode 700)"``; "" when none is found."""
    import importlib.util

    torch = importlib.util.find_spec("torch")
    paths = [os.path.realpath(sys.executable), os.__file__, launch.__file__]
    paths += [torch.origin] if torch is not None and torch.origin else []
    for path in paths:
        parts = os.path.abspath(path).split(os.sep)
        for end in range(2, len(parts) + 1):
            here = os.sep.join(parts[:end])
            try:
                mode = os.stat(here).st_mode
            except OSError:
                break
            needs = 0o001 if stat.S_ISDIR(mode) else 0o004
            if not mode & needs:
                return f"{here} (mode {stat.S_IMODE(mode):o})"
    return ""


def open_to_worker(workdir, writable, package):
    """When the worker runs as nobody: it may enter the scratch folder, read the submission (whatever
    modes its files came with) and own its writable folder."""
    if worker_user() != "nobody":
        return
    os.chmod(workdir, 0o755)
    for folder, _, files in os.walk(package):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    os.chown(writable, UNPRIVILEGED, UNPRIVILEGED)
