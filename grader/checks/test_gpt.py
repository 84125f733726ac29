"""Exercise 9: the GPT language model.

The numerics and causality checks swap the model's ``blocks`` for trusted stand-ins written here (an
``nn.Sequential``, so ``self.blocks(x)`` and ``for block in self.blocks`` both work), so they grade the
GPT's own parts (embeddings, ln_f, lm_head, the loss, the init) and nothing of Exercises 5-8. The
training checks at the end train the student's whole model, with the grader's own attention,
feed-forward or Block in the place of any of the student's that differs from the contract (that
exercise charges it), so they too grade Exercise 9's code.
"""

import dataclasses
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.rubric import GRADERS_PARTS
from grader.oracles import causality, judge_training, train_step

from grader.probes import training
from grader.oracles.expect import (Mistake, attribute, class_text, contract_class_text, expect_close, expect_linear,
                                  expect_pair, expect_raises, expect_tensor, fail, parameter_shapes, same_name_hint)
from grader.oracles.loss_oracle import expect_mean_cross_entropy
from grader.probes.probe import (embedding_gradient, is_instance, loss_backward, parameters_outside,
                                 randomize_parameters, record_arguments, train_by_the_graders_loop)
from grader.sandbox.remote import is_remote, text
from grader.probes.stand_ins import GPTWithGradersParts, stand_in_blocks

pytestmark = pytest.mark.gpt

V = 65
# Small and with distinct numbers, so that a swapped argument shows (n_layer 3 is not n_head 4).
SMALL = dict(vocab_size=V, block_size=16, n_embd=32, n_head=4, n_layer=3, dropout=0.0)
B, T = 2, 12  # T < block_size: the positions are arange(T), not the whole table
LN_EPS = 1e-5  # nn.LayerNorm's default, which CONTRACT.md's nn.LayerNorm(n_embd) has


def small_model(impl, device, **overrides):
    torch.manual_seed(0)
    config = impl.get("gpt", "GPTConfig")(**(SMALL | overrides))
    return impl.get("gpt", "GPTLanguageModel")(config).to(device).eval()


def swap_blocks(model, device, impl, std=None):
    """Replace ``model.blocks`` by stand-in blocks built where the model lives; returns them."""
    stand_in = impl.build(stand_in_blocks, SMALL["n_embd"], SMALL["n_layer"], std).to(device)
    model.blocks = stand_in
    return stand_in


def parts(model, impl):
    """The embeddings, ln_f and lm_head of a model made by small_model, once their layouts are right
    (else test_parts' failure)."""
    where = impl.where_is("GPTLanguageModel.__init__")
    kinds = {"token_embedding_table": nn.Embedding, "position_embedding_table": nn.Embedding,
             "ln_f": nn.LayerNorm, "lm_head": nn.Linear}
    found = {}
    for name, kind in kinds.items():
        layer = attribute(model, name, where)
        if not isinstance(layer, kind):
            fail(what=f"GPTLanguageModel.{name} should be an nn.{kind.__name__}", expected=f"an nn.{kind.__name__}",
                 got=class_text(layer, impl), where=where, hint=same_name_hint(layer, impl, None, kind.__name__))
        found[name] = layer
    C, block_size = SMALL["n_embd"], SMALL["block_size"]
    for name, rows in (("token_embedding_table", V), ("position_embedding_table", block_size)):
        if tuple(found[name].weight.shape) != (rows, C):
            fail(what=f"GPTLanguageModel.{name}", expected=f"nn.Embedding({rows}, {C})", got=text(found[name]),
                 where=where)
    if tuple(found["ln_f"].normalized_shape) != (C,):
        fail(what="GPTLanguageModel.ln_f", expected=f"nn.LayerNorm({C})", got=text(found["ln_f"]), where=where)
    expect_linear(found["lm_head"], C, V, True, "GPTLanguageModel.lm_head", where)
    return found


def blocks_text(blocks, listed, impl):
    """``blocks`` (a container of modules, ``listed``) in words: "nn.Sequential of 3 x a class named Block
    defined in exercises/gpt.py", each kind once, in order."""
    kinds = list(dict.fromkeys(class_text(b, impl) for b in listed))
    return f"{class_text(blocks, impl)} of {len(listed)}" + (f" x {', '.join(kinds)}" if kinds else "")


