"""The training checks' judge, for teacher mode: the validation loss computed by the grader, not by
the process that ran the submission.

The submission's process trains its model with the grader's loop and sends back the trained weights
(probe.train_by_the_graders_loop) as plain tensors; the judge, which never runs submission code, runs
its own model of the contract on them (``contract_forward``) over the grader's seeded validation
batches, and decides. A loss the submission reports, or a threshold it rewrites in its process, does
not reach this verdict; only weights that really reach the loss do.

The contract's names: the bigram's ``token_embedding_table`` (V x V, its rows the logits); the GPT's
``token_embedding_table``, ``position_embedding_table``, ``blocks.<i>`` with ``ln1``, ``sa.c_attn``
(``[q | k | v]``, no bias), ``sa.c_proj``, ``ln2``, ``ffwd.net.0`` and ``ffwd.net.2``, then ``ln_f`` and
``lm_head``.

Before a GPT trains, each part of it that an earlier exercise has (MultiHeadAttention, FeedForward,
Block) is run on weights drawn here and compared with the contract's (``differing_parts``); the grader's
own copy (grader/probes/stand_ins.py) takes the place of one that differs, so a training check grades
its own exercise's code and a mistake is charged once, by its own exercise. The trained model is then
judged as above: the grader's parts are the contract's, so a forged loss stays impossible.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from grader.probes import training
from grader.oracles.attention_oracle import attention
from grader.oracles.expect import fail, parameter_shapes
from grader.rubric import BY_MARKER
from grader.probes.probe import output_and_gradients, set_parameters
from grader.probes.stand_ins import ContractAttention, ContractFeedForward


class ContractModel(torch.nn.Module):
    """A model of the contract as the grader computes it, from a state dict of plain tensors (eval only):
    the bigram when ``recipe.n_layer`` is 0, else the GPT."""

    def __init__(self, state, recipe):
        super().__init__()
        self.state, self.recipe = state, recipe

    def forward(self, idx, targets=None):
        if self.recipe.n_layer:
            logits = contract_forward(self.state, idx, self.recipe.n_layer, self.recipe.n_head)  # (B, T, V)
        else:
            logits = self.state["token_embedding_table.weight"][idx]  # (B, T, V)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def contract_forward(w, idx, n_layer, n_head):
    """Logits of the contract's GPT with weights ``w`` (a state dict), in eval mode (no dropout)."""
    B, T = idx.shape
    x = w["token_embedding_table.weight"][idx] + w["position_embedding_table.weight"][:T]  # (B, T, C)
    for i in range(n_layer):
        x = contract_block(w, f"blocks.{i}.", x, n_head)  # (B, T, C)
    x = F.layer_norm(x, (x.shape[-1],), w["ln_f.weight"], w["ln_f.bias"])
    return F.linear(x, w["lm_head.weight"], w["lm_head.bias"])  # (B, T, V)


def contract_attention(w, p, x, n_head):
    """The contract's MultiHeadAttention(x), eval mode, with the weights ``w[p + "c_attn.weight"]``..."""
    B, T, C = x.shape
    hs = C // n_head
    q, k, v = (x @ w[p + "c_attn.weight"].T).split(C, dim=-1)  # (B, T, C) each
    q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    out = attention(q, k, v, hs**-0.5).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
    return F.linear(out, w[p + "c_proj.weight"], w[p + "c_proj.bias"])


def contract_feedforward(w, p, x):
    """The contract's FeedForward(x), eval mode, with the weights ``w[p + "net.0.weight"]``..."""
    h = F.relu(F.linear(x, w[p + "net.0.weight"], w[p + "net.0.bias"]))  # (B, T, 4C)
    return F.linear(h, w[p + "net.2.weight"], w[p + "net.2.bias"])  # (B, T, C)


