"""The training checks' judge, for teacher mode: the validation loss computed by the grader, not by
the process that ran the submission (the bigram's and the small GPT's checks on the CPU).

The worker trains the submission's GPT with the grader's loop and leaves the trained weights in its
writable folder (``save``); the parent, which never runs submission code, reads them as plain tensors
(``torch.load(weights_only=True)``, size-capped), runs its own GPT of the contract on them
(``contract_forward``) over the grader's seeded validation batches, and decides. A loss the
submission reports, or a threshold it rewrites in the worker, does not reach this verdict; only
weights that really reach the loss do.

The contract's names: the bigram's ``token_embedding_table`` (V x V, its rows the logits); the GPT's
``token_embedding_table``, ``position_embedding_table``, ``blocks.<i>`` with ``ln1``, ``sa.c_attn``
(``[q | k | v]``, no bias), ``sa.c_proj``, ``ln2``, ``ffwd.net.0`` and ``ffwd.net.2``, then ``ln_f`` and
``lm_head``.
"""

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from . import training
from .attention_oracle import attention

MAX_BYTES = 64 * 2**20  # the small GPT's weights are ~0.2 MB; the lecture's ~45 MB
JUDGED_DIR = "judged"  # inside the worker's writable folder


def weights_path(folder, nodeid):
    """Where the worker leaves the weights trained for ``nodeid``, inside its writable ``folder``."""
    name = "".join(c if c.isalnum() else "_" for c in nodeid.rpartition("::")[2])
    return Path(folder) / JUDGED_DIR / f"{name}.pt"


def save(model, nodeid):
    """In the worker: leave ``model``'s weights for the judge (only when grading in teacher mode)."""
    folder = os.environ.get("GPTKIT_SANDBOX") and os.environ.get("TMPDIR")
    if not folder:
        return
    path = weights_path(folder, nodeid)
    path.parent.mkdir(exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


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
    C = x.shape[-1]
    hs = C // n_head
    for i in range(n_layer):
        p = f"blocks.{i}."
        h = F.layer_norm(x, (C,), w[p + "ln1.weight"], w[p + "ln1.bias"])  # (B, T, C)
        q, k, v = (h @ w[p + "sa.c_attn.weight"].T).split(C, dim=-1)  # (B, T, C) each
        q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        out = attention(q, k, v, hs**-0.5).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        x = x + F.linear(out, w[p + "sa.c_proj.weight"], w[p + "sa.c_proj.bias"])
        h = F.layer_norm(x, (C,), w[p + "ln2.weight"], w[p + "ln2.bias"])
        h = F.relu(F.linear(h, w[p + "ffwd.net.0.weight"], w[p + "ffwd.net.0.bias"]))  # (B, T, 4C)
        x = x + F.linear(h, w[p + "ffwd.net.2.weight"], w[p + "ffwd.net.2.bias"])  # (B, T, C)
    x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"])
    return F.linear(x, w["lm_head.weight"], w["lm_head.bias"])  # (B, T, V)


def expected_shapes(recipe, vocab_size):
    """The contract's weights for the recipe's model (the bigram when it has no layers): name -> shape."""
    if not recipe.n_layer:
        return {"token_embedding_table.weight": (vocab_size, vocab_size)}
    C = recipe.n_embd
    shapes = {"token_embedding_table.weight": (vocab_size, C),
              "position_embedding_table.weight": (recipe.block_size, C),
              "ln_f.weight": (C,), "ln_f.bias": (C,), "lm_head.weight": (vocab_size, C), "lm_head.bias": (vocab_size,)}
    for i in range(recipe.n_layer):
        p = f"blocks.{i}."
        shapes |= {p + "ln1.weight": (C,), p + "ln1.bias": (C,), p + "ln2.weight": (C,), p + "ln2.bias": (C,),
                   p + "sa.c_attn.weight": (3 * C, C), p + "sa.c_proj.weight": (C, C), p + "sa.c_proj.bias": (C,),
                   p + "ffwd.net.0.weight": (4 * C, C), p + "ffwd.net.0.bias": (4 * C,),
                   p + "ffwd.net.2.weight": (C, 4 * C), p + "ffwd.net.2.bias": (C,)}
    return shapes


class NotJudged(Exception):
    """The weights cannot be judged; the message says why, in words for the report."""


def load_weights(path, recipe, vocab_size):
    """The contract's weights from ``path`` as float32 tensors, or NotJudged saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise NotJudged("the trained weights did not reach the grader")
    if path.stat().st_size > MAX_BYTES:
        raise NotJudged(f"the trained weights are larger than {MAX_BYTES // 2**20} MB")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # anything unreadable, whatever torch raises for it
        raise NotJudged(f"the trained weights could not be read ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise NotJudged("the trained weights are not a state dict")
    weights = {}
    for name, shape in expected_shapes(recipe, vocab_size).items():
        tensor = state.get(name)
        if type(tensor) is not torch.Tensor or tuple(tensor.shape) != shape or not tensor.is_floating_point():
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise NotJudged(f"the trained model has no weight {name} of shape {shape} (got {got}): the contract "
                            "names every part of the model and its shape")
        weights[name] = tensor.float()
    return weights


def validation_loss(path, text, recipe):
    """The grader's validation loss of the weights at ``path``, the way training.train measures it."""
    data, vocab_size = training.encode(text)
    weights = load_weights(path, recipe, vocab_size)
    _, val_data = training.split(data)
    with training.cpu_threads(1), torch.no_grad():
        return training.estimate_loss(ContractModel(weights, recipe), val_data, recipe)


def judges(text):
    """nodeid -> judge(writable folder, the worker's verdict) -> Verdict, for grade (see isolate.run_sandboxed)."""
    from .checks.test_bigram import BIGRAM_RECIPE, BIGRAM_THRESHOLD
    from .checks.test_gpt import GPT_RECIPE, GPT_THRESHOLD

    def judge_of(nodeid, recipe, threshold, reference):
        return lambda folder, verdict: judge(weights_path(folder, nodeid), verdict, text, recipe, threshold,
                                             reference)

    return {
        "grader/checks/test_bigram.py::test_training_reaches_loss_threshold":
            judge_of("test_training_reaches_loss_threshold", BIGRAM_RECIPE, BIGRAM_THRESHOLD,
                     "the reference reaches about 2.5; an untrained bigram 4.17"),
        "grader/checks/test_gpt.py::test_training_beats_the_bigram":
            judge_of("test_training_beats_the_bigram", GPT_RECIPE, GPT_THRESHOLD,
                     "a bigram cannot go below about 2.45; the reference reaches about 2.2"),
    }


def judge(path, verdict, text, recipe, threshold, reference):
    """The check's verdict from the weights at ``path``; the worker's own failure stands where it left
    no weights (its message says what went wrong in training)."""
    from .isolate import Verdict

    if verdict.outcome == "failed" and not Path(path).is_file():
        return verdict
    try:
        val = validation_loss(path, text, recipe)
    except NotJudged as exc:
        return Verdict("failed", f"{exc}; the grader judges the trained weights itself")
    if val < threshold:
        return Verdict("passed")
    return Verdict("failed", f"validation loss of the trained model, computed by the grader from its weights: "
                             f"{val:.3f}, expected below {threshold} ({reference})")
