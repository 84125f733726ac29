"""Exercise 8: the Transformer block."""

import pytest
import torch

from grader.expect import attribute, expect_tensor, fail

pytestmark = pytest.mark.block

n_embd, n_head, block_size = 32, 4, 16


def make_block(impl, device):
    torch.manual_seed(0)
    return impl.get("block", "Block")(n_embd, n_head, block_size).to(device).eval()


def test_sublayers(impl, device):
    block = make_block(impl, device)
    where = impl.where("block", "Block.__init__")
    expected = {
        "sa": impl.get("attention", "MultiHeadAttention"),
        "ffwd": impl.get("block", "FeedForward"),
        "ln1": torch.nn.LayerNorm,
        "ln2": torch.nn.LayerNorm,
    }
    for name, kind in expected.items():
        layer = attribute(block, name, where)
        if not isinstance(layer, kind):
            fail(f"Block.{name}", kind.__name__, type(layer).__name__, where)
    for name in ("ln1", "ln2"):
        if tuple(getattr(block, name).normalized_shape) != (n_embd,):
            fail(f"Block.{name}", f"nn.LayerNorm({n_embd})", repr(getattr(block, name)), where)


def test_output_shape_dtype_device(impl, device):
    block = make_block(impl, device)
    x = torch.randn(2, 8, n_embd, device=device)
    expect_tensor(block(x), "Block(x)", impl.where("block", "Block.forward"),
                  shape=(2, 8, n_embd), dtype=torch.float32, device=device)
