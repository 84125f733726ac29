"""What a sandboxed process may read, write and list (Landlock's rules), for the judge
(grader/sandbox/judge.py) and for the process that runs the submission (grader/probes/server.py). Standard
library only: it runs before torch is imported."""

import glob
import os
import sys
from pathlib import Path

from grader.sandbox import confine

# What Python, torch and pytest read in /etc once confined (strace of a whole grade, every check): the
# dynamic loader's cache (the child's python starts under Landlock), the time zone, and the user
# database (getpass.getuser(), which torch._dynamo and pytest call). Not the rest: hosts, ssl, ...
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd",
             "/etc/group", "/etc/terminfo", "/etc/inputrc")


def _link_targets(folder):
    """Where the links directly in ``folder`` lead (a site-packages whose packages are links, as Nix and
    some virtual environments make them): Landlock allows a folder's real contents, not a link's."""
    try:
        return {os.path.realpath(e.path) for e in os.scandir(folder) if e.is_symlink()}
    except OSError:
        return set()


def _readable_paths(args, kit_root, grader_parts):
    """What the process needs to read: Python, its packages, the grader's ``grader_parts`` (paths under
    the kit), the data, system libraries."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and os.path.realpath(entry) != str(kit_root):
            paths |= {entry, os.path.realpath(entry)}
            # not into the kit, where solutions/ is: the grader is allowed below, a venv in the kit above
            paths |= {t for t in _link_targets(entry) if not Path(t).is_relative_to(kit_root)}
    paths |= {str(kit_root / part) for part in grader_parts}
    paths |= {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/sys", "/dev/urandom", "/dev/random"}
    paths |= set(ETC_FILES) | set(args.read)
    if args.device == "cuda":
        paths.add("/dev")  # read only; the GPU's own device files are opened read-write (_gpu_devices)
        paths.add("/etc")  # the driver's own files there are not yet listed: not tried on a GPU
    # Nothing inside the kit but these parts of the grader: a venv inside the kit is allowed as a whole,
    # the kit's root (and with it solutions/ and tests/) is not.
    return sorted(p for p in paths if os.path.realpath(p) != str(kit_root))


def module_files(modules, kit_root):
    """The grader's files (relative to the kit) that hold ``modules``, named as an ImportGuard allows
    them ("grader.probes.*" is the folder grader/probes, with everything in it)."""
    parts = []
    for name in modules:
        path = name.removesuffix(".*").replace(".", "/")
        if name.endswith(".*"):
            parts.append(path)
        else:
            parts.append(f"{path}/__init__.py" if (kit_root / path).is_dir() else f"{path}.py")
    return parts


def confine_files(args, kit_root, list_kit, grader_parts=("grader", "tox.ini")):
    """Landlock as ``args`` asks (read, write, device, --no-landlock); returns the ABI used, 0 for none.
    The worker and the judge's child (grader/probes/server.py) both confine themselves with it.
    ``list_kit``: whether the names under the kit's root may be listed (Landlock's right to list a folder
    covers every folder under it: the class and report folders, when a teacher keeps them in the kit).
    ``grader_parts``: the grader's files and folders it may read (the judge: all of it, and pytest's
    tox.ini; the child: the modules it may import, and the names in the grader's folders)."""
    if args.no_landlock or confine.landlock_abi() <= 0:
        return 0
    list_only = [str(kit_root)] if list_kit else [str(kit_root / "grader")]
    return confine.landlock(read=_readable_paths(args, kit_root, grader_parts), write=[*args.write, "/dev/null"],
                            list_only=list_only, devices=_gpu_devices(args.device))


def _gpu_devices(device):
    """The NVIDIA device files CUDA opens read-write and sends ioctls to; none on the CPU."""
    return sorted(glob.glob("/dev/nvidia*")) if device == "cuda" else []
