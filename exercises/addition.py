"""A GPT that adds: the lecture's suggested exercise EX2 (in the video's description; 01:54:32).

"Train a GPT to do addition of two numbers, i.e. a+b=c. You may find it helpful to predict the
digits of c in reverse order, as the typical addition algorithm would proceed right to left too.
You may want to modify the data loader to simply serve random problems and skip the generation of
train.bin, val.bin. You may want to mask out the loss at the input positions of a+b that just
specify the problem using y=-1 in the targets (see CrossEntropyLoss ignore_index). Does your
Transformer learn to add?"

Problems ``a+b=c`` are written in a vocabulary of 12 symbols, with the digits of ``c`` reversed
(least significant first, the way the pencil-and-paper algorithm goes), and only the digits of
``c`` are trained: the targets of the prompt are -1, ignored by the loss. Your GPTLanguageModel
from gpt.py is the model, unchanged: ``GPTConfig(vocab_size=len(VOCAB), block_size=3 * n_digits + 2,
...)``. Train it with ``get_addition_batch`` and ``addition_loss`` in the lecture's loop, then ask
``solve`` how much 123 + 456 is.
"""

import torch
import torch.nn.functional as F

# The vocabulary: a symbol's id is its index, so each digit is its own id; "+" is 10 and "=" is 11.
VOCAB = "0123456789+="


def encode_problem(text):
    """The ids of ``text`` in VOCAB: ``encode_problem("1+2=30") == [1, 10, 2, 11, 3, 0]``."""
    unknown = sorted(set(text) - set(VOCAB))
    if unknown:
        raise ValueError(f"characters {unknown} are not in the vocabulary {VOCAB!r}")
    return [VOCAB.index(ch) for ch in text]


def decode_problem(ids):
    """The text of ``ids`` (a list or a 1-D tensor of ids in VOCAB)."""
    return "".join(VOCAB[int(i)] for i in ids)


def format_problem(a, b, n_digits):
    """Write the problem ``a+b=c`` as text, with the digits of c reversed.

    ``a`` and ``b`` zero-padded to ``n_digits`` digits, then ``"+"`` between them and ``"="`` after,
    then the ``n_digits + 1`` digits of ``c = a + b``, zero-padded and REVERSED (least significant
    digit first): ``format_problem(12, 345, 3) == "012+345=7530"`` (357 is 0357, reversed 7530),
    ``format_problem(5, 7, 1) == "5+7=21"``. Every problem of ``n_digits`` has the same length, so
    the model always finds the answer at the same positions.

    Errors: ``n_digits < 1`` raises ``ValueError``; so does an ``a`` or ``b`` outside
    ``[0, 10**n_digits)``, with a message that names it (``"a=1000 ..."``).

    Shapes:
        a, b: ints in [0, 10**n_digits) -> str of 3 * n_digits + 3 characters

    Lecture: EX2 in the video's description, after 01:54:32 "conclusions": "predict the digits of
    c in reverse order, as the typical addition algorithm would proceed right to left too".

    Hint: ``f"{a:0{n_digits}d}"`` zero-pads; ``text[::-1]`` reverses a string.

    Check it: pytest -m addition
    """
    # TODO: Exercise 12 — check the arguments, then join a, "+", b, "=" and the reversed, padded sum
    raise NotImplementedError("Exercise 12: format_problem")