def contract_block(w, p, x, n_head):
    """The contract's Block(x), eval mode, pre-norm: x + sa(ln1(x)), then x + ffwd(ln2(x))."""
    C = x.shape[-1]
    x = x + contract_attention(w, p + "sa.", F.layer_norm(x, (C,), w[p + "ln1.weight"], w[p + "ln1.bias"]), n_head)
    return x + contract_feedforward(w, p + "ffwd.", F.layer_norm(x, (C,), w[p + "ln2.weight"], w[p + "ln2.bias"]))


def part_shapes(part, C):
    """The contract's weights of one part of a Block ("sa", "ffwd", or "block" for the whole): name -> shape."""
    sa = {"c_attn.weight": (3 * C, C), "c_proj.weight": (C, C), "c_proj.bias": (C,)}
    ffwd = {"net.0.weight": (4 * C, C), "net.0.bias": (4 * C,), "net.2.weight": (C, 4 * C), "net.2.bias": (C,)}
    if part == "sa":
        return sa
    if part == "ffwd":
        return ffwd
    return ({"ln1.weight": (C,), "ln1.bias": (C,), "ln2.weight": (C,), "ln2.bias": (C,)}
            | {"sa." + k: v for k, v in sa.items()} | {"ffwd." + k: v for k, v in ffwd.items()})


def expected_shapes(recipe, vocab_size):
    """The contract's weights for the recipe's model (the bigram when it has no layers): name -> shape."""
    if not recipe.n_layer:
        return {"token_embedding_table.weight": (vocab_size, vocab_size)}
    C = recipe.n_embd
    shapes = {"token_embedding_table.weight": (vocab_size, C),
              "position_embedding_table.weight": (recipe.block_size, C),
              "ln_f.weight": (C,), "ln_f.bias": (C,), "lm_head.weight": (vocab_size, C), "lm_head.bias": (vocab_size,)}
    for i in range(recipe.n_layer):
        shapes |= {f"blocks.{i}.{name}": shape for name, shape in part_shapes("block", C).items()}
    return shapes


class NotJudged(Exception):
    """The weights cannot be judged; the message says why, in words for the report, and ``part`` (a
    Part) which part of the model differs from the contract."""

    def __init__(self, message, part=None):
        super().__init__(message)
        self.part = part or GPT


def contract_weights(state, recipe, vocab_size):
    """The contract's weights from ``state`` (a dict of plain tensors) as float32, or NotJudged saying
    what is wrong."""
    if type(state) is not dict:
        raise NotJudged("the trained weights did not come back as a state dict")
    weights = {}
    for name, shape in expected_shapes(recipe, vocab_size).items():
        tensor = state.get(name)
        if type(tensor) is not torch.Tensor or tuple(tensor.shape) != shape or not tensor.is_floating_point():
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            part = part_of_weight(name) if recipe.n_layer else BIGRAM
            raise NotJudged(f"the trained model has no weight {name} of shape {shape} (got {got}): it is "
                            f"{part.name}'s, named and shaped by the contract", part)
        weights[name] = tensor.float()
    return weights


def validation_loss(state, text, recipe):
    """The grader's validation loss of the trained weights ``state``, the way training.train measures it."""
    data, vocab_size = training.encode(text)
    return _validation_loss(ContractModel(contract_weights(state, recipe, vocab_size), recipe), data, recipe)


def _validation_loss(model, data, recipe, device="cpu", bf16=False):
    _, val_data = training.split(data)
    with training.cpu_threads(1), torch.no_grad():
        return training.estimate_loss(model, val_data, recipe, device, bf16)


def judged_loss(run, text, recipe, apart, device="cpu", bf16=False):
    """The validation loss a training check decides on, from probe.train_by_the_graders_loop's ``run``:
    judged apart (teacher mode), the grader's own from the trained weights, measured on ``device`` as the
    loop measured it; else the loop's own."""
    if not apart:
        return run["val"]
    data, vocab_size = training.encode(text)
    model = judged_model(run["model"], run["weights"], recipe, vocab_size, device)
    return _validation_loss(model, data, recipe, device, bf16)


