"""Tiny Shakespeare: where it lives, how to get it, and the one loader the grader and the trainer share.

The text is never committed. ``python data/prepare.py`` downloads it (as nanoGPT does), or
``python data/prepare.py --from PATH`` copies a file you already have. Either way the size and
sha256 are checked before the file lands at its place, so a bad or half-finished file never
replaces a good one. ``load_text()`` checks it again and says what to run when it is missing.

The environment variable ``GPTKIT_DATA`` (a path to the file) moves the default location, for
both ``prepare`` and ``load_text``.
"""

import argparse
import hashlib
import http.client
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SIZE = 1115394

KIT_ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = KIT_ROOT / "data" / "tinyshakespeare" / "input.txt"
ENV_VAR = "GPTKIT_DATA"

TIMEOUT = 30  # seconds without data before a download gives up
_CHUNK = 64 * 1024

# (resolved path, mtime_ns, size, expected sha256) of files already verified in this process;
# the expected sha256 is part of the key so a changed constant (tests) is never served a stale answer.
_verified = {}


class DataError(Exception):
    """The data set is missing, wrong, or could not be obtained; the message says how to fix it."""


# ---------------------------------------------------------------- messages


def _show(path):
    """A path as the student should type it: relative to the current folder when inside it."""
    path = Path(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return _quote(str(path))
    outside = rel == os.pardir or rel.startswith(os.pardir + os.sep)
    return _quote(os.path.abspath(path) if outside else rel)


def _quote(text):
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _command(dest=None):
    """The command that fills ``dest``: the script when the kit is checked out, else the module."""
    script = KIT_ROOT / "data" / "prepare.py"
    command = f"python {_show(script)}" if script.is_file() else "python -m grader data"
    if dest is not None and Path(dest).resolve() != Path(DATA_FILE).resolve():
        command += f" --dest {_show(dest)}"
    return command


def _how_to_get(dest):
    command = _command(dest)
    return f"Run: {command} (downloads it) or {command} --from PATH (copies a local file)"


def _mismatch(size, digest):
    return (
        f"expected {SIZE:,} bytes with sha256 {SHA256}, "
        f"got {size:,} bytes with sha256 {digest}"
    )


# ---------------------------------------------------------------- checking


def default_path():
    """Where the data file is expected: ``$GPTKIT_DATA`` when set, else ``data/tinyshakespeare/input.txt``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path(DATA_FILE)


def _is_valid(path):
    """True when ``path`` is a file with the expected size and sha256 (no error on a bad one)."""
    try:
        _read_verified(Path(path))
    except (DataError, OSError):
        return False
    return True


def _read_verified(path):
    """Read ``path`` and check it against SIZE and SHA256; returns the bytes. The check is cached."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, SHA256)
        if key in _verified:
            return f.read()
        # Read at most one byte too many, so pointing at a huge file fails fast.
        data = f.read(SIZE + 1)
    if len(data) > SIZE:
        raise DataError(f"expected {SIZE:,} bytes, got {st.st_size:,}")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != SIZE or digest != SHA256:
        raise DataError(_mismatch(len(data), digest))
    _verified[key] = True
    return data


def _checked_bytes(path, where):
    """The bytes of the data file at ``path``, or DataError with the command that fixes it."""
    if not path.is_file():
        if path.is_dir():
            raise DataError(f"{where} is a folder; the data set is one file, input.txt. {_how_to_get(path)}")
        raise DataError(f"Tiny Shakespeare not found at {where}. {_how_to_get(path)}")
    try:
        return _read_verified(path)
    except DataError as e:
        raise DataError(
            f"The file at {where} is not Tiny Shakespeare (damaged, or another file): {e}. "
            f"Run: {_command(path)} (fetches it again and replaces the file)"
        ) from None
    except OSError as e:
        raise DataError(f"Cannot read {where}: {e.strerror or e}. Check its permissions.") from None


def _locate(path):
    """(path, how to name it in messages) for ``path`` or, when None, the default location."""
    if path is not None:
        path = Path(path).expanduser()
        return path, _show(path)
    path = default_path()
    from_env = bool(os.environ.get(ENV_VAR))
    return path, f"{_show(path)} (set by {ENV_VAR})" if from_env else _show(path)


def verify(path=None):
    """Check the data file (default: ``default_path()``) and return its path; raises DataError."""
    path, where = _locate(path)
    _checked_bytes(path, where)
    return path


def load_text(path=None, download=False):
    """Return Tiny Shakespeare as a str, after checking its size and sha256.

    ``path`` defaults to ``$GPTKIT_DATA`` when set, else ``data/tinyshakespeare/input.txt``.
    With ``download=True`` a missing file at the default place is downloaded first (as
    ``python data/prepare.py`` would), so a new user's first ``pytest`` or ``train`` just works.
    Raises DataError, with the command that fixes it, when the file is missing or wrong.
    The check is remembered per (path, mtime, size), so repeated calls only read the file.
    """
    if download and path is None and not os.environ.get(ENV_VAR) and not DATA_FILE.exists():
        print("Tiny Shakespeare is not here yet: downloading it once.", file=sys.stderr)
        prepare()
    path, where = _locate(path)
    data = _checked_bytes(path, where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:  # only reachable when the expected checksum was changed
        raise DataError(f"{where} is not UTF-8 text ({e}).") from None


# ---------------------------------------------------------------- obtaining


class _Progress:
    """Download progress on a stream: one line redrawn with \\r on a terminal, a few plain lines elsewhere."""

    def __init__(self, stream, total):
        self.stream = stream
        self.total = total if total and total > 0 else None
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.last_draw = 0.0
        self.next_mark = 0  # next quarter (non-tty with known total) or MiB (unknown total) to print

    def _text(self, done):
        if self.total:
            return f"  {done:,} / {self.total:,} bytes ({min(100, 100 * done // self.total)}%)"
        return f"  {done:,} bytes"

    def update(self, done):
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1:  # redrawing on every chunk would flood slow terminals
                self.last_draw = now
                self.stream.write("\r" + self._text(done))
                self.stream.flush()
            return
        # CI logs keep every line, so print only at 25 %, 50 %, 75 % (or every MiB when the size is unknown).
        mark = 4 * done // self.total if self.total else done // (1 << 20)
        if mark > self.next_mark and (not self.total or mark < 4):
            self.next_mark = mark
            self.stream.write(self._text(done).lstrip() + "\n")
            self.stream.flush()

    def finish(self, done):
        if self.tty:
            self.stream.write("\r" + self._text(done) + "\n")
        else:
            self.stream.write(self._text(done).lstrip() + "\n")
        self.stream.flush()


def _copy_into(reader, out, limit, progress=None):
    """Copy ``reader`` to ``out`` while hashing; stop past ``limit`` bytes. Returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = reader.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return size, None  # too big to be the data set; no point reading the rest
        digest.update(chunk)
        out.write(chunk)
        if progress:
            progress.update(size)
    if progress:
        progress.finish(size)
    return size, digest.hexdigest()


def _resolve_source(source):
    source = Path(source).expanduser()
    if source.is_dir() and (source / "input.txt").is_file():
        return source / "input.txt"  # a folder holding input.txt is accepted, as nanoGPT lays it out
    if not source.is_file():
        what = "is a folder without input.txt" if source.is_dir() else "does not exist"
        raise DataError(
            f"--from {_show(source)}: {what}. Give the path to Tiny Shakespeare's input.txt: "
            f"{_command()} --from PATH, or download it: {_command()}"
        )
    return source


def prepare(source=None, dest=None, url=None, progress=True, force=False, timeout=TIMEOUT):
    """Put a verified copy of Tiny Shakespeare at ``dest`` and return ``dest`` as a Path.

    source:   a local file (or a folder holding input.txt) to copy; when None, download ``url``.
    dest:     where the file goes; default ``default_path()`` ($GPTKIT_DATA or data/tinyshakespeare/input.txt).
    url:      where to download from; default ``URL``.
    progress: True for stderr, False for silence, or a stream to write to.
    force:    fetch again even when ``dest`` already holds the right file.

    The new file is written to a hidden ``.<name>.<random>.part`` beside ``dest``, checked (size and sha256),
    and only then moved over ``dest``; on any failure ``dest`` is left as it was. Raises DataError.
    """
    dest = default_path() if dest is None else Path(dest).expanduser()
    url = URL if url is None else url
    stream = sys.stderr if progress is True else (progress or None)

    def say(text):
        if stream:
            stream.write(text + "\n")
            stream.flush()

    # A typo in --from is reported even when dest is fine: the student asked for that file.
    src = _resolve_source(source) if source is not None else None
    if dest.is_dir():
        raise DataError(f"--dest {_show(dest)} is a folder; give the file path, e.g. {_show(dest / 'input.txt')}")
    if dest.is_file() and not force:
        if _is_valid(dest):
            say(f"{_show(dest)} is already there and verified; kept it (use --force to fetch it again).")
            return dest
        say(f"{_show(dest)} is not the right file; replacing it.")

    part = _part_beside(dest)
    try:
        try:
            out = open(part, "xb")  # "x" and normal permissions, unlike mkstemp's private 0600
        except OSError as e:
            raise DataError(f"Cannot write in {_show(dest.parent)}: {e.strerror or e}. Pick another --dest.") from None
        with out:
            size, digest, what, fix = _fetch_into(out, src, url, dest, stream, timeout, say)
            out.flush()
            os.fsync(out.fileno())
        _expect_tiny_shakespeare(size, digest, what, fix, dest)
        try:
            os.replace(part, dest)  # atomic: readers see the old file or the new one, never half of one
        except OSError as e:
            raise DataError(f"Cannot replace {_show(dest)}: {e.strerror or e}. Delete it and run again.") from None
    finally:
        part.unlink(missing_ok=True)
    return dest


def _part_beside(dest):
    """A hidden ``.<name>.<random>.part`` path beside ``dest`` (its folder made); DataError if it cannot be."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"Cannot create the folder {_show(dest.parent)}: {e.strerror or e}.") from None
    return dest.parent / f".{dest.name}.{secrets.token_hex(4)}.part"


def _fetch_into(out, src, url, dest, stream, timeout, say):
    """Copy ``src`` (or download ``url``) into ``out``; returns (size, sha256 or None when too large,
    what it was in words, how to fix a wrong file in words)."""
    if src is not None:
        what = f"The file {_show(src)}"
        fix = f"Give the original input.txt: {_command(dest)} --from PATH, or download it: {_command(dest)}"
        try:
            with open(src, "rb") as reader:
                return (*_copy_into(reader, out, SIZE), what, fix)
        except OSError as e:
            raise DataError(f"Cannot read {_show(src)}: {e.strerror or e}.") from None
    what = f"The download from {url}"
    fix = (f"Try again, or get input.txt another way (a browser, another machine) "
           f"and run: {_command(dest)} --from PATH")
    say(f"Downloading Tiny Shakespeare from {url}")
    return (*_download(url, out, stream, timeout, fix), what, fix)


def _expect_tiny_shakespeare(size, digest, what, fix, dest):
    if digest is None:
        raise DataError(f"{what} is not Tiny Shakespeare: it is larger than {SIZE:,} bytes. "
                        f"Nothing was written to {_show(dest)}. {fix}")
    if size != SIZE or digest != SHA256:
        raise DataError(f"{what} is not Tiny Shakespeare: {_mismatch(size, digest)}. "
                        f"Nothing was written to {_show(dest)}. {fix}")


def _download(url, out, stream, timeout, fix):
    """Stream ``url`` into ``out``; returns (size, sha256) like ``_copy_into``. Raises DataError."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "gptkit-data/1"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            progress = _Progress(stream, int(total) if total and total.isdigit() else None) if stream else None
            return _copy_into(response, out, SIZE, progress)
    except urllib.error.HTTPError as e:
        e.close()
        raise DataError(f"Download failed: HTTP {e.code} {e.reason} from {url}. {fix}") from None
    except urllib.error.URLError as e:
        raise DataError(f"Download failed: cannot reach {url} ({e.reason}). {fix}") from None
    except (OSError, http.client.HTTPException) as e:  # timeouts, resets, truncated bodies
        raise DataError(f"Download failed from {url}: {e or type(e).__name__}. {fix}") from None
    except ValueError as e:  # not a URL at all
        raise DataError(f"--url {url}: {e}. Give an http(s) URL, or use --from PATH for a local file.") from None


# ---------------------------------------------------------------- command line


def add_arguments(parser):
    """Options of ``python -m grader data`` and ``python data/prepare.py``."""
    parser.add_argument("--from", dest="source", metavar="PATH",
                        help="copy this local input.txt instead of downloading")
    parser.add_argument("--url", default=None, metavar="URL", help=f"download from here (default: {URL})")
    parser.add_argument("--dest", default=None, metavar="PATH",
                        help=f"where to put the file (default: ${ENV_VAR} if set, else data/tinyshakespeare/input.txt)")
    parser.add_argument("--force", action="store_true", help="fetch again even if the file is already there")
    return parser


def run(args):
    """Obtain and verify the data set; print where it is. Returns 0, or 1 with a one-line error on stderr."""
    try:
        path = prepare(source=args.source, dest=args.dest, url=args.url, force=args.force)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was changed.", file=sys.stderr)
        return 130
    print(f"Tiny Shakespeare is ready: {_show(path)} ({SIZE:,} bytes, sha256 {SHA256[:16]}... verified)")
    return 0


def main(argv=None):
    """Entry point of ``data/prepare.py``."""
    parser = argparse.ArgumentParser(
        prog="python data/prepare.py",
        description="Obtain Tiny Shakespeare (download it, or copy a local file) and verify its sha256.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
