"""The grader's comparisons cannot be fooled by values that lie about themselves."""

import torch

from grader.oracles.expect import GradingFailure, equal, expect_tensor, max_difference


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

    from grader.oracles.expect import expect_close

    for expected in (torch.zeros(2, 3, 0), torch.full((2, 3), float("nan"))):
        with pytest.raises(GradingFailure, match="no values to compare"):
            expect_close(expected.clone(), expected, "Head(x)", "attention.py")
    expect_close(torch.ones(2), torch.ones(2), "Head(x)", "attention.py")


class FakeImpl:
    """Just what class_text and same_name_hint ask of an Implementation: where a module's file is."""

    def where(self, module, name=None):
        return f"exercises/{module}.py"


def class_from(module, name):
    """An object of a class named ``name`` defined in the module ``module``."""
    return type(name, (), {"__module__": module})()


def test_classes_of_one_name_are_told_apart():
    # "expected: MultiHeadAttention, got: MultiHeadAttention" said nothing: the module tells them apart.
    from grader.oracles.expect import class_text, contract_class_text, same_name_hint

    impl = FakeImpl()
    graded = "_gptkit_impl_0123456789"  # the package the graded folder is imported as (grader/impl.py)
    own = class_from(f"{graded}.block", "MultiHeadAttention")
    absolute = class_from("exercises.attention", "MultiHeadAttention")
    assert contract_class_text(impl, "attention", "MultiHeadAttention") == \
        "MultiHeadAttention from exercises/attention.py"
    assert class_text(own, impl) == "a class named MultiHeadAttention defined in exercises/block.py"
    assert class_text(absolute, impl) == "a class named MultiHeadAttention from the module exercises.attention"
    assert class_text(torch.nn.LayerNorm(4), impl) == "nn.LayerNorm"
    assert "from .attention import MultiHeadAttention" in same_name_hint(own, impl, "attention", "MultiHeadAttention")
    assert "import it relatively" in same_name_hint(absolute, impl, "attention", "MultiHeadAttention")
    assert "nn.LayerNorm itself" in same_name_hint(class_from(f"{graded}.block", "LayerNorm"), impl, None, "LayerNorm")
    assert same_name_hint(class_from(f"{graded}.block", "Attention"), impl, "attention", "MultiHeadAttention") is None


class NoAttributes:
    """A stand-in for teacher mode's channel: the remote object has no attribute at all."""

    generation = 0

    def getattr(self, handle, name):
        raise AttributeError(name)


def test_a_remote_object_is_described_as_a_local_one():
    # In teacher mode the object is a handle (grader/sandbox/remote.py): its class is what the
    # submission's process named it, and the words are those of student mode (no "Handle", no package).
    import pytest

    from grader.oracles.expect import attribute, class_text
    from grader.sandbox.remote import Handle

    types = ["_gptkit_impl_feedface00.block.MultiHeadAttention", "torch.nn.modules.module.Module", "builtins.object"]
    handle = Handle(NoAttributes(), 1, types)
    assert class_text(handle, FakeImpl()) == "a class named MultiHeadAttention defined in exercises/block.py"
    assert class_text(Handle(NoAttributes(), 2, ["torch.nn.modules.normalization.LayerNorm"]), FakeImpl()) == \
        "nn.LayerNorm"
    with pytest.raises(GradingFailure, match="MultiHeadAttention has no attribute 'c_attn'"):
        attribute(handle, "c_attn", "exercises/attention.py")


def test_fail_takes_keywords_and_says_each_part_on_its_line():
    import pytest

    from grader.oracles.expect import Mistake, fail

    with pytest.raises(TypeError):
        fail("Head(x)", "a tensor", "None", "exercises/attention.py")  # positional: the order was easy to get wrong
    with pytest.raises(GradingFailure) as caught:
        fail(what="Head(x)", expected="a tensor", got="None", where="exercises/attention.py, Head.forward",
             hint=Mistake("return the output"))
    assert str(caught.value).splitlines() == ["Head(x)", "  expected: a tensor", "  got:      None",
                                              "  look at:  exercises/attention.py, Head.forward",
                                              "  mistake:  return the output"]
    assert caught.value.mistake == "return the output" and caught.value.picture is None


def test_where_is_finds_the_module_in_the_exercise_table():
    import pytest

    from grader.impl import Implementation

    impl = Implementation("exercises")
    assert impl.where_is("Head.forward") == impl.where("attention", "Head.forward")
    assert impl.where_is("gelu") == impl.where("modern", "gelu")
    assert impl.where_is("Block") == impl.where("block", "Block")
    with pytest.raises(ValueError, match="not a name of one exercise"):
        impl.where_is("NoSuchClass.forward")
