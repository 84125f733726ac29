"""Variants of solutions/addition.py: Exercise 12, EX2 (a GPT that adds).

Broken ones make one mistake each in format_problem, get_addition_batch, addition_loss or solve; the
hint is text that a failure message must contain. The valid alternatives (exercise=None) are other
correct ways to write them that must keep every point, the training check's included.
"""

from . import Variant

SUM = 'c = f"{a + b:0{n_digits + 1}d}"[::-1]  # least significant digit first'
RANGE_CHECK = ("    for name, value in ((\"a\", a), (\"b\", b)):\n"
               "        if not 0 <= value < 10**n_digits:\n"
               "            raise ValueError(f\"{name}={value} does not fit in n_digits={n_digits}: "
               "it must lie in [0, {10**n_digits})\")\n")
DRAW_A = "a = torch.randint(10**n_digits, (batch_size,), generator=generator)  # (B,)"
DRAW_B = "b = torch.randint(10**n_digits, (batch_size,), generator=generator)  # (B,)"
DRAWS = DRAW_A + "\n    " + DRAW_B
ROWS = ("rows = [encode_problem(format_problem(i, j, n_digits)) for i, j in zip(a.tolist(), b.tolist())]\n"
        "    rows = torch.tensor(rows, dtype=torch.long).view(-1, 3 * n_digits + 3)  # (B, 3n+3)")
Y = "y = rows[:, 1:].clone()  # (B, T)"
MASK = "y[:, : 2 * n_digits + 1] = -1  # (B, T): the prompt's targets are not trained"
LOSS = "return F.cross_entropy(logits.view(B * T, V), targets.view(B * T), ignore_index=-1)  # ()"
ARGMAX = "idx_next = logits[:, -1, :10].argmax(dim=-1, keepdim=True)  # (B, 1): the likeliest digit"
DIGITS = "digits = idx[:, 2 * n_digits + 2 :]  # (B, n_digits+1), least significant first"
POWERS = "powers = 10 ** torch.arange(n_digits + 1, device=a.device)  # (n_digits+1,)"
PROMPTS = ("prompts = [encode_problem(format_problem(i, j, n_digits)[: 2 * n_digits + 2])\n"
           "               for i, j in zip(a.tolist(), b.tolist())]\n"
           "    idx = torch.tensor(prompts, dtype=torch.long, device=a.device).view(-1, 2 * n_digits + 2)  # (B, T)")


def broken(name, *edits, hint=None):
    return Variant(name, "addition", {"addition": list(edits)}, hint)


def valid(name, *edits):
    return Variant(name, None, {"addition": list(edits)})