def judged_model(model, state, recipe, vocab_size, device="cpu"):
    """The grader's model of the contract at the trained weights ``state`` that ``model`` (a handle, in
    teacher mode, living on ``device``) sent back, once they are the contract's (contract_weights) and
    the ones ``model`` computes with (expect_own_weights); else NotJudged."""
    weights = {name: value.to(device) for name, value in contract_weights(state, recipe, vocab_size).items()}
    expect_own_weights(model, weights, recipe, vocab_size, device)
    return ContractModel(weights, recipe)


# The trained model's logits against the grader's at the weights it sent back: float32 sums in another
# order differ by ~1e-6 (the reference); weights that are not the model's differ by far more (~1).
# On CUDA a submission may turn on TF32 matmuls (10-bit mantissa, ~1e-3 relative per product), so the
# margin there is wider, still far under what other weights give; not yet measured on a GPU.
OWN_WEIGHTS_ATOL = {"cpu": 1e-3, "cuda": 5e-2}


def expect_own_weights(model, weights, recipe, vocab_size, device="cpu"):
    """NotJudged unless ``weights`` are the ones ``model`` computes with: its logits (eval mode) on a fixed
    batch match the grader's model of the contract at those weights. Weights sent back from somewhere
    else (a state_dict that lies, a hidden model trained on the side) are not judged."""
    idx = torch.randint(vocab_size, (2, recipe.block_size), generator=torch.Generator().manual_seed(0)).to(device)
    was_training = bool(model.training)
    model.eval()
    with torch.no_grad():
        out = model(idx)
        expected = ContractModel(weights, recipe)(idx)[0]
    model.train(was_training)
    got = out[0] if isinstance(out, tuple) and len(out) == 2 else out
    atol = OWN_WEIGHTS_ATOL.get(torch.device(device).type, OWN_WEIGHTS_ATOL["cuda"])
    if (type(got) is not torch.Tensor or got.shape != expected.shape or got.device != expected.device
            or not (got.float() - expected).abs().max().item() <= atol):
        # Its parts were checked against the contract before training (differing_parts) and the grader's
        # stand in for those that differ, so what is left is the model's own forward, or a lie.
        part = GPT if recipe.n_layer else BIGRAM
        raise NotJudged("the trained model's logits are not the contract's at the weights it sent back: "
                        f"{part.name}.forward computes otherwise than the contract, or the weights sent back "
                        "are not the ones the model computes with", part)


def described(what, apart):
    """``what`` (a loss in a message), saying who computed it when it was judged apart."""
    return f"{what}, computed by the grader from the trained weights" if apart else what


# ------------------------------------------------------------------------- the parts, before training

@dataclass(frozen=True)
class Part:
    """A part of the GPT that an exercise has: ``key`` is its place in a Block ("block": the Block)."""

    key: str
    name: str  # the class, as CONTRACT.md names it
    module: str  # its file in exercises/, without .py
    marker: str  # its exercise

    @property
    def exercise(self):
        return f"Exercise {BY_MARKER[self.marker].number}"


ATTENTION = Part("sa", "MultiHeadAttention", "attention", "multihead")
FEEDFORWARD = Part("ffwd", "FeedForward", "block", "feedforward")
BLOCK = Part("block", "Block", "block", "block")
GPT = Part("gpt", "GPTLanguageModel", "gpt", "gpt")
BIGRAM = Part("bigram", "BigramLanguageModel", "bigram", "bigram")
PARTS = (ATTENTION, FEEDFORWARD, BLOCK)  # the earlier exercises' parts a GPT is built of (Head is not one)


def part_of_weight(name):
    """The part whose weight ``name`` (a name of the GPT's state dict) is."""
    if not name.startswith("blocks."):
        return GPT
    return ATTENTION if ".sa." in name else FEEDFORWARD if ".ffwd." in name else BLOCK


