"""Exercise 2: train_val_split and get_batch."""

import pytest
import torch

from grader.expect import expect_raises, expect_tensor, fail

pytestmark = pytest.mark.batching


def test_split_keeps_order(impl):
    data = torch.arange(1000)
    train, val = impl.get("batching", "train_val_split")(data)
    where = impl.where("batching", "train_val_split")
    if not (torch.equal(torch.as_tensor(train), data[:900]) and torch.equal(torch.as_tensor(val), data[900:])):
        fail("train_val_split(torch.arange(1000))", "data[:900] and data[900:], in order",
             f"{len(train)} and {len(val)} items, starting {list(train[:3])} and {list(val[:3])}", where)


def test_batch_shape_dtype_device(impl, device):
    x, y = impl.get("batching", "get_batch")(torch.arange(500), 4, 8, device)
    where = impl.where("batching", "get_batch")
    expect_tensor(x, "x", where, shape=(4, 8), dtype=torch.int64, device=device)
    expect_tensor(y, "y", where, shape=(4, 8), dtype=torch.int64, device=device)


def test_targets_are_inputs_shifted_by_one(impl):
    torch.manual_seed(0)
    data = torch.arange(10_000)  # with data == its own index, a window starting at i is i, i+1, ...
    x, y = impl.get("batching", "get_batch")(data, 32, 16)
    where = impl.where("batching", "get_batch")
    steps = torch.arange(16)
    if not torch.equal(x.cpu(), x[:, :1].cpu() + steps):
        fail("each row of x should be block_size consecutive tokens: data[i:i+block_size]",
             "rows like [i, i+1, ..., i+15] on data = arange", x[0].tolist(), where)
    if not torch.equal(y.cpu(), x.cpu() + 1):
        fail("y should be x shifted by one: y[b] = data[i+1:i+block_size+1]", (x[0] + 1).tolist(), y[0].tolist(), where,
             "the target of position t is the token at t+1")


def test_no_room_is_a_clear_error(impl):
    where = impl.where("batching", "get_batch")
    expect_raises(ValueError, lambda: impl.get("batching", "get_batch")(torch.arange(8), 2, 8),
                  "get_batch(data of 8 tokens, block_size=8) leaves no room for targets", where,
                  "check len(data) - block_size > 0 and raise ValueError")
