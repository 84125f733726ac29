"""One training step judged at the judge's own weights (grader/oracles/train_step.py): it passes the
reference, names a model that learns otherwise than it computes, cannot be skipped by a parameter more
than the contract's, and in teacher mode draws weights no submission can know ahead."""

import pytest
import torch

from grader.checks.test_gpt import GPT_RECIPE
from grader.data import load_text
from grader.impl import Implementation
from grader.oracles import train_step
from grader.failure import GradingFailure
from tests.kit import SOLUTIONS, make_variant

LOSS = "        loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))  # ()\n"
DETACHED = {"gpt": [(LOSS, LOSS + "        if self.training:\n            loss = loss.detach().requires_grad_()\n")]}
# An unused parameter on the blocks' Sequential: the count outside the blocks and the Block stay right.
EXTRA = ("        self.apply(self._init_weights)\n",
         "        self.apply(self._init_weights)\n        self.blocks.gain = nn.Parameter(torch.ones(1))\n")


def small_gpt(folder):
    impl = Implementation(str(folder))
    config = impl.get("gpt", "GPTConfig")(vocab_size=65, block_size=GPT_RECIPE.block_size, n_embd=GPT_RECIPE.n_embd,
                                          n_head=GPT_RECIPE.n_head, n_layer=GPT_RECIPE.n_layer, dropout=0.0)
    return impl.get("gpt", "GPTLanguageModel")(config)


@pytest.fixture(scope="module")
def text():
    return load_text()


def test_the_reference_takes_the_contracts_step(text):
    train_step.expect_trains_as_the_contract(small_gpt(SOLUTIONS), GPT_RECIPE, text, "gpt.py")
    train_step.expect_trains_as_the_contract(small_gpt(SOLUTIONS), GPT_RECIPE, text, "gpt.py", unforeseen=True)


@pytest.mark.parametrize("extra", [False, True], ids=["as_the_contract", "with_a_parameter_more"])
def test_a_loss_that_reaches_no_weight_in_train_mode_is_named(tmp_path, text, extra):
    edits = {"gpt": DETACHED["gpt"] + ([EXTRA] if extra else [])}
    model = small_gpt(make_variant(tmp_path, "detached", edits))
    with pytest.raises(GradingFailure, match="no gradient reaches"):
        train_step.expect_trains_as_the_contract(model, GPT_RECIPE, text, "gpt.py")


def test_teacher_mode_draws_weights_no_submission_can_know_ahead(text, monkeypatch):
    drawn = []
    monkeypatch.setattr(train_step, "set_parameters", lambda model, weights: drawn.append(weights) or
                        torch.nn.Module.load_state_dict(model, weights, strict=False))
    for unforeseen in (False, False, True, True):
        train_step.expect_trains_as_the_contract(small_gpt(SOLUTIONS), GPT_RECIPE, text, "gpt.py", unforeseen)
    name = "lm_head.weight"
    assert torch.equal(drawn[0][name], drawn[1][name])  # a student's run: the same step each time
    assert not torch.equal(drawn[1][name], drawn[2][name]) and not torch.equal(drawn[2][name], drawn[3][name])
