"""``python -m grader train`` and ``grader.trainer.train.train`` against the reference solutions and the stubs.

A few iterations of the ``small`` preset on the CPU, each test well under 30 s. Measured with the
fixed seed 1337 (2-core CPU, torch 2.13): 20 iterations, eval every 10 on 2 batches give
iter 0: train 4.2108, val 4.2089; iter 10: 3.5829 / 3.6057; iter 20: 3.3280 / 3.4043.
So the losses after 20 updates sit ~0.8 below the untrained ones; the tests ask for 0.3.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.data import default_path
from kit import make_variant

KIT_ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = default_path()  # data/tinyshakespeare/input.txt, or $GPTKIT_DATA

FAST = ["--max-iters", "20", "--eval-interval", "10", "--eval-iters", "2", "--sample-tokens", "20"]
PROGRESS = re.compile(
    r"^iter (\d+)/(\d+) \| train (\S+) \| val (\S+) \| (?:[\d,]+|-) tok/s \| [\d.]+s$", re.MULTILINE
)
# the lines between the evaluations
BATCH_LOSS = re.compile(r"^iter (\d+)/(\d+) \| batch loss (\S+) \| (?:[\d,]+|-) tok/s \| [\d.]+s$", re.MULTILINE)

needs_data = pytest.mark.skipif(
    not DATA_FILE.is_file(),
    reason=f"Tiny Shakespeare is missing at {DATA_FILE}: run `python data/prepare.py` to obtain it",
)


def train_cli(*args, timeout=120):
    # One thread: the model is tiny, and torch's spinning threads slow down ~10x when the CPU is
    # oversubscribed (tests in parallel on 2 cores: 657 tok/s with 2 threads against 8,259 with 1).
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.run(
        [sys.executable, "-m", "grader", "train", *args],
        cwd=KIT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def one_thread():
    """In-process training on one thread (see train_cli), the setting restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def progress(stdout):
    """The progress lines as (iter, max_iters, train, val)."""
    return [(int(i), int(n), float(t), float(v)) for i, n, t, v in PROGRESS.findall(stdout)]


@pytest.fixture(scope="module")
def solutions_run(tmp_path_factory):
    """One short CLI run of the solutions, shared by the checks below."""
    if not DATA_FILE.is_file():
        pytest.skip(f"Tiny Shakespeare is missing at {DATA_FILE}: run `python data/prepare.py` to obtain it")
    out = tmp_path_factory.mktemp("train_out")
    proc = train_cli("--impl", "solutions", "--device", "cpu", "--out", str(out), *FAST)
    return proc, out


@needs_data
def test_cli_runs_and_prints_progress(solutions_run):
    proc, _ = solutions_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = progress(proc.stdout)
    assert [(i, n) for i, n, _, _ in lines] == [(0, 20), (10, 20), (20, 20)], proc.stdout
    for _, _, train_loss, val_loss in lines:
        assert math.isfinite(train_loss) and math.isfinite(val_loss)


@needs_data
def test_cli_prints_the_batch_loss_between_evaluations(solutions_run):
    """Evaluations every 10 steps: a progress line every 5 (half of 10), none where an evaluation is."""
    proc, _ = solutions_run
    lines = [(int(i), int(n), float(loss)) for i, n, loss in BATCH_LOSS.findall(proc.stdout)]
    assert [i for i, _, _ in lines] == [5, 15], proc.stdout  # every 10 / 2 steps, not on an evaluation's
    assert all(n == 20 and 0 < loss < 5 for _, n, loss in lines), proc.stdout
    assert len(progress(proc.stdout)) == 3  # the evaluation lines are still the same three


@needs_data
def test_cli_loss_goes_down(solutions_run):
    proc, _ = solutions_run
    lines = progress(proc.stdout)
    (_, _, train0, val0), (_, _, train_end, val_end) = lines[0], lines[-1]
    # the untrained model guesses uniformly over 65 characters: -ln(1/65) = 4.17
    assert abs(train0 - math.log(65)) < 0.15 and abs(val0 - math.log(65)) < 0.15, lines
    assert train_end < train0 - 0.3 and val_end < val0 - 0.3, lines


