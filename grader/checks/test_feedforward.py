"""Exercise 7: the feed-forward layer."""

import pytest
import torch
import torch.nn.functional as F

from grader.judges.expect import attribute, describe, expect_close, expect_linear, expect_tensor, fail
from grader.probes.probe import class_names, randomize_parameters

pytestmark = pytest.mark.feedforward

n_embd = 32
B, T = 2, 8


def make_ffwd(impl, device, dropout=0.0):
    torch.manual_seed(0)
    return impl.get("block", "FeedForward")(n_embd, dropout).to(device).eval()


def net_of(ffwd, impl):
    """``ffwd.net`` once it has the layout of test_net_layout (else that check's failure)."""
    where = impl.where("block", "FeedForward.__init__")
    net = attribute(ffwd, "net", where)
    kinds = class_names(net)
    if kinds != ["Linear", "ReLU", "Linear", "Dropout"]:
        fail("FeedForward.net", "nn.Sequential(Linear, ReLU, Linear, Dropout)", kinds or describe(net), where)
    return net


def test_net_layout(impl, device):
    """``net = Sequential(Linear(C, 4C), ReLU(), Linear(4C, C), Dropout(dropout))``, in that order."""
    ffwd = make_ffwd(impl, device, dropout=0.3)
    where = impl.where("block", "FeedForward.__init__")
    net = net_of(ffwd, impl)
    expect_linear(net[0], n_embd, 4 * n_embd, True, "net[0]", where)
    expect_linear(net[2], 4 * n_embd, n_embd, True, "net[2]", where)
    if net[3].p != 0.3:
        fail("net[3] for FeedForward(n_embd, dropout=0.3)", "nn.Dropout(0.3)", describe(net[3]), where,
             "pass the dropout argument on to nn.Dropout")


def test_output_shape_dtype_device(impl, device):
    """``FeedForward(x)`` keeps the shape (B, T, C)."""
    ffwd = make_ffwd(impl, device)
    x = torch.randn(B, T, n_embd, device=device)
    expect_tensor(ffwd(x), "FeedForward(x)", impl.where("block", "FeedForward.forward"),
                  shape=(B, T, n_embd), dtype=torch.float32, device=device)


def test_matches_oracle(impl, device):
    """In eval mode the output is ``Linear2(ReLU(Linear1(x)))`` computed from the layer's own weights."""
    ffwd = make_ffwd(impl, device)
    net = net_of(ffwd, impl)
    randomize_parameters(ffwd, seed=0)
    x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        got = ffwd(x)
        hidden = F.linear(x, net[0].weight, net[0].bias)
        expected = F.linear(F.relu(hidden), net[2].weight, net[2].bias)
        mistakes = {
            "the residual belongs to Block, not to FeedForward: return self.net(x), without + x":
                expected + x,
            "ReLU is missing between the two Linear layers: forward should run the whole self.net":
                F.linear(hidden, net[2].weight, net[2].bias),
        }
    # float32 sums of 32 and 128 terms of size ~1 differ from PyTorch's by ~1e-6; 1e-4 leaves margin.
    expect_close(got, expected, "FeedForward(x) in eval mode", impl.where("block", "FeedForward.forward"),
                 atol=1e-4, mistakes=mistakes, hint="return self.net(x)")


def test_dropout_active_in_train_mode(impl, device):
    """In train mode the output is dropped out: with dropout=0.5 about half of it is exactly zero and
    the rest is the eval-mode output times 1 / (1 - 0.5) = 2."""
    ffwd = make_ffwd(impl, device, dropout=0.5)
    where = impl.where("block", "FeedForward.forward")
    randomize_parameters(ffwd, seed=0)
    x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        ffwd.eval()
        expected = ffwd(x)
        ffwd.train()
        torch.manual_seed(0)
        got = ffwd(x)
    expect_tensor(got, "FeedForward(x) in train mode", where, shape=(B, T, n_embd))
    dropped = (got == 0).float().mean().item()
    # B*T*C = 512 outputs, each dropped with probability 0.5: the fraction is 0.5 +- 0.022 (one standard
    # deviation); measured 0.469-0.535 on the reference over seeds 0-19, and 0.0 for all of them when
    # forward skips the Dropout (an eval output of exactly 0 has probability ~0).
    if not 0.35 < dropped < 0.65:
        fail("the fraction of outputs zeroed by FeedForward(n_embd, dropout=0.5) in train mode",
             "about 0.5", f"{dropped:.2f}", where,
             "the last layer of net is nn.Dropout(dropout); forward should run the whole self.net")
    kept = got != 0
    expect_close(got[kept], 2 * expected[kept], "the outputs that dropout keeps in train mode", where,
                 atol=1e-4, hint="nn.Dropout scales what it keeps by 1 / (1 - p)")


def test_position_wise(impl, device):
    """Each position is transformed on its own: changing the input at one position changes the output
    at that position only."""
    ffwd = make_ffwd(impl, device)
    randomize_parameters(ffwd, seed=0)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, n_embd, generator=generator).to(device)
    t = 3
    x2 = x.clone()
    x2[:, t] = torch.randn(B, n_embd, generator=generator).to(device)
    where = impl.where("block", "FeedForward.forward")
    with torch.no_grad():
        a, b = ffwd(x), ffwd(x2)
    expect_tensor(a, "FeedForward(x)", where, shape=(B, T, n_embd))
    others = [s for s in range(T) if s != t]
    moved = (a[:, others] - b[:, others]).abs().max().item()
    if moved > 1e-6:  # exactly 0 for a position-wise layer; 1e-6 allows for nothing but float noise
        fail(f"how much the other positions' outputs move when only position {t}'s input changes",
             "0 (the feed-forward looks at each position alone)", f"{moved:.3g}", where)
    if (a[:, t] - b[:, t]).abs().max().item() == 0:
        fail(f"the output at position {t} when its input changes", "a different output",
             "the same output", where, "return self.net(x)")
