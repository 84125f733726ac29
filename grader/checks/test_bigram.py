"""Exercise 3: the bigram language model."""

import math

import pytest
import torch
import torch.nn.functional as F

from grader.expect import attribute, expect_pair, expect_tensor, fail

pytestmark = pytest.mark.bigram

V = 65


def make_model(impl, device):
    torch.manual_seed(0)
    return impl.get("bigram", "BigramLanguageModel")(V).to(device)


def test_embedding_table_layout(impl, device):
    model = make_model(impl, device)
    table = attribute(model, "token_embedding_table", impl.where("bigram", "BigramLanguageModel.__init__"))
    if not isinstance(table, torch.nn.Embedding) or tuple(table.weight.shape) != (V, V):
        fail("token_embedding_table", f"nn.Embedding({V}, {V})", repr(table),
             impl.where("bigram", "BigramLanguageModel.__init__"))


def test_logits_shape_and_no_loss_without_targets(impl, device):
    model = make_model(impl, device)
    idx = torch.randint(V, (4, 8), device=device)
    where = impl.where("bigram", "BigramLanguageModel.forward")
    logits, loss = expect_pair(model(idx), "BigramLanguageModel.forward(idx)", where)
    expect_tensor(logits, "logits", where, shape=(4, 8, V), dtype=torch.float32, device=device)
    if loss is not None:
        fail("without targets the loss should be None", None, loss, where)


def test_loss_is_mean_cross_entropy(impl, device):
    model = make_model(impl, device)
    idx = torch.randint(V, (4, 8), device=device)
    targets = torch.randint(V, (4, 8), device=device)
    where = impl.where("bigram", "BigramLanguageModel.forward")
    logits, loss = expect_pair(model(idx, targets), "BigramLanguageModel.forward(idx, targets)", where)
    expect_tensor(loss, "loss", where, shape=(), device=device)
    # Oracle: the logits of a bigram model are the rows of its own table.
    expected = F.cross_entropy(model.token_embedding_table.weight[idx].reshape(-1, V), targets.reshape(-1))
    if not math.isclose(loss.item(), expected.item(), rel_tol=1e-4, abs_tol=1e-5):
        fail("loss should be the mean cross-entropy over all B*T positions", f"{expected.item():.5f}",
             f"{loss.item():.5f}", where, "F.cross_entropy(logits.view(B*T, C), targets.view(B*T))")
