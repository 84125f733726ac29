"""Exercise 1: CharTokenizer on Tiny Shakespeare."""

import pytest

from grader.expect import expect_raises, fail

pytestmark = pytest.mark.tokenizer

HII_THERE = [46, 47, 47, 1, 58, 46, 43, 56, 43]  # the lecture's example at 00:10:40


def make_tokenizer(impl, text):
    return impl.get("tokenizer", "CharTokenizer")(text)


def test_vocabulary_has_65_symbols(impl, shakespeare):
    tokenizer = make_tokenizer(impl, shakespeare)
    where = impl.where("tokenizer", "CharTokenizer.__init__")
    if tokenizer.vocab_size != 65:
        fail("vocab_size on Tiny Shakespeare", 65, tokenizer.vocab_size, where,
             "the vocabulary is sorted(set(text)): every distinct character, once")
    chars = sorted(set(shakespeare))
    if [tokenizer.itos[i] for i in range(65)] != chars or [tokenizer.stoi[c] for c in chars] != list(range(65)):
        fail("stoi and itos should number the characters in sorted order", "stoi[ch] == i == position in sorted(set(text))",
             "another numbering", where)


def test_encode_hii_there(impl, shakespeare):
    tokenizer = make_tokenizer(impl, shakespeare)
    got = tokenizer.encode("hii there")
    if list(got) != HII_THERE:
        fail('encode("hii there")', HII_THERE, got, impl.where("tokenizer", "CharTokenizer.encode"))


def test_decode_round_trip(impl, shakespeare):
    tokenizer = make_tokenizer(impl, shakespeare)
    text = shakespeare[:2000]
    got = tokenizer.decode(tokenizer.encode(text))
    if got != text:
        fail("decode(encode(text)) should give the text back", repr(text[:40]), repr(got[:40]),
             impl.where("tokenizer", "CharTokenizer.decode"))


def test_unknown_character_is_a_clear_error(impl, shakespeare):
    tokenizer = make_tokenizer(impl, shakespeare)
    exc = expect_raises(ValueError, lambda: tokenizer.encode("hi ☃"), 'encode("hi ☃") with a character not in the text',
                        impl.where("tokenizer", "CharTokenizer.encode"))
    if "☃" not in str(exc):
        fail("the error for an unknown character should name it", "a message containing '☃'", str(exc),
             impl.where("tokenizer", "CharTokenizer.encode"))
