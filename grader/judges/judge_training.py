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
"""

import torch
import torch.nn.functional as F

from grader.probes import training
from grader.judges.attention_oracle import attention


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
            raise NotJudged(f"the trained model has no weight {name} of shape {shape} (got {got}): the contract "
                            "names every part of the model and its shape")
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
        # Most often an honest mistake in a part of the model, which its own exercise's checks name; or
        # weights that are not the ones the model computes with. The message says both, in that order.
        raise NotJudged("the trained model's logits are not the contract's at the weights it sent back: a part "
                        "of the model computes otherwise than the contract (the failed checks of the earlier "
                        "exercises say which), or the weights sent back are not the ones the model computes with")


def described(what, apart):
    """``what`` (a loss in a message), saying who computed it when it was judged apart."""
    return f"{what}, computed by the grader from the trained weights" if apart else what