def random_idx(device, seed=0, high=V, shape=(B, T)):
    return torch.randint(high, shape, generator=torch.Generator().manual_seed(seed)).to(device)


def test_parts(impl, device, monkeypatch):
    """The model holds ``token_embedding_table`` (V, n_embd), ``position_embedding_table`` (block_size,
    n_embd), ``blocks``: n_layer of the implementation's ``Block(n_embd, n_head, block_size, dropout)``,
    ``ln_f = LayerNorm(n_embd)`` and ``lm_head = Linear(n_embd, V)``."""
    block_class = impl.get("block", "Block")
    calls = record_arguments(monkeypatch, block_class)
    model = small_model(impl, device, dropout=0.1)
    where = impl.where_is("GPTLanguageModel.__init__")
    parts(model, impl)
    C, block_size, n_layer = SMALL["n_embd"], SMALL["block_size"], SMALL["n_layer"]
    blocks = attribute(model, "blocks", where)
    listed = list(blocks) if isinstance(blocks, (nn.Sequential, nn.ModuleList)) else None
    if listed is None or len(listed) != n_layer or not all(is_instance(b, block_class) for b in listed):
        others = [b for b in listed or () if not is_instance(b, block_class)]
        fail(what=f"GPTLanguageModel.blocks for n_layer={n_layer}",
             expected=f"nn.Sequential of {n_layer} x {contract_class_text(impl, 'block', 'Block')}",
             got=class_text(blocks, impl) if listed is None else blocks_text(blocks, listed, impl), where=where,
             hint=(same_name_hint(others[0], impl, "block", "Block") if others else None)
             or "nn.Sequential(*[Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer)])")
    expected = (C, SMALL["n_head"], block_size, 0.1)
    if [call[:4] for call in calls] != [expected] * n_layer:
        fail(what=f"the Blocks made for GPTConfig(n_embd={C}, n_head={SMALL['n_head']}, block_size={block_size}, "
             f"n_layer={n_layer}, dropout=0.1)", expected=f"{n_layer} x Block{expected}",
             got=", ".join(f"Block{call[:4]}" for call in calls) or "none", where=where,
             hint="Block(config.n_embd, config.n_head, config.block_size, config.dropout)")


# The lecture's model is GPTConfig(vocab_size=65) with CONTRACT.md's defaults: the grader's own numbers,
# not read from the submission's GPTConfig. It has 10,788,929 parameters, of which 149,057 lie outside
# the blocks (lecture_parts). The blocks' own count belongs to Exercises 5-8 (a MultiHeadAttention with a
# bias-less c_proj must not cost GPT points), so only their number is checked here.
LECTURE = dict(vocab_size=V, block_size=256, n_embd=384)


def lecture_parts(vocab_size, block_size, n_embd):
    """The parameter count of each part of the lecture's model outside its blocks."""
    return {"token_embedding_table": vocab_size * n_embd, "position_embedding_table": block_size * n_embd,
            "ln_f": 2 * n_embd, "lm_head": n_embd * vocab_size + vocab_size}


def count_mistakes(vocab_size, block_size, n_embd):
    """{how many parameters a model has more than the lecture's, outside the blocks: the mistake that
    makes exactly that difference}. The amounts are distinct for the lecture's config."""
    V, C = vocab_size, n_embd
    return {
        -V * C: f"{V * C:,} = vocab_size x n_embd fewer parameters: lm_head shares the token table's weight "
                "(the lecture's model keeps them apart)",
        -V: f"{V:,} = vocab_size fewer parameters: lm_head has no bias (nn.Linear(n_embd, vocab_size) keeps it)",
        -2 * C: f"{2 * C:,} = 2 x n_embd fewer parameters: ln_f is missing, or has no weight and bias "
                "(nn.LayerNorm(n_embd))",
        -C: f"{C:,} = n_embd fewer parameters: ln_f has no bias (nn.LayerNorm(n_embd) has a weight and a bias)",
        -block_size * C: f"{block_size * C:,} = block_size x n_embd fewer parameters: the position table is missing "
                         "(nn.Embedding(block_size, n_embd))",
        (V - block_size) * C: f"{(block_size - V) * C:,} = (block_size - vocab_size) x n_embd fewer parameters: "
                              "the position table has vocab_size rows: nn.Embedding(block_size, n_embd)",
        2 * C: f"{2 * C:,} = 2 x n_embd more parameters: one nn.LayerNorm(n_embd) too many outside the blocks",
    }


