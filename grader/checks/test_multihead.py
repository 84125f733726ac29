"""Exercise 6: multi-head attention, all heads in one batched computation."""

import pytest
import torch

from grader.expect import attribute, expect_linear, expect_raises, expect_tensor, fail

pytestmark = pytest.mark.multihead

n_embd, n_head, block_size = 32, 4, 16


def make_mha(impl, device):
    torch.manual_seed(0)
    return impl.get("attention", "MultiHeadAttention")(n_embd, n_head, block_size).to(device).eval()


def test_fused_weight_layout(impl, device):
    mha = make_mha(impl, device)
    where = impl.where("attention", "MultiHeadAttention.__init__")
    expect_linear(attribute(mha, "c_attn", where), n_embd, 3 * n_embd, False, "c_attn", where)
    expect_linear(attribute(mha, "c_proj", where), n_embd, n_embd, True, "c_proj", where)
    head_class = impl.get("attention", "Head")
    heads = [name for name, m in mha.named_modules() if isinstance(m, head_class)]
    if heads:
        fail("the fused MultiHeadAttention should hold no Head sub-modules", "no Head inside",
             f"Head modules at {heads}", where, "compute all heads at once with c_attn and view(B, T, n_head, hs)")


@pytest.mark.parametrize("T", [block_size, 5], ids=["T=block_size", "T<block_size"])
def test_output_shape_dtype_device(impl, device, T):
    mha = make_mha(impl, device)
    x = torch.randn(2, T, n_embd, device=device)
    expect_tensor(mha(x), f"MultiHeadAttention(x) for x of shape (2, {T}, {n_embd})",
                  impl.where("attention", "MultiHeadAttention.forward"),
                  shape=(2, T, n_embd), dtype=torch.float32, device=device)


def test_indivisible_n_embd_is_a_clear_error(impl):
    expect_raises(ValueError, lambda: impl.get("attention", "MultiHeadAttention")(30, 4, 8),
                  "MultiHeadAttention(n_embd=30, n_head=4): 30 is not divisible by 4",
                  impl.where("attention", "MultiHeadAttention.__init__"))
