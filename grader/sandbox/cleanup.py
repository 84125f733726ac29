"""Delete a folder a submission wrote in, whatever it left there.

``shutil.rmtree`` recurses on the Python stack: 1,500 nested folders raise RecursionError (with
``ignore_errors`` too), and a path that deep is longer than the system accepts. This remover walks
down one folder at a time through open descriptors, one open at a time, and never follows a
symbolic link: a link is deleted, not what it points to. It makes a folder that its owner cannot
read or write (``chmod 000``) usable first, stays on the folder's own file system, and checks each
step back up, so it never leaves the folder it was given.
"""

import os
import shutil
import stat

_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))


class _Trouble:
    """What could not be deleted: a count and the first reason, for one message at the end."""

    def __init__(self):
        self.count, self.first = 0, None

    def add(self, exc):
        self.count += 1
        self.first = self.first or exc


def remove_tree(path):
    """Delete ``path`` (a folder, a file or a link) and everything in it. Raises OSError saying how
    much is left when something could not be deleted; a ``path`` that does not exist is no error."""
    if os.scandir not in os.supports_fd or os.rmdir not in os.supports_dir_fd:  # Windows
        shutil.rmtree(path, ignore_errors=True)
        return
    path = os.path.normpath(os.fspath(path))
    parent, name = os.path.split(path)
    try:  # the folder that holds ``path`` is the caller's, and may be reached through a link (/tmp on macOS)
        parent_fd = os.open(parent or ".", _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return
    trouble = _Trouble()
    try:
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
        _empty(parent_fd, name, info.st_dev, trouble)
        _remove_folder(parent_fd, name, trouble)
    finally:
        os.close(parent_fd)
    if trouble.count:
        first = trouble.first
        raise OSError(f"{path}: {trouble.count} of the files and folders in it could not be deleted; the "
                      f"first: {first.strerror or first}")


def discard(path):
    """remove_tree, for a folder inside grade's scratch folder: what cannot be deleted stays there, and the
    scratch folder's own removal says what is left."""
    try:
        remove_tree(path)
    except OSError:
        pass


def _open_folder(parent_fd, name):
    """An open descriptor of the folder ``name`` (never a link), made readable, writable and
    searchable by its owner first where it was not (a submission may have set its mode to 000)."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        _chmod_folder(parent_fd, name)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        mode = os.fstat(fd).st_mode
        if mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
    except PermissionError:
        pass  # not its owner: root deletes in it all the same; anyone else learns it at the rmdir
    return fd


def _chmod_folder(parent_fd, name):
    """``chmod u+rwx`` the folder ``name``, never what a link of that name points to."""
    mode = os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode
    if not stat.S_ISDIR(mode):
        raise NotADirectoryError(f"{name} is not a folder")
    os.chmod(name, stat.S_IMODE(mode) | stat.S_IRWXU, dir_fd=parent_fd, follow_symlinks=False)


def _clear_files(fd, device, trouble):
    """Delete every entry of the open folder ``fd`` that is not a folder; returns its folders' names.
    A folder on another file system (a mount point) is left alone, and counted as trouble."""
    folders = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.name, dir_fd=fd)
                    elif entry.stat(follow_symlinks=False).st_dev == device:
                        folders.append(entry.name)
                    else:
                        trouble.add(OSError(f"{entry.name} is on another file system"))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    trouble.add(exc)
    except OSError as exc:
        trouble.add(exc)
    return folders


def _empty(parent_fd, name, device, trouble):
    """Delete everything in the folder ``name`` of ``parent_fd``, however deep, one folder open at a time."""
    fd = _open_folder(parent_fd, name)
    try:
        # One level per folder under way: its name, its identity (to check each step back up) and
        # its folders not yet emptied.
        stack = [(name, _identity(fd), _clear_files(fd, device, trouble))]
        while True:
            pending = stack[-1][2]
            if pending:
                child = pending.pop()
                try:
                    child_fd = _open_folder(fd, child)
                except OSError as exc:
                    trouble.add(exc)
                    continue
                os.close(fd)
                fd = child_fd
                stack.append((child, _identity(fd), _clear_files(fd, device, trouble)))
                continue
            done = stack.pop()[0]
            if not stack:
                return
            parent = _parent(fd, stack[-1][1])
            os.close(fd)
            fd = parent
            _remove_folder(fd, done, trouble)
    finally:
        os.close(fd)


def _remove_folder(parent_fd, name, trouble):
    """Remove the emptied folder ``name`` of ``parent_fd``; a refusal is counted as trouble."""
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except OSError as exc:
        trouble.add(exc)


def _identity(fd):
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _parent(fd, expected):
    """An open descriptor of the parent of the open folder ``fd``, checked to be the folder the walk
    came down from (``expected``: its identity)."""
    parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
    if _identity(parent) != expected:
        os.close(parent)
        raise OSError("a folder was moved while it was being deleted; stopped there")
    return parent
