"""Variants of solutions/modern.py: EX4, one modern change (Exercise 14).

The reference implements all three changes and declares "rope". A variant that declares another
change is graded on that change: the valid alternatives (exercise=None) declare each change in turn,
or write one in another correct way, and must keep every point; the broken ones make one mistake in
the declared change, and the hint is text that one failure message of grader/checks/test_modern.py
must contain.
"""

from . import Variant

# The lines of solutions/modern.py that the edits replace; each occurs exactly once there.
CHOICE = 'return "rope"'
GELU = "return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))  # same shape as x: x * Phi(x)"
FFWD_GELU = "            GELU(),\n"
TIE = "model.lm_head.weight = model.token_embedding_table.weight  # (V, C): one Parameter, used twice"
TIE_RETURN = "\n    return model\n"
POS = "pos = torch.arange(T, device=x.device, dtype=dtype)  # (T,)"
PAIRS = "x1, x2 = x[..., 0::2], x[..., 1::2]  # (..., T, hs/2): the pairs (2i, 2i+1)"
CAST = "cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)  # (T, hs/2)"
ROTATE = "rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (..., T, hs/2, 2)"
ROPE_RETURN = "return rotated.flatten(-2)  # (..., T, hs)"


def choose(change):
    return (CHOICE, f'return "{change}"')


def broken(name, *edits, hint=None):
    return Variant(name, "modern", {"modern": list(edits)}, hint)


def valid(name, *edits):
    return Variant(name, None, {"modern": list(edits)})


VARIANTS = [
    # The declaration.
    broken("modern-declares-GELU", choose("GELU"), hint="spell it exactly: return 'gelu'"),

    # "gelu": one mistake each.
    broken("modern-gelu-calls-torchs-gelu", choose("gelu"), (GELU, "return torch.nn.functional.gelu(x)"),
           hint="the exercise is to write the formula"),
    broken("modern-gelu-is-relu", choose("gelu"), (GELU, "return torch.relu(x)"), hint="this is ReLU"),
    broken("modern-gelu-sigmoid-approximation", choose("gelu"), (GELU, "return x * torch.sigmoid(1.702 * x)"),
           hint="coarser approximation"),
    broken("modern-gelu-cut-off-from-autograd", choose("gelu"),
           (GELU, "return 0.5 * x.detach() * (1.0 + torch.erf(x.detach() / math.sqrt(2.0)))"),
           hint="no torch.no_grad(), .detach()"),
    broken("modern-gelu-casts-to-float32", choose("gelu"), (GELU, "x = x.float()\n    " + GELU),
           hint="keep x's dtype"),
    broken("modern-gelu-feedforward-uses-nn-gelu", choose("gelu"), (FFWD_GELU, "            nn.GELU(),\n"),
           hint="use GELU() from modern.py"),

    # "weight_tying": one mistake each.
    broken("modern-tying-copies-the-values", choose("weight_tying"),
           (TIE, "with torch.no_grad():\n        model.lm_head.weight.copy_(model.token_embedding_table.weight)"),
           hint="assign the Parameter itself"),
    broken("modern-tying-wraps-in-a-new-parameter", choose("weight_tying"),
           (TIE, "model.lm_head.weight = nn.Parameter(model.token_embedding_table.weight)"),
           hint="assign the Parameter itself"),
    broken("modern-tying-drops-the-bias", choose("weight_tying"), (TIE, TIE + "\n    model.lm_head.bias = None"),
           hint="keep the bias"),
    broken("modern-tying-returns-nothing", choose("weight_tying"), (TIE_RETURN, "\n"), hint="end with return model"),

    # "rope" (the reference's declaration): one mistake each.
    broken("modern-rope-rotates-the-wrong-way",
           (ROTATE, "rotated = torch.stack((x1 * cos + x2 * sin, -x1 * sin + x2 * cos), dim=-1)"),
           hint="rotated the wrong way"),
    broken("modern-rope-positions-from-1", (POS, "pos = torch.arange(1, T + 1, device=x.device, dtype=dtype)"),
           hint="the positions start at 1"),
    broken("modern-rope-pairs-put-back-as-halves",
           (ROTATE, "rotated = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)"),
           (ROPE_RETURN, "return rotated"), hint="put back as halves"),
    broken("modern-rope-only-cosines", (ROTATE, "rotated = torch.stack((x1 * cos, x2 * cos), dim=-1)"),
           hint="(x1 * cos - x2 * sin, x1 * sin + x2 * cos)"),
    broken("modern-rope-cut-off-from-autograd", (ROPE_RETURN, "return rotated.flatten(-2).detach()"),
           hint="no torch.no_grad(), .detach()"),
    broken("modern-rope-returns-float32", (ROPE_RETURN, "return rotated.flatten(-2).float()"),
           hint="return x's dtype"),

    # Valid alternatives: each declaration on the reference, and other correct ways to write a change.
    valid("modern-chooses-gelu", choose("gelu")),
    valid("modern-chooses-weight-tying", choose("weight_tying")),
    valid("modern-gelu-tanh-form", choose("gelu"),
          (GELU, "return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))")),
    valid("modern-tying-the-other-way", choose("weight_tying"),
          (TIE, "model.token_embedding_table.weight = model.lm_head.weight")),
    valid("modern-rope-half-split", (PAIRS, "x1, x2 = x[..., : hs // 2], x[..., hs // 2 :]"),
          (ROTATE, "rotated = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)"),
          (ROPE_RETURN, "return rotated")),
    valid("modern-rope-complex-numbers",  # LLaMA's way: each pair as a complex number times e^(i angle)
          (CAST + "\n    " + PAIRS + "\n    " + ROTATE + "\n    " + ROPE_RETURN,
           "pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], hs // 2, 2).contiguous())  # (..., T, hs/2)\n"
           "    turn = torch.polar(torch.ones_like(angle), angle)  # (T, hs/2)\n"
           "    return torch.view_as_real(pairs * turn).flatten(-2).to(x.dtype)  # (..., T, hs)")),
]
