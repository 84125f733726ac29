"""Exercise 5: one head of causal self-attention."""

import pytest
import torch

from grader.expect import attribute, expect_linear, expect_tensor

pytestmark = pytest.mark.head

n_embd, head_size, block_size = 32, 8, 16


def make_head(impl, device):
    torch.manual_seed(0)
    return impl.get("attention", "Head")(n_embd, head_size, block_size).to(device).eval()


def test_key_query_value_layout(impl, device):
    head = make_head(impl, device)
    where = impl.where("attention", "Head.__init__")
    for name in ("key", "query", "value"):
        expect_linear(attribute(head, name, where), n_embd, head_size, False, f"Head.{name}", where)


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_output_shape_dtype_device(impl, device, T):
    head = make_head(impl, device)
    x = torch.randn(4, T, n_embd, device=device)
    where = impl.where("attention", "Head.forward")
    expect_tensor(head(x), f"Head(x) for x of shape (4, {T}, {n_embd})", where,
                  shape=(4, T, head_size), dtype=torch.float32, device=device)
