"""Calibrate the GPU check: train a GPT with the grader's own loop at the lecture's recipe, print losses.

    python benchmarks/gpu_calibrate.py --seed 0 1 2                  # the reference, three seeds
    python benchmarks/gpu_calibrate.py --variant block-no-residuals  # a named mistake of tests/variants

Each run is exactly what ``test_lecture_model_trains_on_cuda`` does (training.train_gpt with
LECTURE_RECIPE, bf16 autocast), with the validation loss also measured every ``--curve-every`` steps,
so one run shows what a shorter budget would give. It prints one JSON record per seed and asserts
nothing. Runs for several seeds can go side by side on one GPU as separate processes.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT_ROOT))


def implementation(variant, scratch):
    """The reference, or a copy of it with one named variant's edits."""
    if variant is None:
        return "solutions"
    from tests.kit import make_variant
    from tests.variants import all_variants

    found = {v.name: v for v in all_variants()}
    if variant not in found:
        sys.exit(f"unknown variant {variant!r}; see tests/variants/")
    return str(make_variant(Path(scratch), variant, found[variant].edits))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="seeds to train (default 0)")
    parser.add_argument("--variant", default=None, help="a variant name from tests/variants (default: the reference)")
    parser.add_argument("--iters", type=int, default=None, help="steps (default: the check's)")
    parser.add_argument("--eval-iters", type=int, default=None, help="validation batches (default: the check's)")
    parser.add_argument("--curve-every", type=int, default=500, help="validation loss every N steps (default 500)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)

    import dataclasses

    import torch

    from grader.probes import training
    from grader.checks.test_gpt import LECTURE_RECIPE
    from grader.data import load_text
    from grader.impl import Implementation

    text = load_text(None, download=False)
    recipe = dataclasses.replace(LECTURE_RECIPE, iters=args.iters or LECTURE_RECIPE.iters,
                                 eval_iters=args.eval_iters or LECTURE_RECIPE.eval_iters)
    with tempfile.TemporaryDirectory() as scratch:
        impl = Implementation(implementation(args.variant, scratch))
        for seed in args.seed:
            run = training.train_gpt(impl.get("gpt", "GPTConfig"), impl.get("gpt", "GPTLanguageModel"), text,
                                     training.with_seed(recipe, seed), args.device, bf16=args.device != "cpu",
                                     curve_every=args.curve_every, on_curve=lambda step, val, seed=seed: print(
                                         f"seed {seed} step {step} val {val:.4f}", flush=True))
            name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
            print(json.dumps({"impl": args.variant or "reference", "seed": seed, "iters": recipe.iters,
                              "val": round(run["val"], 4), "train_last": round(run["train_last"], 4),
                              "seconds": round(run["seconds"], 1), "device": name, "torch": torch.__version__,
                              "curve": [(step, round(val, 4)) for step, val in run["curve"]]}), flush=True)


if __name__ == "__main__":
    main()
