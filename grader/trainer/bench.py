"""``python -m grader bench``: training speed of the fused reference and of per-head attention.

One run prints, for each model and config, tokens per second and milliseconds per training
iteration (forward, backward, AdamW step), and on CUDA the model FLOP utilisation (MFU). It
measures; it asserts nothing. On CUDA the steps run in bf16 autocast with fused AdamW; on Apple's MPS
and the CPU in float32, as ``train`` runs them there. ``--json`` prints the same as a list of records.

- ``reference``: the implementation's own GPT (by default ``solutions/``, whose multi-head attention
  is fused into one batched computation);
- ``unfused``: the same GPT with every block's ``sa`` replaced by the lecture's first multi-head
  attention, ``n_head`` separate ``Head`` modules run one after another and concatenated.

Configs: ``small`` (the trainer's small preset) everywhere, and ``lecture`` (10.8 M parameters) on CUDA.
"""

import json
import sys
import time
from contextlib import nullcontext

from grader.device import CHOICES as DEVICE_CHOICES, synchronize

# Dense bf16 peak FLOP/s by GPU name (vendor datasheets), for MFU; other GPUs report no MFU.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def add_arguments(parser):
    from grader.arguments import at_least

    parser.add_argument("--impl", default="solutions", metavar="exercises|solutions|PATH",
                        help="the GPT to time (default: solutions)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="auto (default): cuda when available, else mps (Apple silicon), else cpu")
    parser.add_argument("--iters", type=at_least(1, "at least 1"), default=None, metavar="N",
                        help="timed iterations per measurement (default 50 on CUDA, 30 on MPS and the CPU)")
    parser.add_argument("--warmup", type=at_least(0, "0 or more"), default=3, metavar="N",
                        help="untimed iterations first (default 3)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of records instead of a table")


def per_head_attention(Head, n_embd, n_head, block_size, dropout):
    """The lecture's multi-head attention (01:21:59): separate heads, concatenated, then projected."""
    import torch
    import torch.nn as nn

    class MultiHeadAttention(nn.Module):
        def __init__(self):
            super().__init__()
            head_size = n_embd // n_head
            self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout) for _ in range(n_head)])
            self.proj = nn.Linear(n_embd, n_embd)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B, T, C)
            return self.dropout(self.proj(out))  # (B, T, C)

    return MultiHeadAttention()


def flops_per_token(n_params, cfg):
    """Training FLOPs per token: 6 per parameter plus attention (the PaLM appendix B estimate)."""
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size


def peak_flops(device_name):
    for key, value in PEAK_BF16.items():
        if key in device_name:
            return value
    return None


def measure(impl, name, config, device, iters, warmup):
    """One record: build the model, train it for ``warmup + iters`` steps on random tokens, time it."""
    import torch

    from grader.trainer.train import PRESETS

    cfg = PRESETS[config]
    GPTConfig, GPTLanguageModel = impl.get("gpt", "GPTConfig"), impl.get("gpt", "GPTLanguageModel")
    torch.manual_seed(0)
    vocab_size = 65
    model = GPTLanguageModel(GPTConfig(vocab_size=vocab_size, block_size=cfg.block_size, n_embd=cfg.n_embd,
                                       n_head=cfg.n_head, n_layer=cfg.n_layer, dropout=cfg.dropout))
    if name == "unfused":
        Head = impl.get("attention", "Head")
        for block in model.blocks:
            block.sa = per_head_attention(Head, cfg.n_embd, cfg.n_head, cfg.block_size, cfg.dropout)
    model.to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    cuda = device.startswith("cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, fused=cuda)
    tokens = torch.randint(vocab_size, (cfg.batch_size, cfg.block_size + 1), device=device)
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()  # the lecture's loss uses .view
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if cuda else nullcontext()

    def step():
        with autocast:
            _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    synchronize(device)  # CUDA and MPS queue the work: time it, not its launch
    start = time.perf_counter()
    for _ in range(iters):
        step()
    synchronize(device)
    seconds = (time.perf_counter() - start) / iters
    tokens_per_s = cfg.batch_size * cfg.block_size / seconds
    record = {"name": name, "device": device, "config": config, "tokens_per_s": round(tokens_per_s, 1),
              "ms_per_iter": round(seconds * 1e3, 3), "n_params": n_params, "mfu": None,
              "cpu_threads": torch.get_num_threads()}
    if cuda:
        device_name = torch.cuda.get_device_name()
        record["device"] = f"cuda ({device_name})"
        peak = peak_flops(device_name)
        if peak:
            record["mfu"] = round(flops_per_token(n_params, cfg) * tokens_per_s / peak, 4)
    return record


def run_all(impl, device, iters=None, warmup=3):
    from grader.trainer.train import PRESETS, torch_threads

    configs = ["small"] + (["lecture"] if device.startswith("cuda") else [])
    iters = iters or (50 if device.startswith("cuda") else 30)
    # on the CPU the threads train would use (see train.cpu_threads_for)
    with torch_threads(device, PRESETS["small"].n_embd):
        return [measure(impl, name, config, device, iters, warmup)
                for config in configs for name in ("reference", "unfused")]


def table(records):
    lines = [f"{'name':<10} {'config':<8} {'device':<28} {'tokens/s':>12} {'ms/iter':>9} {'MFU':>6}"]
    for r in records:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        lines.append(f"{r['name']:<10} {r['config']:<8} {r['device']:<28} {r['tokens_per_s']:>12,.0f} "
                     f"{r['ms_per_iter']:>9.2f} {mfu:>6}")
    return "\n".join(lines)


def run(args):
    import torch

    from grader.impl import Implementation, ImplementationError
    from grader.trainer.train import TrainError, resolve_device

    try:
        device = resolve_device(args.device)
        impl = Implementation(args.impl)
        records = run_all(impl, device, args.iters, args.warmup)
    except (ImplementationError, TrainError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except NotImplementedError as exc:
        print(f"bench: {impl.label} is not finished ({exc}); try --impl solutions", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(f"{impl.label} on {device}, torch {torch.__version__}, {records[0]['cpu_threads']} CPU threads")
        print(table(records))
    return 0
