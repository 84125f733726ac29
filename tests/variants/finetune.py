"""Variants of Exercise 13, pretrain then finetune (solutions/finetune.py): load_pretrained and finetune.

Broken ones make one mistake each; the hint is text that a failure message of
grader/checks/test_finetune.py must contain. The valid alternatives (exercise=None) are other correct
ways to write the same functions that must keep every point. A model left on the CPU by
load_pretrained is caught only where the checks run on CUDA, so it has no variant here.
"""

from . import Variant

LOAD = 'ckpt = torch.load(path, map_location=device, weights_only=True)'
BUILD = 'model = GPTLanguageModel(GPTConfig(**ckpt["config"]))'
LOAD_STATE = 'model.load_state_dict(ckpt["model"])'
RETURN_MODEL = "return model.to(device)"
DEFAULT_BLOCK = "block_size = model.config.block_size"
OPTIMIZER = "optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)"
TRAIN_MODE = "    model.train()\n"
LOOP = "for _ in range(max_iters):"
ZERO_GRAD = "        optimizer.zero_grad(set_to_none=True)\n"
STEP = "        optimizer.step()\n"
APPEND = "losses.append(loss.item())"


def finetune(name, *edits, hint=None):
    return Variant(name, "finetune", {"finetune": list(edits)}, hint)


def valid(name, *edits):
    return Variant(name, None, {"finetune": list(edits)})


VARIANTS = [
    # load_pretrained
    finetune("finetune-load-skips-the-weights", (LOAD_STATE, "pass"), hint="load_state_dict"),
    finetune("finetune-load-default-config",
             (BUILD, 'model = GPTLanguageModel(GPTConfig(vocab_size=ckpt["config"]["vocab_size"]))'),
             hint='GPTConfig(**ckpt["config"])'),
    finetune("finetune-load-falls-back-to-a-new-model",
             (LOAD, 'import os\n    if not os.path.exists(path):\n'
                    '        return GPTLanguageModel(GPTConfig(vocab_size=65)).to(device)\n    ' + LOAD),
             hint="do not catch the error or fall back to a new model"),
    # finetune
    finetune("finetune-reinitialises-the-model", (OPTIMIZER, "model.apply(model._init_weights)\n    " + OPTIMIZER),
             hint="re-initialise"),
    finetune("finetune-fixed-learning-rate", (OPTIMIZER, OPTIMIZER.replace("lr=learning_rate", "lr=1e-3")),
             hint="pass lr=learning_rate"),
    finetune("finetune-sgd", (OPTIMIZER, OPTIMIZER.replace("AdamW", "SGD")), hint="torch.optim.AdamW"),
    finetune("finetune-returns-tensors", (APPEND, "losses.append(loss)"), hint="loss.item()"),
    finetune("finetune-one-step-too-many", (LOOP, "for _ in range(max_iters + 1):"),
             hint="exactly max_iters steps"),
    finetune("finetune-no-train-mode", (TRAIN_MODE, ""), hint="call model.train()"),
    finetune("finetune-no-zero-grad", (ZERO_GRAD, ""), hint="zero_grad() every step"),
    finetune("finetune-no-step", (STEP, ""), hint="optimizer.step()"),
    finetune("finetune-block-size-not-from-the-config", (DEFAULT_BLOCK, "block_size = 4"),
             hint="model.config.block_size"),
    finetune("finetune-trains-a-copy",
             (OPTIMIZER, "import copy\n    model = copy.deepcopy(model)\n    " + OPTIMIZER),
             hint="over that model's own parameters (not a copy's)"),

    # Other correct ways.
    valid("finetune-ok-load-on-cpu-then-move",
          (LOAD, LOAD.replace("map_location=device", 'map_location="cpu"'))),
    valid("finetune-ok-load-returns-eval-mode", (RETURN_MODEL, "return model.to(device).eval()")),
    valid("finetune-ok-load-strict-and-moved-first",
          (BUILD + "\n    " + LOAD_STATE + "\n    " + RETURN_MODEL,
           BUILD + ".to(device)\n    model.load_state_dict(ckpt[\"model\"], strict=True)\n    return model")),
    valid("finetune-ok-zero-grad-first-and-float",
          (ZERO_GRAD, ""),
          ("        xb, yb = get_batch", "        optimizer.zero_grad()\n        xb, yb = get_batch"),
          (APPEND, "losses.append(float(loss))")),
    valid("finetune-ok-device-from-the-embedding",
          ("device = next(model.parameters()).device", "device = model.token_embedding_table.weight.device"),
          (DEFAULT_BLOCK, "block_size = model.position_embedding_table.num_embeddings")),
]
