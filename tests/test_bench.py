"""``python -m grader bench`` prints figures; these tests check it runs and what it prints, not speed."""

import argparse
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


def test_mps_times_the_small_config_like_the_cpu(monkeypatch):
    """On MPS: the small config only, 30 iterations (the lecture's model and bf16 are for CUDA)."""
    from grader.trainer import bench as bench_module

    calls = []
    monkeypatch.setattr(bench_module, "measure", lambda impl, name, config, device, iters, warmup: calls.append(
        (name, config, device, iters)))
    bench_module.run_all(None, "mps")
    assert calls == [("reference", "small", "mps", 30), ("unfused", "small", "mps", 30)]


def test_the_timer_waits_for_the_device(monkeypatch):
    """measure() synchronises the device it runs on before starting and before stopping the clock (on
    MPS and CUDA the steps only queue work); grader/device.py's synchronize does it for each kind."""
    from grader.impl import Implementation
    from grader.trainer import bench as bench_module

    calls = []
    monkeypatch.setattr(bench_module, "synchronize", calls.append)
    record = bench_module.measure(Implementation("solutions"), "reference", "small", "cpu", iters=1, warmup=0)
    assert calls == ["cpu", "cpu"] and record["ms_per_iter"] > 0


def test_the_train_benchmark_prints_the_kits_figures():
    """benchmarks/train_small.py times whole `train` processes; here two steps, once, without nanoGPT."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "benchmarks/train_small.py", "--max-iters", "2", "--eval-interval", "1",
                           "--eval-iters", "1", "--repeats", "1"], cwd=KIT_ROOT, capture_output=True, text=True,
                          timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run 1 kit      first evaluation at" in proc.stdout and "kit      median:" in proc.stdout, proc.stdout
    assert "nanoGPT" not in proc.stdout.split("\n", 1)[1], proc.stdout


def test_the_train_benchmark_gives_nanogpt_the_small_preset():
    sys.path.insert(0, str(KIT_ROOT / "benchmarks"))
    try:
        import train_small
    finally:
        sys.path.pop(0)
    flags = dict(arg[2:].split("=", 1) for arg in train_small.nanogpt_command(
        argparse.Namespace(max_iters=1000, eval_interval=100, eval_iters=100), "out") if arg.startswith("--"))
    small = PRESETS["small"]
    for name in ("batch_size", "block_size", "n_embd", "n_head", "n_layer", "dropout", "learning_rate"):
        assert float(flags[name]) == getattr(small, name), name
    assert flags["device"] == "cpu" and flags["compile"] == "False" and flags["dtype"] == "float32"
    assert flags["max_iters"] == "1000" and flags["eval_interval"] == "100" and flags["eval_iters"] == "100"
