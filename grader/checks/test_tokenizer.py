"""Exercise 1: CharTokenizer, on Tiny Shakespeare and on a text of our own."""

import pytest
import torch

from grader.oracles.expect import Mistake, attribute, describe, equal, expect_raises, fail

pytestmark = pytest.mark.tokenizer

HII_THERE = [46, 47, 47, 1, 58, 46, 43, 56, 43]  # the lecture's example at 00:10:40

SORTED_HINT = "the vocabulary is sorted(set(text)): every distinct character once, numbered 0, 1, ... in that order"


def make_tokenizer(impl, text):
    return impl.get("tokenizer", "CharTokenizer")(text)


def numbering_mistake(stoi, text):
    """A hint for ``stoi`` (character -> id, for every character of ``text``) that numbers the
    characters otherwise than sorted(set(text))."""
    if sorted(stoi, key=stoi.get) == list(dict.fromkeys(text)):
        return Mistake("the characters are numbered in order of first appearance: " + SORTED_HINT)
    if sorted(stoi.values()) == list(range(1, len(stoi) + 1)):
        return "the ids start at 1: enumerate(chars) starts at 0"
    return SORTED_HINT


def expect_vocabulary(tokenizer, text, where):
    """``tokenizer`` numbers the characters of sorted(set(text)) 0, 1, ... in stoi and back in itos."""
    chars = sorted(set(text))
    vocab_size, stoi, itos = (attribute(tokenizer, name, where) for name in ("vocab_size", "stoi", "itos"))
    if not equal(vocab_size, len(chars)):
        fail(what=f"vocab_size for a text of {len(chars)} distinct characters", expected=len(chars), got=vocab_size,
             where=where, hint=SORTED_HINT)
    given = stoi
    stoi = {c: given.get(c) for c in chars} if hasattr(given, "get") else None
    if not equal(stoi, {c: i for i, c in enumerate(chars)}):
        got = f"stoi = {describe(given)}" if stoi is None else \
            "stoi = {" + ", ".join(f"{c!r}: {i}" for c, i in list(stoi.items())[:6]) + ", ...}"
        fail(what="stoi should number the characters in sorted order",
             expected="{" + ", ".join(f"{c!r}: {i}" for i, c in enumerate(chars[:6])) + ", ...}", got=got, where=where,
             hint=numbering_mistake(stoi, text) if stoi is not None and None not in stoi.values() else SORTED_HINT)
    try:
        listed = [itos[i] for i in range(len(chars))]
    except (KeyError, IndexError, TypeError):
        listed = None
    if not equal(listed, chars):
        fail(what="itos should be the inverse of stoi: itos[i] is the i-th character of sorted(set(text))",
             expected=repr("".join(chars[:12])) + "...", got=describe(itos), where=where, hint=SORTED_HINT)


def test_vocabulary_has_65_symbols(impl, shakespeare):
    """On Tiny Shakespeare: 65 symbols, stoi and itos numbering sorted(set(text)) consistently."""
    tokenizer = make_tokenizer(impl, shakespeare)
    where = impl.where_is("CharTokenizer.__init__")
    if not equal(attribute(tokenizer, "vocab_size", where), 65):
        fail(what="vocab_size on Tiny Shakespeare", expected=65, got=tokenizer.vocab_size, where=where,
             hint=SORTED_HINT)
    expect_vocabulary(tokenizer, shakespeare, where)


def test_vocabulary_comes_from_the_text(impl):
    """Another text gets its own vocabulary: nothing is hard-coded to Shakespeare."""
    text = "to be, or not to be"
    tokenizer = make_tokenizer(impl, text)
    where = impl.where_is("CharTokenizer.__init__")
    expect_vocabulary(tokenizer, text, where)
    got = tokenizer.encode("bet")
    # sorted(set(text)) is " ,benort": b=2, e=3, t=7
    if not equal(got, [2, 3, 7]):
        fail(what=f'encode("bet") with the vocabulary of {text!r}', expected=[2, 3, 7], got=got,
             where=impl.where_is("CharTokenizer.encode"),
             hint="look the ids up in self.stoi, built from this text")


def test_encode_hii_there(impl, shakespeare):
    """encode gives the lecture's ids, as a plain list of ints."""
    tokenizer = make_tokenizer(impl, shakespeare)
    got = tokenizer.encode("hii there")
    where = impl.where_is("CharTokenizer.encode")
    if not isinstance(got, list) or not all(type(i) is int for i in got):
        fail(what='encode("hii there") should return a plain list of ints', expected=HII_THERE, got=describe(got),
             where=where,
             hint="return [self.stoi[c] for c in s]")
    if not equal(got, HII_THERE):
        fail(what='encode("hii there")', expected=HII_THERE, got=got, where=where)


