"""Tests of grader/data.py and data/prepare.py: copying, downloading, checking, loading. No internet.

The real Tiny Shakespeare is found through $GPTKIT_SHARED_DATA (default: ../shared/data/... beside
the kit); tests that need it skip when it is absent. The others use small fake files with the
expected size and checksum patched in.
"""

import argparse
import hashlib
import http.server
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from grader import data

KIT_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = KIT_ROOT / "data" / "prepare.py"
REAL = Path(os.environ.get(
    "GPTKIT_SHARED_DATA", KIT_ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
))

# A stand-in data set: a few 64 KiB chunks, so download progress has something to report.
FAKE = b"First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 4000
BAD = b"All: Speak, speak.\n" * 100


@pytest.fixture
def real_file():
    if not REAL.is_file():
        pytest.skip(f"the real Tiny Shakespeare is not at {REAL}; set GPTKIT_SHARED_DATA to its path")
    return REAL


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Make FAKE the expected data set; returns a local copy of it."""
    monkeypatch.setattr(data, "SHA256", hashlib.sha256(FAKE).hexdigest())
    monkeypatch.setattr(data, "SIZE", len(FAKE))
    path = tmp_path / "fake.txt"
    path.write_bytes(FAKE)
    return path


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def server():
    """An HTTP server on 127.0.0.1 serving /good (FAKE), /bad (BAD), /real (if present); else 404."""
    files = {"/good": FAKE, "/bad": BAD}
    if REAL.is_file():
        files["/real"] = REAL.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def local_net(monkeypatch):
    # A proxy set in the environment must not swallow requests to the test server.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def leftovers(folder):
    """Unfinished files left in ``folder`` (pathlib's glob also matches the hidden ones prepare writes)."""
    return sorted(p.name for p in Path(folder).glob("*.part"))


# ---------------------------------------------------------------- constants


def test_constants():
    assert data.URL.endswith("/karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
    assert data.SIZE == 1115394
    assert data.SHA256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert data.DATA_FILE == KIT_ROOT / "data" / "tinyshakespeare" / "input.txt"


def test_data_text_is_ignored_by_git():
    lines = (KIT_ROOT / "data" / ".gitignore").read_text().splitlines()
    assert "tinyshakespeare/input.txt" in lines
    assert "*.part" in lines


# ---------------------------------------------------------------- copying with --from


def test_copy_real_file(real_file, tmp_path):
    dest = tmp_path / "ts" / "input.txt"
    assert data.prepare(source=real_file, dest=dest, progress=False) == dest
    assert dest.read_bytes() == real_file.read_bytes()
    text = data.load_text(dest)
    assert len(text) == 1115394 and text.startswith("First Citizen:")
    assert leftovers(dest.parent) == []


def test_copy_accepts_a_folder_holding_input_txt(fake, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "input.txt").write_bytes(FAKE)
    dest = tmp_path / "out" / "input.txt"
    data.prepare(source=folder, dest=dest, progress=False)
    assert dest.read_bytes() == FAKE


def test_wrong_file_is_refused_and_dest_not_created(fake, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(BAD)
    dest = tmp_path / "out" / "input.txt"
    with pytest.raises(data.DataError) as info:
        data.prepare(source=bad, dest=dest, progress=False)
    msg = str(info.value)
    assert data.SHA256 in msg and hashlib.sha256(BAD).hexdigest() in msg
    assert f"{len(BAD):,} bytes" in msg and "prepare.py" in msg and "\n" not in msg
    assert not dest.exists()
    assert leftovers(dest.parent) == []


def test_wrong_file_never_replaces_a_good_one(fake, tmp_path):
    dest = tmp_path / "input.txt"
    dest.write_bytes(FAKE)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(BAD)
    with pytest.raises(data.DataError, match="Nothing was written"):
        data.prepare(source=bad, dest=dest, progress=False, force=True)
    assert dest.read_bytes() == FAKE
    assert leftovers(tmp_path) == []


def test_too_large_file_is_refused(fake, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(FAKE + b"more")
    with pytest.raises(data.DataError, match="larger than"):
        data.prepare(source=big, dest=tmp_path / "input.txt", progress=False)
    assert not (tmp_path / "input.txt").exists()


def test_valid_dest_is_kept_unless_forced(fake, tmp_path):
    dest = tmp_path / "input.txt"
    dest.write_bytes(FAKE)
    before = dest.stat().st_mtime_ns
    out = io.StringIO()
    assert data.prepare(source=fake, dest=dest, progress=out) == dest
    assert "kept" in out.getvalue() and "--force" in out.getvalue()
    assert dest.stat().st_mtime_ns == before
    os.utime(dest, ns=(before - 10**9, before - 10**9))
    data.prepare(source=fake, dest=dest, progress=False, force=True)
    assert dest.stat().st_mtime_ns != before - 10**9  # written again


def test_wrong_dest_is_replaced(fake, tmp_path):
    dest = tmp_path / "input.txt"
    dest.write_bytes(BAD)
    out = io.StringIO()
    data.prepare(source=fake, dest=dest, progress=out)
    assert dest.read_bytes() == FAKE
    assert "replacing" in out.getvalue()


def test_missing_source(tmp_path):
    dest = tmp_path / "input.txt"
    with pytest.raises(data.DataError) as info:
        data.prepare(source=tmp_path / "nope.txt", dest=dest, progress=False)
    msg = str(info.value)
    assert "nope.txt" in msg and "does not exist" in msg and "--from PATH" in msg
    assert not dest.exists()


def test_dest_that_is_a_folder(fake, tmp_path):
    with pytest.raises(data.DataError, match="is a folder"):
        data.prepare(source=fake, dest=tmp_path, progress=False)


# ---------------------------------------------------------------- loading


def test_load_text_missing_file_says_what_to_run(tmp_path, monkeypatch):
    missing = tmp_path / "input.txt"
    monkeypatch.setattr(data, "DATA_FILE", missing)
    monkeypatch.chdir(KIT_ROOT)
    with pytest.raises(data.DataError) as info:
        data.load_text()
    msg = str(info.value)
    assert "not found" in msg and str(missing) in msg
    assert "Run: python data/prepare.py (downloads it)" in msg
    assert "python data/prepare.py --from PATH" in msg


def test_load_text_other_path_names_dest(tmp_path, monkeypatch):
    monkeypatch.chdir(KIT_ROOT)
    with pytest.raises(data.DataError) as info:
        data.load_text(tmp_path / "x.txt")
    assert f"python data/prepare.py --dest {tmp_path / 'x.txt'}" in str(info.value)


def test_load_text_wrong_file(fake, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(BAD)
    with pytest.raises(data.DataError) as info:
        data.load_text(path)
    msg = str(info.value)
    assert "not Tiny Shakespeare" in msg and hashlib.sha256(BAD).hexdigest() in msg and "prepare.py" in msg


def test_load_text_honours_env_var(fake, monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(fake))
    assert data.load_text() == FAKE.decode()
    assert data.verify() == fake
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "gone.txt"))
    with pytest.raises(data.DataError, match=f"gone.txt \\(set by {data.ENV_VAR}\\)"):
        data.load_text()


def test_load_text_caches_the_check_but_sees_changes(fake, monkeypatch):
    calls = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(data.hashlib, "sha256", lambda *a: calls.append(1) or real_sha256(*a))
    assert data.load_text(fake) == FAKE.decode()
    assert data.load_text(fake) == FAKE.decode()
    assert len(calls) == 1
    # Same size, other content, other mtime: checked again and refused.
    fake.write_bytes(FAKE[:-1] + b"?")
    st = fake.stat()
    os.utime(fake, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(data.DataError):
        data.load_text(fake)


def test_load_text_real_file(real_file):
    text = data.load_text(real_file)
    assert len(text) == 1115394 and len(set(text)) == 65


# ---------------------------------------------------------------- downloading


def test_download_good_file_with_progress(fake, server, local_net, tmp_path):
    dest = tmp_path / "dl" / "input.txt"
    out = io.StringIO()
    assert data.prepare(dest=dest, url=f"{server}/good", progress=out) == dest
    assert dest.read_bytes() == FAKE
    log = out.getvalue()
    assert f"{server}/good" in log
    assert len(re.findall(rf"^[\d,]+ / {len(FAKE):,} bytes \(\d+%\)$", log, re.M)) >= 2
    assert log.endswith(f"{len(FAKE):,} / {len(FAKE):,} bytes (100%)\n")
    assert "\r" not in log  # not a terminal: plain lines for CI logs
    assert len(log.splitlines()) <= 6
    assert leftovers(dest.parent) == []


def test_download_progress_on_a_terminal_redraws_one_line(fake, server, local_net, tmp_path):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    data.prepare(dest=tmp_path / "input.txt", url=f"{server}/good", progress=out)
    assert "\r" in out.getvalue() and out.getvalue().endswith("(100%)\n")


def test_download_bad_file_is_refused(fake, server, local_net, tmp_path):
    dest = tmp_path / "input.txt"
    with pytest.raises(data.DataError) as info:
        data.prepare(dest=dest, url=f"{server}/bad", progress=False)
    msg = str(info.value)
    assert f"{server}/bad" in msg and data.SHA256 in msg and hashlib.sha256(BAD).hexdigest() in msg
    assert not dest.exists() and leftovers(tmp_path) == []


def test_download_404(server, local_net, tmp_path):
    dest = tmp_path / "input.txt"
    with pytest.raises(data.DataError) as info:
        data.prepare(dest=dest, url=f"{server}/missing", progress=False)
    msg = str(info.value)
    assert "HTTP 404" in msg and "--from PATH" in msg
    assert not dest.exists() and leftovers(tmp_path) == []


def test_download_unreachable(tmp_path, local_net):
    with pytest.raises(data.DataError, match="cannot reach"):
        data.prepare(dest=tmp_path / "input.txt", url="http://127.0.0.1:9/input.txt", progress=False, timeout=5)


def test_download_not_a_url(tmp_path):
    with pytest.raises(data.DataError, match="--url"):
        data.prepare(dest=tmp_path / "input.txt", url="not a url", progress=False)


def test_download_real_file(real_file, server, local_net, tmp_path):
    dest = tmp_path / "input.txt"
    data.prepare(dest=dest, url=f"{server}/real", progress=False)
    assert data.load_text(dest).startswith("First Citizen:")


# ---------------------------------------------------------------- command line


def parse(argv):
    parser = argparse.ArgumentParser()
    data.add_arguments(parser)
    return parser.parse_args(argv)


def test_run_success_and_failure(fake, tmp_path, capsys):
    dest = tmp_path / "input.txt"
    assert data.run(parse(["--from", str(fake), "--dest", str(dest)])) == 0
    out, err = capsys.readouterr()
    assert "ready" in out and "verified" in out and "input.txt" in out
    assert data.run(parse(["--from", str(tmp_path / "nope"), "--dest", str(dest)])) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def script(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", data.ENV_VAR)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )


def test_script_from_another_folder(real_file, tmp_path):
    dest = tmp_path / "out" / "input.txt"
    result = script("--from", real_file, "--dest", dest, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout
    assert dest.read_bytes() == real_file.read_bytes()


def test_script_bad_file_one_line_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(BAD)
    dest = tmp_path / "out" / "input.txt"
    result = script("--from", bad, "--dest", dest, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and data.SHA256 in result.stderr
    assert not dest.exists()