VARIANTS = [
    # format_problem
    broken("addition-sum-not-reversed", (SUM, SUM.replace("[::-1]", "")),
           hint="the digits of the sum are not reversed"),
    broken("addition-sum-not-padded", (SUM, 'c = str(a + b)[::-1]'),
           hint="pad the sum to n_digits + 1 digits before reversing it"),
    broken("addition-operands-not-padded",
           ('return f"{a:0{n_digits}d}+{b:0{n_digits}d}={c}"', 'return f"{a}+{b}={c}"'),
           hint="pad a and b to n_digits digits"),
    broken("addition-out-of-range-accepted", (RANGE_CHECK, ""), hint="raise ValueError"),

    # get_addition_batch
    broken("addition-batch-int32", ("dtype=torch.long).view(-1, 3", "dtype=torch.int32).view(-1, 3"),
           hint="as int64"),
    broken("addition-targets-not-shifted", (Y, "y = rows[:, :-1].clone()  # (B, T)"), hint="targets not shifted"),
    broken("addition-prompt-not-masked", (MASK, "pass"), hint="nothing is masked"),
    broken("addition-mask-one-too-many", (MASK, MASK.replace("2 * n_digits + 1]", "2 * n_digits + 2]")),
           hint="one target too many is masked"),
    broken("addition-mask-one-too-few", (MASK, MASK.replace("2 * n_digits + 1]", "2 * n_digits]")),
           hint="one target too few is masked"),
    broken("addition-mask-writes-into-x", (Y, "y = rows[:, 1:]  # (B, T)"), hint="y is a view of the same rows"),
    broken("addition-b-drawn-first", (DRAWS, DRAW_B + "\n    " + DRAW_A), hint="a and b are swapped"),
    broken("addition-generator-ignored", (DRAWS, DRAWS.replace(", generator=generator)", ")")),
           hint="the generator is ignored"),
    broken("addition-operands-never-reach-the-top", (DRAWS, DRAWS.replace("10**n_digits,", "10**n_digits - 1,")),
           hint="from 0 to 10**n_digits - 1"),
    broken("addition-b-is-a", (DRAW_B, "b = a.clone()  # (B,)"), hint="draw b with its own torch.randint call"),

    # addition_loss
    broken("addition-loss-not-ignoring", (LOSS, LOSS.replace(", ignore_index=-1", "")),
           hint="pass ignore_index=-1"),
    broken("addition-loss-mean-over-all-positions",
           (LOSS, "mask = targets.view(B * T) != -1  # (B*T,)\n"
                  "    each = F.cross_entropy(logits.view(B * T, V), targets.view(B * T).clamp(min=0), "
                  "reduction=\"none\")  # (B*T,)\n"
                  "    return (each * mask).sum() / (B * T)  # ()"),
           hint="the mean is over all B*T positions"),
    broken("addition-loss-detached", (LOSS, LOSS.replace("logits.view(B * T, V)", "logits.detach().view(B * T, V)")),
           hint="without .detach()"),

    # solve
    broken("addition-solve-digits-not-unreversed",
           (POWERS, "powers = 10 ** torch.arange(n_digits, -1, -1, device=a.device)  # (n_digits+1,)"),
           hint="the digits are read in the wrong order"),
    broken("addition-solve-samples",
           (ARGMAX, "idx_next = torch.multinomial(F.softmax(logits[:, -1, :10], dim=-1), 1)  # (B, 1)"),
           hint="do not sample"),
    broken("addition-solve-prompt-holds-the-answer",
           (PROMPTS, PROMPTS.replace("[: 2 * n_digits + 2])", ")")
            .replace("view(-1, 2 * n_digits + 2)", "view(-1, 3 * n_digits + 3)")),
           (DIGITS, DIGITS.replace("2 * n_digits + 2 :]", "-(n_digits + 1) :]")),
           hint="the prompt holds the answer"),
    broken("addition-solve-returns-a-plus-b", ("return (digits * powers).sum(dim=1)  # (B,)", "return a + b  # (B,)"),
           hint="solve returns a + b"),
    broken("addition-solve-in-train-mode", ("    model.eval()\n", ""), hint="model.eval()"),
    broken("addition-solve-with-grad", ("@torch.no_grad()\ndef solve", "def solve"), hint="torch.no_grad()"),
    broken("addition-solve-mode-not-restored", ("    model.train(was_training)\n", ""),
           hint="model.train(was_training)"),

    # Other correct ways.
    valid("addition-batch-with-tensor-arithmetic",
          (ROWS, "powers = 10 ** torch.arange(n_digits - 1, -1, -1)  # (n,): most significant first\n"
                 "    c = a + b  # (B,)\n"
                 "    rows = torch.cat([a[:, None] // powers % 10, torch.full((batch_size, 1), 10),\n"
                 "                      b[:, None] // powers % 10, torch.full((batch_size, 1), 11),\n"
                 "                      c[:, None] // 10 ** torch.arange(n_digits + 1) % 10], dim=1)  # (B, T+1)")),
    valid("addition-operands-in-one-draw",
          (DRAWS, "a, b = torch.randint(10**n_digits, (2, batch_size), generator=generator)  # (B,), (B,)")),
    valid("addition-loss-by-hand",
          (LOSS, "mask = targets != -1  # (B, T)\n"
                 "    return F.cross_entropy(logits[mask], targets[mask])  # ()")),
    valid("addition-solve-argmax-over-the-whole-vocabulary", (ARGMAX, ARGMAX.replace("[:, -1, :10]", "[:, -1, :]"))),
    valid("addition-solve-digits-as-text",
          ("    " + DIGITS + "\n    " + POWERS + "\n    return (digits * powers).sum(dim=1)  # (B,)",
           "    answers = [decode_problem(row[2 * n_digits + 2 :])[::-1] for row in idx]\n"
           "    return torch.tensor([int(s) for s in answers], dtype=torch.long, device=a.device)  # (B,)")),
]