def differing_parts(impl, n_embd, n_head, block_size):
    """The parts (of PARTS) whose code, made where the submission runs, does not compute what the
    contract's does: measured here on weights the grader draws, so a training check can put the
    grader's own in their place (stand_ins.GPTWithGradersParts) and grade its own exercise's code only.
    The Block is measured with the grader's attention and feed-forward inside it: its own code alone."""
    differ = []
    for part in PARTS:
        try:
            module = _made(impl, part, n_embd, n_head, block_size)
            same = _computes_the_contract(module, part, n_embd, n_head, block_size)
        except Exception as exc:  # a part that cannot be made or run differs too; its exercise says why
            from grader.sandbox.remote import ProbeProcessEnded
            if isinstance(exc, ProbeProcessEnded):
                raise
            same = False
        if not same:
            differ.append(part)
    return tuple(differ)


def _made(impl, part, n_embd, n_head, block_size):
    if part is ATTENTION:
        return impl.get("attention", "MultiHeadAttention")(n_embd, n_head, block_size, 0.0)
    if part is FEEDFORWARD:
        return impl.get("block", "FeedForward")(n_embd, 0.0)
    block = impl.get("block", "Block")(n_embd, n_head, block_size, 0.0)
    block.sa = impl.build(ContractAttention, n_embd, n_head)
    block.ffwd = impl.build(ContractFeedForward, n_embd)
    return block


# A part against the contract on the same weights (weights ~0.3, outputs and gradients ~1-10): the reference
# differs by 0 and the valid alternatives of tests/variants by 1.2e-5 at most (SDPA); the mistakes there by
# 1.4 or more (GELU for ReLU; NaN counts as a difference). 1e-4 is 8 times the first and far under the second.
PART_ATOL = 1e-4


def _computes_the_contract(module, part, n_embd, n_head, T):
    """Whether ``module`` (one of PARTS, with the contract's weights) gives the contract's output and input
    gradient in train mode (dropout 0, as the training checks run) and its output in eval mode."""
    shapes = part_shapes(part.key, n_embd)
    if parameter_shapes(module) != shapes:
        return False
    generator = torch.Generator().manual_seed(0)
    values = {name: torch.randn(shape, generator=generator) * 0.3 for name, shape in shapes.items()}
    x, w = torch.randn(2, T, n_embd, generator=generator), torch.randn(2, T, n_embd, generator=generator)
    set_parameters(module, values)
    xg = x.clone().requires_grad_(True)
    expected = {"sa": lambda: contract_attention(values, "", xg, n_head), "ffwd": lambda: contract_feedforward(
        values, "", xg), "block": lambda: contract_block(values, "", xg, n_head)}[part.key]()
    (expected * w).sum().backward()
    module.train()
    out, graphed, gradients = output_and_gradients(module, x, w)
    if not (graphed and _close(out, expected.detach()) and _close(gradients.get("x"), xg.grad)):
        return False
    module.eval()
    with torch.no_grad():
        return _close(module(x), expected.detach())


def _close(got, expected):
    return (type(got) is torch.Tensor and got.shape == expected.shape and got.dtype == expected.dtype
            and bool(((got - expected).abs() <= PART_ATOL).all()))


def replaced_line(parts):
    """One line saying which parts the grader's own stood in for, or None when none did."""
    if not parts:
        return None
    if len(parts) == 1:
        return (f"your {parts[0].name} differs from the contract ({parts[0].exercise}), so this check trained "
                "with the grader's own in its place")
    names = " and ".join(f"{p.name} ({p.exercise})" for p in parts)
    return f"your {names} differ from the contract, so this check trained with the grader's own in their place"


def fail_not_judged(impl, exc, what):
    """The failure of a training check whose trained model could not be judged (NotJudged ``exc``): which
    part differs from the contract and the exercise that has it."""
    part = exc.part
    fail(what=what, expected=f"the contract's {part.name} ({part.exercise})", got=str(exc),
         where=impl.where(part.module, part.name),
         hint=f"the grader judges the trained weights with its own model of the contract; {part.exercise}'s "
         "checks say where yours differs")
