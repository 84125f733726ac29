"""The loss curve that train leaves next to its checkpoint, and ``python -m grader sample``."""

import csv
import os
import subprocess
import sys

import pytest

from grader.trainer.curve import describe, sparkline, write_png
from grader.trainer.train import train
from tests.kit import KIT_ROOT

pytestmark = pytest.mark.timeout(300)


def test_sparkline_maps_low_to_high():
    assert sparkline([4.0, 3.0, 2.0, 1.0]) == "█▆▃▁"
    assert sparkline([2.0, 2.0]) == "▁▁"
    assert sparkline([3.0, float("nan"), 1.0]) == "█?▁"
    assert sparkline([]) == ""


def test_describe_shows_first_and_last_loss():
    lines = describe([{"train": 4.2, "val": 4.3}, {"train": 2.0, "val": 2.5}])
    assert lines == ["train loss 4.200 █▁ 2.000", "  val loss 4.300 █▁ 2.500"]


def test_without_matplotlib_there_is_no_png(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    assert write_png([{"iter": 0, "train": 1.0, "val": 1.0}], tmp_path / "loss.png") is None
    assert not (tmp_path / "loss.png").exists()


def test_with_matplotlib_there_is_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is optional and not installed here")
    path = write_png([{"iter": 0, "train": 4.0, "val": 4.1}, {"iter": 10, "train": 3.0, "val": 3.2}],
                     tmp_path / "loss.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    lines = []
    result = train("solutions", "small", device="cpu", max_iters=20, eval_interval=10, eval_iters=2,
                   out_dir=out, log=lines.append)
    return out, result, lines


def test_train_writes_the_curve_next_to_the_checkpoint(checkpoint):
    out, result, lines = checkpoint
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["iter"]) for r in rows] == [0, 10, 20]
    assert float(rows[-1]["val"]) == pytest.approx(result["val_loss"], abs=1e-5)
    assert any(line.startswith("  val loss ") for line in lines)
    assert any(line.startswith("loss curve: ") for line in lines)


def sample_cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "grader", "sample", *map(str, args)], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_sample_continues_the_prompt_and_is_seeded(checkpoint):
    out, _, _ = checkpoint
    args = ("--checkpoint", out / "ckpt.pt", "--prompt", "ROMEO:", "--length", "40")
    first, second = sample_cli(*args, "--seed", "1"), sample_cli(*args, "--seed", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("ROMEO:") and len(first.stdout.rstrip("\n")) >= 46 - 1
    other = sample_cli(*args, "--seed", "2")
    assert other.stdout != first.stdout


def test_sample_explains_bad_requests(checkpoint, tmp_path):
    out, _, _ = checkpoint
    missing = sample_cli("--checkpoint", tmp_path / "nope.pt")
    assert missing.returncode == 2 and "no checkpoint at" in missing.stderr and "grader train" in missing.stderr
    unknown = sample_cli("--checkpoint", out / "ckpt.pt", "--prompt", "héllo ☃")
    assert unknown.returncode == 2 and "--prompt" in unknown.stderr
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    junk = sample_cli("--checkpoint", tmp_path / "junk.pt")
    assert junk.returncode == 2 and "is not a checkpoint" in junk.stderr
    stubs = sample_cli("--checkpoint", out / "ckpt.pt", "--impl", "exercises")
    assert stubs.returncode == 2 and "Sampling needs Exercise 1" in stubs.stderr and "Traceback" not in stubs.stderr