def test_lecture_config_has_10_8M_parameters(impl):
    """The lecture's config has 149,057 parameters outside the blocks and 6 Blocks: 10.8M in all
    with the lecture's Block."""
    where = impl.where_is("GPTLanguageModel.__init__")
    model = impl.get("gpt", "GPTLanguageModel")(impl.get("gpt", "GPTConfig")(vocab_size=V))
    blocks = attribute(model, "blocks", where)
    outside, wanted = parameters_outside(model, blocks), sum(lecture_parts(**LECTURE).values())
    if outside != wanted:
        named = count_mistakes(**LECTURE).get(outside - wanted)
        fail(what="parameters of the lecture's model (GPTConfig(vocab_size=65)) outside its blocks",
             expected=f"{wanted:,}", got=f"{outside:,}", where=where,
             hint=Mistake(named) if named else
             "token and position embeddings, ln_f and lm_head = nn.Linear(n_embd, vocab_size), nothing more")
    block_class = impl.get("block", "Block")
    listed = list(blocks) if isinstance(blocks, (nn.Sequential, nn.ModuleList)) else []
    count = sum(is_instance(b, block_class) for b in listed)
    if count != 6:
        others = [b for b in listed if not is_instance(b, block_class)]
        fail(what="Blocks in the lecture's model (n_layer=6)",
             expected=f"6 x {contract_class_text(impl, 'block', 'Block')}",
             got=f"{count} of them, in {blocks_text(blocks, listed, impl)}", where=where,
             hint=same_name_hint(others[0], impl, "block", "Block") if others else None)


def test_logits_shape_and_no_loss_without_targets(impl, device):
    """``model(idx)`` returns logits of shape (B, T, V) and ``None`` for the loss."""
    model = small_model(impl, device)
    swap_blocks(model, device, impl)
    where = impl.where_is("GPTLanguageModel.forward")
    logits, loss = expect_pair(model(random_idx(device)), "GPTLanguageModel.forward(idx)", where)
    expect_tensor(logits, "logits", where, shape=(B, T, V), dtype=torch.float32, device=device)
    if loss is not None:
        fail(what="without targets the loss should be None", expected=None, got=loss, where=where)


def test_logits_match_oracle(impl, device):
    """In eval mode, with stand-in blocks and random weights everywhere,
    ``logits = lm_head(ln_f(blocks(tok_emb[idx] + pos_emb[arange(T)])))``."""
    model = small_model(impl, device)
    found = parts(model, impl)
    randomize_parameters(model, seed=0)
    swap_blocks(model, device, impl)
    blocks = stand_in_blocks(SMALL["n_embd"], SMALL["n_layer"]).to(device)  # the grader's own copy, for the oracle
    where = impl.where_is("GPTLanguageModel.forward")
    # Tokens below block_size, so that positions looked up by idx (a known mistake) run and get named.
    idx = random_idx(device, high=SMALL["block_size"])
    logits, _ = expect_pair(model(idx), "GPTLanguageModel.forward(idx)", where)
    tok, pos = found["token_embedding_table"].weight, found["position_embedding_table"].weight
    ln_f, lm_head = found["ln_f"], found["lm_head"]
    # A head tied to the token table is listed by named_parameters() once, under the table's name, and
    # teacher mode's judge reads only the weights it set through that list: the oracle follows the tie
    # (which the parameter count names), so that both modes grade a tied head alike.
    head_weight = lm_head.weight if "lm_head.weight" in parameter_shapes(model) else tok
    C = SMALL["n_embd"]
    with torch.no_grad():

        def head(x, norm=True):
            if norm:
                x = F.layer_norm(x, (C,), ln_f.weight, ln_f.bias, LN_EPS)
            return F.linear(x, head_weight, lm_head.bias)

        x = tok[idx] + pos[:T]  # (B, T, C)
        expected = head(blocks(x))
        mistakes = {
            "no position embedding: add position_embedding_table(torch.arange(T)) to the token embeddings":
                head(blocks(tok[idx])),
            "the positions are looked up with idx: use torch.arange(T, device=idx.device)":
                head(blocks(tok[idx] + pos[idx])),
            "ln_f is missing: x = self.ln_f(x) after the blocks": head(blocks(x), norm=False),
            "the blocks are not applied: x = self.blocks(x) before ln_f": head(x),
            "ln_f comes before the blocks: blocks first, then ln_f, then lm_head":
                head(blocks(F.layer_norm(x, (C,), ln_f.weight, ln_f.bias, LN_EPS)), norm=False),
        }
    # Three stand-in blocks, a LayerNorm and a 32-term sum in float32: off by ~1e-5 at most; 1e-4 margin.
    expect_close(logits, expected, "logits", where, atol=1e-4, mistakes=mistakes,
                 hint="tok_emb + pos_emb, then self.blocks, self.ln_f and self.lm_head")


