"""``python -m grader bench`` prints figures; these tests check it runs and what it prints, not speed."""

import json
import os
import subprocess
import sys

import pytest

from grader.trainer.bench import flops_per_token, peak_flops
from grader.trainer.train import PRESETS
from tests.kit import KIT_ROOT

pytestmark = pytest.mark.timeout(300)


def bench(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "grader", "bench", *args], cwd=KIT_ROOT, capture_output=True,
                          text=True, timeout=240, env=env)


def test_json_lists_a_record_per_model():
    proc = bench("--json", "--iters", "2", "--warmup", "1", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [(r["name"], r["config"], r["device"]) for r in records] == [
        ("reference", "small", "cpu"), ("unfused", "small", "cpu")]
    for r in records:
        assert r["tokens_per_s"] > 0 and r["ms_per_iter"] > 0 and r["mfu"] is None
    # the per-head model has the same parameters, grouped differently (plus the heads' own biases: none)
    assert records[0]["n_params"] == records[1]["n_params"]


def test_table_is_the_default():
    proc = bench("--iters", "1", "--warmup", "0", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "tokens/s" in proc.stdout and "ms/iter" in proc.stdout and "unfused" in proc.stdout


def test_an_unfinished_implementation_is_a_clear_error():
    proc = bench("--impl", "exercises", "--iters", "1", "--device", "cpu")
    assert proc.returncode == 2 and "not finished" in proc.stderr and "Traceback" not in proc.stderr


def test_mfu_arithmetic():
    cfg = PRESETS["lecture"]
    assert flops_per_token(10_788_929, cfg) == 6 * 10_788_929 + 12 * 6 * 384 * 256
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12 and peak_flops("Tesla T4") is None