@needs_data
def test_cli_saves_a_checkpoint_that_loads(solutions_run):
    import torch

    proc, out = solutions_run
    path = out / "ckpt.pt"
    assert path.is_file(), proc.stdout
    assert str(path) in proc.stdout  # says where
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "config", "vocab", "iter", "val_loss", "impl"):
        assert key in ckpt, f"checkpoint has no {key!r}: {sorted(ckpt)}"
    assert ckpt["iter"] == 20
    assert ckpt["impl"] == "solutions"
    assert math.isfinite(ckpt["val_loss"])
    assert len(ckpt["vocab"]) == 65 and ckpt["vocab"][0] == "\n" and list(ckpt["vocab"]) == sorted(ckpt["vocab"])
    assert ckpt["config"] == {
        "vocab_size": 65, "block_size": 32, "n_embd": 64, "n_head": 4, "n_layer": 4, "dropout": 0.0,
    }
    assert "token_embedding_table.weight" in ckpt["model"]

    # the checkpoint alone rebuilds the model and its tokenizer
    from grader.impl import Implementation

    impl = Implementation("solutions")
    model = impl.get("gpt", "GPTLanguageModel")(impl.get("gpt", "GPTConfig")(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    tokenizer = impl.get("tokenizer", "CharTokenizer")(ckpt["vocab"])
    assert tokenizer.encode("hii there") == [46, 47, 47, 1, 58, 46, 43, 56, 43]


@needs_data
def test_cli_prints_a_sample(solutions_run):
    proc, _ = solutions_run
    match = re.search(r"--- sample: 20 characters.*?---\n(.*)\n--- end of sample ---", proc.stdout, re.DOTALL)
    assert match, proc.stdout
    assert len(match.group(1)) == 20


@needs_data
def test_train_function_is_deterministic_and_returns_losses(one_thread):
    from grader.trainer.train import train

    lines = []
    kwargs = dict(max_iters=6, eval_interval=3, eval_iters=2, sample_tokens=10, log=lines.append)
    first = train("solutions", "small", "cpu", **kwargs)
    second = train("solutions", "small", "cpu", **kwargs)
    assert [h["iter"] for h in first["history"]] == [0, 3, 6]
    assert first["iters"] == 6 and first["checkpoint"] is None
    assert math.isfinite(first["train_loss"]) and math.isfinite(first["val_loss"])
    assert first["val_loss"] == first["history"][-1]["val"]
    assert [(h["train"], h["val"]) for h in first["history"]] == [(h["train"], h["val"]) for h in second["history"]]
    assert first["sample"] == second["sample"] and len(first["sample"]) == 10
    assert any(line.startswith("iter 6/6 | train ") for line in lines)


def test_stubs_fail_cleanly():
    """The kit's stubs: training stops at the first exercise it needs, with one clear line."""
    if not (KIT_ROOT / "exercises").is_dir():
        pytest.skip("no exercises/ folder")
    if not DATA_FILE.is_file():
        pytest.skip(f"Tiny Shakespeare is missing at {DATA_FILE}: run `python data/prepare.py` to obtain it")
    proc = train_cli("--impl", "exercises", "--device", "cpu", *FAST)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "not implemented" in proc.stderr
    assert "exercises/tokenizer.py" in proc.stderr  # the first thing training needs
    assert "pytest -m tokenizer" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@needs_data
def test_one_missing_exercise_is_named(tmp_path):
    """A submission complete but for one method: the message names that file and method."""
    marker = "        hs = C // self.n_head\n"
    stub = marker + '        raise NotImplementedError("TODO: fused heads")\n'
    folder = make_variant(tmp_path, "submission", {"attention": [(marker, stub)]})
    proc = train_cli("--impl", str(folder), "--device", "cpu", "--out", str(tmp_path / "out"), *FAST)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "not implemented" in proc.stderr
    assert "attention.py, MultiHeadAttention.forward" in proc.stderr
    assert "TODO: fused heads" in proc.stderr
    assert not (tmp_path / "out" / "ckpt.pt").exists()


def test_syntax_error_is_one_line(tmp_path):
    folder = make_variant(tmp_path, "broken", {"block": [("class Block(nn.Module):", "class Block(nn.Module)")]})
    proc = train_cli("--impl", str(folder), "--device", "cpu", "--out", str(tmp_path / "out"), *FAST)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "block.py, line" in proc.stderr and "SyntaxError" in proc.stderr, proc.stderr


def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    proc = train_cli("--impl", "solutions", "--device", "cuda", "--out", str(tmp_path), *FAST)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "CUDA is not available" in proc.stderr
    assert not (tmp_path / "ckpt.pt").exists()


def test_missing_data_says_how_to_get_it(tmp_path):
    missing = tmp_path / "nowhere" / "input.txt"
    proc = train_cli("--impl", "solutions", "--device", "cpu", "--data", str(missing), "--out", str(tmp_path), *FAST)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "not found" in proc.stderr
    assert "prepare.py" in proc.stderr or "python -m grader data" in proc.stderr, proc.stderr
    assert not (tmp_path / "ckpt.pt").exists()


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--max-iters", "0"], "--max-iters"),
        (["--max-iters", "-5"], "--max-iters"),
        (["--eval-interval", "0"], "--eval-interval"),
        (["--eval-iters", "x"], "--eval-iters"),
        (["--sample-tokens", "-1"], "--sample-tokens"),
        (["--config", "huge"], "--config"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bad_arguments_are_usage_errors(args, complaint):
    proc = train_cli("--impl", "solutions", *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr, proc.stderr
    assert complaint in proc.stderr


def test_presets_are_data():
    from grader.trainer.train import PRESETS, TrainConfig, get_config

    lecture = PRESETS["lecture"]
    assert (lecture.batch_size, lecture.block_size, lecture.n_embd, lecture.n_head, lecture.n_layer) == (
        64, 256, 384, 6, 6,
    )
    assert (lecture.dropout, lecture.learning_rate) == (0.2, 3e-4)
    assert (lecture.max_iters, lecture.eval_interval, lecture.eval_iters) == (5000, 500, 200)
    small = PRESETS["small"]
    assert isinstance(small, TrainConfig)
    assert small.n_embd % small.n_head == 0
    assert get_config("small", max_iters=7).max_iters == 7
    assert get_config("small", max_iters=7).n_embd == small.n_embd


@pytest.mark.parametrize("max_iters, preset_interval, expected", [
    (300, 500, 50),  # --max-iters 300: 7 evaluations instead of 2
    (5000, 500, 500),  # the presets' own runs keep their interval
    (1000, 500, 100),
    (120, 500, 20),  # 12 rounded up to 20: 7 evaluations
    (15, 500, 2),
    (7, 500, 1),
    (1, 500, 1),
    (300, 20, 20),  # never less often than the preset
])
def test_the_evaluation_interval_fits_a_short_run(max_iters, preset_interval, expected):
    from grader.trainer.train import auto_eval_interval, get_config

    cfg = get_config("small", max_iters=max_iters, eval_interval=preset_interval)
    assert auto_eval_interval(cfg) == expected


@pytest.mark.parametrize("eval_interval, expected", [(500, 200), (50, 20), (200, 100), (20, 10), (10, 5), (5, 2),
                                                     (4, 2), (3, 0), (1, 0)])
def test_progress_lines_come_1_to_4_times_between_evaluations(eval_interval, expected):
    from grader.trainer.train import auto_log_interval

    assert auto_log_interval(eval_interval) == expected


TINY = dict(batch_size=4, block_size=8, n_embd=16, n_head=2, n_layer=1, dropout=0.1, learning_rate=1e-2,
            max_iters=500, eval_interval=500, eval_iters=1)
TINY_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


def tiny_run(**kwargs):
    from grader.trainer.train import train

    lines = []
    result = train("solutions", TINY, "cpu", text=TINY_TEXT, log=lines.append, **kwargs)
    return result, lines


def test_a_short_run_evaluates_6_to_11_times_without_eval_interval(one_thread):
    result, lines = tiny_run(max_iters=30)
    assert [h["iter"] for h in result["history"]] == [0, 5, 10, 15, 20, 25, 30]
    assert result["config"].eval_interval == 5  # as the checkpoint's train_config records it
    # A progress line every 2 steps (half of 5, rounded down to 1, 2 or 5), none on an evaluation's step.
    assert [int(i) for i, _, _ in BATCH_LOSS.findall("\n".join(lines))] == [2, 4, 6, 8, 12, 14, 16, 18, 22, 24, 26, 28]
    given, _ = tiny_run(max_iters=30, eval_interval=15)
    assert [h["iter"] for h in given["history"]] == [0, 15, 30]


def test_progress_lines_change_nothing_in_the_training(one_thread):
    """Dropout on: the losses and the weights depend on every random number drawn."""
    import torch

    quiet, quiet_lines = tiny_run(max_iters=12, eval_interval=6, log_interval=0)
    chatty, chatty_lines = tiny_run(max_iters=12, eval_interval=6, log_interval=1)
    assert not BATCH_LOSS.search("\n".join(quiet_lines))
    assert len(BATCH_LOSS.findall("\n".join(chatty_lines))) == 10
    assert [(h["train"], h["val"]) for h in quiet["history"]] == [(h["train"], h["val"]) for h in chatty["history"]]
    weights = chatty["model"].state_dict()
    assert all(torch.equal(value, weights[name]) for name, value in quiet["model"].state_dict().items())


def test_a_small_model_trains_on_the_free_cores_and_samples_on_one_thread(monkeypatch):
    """A small model trains on as many torch threads as cores are free (shared cores make torch's threads
    wait on each other) and samples on one; wider models, OMP_NUM_THREADS and --threads keep or set the
    count; the count is put back afterwards."""
    import torch

    from grader.trainer.train import PRESETS, cpu_threads_for, torch_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    small = PRESETS["small"].n_embd
    assert cpu_threads_for(small, load=0.1) == min(2, torch.get_num_threads())
    assert cpu_threads_for(small, load=1.8) == 1 and cpu_threads_for(small, load=7.0) == 1
    assert cpu_threads_for(small, share_out=False, load=0.0) == 1
    assert cpu_threads_for(PRESETS["lecture"].n_embd) is None  # torch's own count: one per core
    assert cpu_threads_for(small, threads=2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu_threads_for(small) is None  # someone chose: it stands
    before = torch.get_num_threads()
    with torch_threads("cpu", 64, threads=2) as words:
        assert torch.get_num_threads() == 2 and words == " (2 threads)"
    with torch_threads("cpu", 64, threads=1) as words:
        assert torch.get_num_threads() == 1 and words == " (1 thread)"
    assert torch.get_num_threads() == before
    with torch_threads("cuda", 64) as words:
        assert words == "" and torch.get_num_threads() == before


@needs_data
def test_cli_says_how_many_threads_it_trains_on(solutions_run):
    proc, _ = solutions_run
    assert re.search(r"GPT on cpu \((1 thread|\d+ threads)\): ", proc.stdout), proc.stdout