def test_loss_is_mean_cross_entropy(impl, device):
    """The loss is the mean cross-entropy of the model's own logits over all B*T positions."""
    model = small_model(impl, device)
    randomize_parameters(model, seed=0)
    swap_blocks(model, device, impl)
    idx, targets = random_idx(device, seed=1), random_idx(device, seed=2)
    where = impl.where_is("GPTLanguageModel.forward")
    logits, loss = expect_pair(model(idx, targets), "GPTLanguageModel.forward(idx, targets)", where)
    expect_tensor(logits, "logits (with targets)", where, shape=(B, T, V),
                  hint="keep the logits (B, T, V): reshape only the copy you hand to F.cross_entropy")
    expect_tensor(loss, "loss", where, shape=(), device=device)
    expect_mean_cross_entropy(loss, logits, idx, targets, where)


def test_lecture_init(impl, device):
    """The lecture's init: every Linear and Embedding weight ~ normal(0, 0.02), Linear biases zero,
    so the first loss is about ln(V) = 4.17 (uniform predictions)."""
    model = small_model(impl, device)
    where = impl.where_is("GPTLanguageModel.__init__")
    hint = "end __init__ with self.apply(self._init_weights): normal(std=0.02) weights, zero biases"
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Embedding)):
            continue
        std = module.weight.detach().float().std().item()
        # The smallest such weight here has 32*32 = 1,024 entries: its sample std is 0.02 +- 2.2 %.
        # Measured 0.0186-0.0217 over all of them on the reference (model seeds 0-19); without the
        # init (PyTorch's defaults) every one lies in 0.050-1.06.
        if not 0.016 < std < 0.024:
            fail(what=f"the standard deviation of {name}.weight in a freshly made model", expected="0.02",
                 got=f"{std:.3f}",
                 where=where, hint=hint)
        bias = getattr(module, "bias", None)
        if bias is not None and bias.detach().abs().max().item() != 0:
            fail(what=f"{name}.bias in a freshly made model", expected="zeros", got="non-zero values", where=where,
                 hint=hint)
    # With small stand-in blocks (std 0.02, like the init) the first loss shows the init end to end.
    swap_blocks(model, device, impl, std=0.02)
    idx, targets = random_idx(device, seed=1, shape=(4, 16)), random_idx(device, seed=2, shape=(4, 16))
    logits, _ = expect_pair(model(idx), "GPTLanguageModel.forward(idx)", impl.where_is("GPTLanguageModel.forward"))
    expect_tensor(logits, "logits", impl.where_is("GPTLanguageModel.forward"), shape=(4, 16, V))
    # The grader's own cross-entropy of the logits: a wrong loss costs test_loss_is_mean_cross_entropy's
    # point, not this one's as well.
    loss = F.cross_entropy(logits.detach().float().reshape(-1, V), targets.reshape(-1))
    # Measured 4.155-4.208 on the reference over seeds 0-19 (ln(65) = 4.174), so 0.1 leaves a margin of
    # 0.06. Without the init it is 4.21-4.52: it overlaps, so the weight statistics above do the catching
    # and this end-to-end look catches what they cannot (logits scaled up, say).
    if not abs(loss.item() - math.log(V)) < 0.1:
        fail(what="the mean cross-entropy of a freshly made model's logits",
             expected=f"about ln(65) = {math.log(V):.2f}",
             got=f"{loss.item():.2f}", where=where, hint=hint)


