"""Exercise 7: the feed-forward layer."""

import pytest
import torch

from grader.expect import attribute, expect_linear, expect_tensor, fail

pytestmark = pytest.mark.feedforward

n_embd = 32


def make_ffwd(impl, device):
    torch.manual_seed(0)
    return impl.get("block", "FeedForward")(n_embd).to(device).eval()


def test_net_layout(impl, device):
    ffwd = make_ffwd(impl, device)
    where = impl.where("block", "FeedForward.__init__")
    net = attribute(ffwd, "net", where)
    kinds = [type(m).__name__ for m in net] if isinstance(net, torch.nn.Sequential) else None
    if kinds != ["Linear", "ReLU", "Linear", "Dropout"]:
        fail("FeedForward.net", "nn.Sequential(Linear, ReLU, Linear, Dropout)", kinds or repr(net), where)
    expect_linear(net[0], n_embd, 4 * n_embd, True, "net[0]", where)
    expect_linear(net[2], 4 * n_embd, n_embd, True, "net[2]", where)


def test_output_shape_dtype_device(impl, device):
    ffwd = make_ffwd(impl, device)
    x = torch.randn(2, 8, n_embd, device=device)
    expect_tensor(ffwd(x), "FeedForward(x)", impl.where("block", "FeedForward.forward"),
                  shape=(2, 8, n_embd), dtype=torch.float32, device=device)
