"""The grader's comparisons cannot be fooled by values that lie about themselves."""

import torch

from grader.judges.expect import GradingFailure, equal, expect_tensor, max_difference


class AlwaysEqual(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


class AlwaysTrueList(list):
    def __eq__(self, other):
        return True


class LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(())


def test_equal_compares_plain_values():
    assert equal([1, 2], [1, 2]) and equal({"a": 1}, {"a": 1}) and equal("hi", "hi")
    assert not equal([1, 2], [1, 3]) and not equal((1,), [1]) and not equal(True, 1)


def test_equal_refuses_values_that_claim_to_equal_everything():
    assert AlwaysEqual("x") == "the whole of Shakespeare"  # what a plain == would believe
    assert not equal(AlwaysEqual("x"), "the whole of Shakespeare")
    assert not equal(AlwaysTrueList([0]), [46, 47, 47])
    assert not equal([AlwaysEqual("a")], ["b"])


def test_a_tensor_subclass_is_not_graded_as_a_tensor():
    lying = torch.ones(3).as_subclass(LyingTensor)
    try:
        expect_tensor(lying, "out", "here", shape=(3,))
    except GradingFailure as exc:
        assert "subclass of torch.Tensor" in str(exc)
    else:
        raise AssertionError("expect_tensor accepted a tensor subclass")
    assert max_difference(lying, torch.zeros(3)) == float("inf")
    assert max_difference(torch.ones(3), torch.ones(3)) == 0.0


def test_an_oracle_with_nothing_to_compare_passes_nothing():
    # In teacher mode an oracle is computed from what the submission's layout gives it; an empty
    # parameter or an eps of NaN makes it empty or NaN, and the submission's matching answer must fail.
    import pytest

    from grader.judges.expect import expect_close

    for expected in (torch.zeros(2, 3, 0), torch.full((2, 3), float("nan"))):
        with pytest.raises(GradingFailure, match="no values to compare"):
            expect_close(expected.clone(), expected, "Head(x)", "attention.py")
    expect_close(torch.ones(2), torch.ones(2), "Head(x)", "attention.py")