def test_too_long_sequence_is_a_clear_error(impl, device):
    """A sequence longer than block_size raises ValueError (there is no position embedding for it)."""
    model = small_model(impl, device)
    swap_blocks(model, device, impl)
    idx = torch.zeros((1, SMALL["block_size"] + 1), dtype=torch.long, device=device)
    expect_raises(ValueError, lambda: model(idx), "a sequence of 17 tokens with block_size=16",
                  impl.where_is("GPTLanguageModel.forward"),
                  "if T > self.config.block_size: raise ValueError(...)")


def causal_model(impl, device):
    model = small_model(impl, device)
    randomize_parameters(model, seed=0)  # large weights: any leak from the future shows clearly
    return model, swap_blocks(model, device, impl)


@pytest.mark.parametrize("probe", ["perturbation", "gradient"])
def test_is_causal(impl, device, probe):
    """With causal stand-in blocks the whole GPT is causal: changing the tokens after t never changes
    the logits up to t, and no gradient flows from the logits at t to the embeddings after t."""
    model, blocks = causal_model(impl, device)
    where = impl.where_is("GPTLanguageModel.forward")
    idx, t = random_idx(device), T // 2
    if probe == "perturbation":
        changed = idx.clone()
        changed[:, t + 1 :] = (changed[:, t + 1 :] + random_idx(device, seed=1, high=V - 1)[:, t + 1 :] + 1) % V
        with torch.no_grad():
            a = expect_pair(model(idx), "GPTLanguageModel.forward(idx)", where)[0]
            b = model(changed)[0]
        expect_tensor(a, "logits", where, shape=(B, T, V))
        moved = (a[:, : t + 1] - b[:, : t + 1]).abs().max().item()
        what = f"how much the logits at positions <= {t} move when only the tokens after {t} change"
    else:
        # The token embeddings if forward called token_embedding_table, else what reached the blocks.
        out, graphed, grad = embedding_gradient(model, blocks, idx, t)
        logits = expect_pair(out, "GPTLanguageModel.forward(idx)", where)[0]
        expect_tensor(logits, "logits", where, shape=(B, T, V))
        if not graphed:
            fail(what="the embeddings and the logits should be part of the autograd graph", expected="requires_grad",
                 got="no gradient", where=where,
                 hint="do not detach the embeddings or compute them under torch.no_grad()")
        moved = 0.0 if grad is None else grad[:, t + 1 :].abs().max().item()
        what = f"the gradient of the logits at position {t} with respect to the embeddings after {t}"
    # Exactly 0 for a causal model; FUTURE_ATOL (1e-5) allows float noise only (the logits are of size ~1).
    if moved > causality.FUTURE_ATOL:
        fail(what=what, expected="0 (the future must not reach the past)", got=f"{moved:.3g}", where=where)


def test_past_is_used(impl, device):
    """With stand-in blocks that mix the past, the last position's logits depend on the first token:
    the model passes what the blocks computed on to its logits."""
    model, _ = causal_model(impl, device)
    where = impl.where_is("GPTLanguageModel.forward")
    idx = random_idx(device)
    changed = idx.clone()
    changed[:, 0] = (changed[:, 0] + 1) % V
    with torch.no_grad():
        a = expect_pair(model(idx), "GPTLanguageModel.forward(idx)", where)[0]
        b = model(changed)[0]
    expect_tensor(a, "logits", where, shape=(B, T, V))
    moved = (a[:, -1] - b[:, -1]).abs().max().item()
    # Measured 1.23 on the reference; a model that skips the blocks gives exactly 0.
    if moved < causality.PAST_MIN:
        fail(what=f"how much the logits at position {T - 1} move when the first token changes",
             expected="a clear change (the past is used)", got=f"{moved:.3g}", where=where,
             hint="x = self.blocks(x): the blocks are where the tokens talk to each other")


# ---------------------------------------------------------------------------------------- training

# The small GPT of the CPU threshold check, built from the student's own parts: 30,529 parameters,
# 400 AdamW steps of 32 x 32 tokens, one CPU thread, 8-10 s of CPU (lr 1e-2 was unstable: 2.36-2.55).
GPT_RECIPE = training.Recipe(iters=400, batch_size=32, block_size=32, learning_rate=3e-3, eval_iters=50,
                             n_embd=32, n_head=4, n_layer=2, dropout=0.0)
