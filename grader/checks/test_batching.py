"""Exercise 2: train_val_split and get_batch, checked as properties of what they return.

On ``data = torch.arange(N)`` every token equals its own position, so a row of ``x`` shows where its
window starts: ``x[b, 0]`` is the start ``i`` that get_batch drew.
"""

import pytest
import torch

from grader.oracles.expect import Mistake, describe, expect_raises, expect_tensor, fail

pytestmark = pytest.mark.batching

RANDINT = "torch.randint(len(data) - block_size, (batch_size,))"
# Named (Mistake) where a check sees exactly the starts these ranges draw, and nothing else.
OFF_BY_ONE = {
    -1: Mistake("the start range is off by one: torch.randint(len(data) - block_size - 1, ...) never draws the last "
         f"start, len(data) - block_size - 1; draw the starts with {RANDINT}"),
    +1: Mistake("the start range is off by one: torch.randint(len(data) - block_size + 1, ...) can draw the start "
         f"len(data) - block_size, which leaves no room for the last target; draw the starts with {RANDINT}"),
}
NOT_SHIFTED = "targets not shifted: y[b] = data[i+1:i+block_size+1], the token after each position of x[b]"


def get_batch(impl):
    return impl.get("batching", "get_batch")


def batch(impl, data, batch_size, block_size):
    """get_batch's (x, y) on the CPU, after checking that they are two tensors of the right shape."""
    out = get_batch(impl)(data, batch_size, block_size)
    what = f"get_batch(data, batch_size={batch_size}, block_size={block_size})"
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(what=f"{what} should return a pair (x, y)", expected="a tuple of 2", got=describe(out),
             where=where_batch(impl))
    for name, t in zip("xy", out):
        expect_tensor(t, f"{name} from {what}", where_batch(impl), shape=(batch_size, block_size))
    return out[0].cpu(), out[1].cpu()


def where_batch(impl):
    return impl.where_is("get_batch")


def where_split(impl):
    return impl.where_is("train_val_split")


def as_list(part):
    return [int(v) for v in part]


# train_val_split

@pytest.mark.parametrize("kind", ["tensor", "list"])
def test_split_keeps_order(impl, kind):
    """The first 90 % for training and the last 10 % for validation, in order, on a tensor and on a list."""
    data = torch.arange(1000) if kind == "tensor" else list(range(1000))
    train, val = impl.get("batching", "train_val_split")(data)
    got_train, got_val = as_list(train), as_list(val)
    if (got_train, got_val) == (list(range(900)), list(range(900, 1000))):
        return
    hint = None
    if (got_train, got_val) == (list(range(100, 1000)), list(range(100))) or \
            (got_train, got_val) == (list(range(900, 1000)), list(range(900))):
        hint = "return (train, val): the first 90 % is for training, the last 10 % for validation"
    elif sorted(got_train + got_val) == list(range(1000)):
        hint = "do not shuffle: the validation text is the end of the book, data[n:]"
    given = "torch.arange(1000)" if kind == "tensor" else "list(range(1000))"
    fail(what=f"train_val_split({given})",
         expected="data[:900] and data[900:], in order",
         got=f"{len(got_train)} and {len(got_val)} items, starting {got_train[:3]} and {got_val[:3]}",
         where=where_split(impl), hint=hint)


@pytest.mark.parametrize("train_fraction", [0.8, 0.5, 0.75])
def test_split_honours_train_fraction(impl, train_fraction):
    """train_fraction decides where the split falls: n = int(train_fraction * len(data))."""
    data = torch.arange(1003)
    train, val = impl.get("batching", "train_val_split")(data, train_fraction=train_fraction)
    got_train, got_val = as_list(train), as_list(val)
    exact = train_fraction * len(data)
    # int() as the lecture, or round(): both split within one item of train_fraction * len(data).
    if abs(len(got_train) - exact) < 1 and got_train + got_val == list(range(len(data))):
        return
    hint = None
    if len(got_train) == int(0.9 * len(data)):
        hint = "train_fraction is ignored: n = int(train_fraction * len(data)), not 0.9"
    fail(what=f"train_val_split(torch.arange(1003), train_fraction={train_fraction})",
         expected=f"data[:{int(exact)}] and data[{int(exact)}:]",
         got=f"{len(got_train)} and {len(got_val)} items, starting {got_train[:3]} and {got_val[:3]}",
         where=where_split(impl), hint=hint)


def test_bad_train_fraction_is_a_clear_error(impl):
    """A train_fraction not strictly between 0 and 1 raises ValueError: 0 and 1 leave one part empty,
    and 90 (a percentage) or -0.1 split nothing sensible."""
    split = impl.get("batching", "train_val_split")
    for train_fraction, why in ((90, "90 is a percentage; the fraction would be 0.9"),
                                (-0.1, "a fraction cannot be negative"),
                                (1.0, "it leaves the validation part empty"),
                                (0.0, "it leaves the training part empty")):
        expect_raises(ValueError, lambda: split(torch.arange(1000), train_fraction=train_fraction),
                      f"train_val_split(torch.arange(1000), train_fraction={train_fraction}) should raise "
                      f"ValueError: {why}", where_split(impl),
                      "check 0 < train_fraction < 1 (strictly) and raise ValueError")