def get_addition_batch(batch_size, n_digits, generator=None, device="cpu"):
    """Serve ``batch_size`` random problems: the inputs ``x`` and the targets ``y``, prompt masked.

    Draw the operands with exactly ``a = torch.randint(10**n_digits, (batch_size,),
    generator=generator)`` and then ``b`` the same way (a first, then b), so that a seeded
    generator, or ``torch.manual_seed`` when ``generator`` is None, reproduces your batches.
    Each problem's row is ``encode_problem(format_problem(a, b, n_digits))``, 3 * n_digits + 3 ids;
    as in the lecture ``x = row[:-1]`` and ``y = row[1:]``. Then mask the prompt: the first
    2 * n_digits + 1 targets of ``y`` (those that are still part of ``a+b=``) become -1, so only
    the n_digits + 1 digits of the answer are trained. ``format_problem(12, 345, 3)`` gives
    ``x = 012+345=753`` and ``y = [-1] * 7 + 7530``.

    Errors: ``n_digits < 1`` raises ``ValueError``.

    Shapes:
        x: (batch_size, 3 * n_digits + 2), y: (batch_size, 3 * n_digits + 2), both int64 on device

    Lecture: 00:14:27 "data loader: batches of chunks of data" (x and y, shifted by one); EX2 in
    the description: "modify the data loader to simply serve random problems ... mask out the loss
    at the input positions of a+b that just specify the problem using y=-1 in the targets".

    Hint: ``torch.tensor(list_of_rows)`` makes a (B, L) tensor; ``y[:, :k] = -1`` masks the first k
    targets of every row (clone the slice first so that x is left alone).

    Check it: pytest -m addition
    """
    # TODO: Exercise 12 — draw a then b, encode every problem, shift into x and y, set the prompt's targets to -1
    raise NotImplementedError("Exercise 12: get_addition_batch")


def addition_loss(logits, targets):
    """The mean cross-entropy over the positions whose target is not -1.

    The masked positions (target -1) add nothing to the loss, and the mean is over the others only:
    ``F.cross_entropy(..., ignore_index=-1)`` does both. The GPT's own loss (``model(idx, targets)``)
    cannot take -1 targets, so call the model without targets and give its logits to this function.

    Shapes:
        logits: (B, T, V), targets: (B, T) with -1 where masked -> loss: () (a scalar tensor)

    Lecture: 00:22:11 the bigram's loss (``logits.view(B*T, C)``, ``targets.view(B*T)``); EX2 in
    the description: "see CrossEntropyLoss ignore_index".

    Hint: one line, as the GPT's loss plus ``ignore_index=-1``.

    Check it: pytest -m addition
    """
    # TODO: Exercise 12 — flatten as the GPT's loss does and pass ignore_index=-1 to F.cross_entropy
    raise NotImplementedError("Exercise 12: addition_loss")


def solve(model, a, b, n_digits):
    """Ask ``model`` for the sums ``a + b``: greedy decoding of the answer's digits, un-reversed.

    For every row: the prompt ``format_problem(a, b, n_digits)[: 2 * n_digits + 2]`` (up to and
    including the "="), all rows in one (B, 2 * n_digits + 2) tensor of ids on ``a``'s device. Then
    ``n_digits + 1`` times: ``logits, _ = model(idx)``, take the last position's logits and append
    the likeliest digit, ``logits[:, -1, :10].argmax(-1)`` (greedy: no sampling; the argmax over the
    whole vocabulary is fine too). The new digits are c's digits least significant first: digit k
    counts ``10**k``. Return the sums as an int64 tensor.

    Run the model in eval mode and build no autograd graph (``torch.no_grad()``), and put the model
    back in the mode you found it in (``was_training = model.training`` ... ``model.train(was_training)``).
    ``model`` is anything that maps ``idx`` to ``(logits, loss)``, your GPTLanguageModel for one.

    Shapes:
        a, b: (B,) int64 -> sums: (B,) int64, on a's device

    Lecture: 00:22:11 and 01:19:11 "generate" (the same loop, with argmax instead of sampling);
    EX2 in the description: "Does your Transformer learn to add?"

    Hint: ``(digits * 10 ** torch.arange(n_digits + 1)).sum(dim=1)`` turns (B, n_digits+1) digits,
    least significant first, into numbers.

    Check it: pytest -m addition
    """
    # TODO: Exercise 12 — build the prompts, append n_digits+1 argmax digits, and read them back as numbers
    raise NotImplementedError("Exercise 12: solve")