# Measured validation losses after GPT_RECIPE, seed 0 unless said:
#   reference, seeds 0-4: 2.224, 2.209, 2.208, 2.195, 2.253 (the bigram run of test_bigram: 2.48-2.52)
#   so 2.35 leaves 0.1 of margin above the reference and stays 0.1 under the best any bigram can do.
# Mistakes of other exercises, measured when they still reached this run (now the grader's own part
# stands in for one that differs from the contract: judge_training.differing_parts):
#   Block: no residual on the attention 2.93, no residuals 3.35 (fail); no residual on the feed-forward
#   2.29, post-norm 2.29, LayerNorms swapped 2.22, parallel branches 2.23, feed-forward first 2.30 (pass).
#   MultiHeadAttention: no mask 0.10, mask after softmax (zeros) 1.47, softmax over the queries 1.00,
#   heads merged without transpose 1.21 (pass: they see the future and cheat to a lower loss; the
#   causality checks of Exercises 5-6 catch them); mask after softmax (-inf) and softmax over the
#   heads give NaN (fail); wrong scale 2.23, no scale 2.20, no output projection 2.24 (pass).
#   FeedForward: residual inside 2.20, not 4x wider 2.22, GELU 2.25 (pass).
#   GPT: no ln_f 2.373, no position embedding 2.354, blocks skipped 2.50, summed loss 2272 (fail);
#   no init 2.33, ln_f before the blocks 2.25 (pass; other checks catch them).
GPT_THRESHOLD = 2.35

# The lecture's model and loop (gpt.py at 01:37:49): batch 64, block 256, AdamW 3e-4, dropout 0.2, with
# 3,000 steps instead of the lecture's 5,000: on a GPU the reference stops improving near step 2,500
# and then overfits, so the last 2,000 steps only cost time and move the loss away from the lecture's.
# Measured on an NVIDIA H200 (torch 2.11.0+cu130, bf16 autocast) with this loop, validation loss by step
# (benchmarks/gpu_calibrate.py; with a constant learning rate a 3,000-step run is the start of a
# 5,000-step one):
#   step        1000   1500   2000   2500   3000   3500   4000
#   seed 1     1.626  1.543  1.508  1.487  1.487  1.504  1.518
#   seed 2     1.614  1.544  1.500  1.493  1.496  1.503  1.524
#   seed 0 (the check's) passed the old 5,000-step check (under 1.60); its value was not recorded.
# So 1.55 is 0.05-0.06 above the reference at 3,000 steps (six times the seeds' spread) and within
# 0.07 of the lecture's 1.48. A model with no causal mask (mha-no-mask) reaches 0.010 by step 1000 and
# passes, as on the CPU: it reads the answer, and the causality checks of Exercises 5-6 catch it.
# Time: the loop is bound by the CPU core that launches its kernels: two runs sharing one core of the
# H200's host took 47 ms a step each, so about 24 ms a step (75 s for 3,000 steps) for a run alone.
LECTURE_RECIPE = training.Recipe(iters=3000, batch_size=64, block_size=256, learning_rate=3e-4, eval_iters=200,
                                 n_embd=384, n_head=6, n_layer=6, dropout=0.2)
LECTURE_THRESHOLD = 1.55


def train_own_gpt(impl, text, recipe, device, bf16=False):
    """Train the student's GPTLanguageModel by the grader's loop, with the grader's own parts in the place
    of those of Exercises 6-8 that differ from the contract (judge_training.differing_parts), so only
    Exercise 9's code is graded; returns the validation loss (judge_training.judged_loss), whether it was
    judged apart, and the line that says which parts were replaced (None if none). One forward first,
    so that a wrong return value is reported plainly."""
    config_class, model_class = impl.get("gpt", "GPTConfig"), impl.get("gpt", "GPTLanguageModel")
    where = impl.where_is("GPTLanguageModel.forward")
    apart = is_remote(model_class)
    replaced = judge_training.differing_parts(impl, recipe.n_embd, recipe.n_head, recipe.block_size)
    if replaced:
        model_class = impl.build(GPTWithGradersParts, model_class, [part.key for part in replaced])
    probe = model_class(config_class(**(SMALL | {"vocab_size": 8}))).to(device)
    x = torch.zeros((2, 4), dtype=torch.long, device=device)
    _, loss = expect_pair(probe(x, x), "GPTLanguageModel.forward(idx, targets)", where)
    expect_tensor(loss, "loss", where, shape=())
    _, vocab_size = training.encode(text)
    model = model_class(config_class(vocab_size=vocab_size, block_size=recipe.block_size, n_embd=recipe.n_embd,
                                     n_head=recipe.n_head, n_layer=recipe.n_layer, dropout=0.0))  # on the CPU
    train_step.expect_trains_as_the_contract(model, recipe, text, where, unforeseen=apart)
    try:
        run = train_by_the_graders_loop(text, dataclasses.asdict(recipe), config_class, model_class, device=device,
                                        bf16=bf16)
        return judge_training.judged_loss(run, text, recipe, apart, device, bf16), apart, \
            judge_training.replaced_line(replaced)
    except training.TrainingError as exc:
        fail(what="training the GPT", expected="a loss that backpropagates to the weights", got=str(exc), where=where)
    except judge_training.NotJudged as exc:
        judge_training.fail_not_judged(impl, exc, "the trained GPT's weights")


