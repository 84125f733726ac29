"""Exercise 7: the feed-forward layer."""

import pytest
import torch
import torch.nn.functional as F

from grader.oracles.expect import attribute, class_text, describe, expect_close, expect_linear, expect_tensor, fail
from grader.probes.probe import class_names, randomize_parameters

pytestmark = pytest.mark.feedforward

n_embd = 32
B, T = 2, 8


def make_ffwd(impl, device, dropout=0.0):
    torch.manual_seed(0)
    return impl.get("block", "FeedForward")(n_embd, dropout).to(device).eval()


LAYOUT = ["Linear", "ReLU", "Linear", "Dropout"]  # CONTRACT.md's net, by class name


def layout_hint(kinds):
    """What to change in a ``net`` whose layers' class names are ``kinds`` (None: not an nn.Sequential)."""
    if kinds is None:
        return ("build net as one nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), "
                "nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))")
    if kinds == LAYOUT[:3]:
        return "net has no nn.Dropout: add nn.Dropout(dropout) as its last layer"
    for i, (got, wanted) in enumerate(zip(kinds, LAYOUT)):
        if got != wanted:
            return f"net[{i}] should be an nn.{wanted}, not a {got}"
    if len(kinds) < len(LAYOUT):
        return "net stops too early: add " + ", then ".join(f"nn.{k}" for k in LAYOUT[len(kinds):])
    return f"net has {len(kinds)} layers: it should end with net[3], the nn.Dropout"


def net_of(ffwd, impl, whole=True):
    """``ffwd.net`` once it has the layout of test_net_layout (else that check's failure); with
    ``whole=False`` once it starts Linear, ReLU, Linear: the oracle reads no other layer, and a missing
    Dropout already costs test_net_layout and test_dropout_active_in_train_mode."""
    where = impl.where_is("FeedForward.__init__")
    net = attribute(ffwd, "net", where)
    kinds = class_names(net)
    if kinds is None or (kinds != LAYOUT if whole else kinds[:3] != LAYOUT[:3]):
        got = f"nn.Sequential({', '.join(kinds)})" if kinds is not None else class_text(net, impl)
        fail(what="FeedForward.net should hold Linear, ReLU, Linear, Dropout, in that order",
             expected="nn.Sequential(Linear, ReLU, Linear, Dropout)", got=got, where=where, hint=layout_hint(kinds))
    return net


def dropout_hint(ffwd, impl, dropped):
    """``(hint, where)`` for a train-mode output of FeedForward(n_embd, dropout=0.5) of which the
    fraction ``dropped`` is zero, not about half: what net holds tells the mistake (read only then, so
    that a passing check asks the submission nothing more)."""
    init, forward = impl.where_is("FeedForward.__init__"), impl.where_is("FeedForward.forward")
    kinds = class_names(ffwd.net) if hasattr(ffwd, "net") else None
    if kinds is None or "Dropout" not in kinds:
        return layout_hint(kinds), init
    p = ffwd.net[len(kinds) - 1 - kinds[::-1].index("Dropout")].p  # the last Dropout: CONTRACT.md's
    if p != 0.5:
        return f"net's nn.Dropout has p={p}: pass the dropout argument on to nn.Dropout", init
    if dropped < 0.5:
        return "net holds the nn.Dropout, but forward skips it: forward should run the whole self.net", forward
    return "only net's last layer, the nn.Dropout, should zero outputs: drop out once, in self.net", forward


def test_net_layout(impl, device):
    """``net = Sequential(Linear(C, 4C), ReLU(), Linear(4C, C), Dropout(dropout))``, in that order."""
    ffwd = make_ffwd(impl, device, dropout=0.3)
    where = impl.where_is("FeedForward.__init__")
    net = net_of(ffwd, impl)
    expect_linear(net[0], n_embd, 4 * n_embd, True, "net[0]", where)
    expect_linear(net[2], 4 * n_embd, n_embd, True, "net[2]", where)
    if net[3].p != 0.3:
        fail(what="net[3] of FeedForward(n_embd, dropout=0.3) should drop with p=0.3", expected="nn.Dropout(0.3)",
             got=describe(net[3]),
             where=where, hint="pass the dropout argument on to nn.Dropout")


def test_output_shape_dtype_device(impl, device):
    """``FeedForward(x)`` keeps the shape (B, T, C)."""
    ffwd = make_ffwd(impl, device)
    x = torch.randn(B, T, n_embd, device=device)
    expect_tensor(ffwd(x), "FeedForward(x)", impl.where_is("FeedForward.forward"),
                  shape=(B, T, n_embd), dtype=torch.float32, device=device)


def test_matches_oracle(impl, device):
    """In eval mode the output is ``Linear2(ReLU(Linear1(x)))`` computed from the layer's own weights."""
    ffwd = make_ffwd(impl, device)
    net = net_of(ffwd, impl, whole=False)
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
    expect_close(got, expected, "FeedForward(x) in eval mode", impl.where_is("FeedForward.forward"),
                 atol=1e-4, mistakes=mistakes, hint="return self.net(x)")


def test_dropout_active_in_train_mode(impl, device):
    """In train mode the output is dropped out: with dropout=0.5 about half of it is exactly zero and
    the rest is the eval-mode output times 1 / (1 - 0.5) = 2."""
    ffwd = make_ffwd(impl, device, dropout=0.5)
    where = impl.where_is("FeedForward.forward")
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
        hint, look_at = dropout_hint(ffwd, impl, dropped)
        fail(what="the fraction of outputs zeroed by FeedForward(n_embd, dropout=0.5) in train mode",
             expected="about 0.5", got=f"{dropped:.2f}", where=look_at, hint=hint)
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
    where = impl.where_is("FeedForward.forward")
    with torch.no_grad():
        a, b = ffwd(x), ffwd(x2)
    expect_tensor(a, "FeedForward(x)", where, shape=(B, T, n_embd))
    others = [s for s in range(T) if s != t]
    moved = (a[:, others] - b[:, others]).abs().max().item()
    if moved > 1e-6:  # exactly 0 for a position-wise layer; 1e-6 allows for nothing but float noise
        fail(what=f"how much the other positions' outputs move when only position {t}'s input changes",
             expected="0 (the feed-forward looks at each position alone)", got=f"{moved:.3g}", where=where)
    if (a[:, t] - b[:, t]).abs().max().item() == 0:
        fail(what=f"the output at position {t} when its input changes", expected="a different output",
             got="the same output", where=where, hint="return self.net(x)")
