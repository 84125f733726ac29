"""The trainer's fast path computes what the plain path computes (on the CPU; CUDA parts skip)."""

import dataclasses

import pytest
import torch

from grader.trainer.fast import batches, cosine_lr, sdpa_attention
from grader.impl import Implementation
from grader.trainer.train import PRESETS, TrainError, train
from tests.kit import make_variant

pytestmark = pytest.mark.timeout(300)


def _model(impl, dropout=0.0):
    GPTConfig, GPT = impl.get("gpt", "GPTConfig"), impl.get("gpt", "GPTLanguageModel")
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=65, block_size=32, n_embd=64, n_head=4, n_layer=3, dropout=dropout))


def test_sdpa_attention_gives_the_reference_the_same_outputs():
    impl = Implementation("solutions")
    model = _model(impl).eval()
    idx = torch.randint(65, (2, 32), generator=torch.Generator().manual_seed(1))
    before, _ = model(idx)
    assert sdpa_attention(model, impl.get("attention", "MultiHeadAttention"), 32) == (3, 0)
    after, _ = model(idx)
    assert (before - after).abs().max().item() < 1e-5


def test_an_attention_that_computes_something_else_keeps_its_own_forward(tmp_path):
    variant = make_variant(tmp_path, "scale_by_n_embd", {"attention": [("wei = q @ k.transpose(-2, -1) * hs**-0.5",
                                                                      "wei = q @ k.transpose(-2, -1) * C**-0.5")]})
    impl = Implementation(variant)
    model = _model(impl).eval()
    idx = torch.randint(65, (2, 32), generator=torch.Generator().manual_seed(1))
    before, _ = model(idx)
    assert sdpa_attention(model, impl.get("attention", "MultiHeadAttention"), 32) == (0, 3)
    assert torch.equal(model(idx)[0], before)


def test_batches_are_get_batchs_draws():
    get_batch = Implementation("solutions").get("batching", "get_batch")
    data = torch.arange(1000)
    draw = batches({"train": data}, 4, 8, "cpu")
    torch.manual_seed(3)
    x, y = draw("train")
    torch.manual_seed(3)
    ex, ey = get_batch(data, 4, 8)
    assert torch.equal(x, ex) and torch.equal(y, ey)


def test_cosine_schedule():
    assert cosine_lr(1e-3, 0, 100, 10, 1e-4) == pytest.approx(1e-4)  # warm-up starts at lr / warmup
    assert cosine_lr(1e-3, 9, 100, 10, 1e-4) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 10, 100, 10, 1e-4) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 100, 100, 10, 1e-4) == pytest.approx(1e-4)
    assert cosine_lr(1e-3, 55, 100, 10, 1e-4) == pytest.approx(5.5e-4)


def test_train_on_the_fast_path_learns_and_says_so():
    lines = []
    result = train("solutions", "small", device="cpu", max_iters=20, eval_interval=10, eval_iters=2, fast=True,
                   warmup_iters=5, min_lr=1e-4, log=lines.append)
    assert any(line.startswith("fast path: SDPA attention in 4 of 4 blocks") for line in lines)
    first, last = result["history"][0], result["history"][-1]
    assert last["val"] < first["val"] - 0.3  # as the plain path (tests/test_train.py)


def test_a_preset_schedule_applies_and_the_lecture_keeps_a_constant_rate():
    small = dataclasses.asdict(PRESETS["small"])
    scheduled = train("solutions", {**small, "warmup_iters": 4, "min_lr": 1e-4}, device="cpu", max_iters=20,
                      eval_interval=10, eval_iters=1, text="to be or not to be " * 200, log=lambda line: None)
    assert [round(h["lr"], 6) for h in scheduled["history"]] == [0.00025, 0.000722, 0.0001]
    constant = train("solutions", "small", device="cpu", max_iters=20, eval_interval=10, eval_iters=1,
                     text="to be or not to be " * 200, log=lambda line: None)
    assert {h["lr"] for h in constant["history"]} == {1e-3}
    fast = PRESETS["lecture-fast"]
    assert (fast.warmup_iters, fast.min_lr, fast.beta2) == (100, 1e-4, 0.99)
    assert PRESETS["lecture"].min_lr is None and PRESETS["lecture"].warmup_iters == 0


def test_bad_learning_rates_are_clear_errors():
    for kwargs in ({"learning_rate": 0}, {"learning_rate": 1e-3, "min_lr": 1e-2}, {"warmup_iters": -1}):
        with pytest.raises(TrainError, match="learning rates"):
            train("solutions", "small", device="cpu", max_iters=1, text="hello world " * 100, **kwargs)


@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
def test_compile_trains_the_same_model():
    # ~50 s on 2 CPU cores, nearly all of it compiling (inductor needs a C compiler, as on CI).
    plain = train("solutions", "small", device="cpu", max_iters=2, eval_interval=2, eval_iters=1, fast=True,
                  log=lambda line: None)
    compiled = train("solutions", "small", device="cpu", max_iters=2, eval_interval=2, eval_iters=1, fast=True,
                     compile=True, log=lambda line: None)
    assert compiled["val_loss"] == pytest.approx(plain["val_loss"], abs=1e-3)
