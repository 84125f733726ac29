"""Exercise 9: the GPT language model."""

import math

import pytest
import torch

from grader.expect import expect_pair, expect_raises, expect_tensor, fail

pytestmark = pytest.mark.gpt

V = 65
# The lecture's model on Tiny Shakespeare's 65 symbols has exactly this many parameters (~10.8M).
LECTURE_PARAMETERS = 10_788_929


def small_model(impl, device, **overrides):
    settings = dict(vocab_size=V, block_size=16, n_embd=32, n_head=4, n_layer=2, dropout=0.0) | overrides
    torch.manual_seed(0)
    config = impl.get("gpt", "GPTConfig")(**settings)
    return impl.get("gpt", "GPTLanguageModel")(config).to(device).eval()


def test_lecture_config_has_10_8M_parameters(impl):
    where = impl.where("gpt", "GPTLanguageModel.__init__")
    model = impl.get("gpt", "GPTLanguageModel")(impl.get("gpt", "GPTConfig")(vocab_size=V))
    count = sum(p.numel() for p in model.parameters())
    if count != LECTURE_PARAMETERS:
        fail("parameters of the lecture's model (GPTConfig(vocab_size=65))", f"{LECTURE_PARAMETERS:,}",
             f"{count:,}", where, "embeddings, n_layer Blocks, ln_f and lm_head = nn.Linear(n_embd, vocab_size)")


def test_logits_shape_and_no_loss_without_targets(impl, device):
    model = small_model(impl, device)
    idx = torch.randint(V, (2, 16), device=device)
    where = impl.where("gpt", "GPTLanguageModel.forward")
    logits, loss = expect_pair(model(idx), "GPTLanguageModel.forward(idx)", where)
    expect_tensor(logits, "logits", where, shape=(2, 16, V), dtype=torch.float32, device=device)
    if loss is not None:
        fail("without targets the loss should be None", None, loss, where)


def test_initial_loss_is_near_uniform(impl, device):
    # With the lecture's init (std 0.02) the first predictions are nearly uniform: loss ~ ln(65) = 4.17.
    # Measured 4.17-4.19 on the reference over seeds 0-4; a model without the init starts above 4.4.
    model = small_model(impl, device)
    idx = torch.randint(V, (4, 16), device=device)
    targets = torch.randint(V, (4, 16), device=device)
    where = impl.where("gpt", "GPTLanguageModel.forward")
    _, loss = expect_pair(model(idx, targets), "GPTLanguageModel.forward(idx, targets)", where)
    expect_tensor(loss, "loss", where, shape=(), device=device)
    if not abs(loss.item() - math.log(V)) < 0.15:
        fail("the loss of a freshly made model", f"about ln(65) = {math.log(V):.2f}", f"{loss.item():.2f}",
             impl.where("gpt", "GPTLanguageModel.__init__"),
             "initialise Linear and Embedding weights with normal(std=0.02) (the given _init_weights)")


def test_too_long_sequence_is_a_clear_error(impl, device):
    model = small_model(impl, device)
    idx = torch.zeros((1, 17), dtype=torch.long, device=device)
    expect_raises(ValueError, lambda: model(idx), "a sequence of 17 tokens with block_size=16",
                  impl.where("gpt", "GPTLanguageModel.forward"))


@pytest.mark.gpu
def test_runs_on_cuda(impl):
    model = small_model(impl, "cuda")
    idx = torch.randint(V, (2, 16), device="cuda")
    where = impl.where("gpt", "GPTLanguageModel.forward")
    logits, loss = expect_pair(model(idx, idx), "GPTLanguageModel.forward(idx, targets) on CUDA", where)
    expect_tensor(logits, "logits", where, shape=(2, 16, V), device="cuda")
    loss.backward()