def test_decode_round_trip(impl, shakespeare):
    """decode(encode(text)) gives back the whole of Tiny Shakespeare."""
    tokenizer = make_tokenizer(impl, shakespeare)
    got = tokenizer.decode(tokenizer.encode(shakespeare))
    if not equal(got, shakespeare):
        at = next((i for i, (a, b) in enumerate(zip(got, shakespeare)) if a != b), min(len(got), len(shakespeare)))
        fail(what=f"decode(encode(text)) should give the text back; it differs from character {at} on",
             expected=repr(shakespeare[at:at + 30]),
             got=repr(got[at:at + 30]) if isinstance(got, str) else describe(got),
             where=impl.where_is("CharTokenizer.decode"))


def test_decode_accepts_a_tensor(impl, shakespeare):
    """decode takes a 1-D tensor of ids and gives what it gives for the same ids as a list (what
    generate returns is a tensor)."""
    tokenizer = make_tokenizer(impl, shakespeare)
    text = shakespeare[:200]
    ids = tokenizer.encode(text)
    if not isinstance(ids, list) or not all(type(i) is int for i in ids):
        fail(what="encode(text) should return a plain list of ints", expected="[18, 47, 56, ...]", got=describe(ids),
             where=impl.where_is("CharTokenizer.encode"), hint="return [self.stoi[c] for c in s]")
    from_list = tokenizer.decode(ids)
    where = impl.where_is("CharTokenizer.decode")
    hint = "turn a tensor into a list first: ids.tolist() (the items of a tensor are tensors, not ints)"
    try:
        got = tokenizer.decode(torch.tensor(ids))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        fail(what="decode(a 1-D tensor of ids) should work like decode(a list)", expected=repr(from_list[:30]) + "...",
             got=f"{type(exc).__name__}: {exc}", where=where, hint=hint)
    if not equal(got, from_list):
        fail(what="decode(a 1-D tensor of ids) should give what decode(the same ids as a list) gives",
             expected=repr(from_list[:30]) + "...", got=repr(got[:30]) if isinstance(got, str) else describe(got),
             where=where, hint=hint)


def test_unknown_character_is_a_clear_error(impl, shakespeare):
    """encode of a character outside the vocabulary raises ValueError that names it."""
    tokenizer = make_tokenizer(impl, shakespeare)
    where = impl.where_is("CharTokenizer.encode")
    exc = expect_raises(ValueError, lambda: tokenizer.encode("hi ☃"), 'encode("hi ☃"), with a character not in the text',
                        where, "check c in self.stoi and raise ValueError(f\"unknown character {c!r}\")")
    if "☃" not in str(exc):
        fail(what="the error for an unknown character should name it", expected="a message containing '☃'",
             got=str(exc), where=where)


@pytest.mark.parametrize("bad_id", [100, -1], ids=["id=100", "id=-1"])
def test_unknown_id_is_a_clear_error(impl, shakespeare, bad_id):
    """decode of an id outside 0 .. vocab_size - 1 raises ValueError that names it (-1 too: no wrapping around)."""
    tokenizer = make_tokenizer(impl, shakespeare)
    where = impl.where_is("CharTokenizer.decode")
    exc = expect_raises(ValueError, lambda: tokenizer.decode([46, bad_id]), f"decode([46, {bad_id}]) on a vocabulary of 65",
                        where, "check i in self.itos and raise ValueError(f\"unknown id {i!r}\")")
    if str(bad_id) not in str(exc):
        fail(what="the error for an unknown id should name it", expected=f"a message containing {bad_id}", got=str(exc),
             where=where)


def test_decode_of_a_2d_tensor_is_a_clear_error(impl, shakespeare):
    """decode of a tensor that is not 1-D raises ValueError: it decodes one sequence, and a batch of
    shape (1, n), as generate returns it, is not one (decode(out[0]) is)."""
    tokenizer = make_tokenizer(impl, shakespeare)
    where = impl.where_is("CharTokenizer.decode")
    batch = torch.tensor([HII_THERE])  # (1, 9): what generate returns for one prompt
    expect_raises(ValueError, lambda: tokenizer.decode(batch),
                  "decode(a tensor of shape (1, 9)) should raise ValueError: it is a batch of one sequence, "
                  "as generate returns it, not a sequence of ids", where,
                  "check ids.dim() == 1 and raise ValueError naming the shape (the caller decodes out[0])")