# get_batch: what a batch looks like

def test_batch_shape_dtype_device(impl, device):
    """(x, y) are int64 tensors of shape (batch_size, block_size) on the requested device."""
    torch.manual_seed(0)
    x, y = get_batch(impl)(torch.arange(500), 4, 8, device)
    where = where_batch(impl)
    expect_tensor(x, "x", where, shape=(4, 8), dtype=torch.int64, device=device)
    expect_tensor(y, "y", where, shape=(4, 8), dtype=torch.int64, device=device)


def test_batch_is_int64_for_int32_data(impl):
    """Data stored as int32 still gives int64 batches: nn.Embedding and cross-entropy need int64."""
    torch.manual_seed(0)
    x, y = get_batch(impl)(torch.arange(500, dtype=torch.int32), 4, 8)
    where = where_batch(impl)
    hint = "finish with .long(): x.long().to(device), y.long().to(device)"
    expect_tensor(x, "x for int32 data", where, shape=(4, 8), dtype=torch.int64, hint=hint)
    expect_tensor(y, "y for int32 data", where, shape=(4, 8), dtype=torch.int64, hint=hint)


def test_targets_are_inputs_shifted_by_one(impl):
    """Rows of x are consecutive tokens data[i:i+T], and y is x shifted by one: data[i+1:i+T+1]."""
    torch.manual_seed(0)
    data = torch.arange(10_000)  # with data == its own index, a window starting at i is i, i+1, ...
    x, y = batch(impl, data, 32, 16)
    where = where_batch(impl)
    steps = torch.arange(16)
    if not torch.equal(x, x[:, :1] + steps):
        fail(what="each row of x should be block_size consecutive tokens: data[i:i+block_size]",
             expected="rows like [i, i+1, ..., i+15] on data = arange", got=x[0].tolist(), where=where)
    if not torch.equal(y, x + 1):
        fail(what="y should be x shifted by one: y[b] = data[i+1:i+block_size+1]", expected=(x[0] + 1).tolist(),
             got=y[0].tolist(),
             where=where, hint=NOT_SHIFTED if torch.equal(y, x) else "the target of position t is the token at t+1")


def test_rows_are_windows_of_the_data(impl, shakespeare):
    """On real text every (x[b], y[b]) is a window of the data and the same window moved by one: the
    tokens themselves, not their positions."""
    data = torch.tensor([ord(c) for c in shakespeare[:50_000]])  # token ids of our own: code points
    T = 8
    torch.manual_seed(0)
    x, y = batch(impl, data, 16, T)
    where = where_batch(impl)
    windows = data.unfold(0, T + 1, 1)  # (N - T, T + 1): every legal window with its next token
    for b in range(x.shape[0]):
        found = ((windows[:, :T] == x[b]).all(dim=1) & (windows[:, 1:] == y[b]).all(dim=1)).any()
        if found:
            continue
        hint = None
        if torch.equal(x[b], x[b, 0] + torch.arange(T)):
            hint = "x holds positions, not tokens: index the data with them, data[i:i+block_size]"
        elif ((windows[:, :T] == x[b]).all(dim=1) & (windows[:, :T] == y[b]).all(dim=1)).any():
            hint = NOT_SHIFTED
        fail(what=f"row {b} of get_batch(Tiny Shakespeare, 16, {T}) is not a window of the data",
             expected="x[b] = data[i:i+block_size] and y[b] = data[i+1:i+block_size+1] for one start i",
             got=f"x[b] = {x[b].tolist()}, y[b] = {y[b].tolist()}", where=where, hint=hint)


# get_batch: where the windows start

def draw_starts(impl, N, T, batch_size, seed, what):
    """The starts that get_batch draws on data = arange(N): x[:, 0]. Many draws on little data reach
    every start, so a start past the last legal one crashes (a window or its targets run off the end);
    such a crash, when a few draws on ample data do not crash, is reported as that off-by-one."""
    torch.manual_seed(seed)
    try:
        x, _ = batch(impl, torch.arange(N), batch_size, T)
    except (IndexError, RuntimeError) as exc:
        torch.manual_seed(seed)
        batch(impl, torch.arange(10_000), 4, T)  # an error that is not about the range shows here, as it is
        fail(what=f"{what}: get_batch(torch.arange({N}), {batch_size}, block_size={T}) raised an error",
             expected=f"windows starting at 0 .. {N - T - 1}", got=f"{type(exc).__name__}: {exc}",
             where=where_batch(impl), hint=OFF_BY_ONE[+1])
    return x[:, 0]


