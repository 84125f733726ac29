"""Exercise 4: generate()."""

import pytest
import torch

from grader.expect import expect_tensor, fail

pytestmark = pytest.mark.generate


class FixedLogits(torch.nn.Module):
    """A stand-in model: the same logits at every position, and it refuses contexts over ``max_T``."""

    def __init__(self, vocab_size=5, max_T=None):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(vocab_size))
        self.max_T = max_T

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if self.max_T is not None and T > self.max_T:
            raise AssertionError(f"the model got a context of {T} tokens, more than block_size={self.max_T}")
        return self.logits.expand(B, T, -1), None


def test_shape_dtype_and_prompt_kept(impl, device):
    torch.manual_seed(0)
    idx = torch.randint(5, (3, 4), device=device)
    out = impl.get("generate", "generate")(FixedLogits().to(device), idx, 6)
    where = impl.where("generate", "generate")
    expect_tensor(out, "generate's result", where, shape=(3, 10), dtype=torch.int64, device=device,
                  hint="append one new token per step with torch.cat((idx, idx_next), dim=1)")
    if not torch.equal(out[:, :4], idx):
        fail("the prompt should stay at the start of the result", idx[0].tolist(), out[0, :4].tolist(), where)


def test_context_cropped_to_block_size(impl, device):
    idx = torch.zeros((2, 3), dtype=torch.long, device=device)
    where = impl.where("generate", "generate")
    try:
        out = impl.get("generate", "generate")(FixedLogits(max_T=4).to(device), idx, 8, block_size=4)
    except AssertionError as exc:
        if "block_size" not in str(exc):
            raise
        fail("the model should never see more than block_size tokens", "contexts of at most 4 tokens", str(exc),
             where, "crop before calling the model: idx_cond = idx[:, -block_size:]")
    expect_tensor(out, "generate's result", where, shape=(2, 11))
