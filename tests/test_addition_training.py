"""grader/probes/addition_training.py, the grader's side of Exercise 12: prompts, held-out problems, the greedy
decoder (on a stand-in that adds perfectly) and the loop's dropping of held-out problems. Fast: no
real training here (the check's own run is graded in tests/test_variants.py)."""

import pytest
import torch
import torch.nn as nn

from grader.probes import addition_training as adder
from grader.impl import Implementation

N_DIGITS = 2
TINY = adder.AdditionRecipe(n_digits=N_DIGITS, iters=3, batch_size=16, learning_rate=1e-3, n_embd=16, n_head=2,
                            n_layer=1, held_out=50)


class PerfectAdder(nn.Module):
    """Reads a and b from the prompt and puts all its logit on the right next digit of the reversed sum
    (``wrong=True``: on the digit after it, so every answer is wrong)."""

    def __init__(self, n_digits, wrong=False):
        super().__init__()
        self.n_digits, self.wrong = n_digits, wrong

    def forward(self, idx, targets=None):
        B, T = idx.shape
        n = self.n_digits
        a, b = adder.operands(idx, n)
        k = T - (2 * n + 2)  # the answer's digit that comes next, least significant first
        digit = (a + b) // 10**k % 10 if k <= n else torch.zeros_like(a)
        logits = torch.zeros(B, T, len(adder.VOCAB))
        logits[torch.arange(B), -1, (digit + int(self.wrong)) % 10] = 5.0
        return logits, None


def test_prompts_and_operands_round_trip():
    a, b = torch.tensor([12, 0, 999]), torch.tensor([345, 7, 999])
    idx = adder.prompts(a, b, 3)
    assert "".join(adder.VOCAB[i] for i in idx[0]) == "012+345="
    assert idx.shape == (3, 8)
    got_a, got_b = adder.operands(idx, 3)
    assert torch.equal(got_a, a) and torch.equal(got_b, b)


def test_operands_of_a_malformed_prompt_is_a_batch_error():
    idx = adder.prompts(torch.tensor([12]), torch.tensor([34]), 2)
    idx[0, 2] = adder.EQUALS  # the "+" replaced
    with pytest.raises(adder.BatchError):
        adder.operands(idx, 2)
    idx = adder.prompts(torch.tensor([12]), torch.tensor([34]), 2)
    idx[0, 0] = -1
    with pytest.raises(adder.BatchError):
        adder.operands(idx, 2)


@pytest.mark.parametrize("n_digits", [2, 4])  # a permutation of all problems, and the drawing path
def test_held_out_problems_are_distinct_in_range_and_fixed(n_digits):
    recipe = adder.replace(TINY, n_digits=n_digits, held_out=200)
    a, b = adder.held_out_problems(recipe)
    assert len(a) == len(b) == 200
    assert 0 <= int(a.min()) and int(a.max()) < 10**n_digits and 0 <= int(b.min()) and int(b.max()) < 10**n_digits
    assert len(set(zip(a.tolist(), b.tolist()))) == 200
    again = adder.held_out_problems(adder.with_seed(recipe, 5))  # the same for every training seed
    assert torch.equal(again[0], a) and torch.equal(again[1], b)


def test_greedy_sums_reads_the_digits_least_significant_first():
    a, b = torch.tensor([12, 99, 0, 50]), torch.tensor([345, 999, 0, 950])
    model = PerfectAdder(3).train()
    assert torch.equal(adder.greedy_sums(model, a, b, 3), a + b)
    assert model.training  # the mode is restored
    assert adder.accuracy(PerfectAdder(3), a, b, 3, chunk=3) == 1.0
    assert adder.accuracy(PerfectAdder(3, wrong=True), a, b, 3) == 0.0


def test_learning_rate_is_a_cosine_to_zero():
    assert adder.learning_rate(TINY, 0) == TINY.learning_rate
    assert adder.learning_rate(TINY, TINY.iters) == pytest.approx(0.0, abs=1e-12)


def test_training_never_sees_the_held_out_problems():
    """A get_batch that serves held-out problems next to others: the loss only ever gets the others."""
    sol = Implementation("solutions")
    adder_loss = sol.get("addition", "addition_loss")
    held_a, held_b = adder.held_out_problems(TINY)
    sizes = []

    def get_batch(batch_size, n_digits, generator=None, device="cpu"):
        a = torch.cat([held_a[:5], torch.randint(100, (batch_size - 5,), generator=generator)])
        b = torch.cat([held_b[:5], torch.randint(100, (batch_size - 5,), generator=generator)])
        digits = torch.cat([adder.prompts(a, b, n_digits), adder.digits_of(a + b, n_digits + 1).flip(1)], dim=1)
        y = digits[:, 1:].clone()
        y[:, : 2 * n_digits + 1] = -1
        return digits[:, :-1], y

    def loss_fn(logits, targets):
        sizes.append(targets.shape[0])
        return adder_loss(logits, targets)

    result = adder.train_adder(sol.get("gpt", "GPTConfig"), sol.get("gpt", "GPTLanguageModel"), get_batch, loss_fn,
                               TINY)
    assert len(sizes) == TINY.iters and all(size <= 16 - 5 for size in sizes)  # the 5 held out dropped
    assert 0.0 <= result["held_out"] <= 1.0 and 0.0 <= result["trained"] <= 1.0


def test_a_batch_of_the_wrong_shape_is_a_batch_error():
    def get_batch(batch_size, n_digits, generator=None, device="cpu"):
        x = torch.zeros(batch_size, 3 * n_digits + 3, dtype=torch.long)
        return x, x

    sol = Implementation("solutions")
    with pytest.raises(adder.BatchError):
        adder.train_adder(sol.get("gpt", "GPTConfig"), sol.get("gpt", "GPTLanguageModel"), get_batch,
                          sol.get("addition", "addition_loss"), TINY)
