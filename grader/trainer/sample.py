"""``python -m grader sample``: generate text from a checkpoint saved by ``python -m grader train``.

The model is rebuilt from the implementation that trained it (or ``--impl``), its weights loaded
from the checkpoint, and the implementation's own ``generate`` writes ``--length`` characters after
``--prompt``, seeded with ``--seed`` so the same command prints the same text.
"""

import sys
from pathlib import Path

from grader.device import CHOICES as DEVICE_CHOICES

DEFAULT_CHECKPOINT = Path("out") / "ckpt.pt"


class SampleError(Exception):
    """A request that cannot be served; the message says what to do."""


def add_arguments(parser):
    from grader.arguments import at_least

    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), metavar="PATH",
                        help=f"the checkpoint to load (default {DEFAULT_CHECKPOINT}, where train saves it)")
    parser.add_argument("--impl", default=None, metavar="exercises|solutions|PATH",
                        help="the implementation to build the model from (default: the one that trained it)")
    parser.add_argument("--prompt", default="", help="text to continue (default: start after a newline)")
    parser.add_argument("--length", type=at_least(1, "at least 1"), default=500, metavar="N",
                        help="characters to generate (default 500)")
    parser.add_argument("--seed", type=int, default=1337, help="random seed (default 1337)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="auto (default): cuda when available, else mps (Apple silicon), else cpu")
    parser.add_argument("--threads", type=at_least(1, "at least 1"), default=None, metavar="N",
                        help="torch threads on a CPU (default: 1 for a model as small as the small preset; "
                             "else torch's own count or OMP_NUM_THREADS)")


def load(checkpoint, impl=None, device="cpu"):
    """(model in eval mode, tokenizer, generate, block_size) from a checkpoint file."""
    import torch

    from grader.impl import Implementation, ImplementationError

    path = Path(checkpoint)
    if not path.is_file():
        raise SampleError(f"no checkpoint at {path}: train one first with python -m grader train "
                          f"(it saves out/ckpt.pt), or give --checkpoint PATH")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        config, state, vocab = ckpt["config"], ckpt["model"], ckpt["vocab"]
    except Exception as exc:  # torch raises several kinds for a file that is not a checkpoint
        raise SampleError(f"{path} is not a checkpoint saved by python -m grader train ({exc})") from None
    spec = impl or ckpt.get("impl", "solutions")
    try:
        impl = spec if isinstance(spec, Implementation) else Implementation(spec)
        GPTConfig, GPTLanguageModel = impl.get("gpt", "GPTConfig"), impl.get("gpt", "GPTLanguageModel")
        tokenizer = impl.get("tokenizer", "CharTokenizer")(vocab)
        generate = impl.get("generate", "generate")
    except ImplementationError as exc:
        raise SampleError(f"{exc} (the checkpoint was trained with --impl {ckpt.get('impl')}; "
                          f"give --impl to use another)") from None
    model = GPTLanguageModel(GPTConfig(**config))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SampleError(f"the checkpoint's weights do not fit {impl.label}'s GPTLanguageModel: {first}") from None
    return model.to(device).eval(), tokenizer, generate, config["block_size"]


def sample(checkpoint, prompt="", length=500, seed=1337, impl=None, device="cpu", threads=None):
    """The prompt followed by ``length`` generated characters. On the CPU it runs on ``threads`` torch
    threads (default: one for a model as small as the small preset, see train.cpu_threads_for: one
    token at a time through a narrow model is no work to share out)."""
    import torch

    from grader.trainer.train import torch_threads

    model, tokenizer, generate, block_size = load(checkpoint, impl, device)
    try:
        ids = tokenizer.encode(prompt) if prompt else [0]  # id 0 is the newline, as in the lecture
    except ValueError as exc:
        raise SampleError(f"--prompt: {exc}; the model knows only the characters of its training text") from None
    torch.manual_seed(seed)
    context = torch.tensor([ids], dtype=torch.long, device=device)
    n_embd = model.token_embedding_table.weight.shape[1]
    with torch_threads(device, n_embd, threads, share_out=False), torch.no_grad():
        out = generate(model, context, length, block_size=block_size)
    return prompt + tokenizer.decode(out[0, len(ids):].tolist())


def run(args):
    from grader.impl import Implementation, ImplementationError
    from grader.trainer.train import TrainError, not_implemented_message, resolve_device

    try:
        impl = Implementation(args.impl) if args.impl else None
        text = sample(args.checkpoint, args.prompt, args.length, args.seed, impl, resolve_device(args.device),
                      args.threads)
    except (SampleError, TrainError, ImplementationError) as exc:
        print(f"sample: {exc}", file=sys.stderr)
        return 2
    except NotImplementedError as exc:
        message = (not_implemented_message(impl, exc).replace("Training needs", "Sampling needs", 1) if impl
                   else f"the implementation that trained the checkpoint is not finished: {exc}")
        print(f"sample: {message}", file=sys.stderr)
        return 2
    print(text)
    return 0