def test_training_beats_the_bigram(impl, shakespeare, record_property):
    """A small GPT of the student's GPTLanguageModel (with the grader's own attention, feed-forward or
    Block in the place of any that differs from the contract), trained with the grader's seeded loop on
    the CPU, reaches a validation loss well under what any bigram can (about 2.45)."""
    val, apart, replaced = train_own_gpt(impl, shakespeare, GPT_RECIPE, "cpu")
    if replaced:
        record_property(GRADERS_PARTS, replaced)  # in --junitxml: what this verdict was graded on
    if not val < GPT_THRESHOLD:
        hint = ("every other check passes? then look for a part that does not learn: the blocks, "
                "the residuals, the attention")
        if replaced:
            hint = f"{replaced}; what is left is your GPTLanguageModel's own: embeddings, ln_f, lm_head, the loss"
        fail(what=judge_training.described(f"validation loss of a small GPT (n_embd={GPT_RECIPE.n_embd}, n_layer="
                                      f"{GPT_RECIPE.n_layer}) after {GPT_RECIPE.iters} seeded training steps", apart),
             expected=f"below {GPT_THRESHOLD} (a bigram cannot "
             "go below about 2.45; the reference reaches about 2.2)", got=f"{val:.3f}",
             where=impl.where_is("GPTLanguageModel"), hint=hint)


def runs_and_backpropagates(impl, device):
    """The small model's forward and ``loss.backward()`` on ``device``, checked (test_runs_on_cuda)."""
    model = small_model(impl, device)
    idx = torch.randint(V, (2, 16), device=device)
    where = impl.where_is("GPTLanguageModel.forward")
    out, backpropagated, reached = loss_backward(model, idx, idx)
    logits, loss = expect_pair(out, f"GPTLanguageModel.forward(idx, targets) on {device}", where)
    expect_tensor(logits, "logits", where, shape=(2, 16, V), device=device)
    expect_tensor(loss, "loss", where, shape=(), device=device)
    if not backpropagated or "lm_head.weight" not in reached:
        fail(what=f"loss.backward() on {device}", expected="gradients for the weights, lm_head.weight among them",
             got="no gradient" if not backpropagated else f"gradients for {', '.join(reached) or 'no weight'}",
             where=where)


@pytest.mark.gpu
def test_runs_on_cuda(impl, device):
    """The model and its loss run on CUDA and backpropagate."""
    runs_and_backpropagates(impl, device)


@pytest.mark.gpu
@pytest.mark.timeout(3600)  # 3,000 steps take minutes on a GPU; the ini's 300 s is for CPU checks
def test_lecture_model_trains_on_cuda(impl, device, shakespeare, record_property):
    """The lecture's 10.8M-parameter model, trained on CUDA by the grader's loop for 3,000 steps
    (bf16 autocast), comes close to the lecture's validation loss of 1.48."""
    val, _, _ = train_own_gpt(impl, shakespeare, LECTURE_RECIPE, device, bf16=True)  # judged apart or not
    record_property("val_loss", round(val, 4))  # in --junitxml: the figure behind the threshold
    if not val < LECTURE_THRESHOLD:
        fail(what=f"validation loss of the lecture's model after {LECTURE_RECIPE.iters} steps on CUDA",
             expected=f"below {LECTURE_THRESHOLD} (the reference reaches about 1.49; the lecture reports 1.48)",
             got=f"{val:.3f}",
             where=impl.where_is("GPTLanguageModel"))