def test_every_legal_start_appears(impl):
    """Over many draws the starts stay within 0 .. len(data) - block_size - 1 and every one of them
    appears, the last included: an off-by-one in the range shows, either way."""
    N, T = 20, 8
    last = N - T - 1
    starts = draw_starts(impl, N, T, 600, 0, "starts over 600 draws")
    where = where_batch(impl)
    # 600 draws over 12 starts: a start is missing with probability 12 * (11/12)**600 < 1e-21.
    if starts.min() < 0 or starts.max() > last:
        fail(what=f"starts on data of {N} tokens with block_size={T}", expected=f"0 .. {last}",
             got=f"{starts.min().item()} .. {starts.max().item()}", where=where,
             hint=OFF_BY_ONE[+1] if starts.max() == last + 1 else None)
    missing = sorted(set(range(last + 1)) - set(starts.tolist()))
    if missing:
        fail(what=f"every legal start should appear over 600 draws on data of {N} tokens with block_size={T}",
             expected=f"all of 0 .. {last}", got=f"never {missing}", where=where,
             hint=OFF_BY_ONE[-1] if missing == [last] else None)


def test_starts_are_uniform(impl):
    """Every legal start is equally likely: a chi-square test of 3000 draws over 6 starts."""
    N, T, K, draws = 14, 8, 6, 3000
    starts = draw_starts(impl, N, T, draws, 0, f"{draws} starts")
    counts = torch.bincount(starts.clamp(0, K), minlength=K + 1)[:K].float()
    expected = draws / K
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    # Chi-square with 5 degrees of freedom: its 99.99th percentile is 25.7. Measured for seeds 0..19:
    # the reference (torch.randint) gives 0.2 to 10.2; starts that miss the last one (randint's range
    # off by one) give 601 to 609, starts from rounding torch.rand * (len(data) - block_size - 1) give
    # 182 to 288. So 30 has margin both ways.
    if chi2 > 30:
        fail(what=f"starts should be uniform over 0 .. {K - 1} (a chi-square test, {draws} draws)",
             expected=f"about {expected:.0f} draws of each start (chi-square at most 30)",
             got=f"counts {counts.long().tolist()} (chi-square {chi2:.0f})", where=where_batch(impl),
             hint=OFF_BY_ONE[-1] if counts[-1] == 0 else f"draw the starts with {RANDINT}")


def test_starts_are_torch_randint_draws(impl):
    """The starts are exactly torch.randint(len(data) - block_size, (batch_size,)) drawn right after
    torch.manual_seed, so a seed reproduces a batch (CONTRACT.md fixes this call)."""
    N, T, B = 10_000, 8, 32
    where = where_batch(impl)
    for seed in (0, 1, 2):
        starts = draw_starts(impl, N, T, B, seed, f"starts after torch.manual_seed({seed})")
        again = draw_starts(impl, N, T, B, seed, f"starts after torch.manual_seed({seed})")
        if not torch.equal(starts, again):
            fail(what=f"two calls right after torch.manual_seed({seed}) should draw the same starts",
                 expected=starts[:6].tolist(), got=again[:6].tolist(), where=where,
                 hint=f"draw the starts with {RANDINT} only")
        torch.manual_seed(seed)
        expected = torch.randint(N - T, (B,))
        if torch.equal(starts, expected):
            continue
        hint = f"draw the starts with {RANDINT}, one call, before anything else random"
        for shift, named in OFF_BY_ONE.items():
            torch.manual_seed(seed)
            if torch.equal(starts, torch.randint(N - T + shift, (B,))):
                hint = named
        fail(what=f"starts after torch.manual_seed({seed}) on data of {N} tokens, block_size={T}, batch_size={B}",
             expected=f"{RANDINT}: {expected[:6].tolist()} ...", got=f"{starts[:6].tolist()} ...", where=where,
             hint=hint)


def test_no_room_is_a_clear_error(impl):
    """A block_size that leaves no room for a window and its target raises ValueError; the tightest
    fit, block_size = len(data) - 1, still works and has exactly one window."""
    where = where_batch(impl)
    for T in (8, 9):
        expect_raises(ValueError, lambda: get_batch(impl)(torch.arange(8), 2, T),
                      f"get_batch(data of 8 tokens, batch_size=2, block_size={T}) leaves no room for the targets", where,
                      "check len(data) - block_size > 0 and raise ValueError")
    what = "get_batch(torch.arange(8), 2, block_size=7) has exactly one window, starting at 0"
    expected = "x rows [0, ..., 6], y rows [1, ..., 7]"
    try:
        x, y = batch(impl, torch.arange(8), 2, 7)
    except ValueError as exc:
        fail(what=what, expected=expected, got=f"ValueError: {exc}", where=where,
             hint="len(data) == block_size + 1 is enough room: raise only when len(data) - block_size <= 0")
    except (IndexError, RuntimeError) as exc:
        fail(what=what, expected=expected, got=f"{type(exc).__name__}: {exc}", where=where,
             hint=f"with len(data) == block_size + 1 the only start is 0: {RANDINT} draws it")
    if not (torch.equal(x, torch.arange(7).repeat(2, 1)) and torch.equal(y, torch.arange(1, 8).repeat(2, 1))):
        fail(what=what, expected=expected, got=f"x = {x.tolist()}, y = {y.tolist()}", where=where,
             hint=NOT_SHIFTED if torch.equal(x, y) else None)
