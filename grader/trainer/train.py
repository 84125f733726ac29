"""``python -m grader train``: the lecture's training loop on any implementation shaped like ``exercises/``.

It is the loop of the lecture's final ``gpt.py`` (nanoGPT ``ng-video-lecture``), built only from the
implementation's own parts: its ``CharTokenizer`` encodes the whole text, its ``train_val_split`` and
``get_batch`` feed its ``GPTLanguageModel(GPTConfig(...))``, AdamW updates it, ``estimate_loss`` averages
``eval_iters`` batches of each split under ``torch.no_grad()`` in ``model.eval()``, and its ``generate``
writes the sample at the end.

Two ways in:

- the command line, ``python -m grader train [--impl ...] [--config small|lecture] ...`` (``add_arguments``
  and ``run``), which prints progress, saves ``out/ckpt.pt`` and prints a sample;
- the plain function ``train(impl, config, device, ...) -> dict``, for tests and benchmarks.

Iterations count optimizer steps: the line ``iter 500/5000`` shows the losses after 500 updates,
``iter 0`` those of the untrained model, and the last line those after the last update (the lecture
evaluates at ``max_iters - 1``, one update short of the end). Between evaluations a shorter line,
``iter 600/5000 | batch loss 1.9876 | 24,310 tok/s | 13.9s``, shows the loss of the batch the model
trains on at that step (one batch: noisier than the evaluations).

The checkpoint ``DIR/ckpt.pt`` (``torch.load(path, weights_only=True)`` reads it) is a dict:
``model`` (the state_dict, on the CPU), ``config`` (the ``GPTConfig`` as a dict: ``GPTConfig(**config)``),
``train_config`` (the ``TrainConfig`` as a dict), ``vocab`` (a str: the characters in id order, so
``CharTokenizer(vocab)`` rebuilds the tokenizer without the data file), ``iter``, ``train_loss``,
``val_loss``, ``seed`` and ``impl`` (``exercises``, ``solutions`` or the folder).
"""

import argparse
import dataclasses
import math
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from grader.arguments import at_least
from grader.device import CHOICES as DEVICE_CHOICES, synchronize


@dataclass(frozen=True)
class TrainConfig:
    """A named preset: the model's shape and the loop's hyper-parameters (the lecture's globals)."""

    batch_size: int
    block_size: int
    n_embd: int
    n_head: int
    n_layer: int
    dropout: float
    learning_rate: float
    max_iters: int
    eval_interval: int
    eval_iters: int
    warmup_iters: int = 0  # linear warm-up of the learning rate (the lecture has none)
    min_lr: float = None  # cosine decay to this at the last step (None: constant, as in the lecture)
    beta2: float = 0.999  # AdamW's second-moment decay (torch's default, the lecture's)


PRESETS = {
    # The lecture's final model (gpt.py at 01:37:49): 10.8 M parameters, val loss ~1.48 after 5000
    # iterations, about 15 minutes on an A100. Far too slow for a CPU. On an H200 with the fast path:
    # 1.2 M tokens/s (val 1.887 at step 500 after 9.7 s; the whole run was not timed). The grader's own
    # loop at this rate reaches val 1.49 near step 2,500 and then overfits (1.52 at 4,000).
    "lecture": TrainConfig(
        batch_size=64, block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2,
        learning_rate=3e-4, max_iters=5000, eval_interval=500, eval_iters=200,
    ),
    # A small model for a laptop: 0.21 M parameters, the shape of the lecture's Colab notes (batch 16,
    # block 32, n_embd 64, 4 heads, 4 layers, lr 1e-3, 5000 iterations), evaluated every 500 steps on
    # 100 batches (not the Colab's every 100 on 200: 51 evaluations would add ~2 min on a CPU).
    # Measured on a 2-core CPU (torch 2.13), val loss after 5000 steps, one thread (OMP_NUM_THREADS=1):
    # seed 1337 1.8052, seed 1 1.7883, seed 2 1.7977 (train 1.646-1.658), 203 s of CPU for the whole
    # run; two threads (the default), seed 1337: val 1.8261, train 1.6462 (the thread count changes the
    # float sums, so the curves part after ~1000 steps). The bigram model plateaus near 2.5.
    # Time on two idle cores: 21-26k tok/s in training, 12.3-13 s per 500 steps with the evaluation,
    # ~2.2 min in all. On an oversubscribed CPU torch's two threads slow down ~10x (<2k tok/s seen).
    # On one thread (cpu_threads_for on a busy machine): seed 1337, val 1.8112 after 5000
    # steps, 119 s of CPU time, 372 s of wall time on 2 cores that other jobs kept busy (load 5-6).
    # The lecture's model with nanoGPT's shakespeare_char schedule (lr 1e-3, 100 warm-up steps, cosine
    # to 1e-4, beta2 0.99), over 2,000 steps instead of nanoGPT's 5,000, for the fast path on a GPU.
    # Measured on an NVIDIA H200 (torch 2.11.0+cu130, seed 1337, evaluated every 250 steps):
    # - 5,000 steps: val 1.487 at step 1,500 (25.7 s), then it overfits: 1.526 at 3,000, 1.638 at the
    #   end (78 s; 1.2 M tokens/s). nanoGPT's 1.4697 is the best evaluation of its run, not the last.
    # - 2,000 steps (this preset): val 1.5392 at 1,000, 1.4785 at 1,500, 1.4694 at 2,000, as nanoGPT's
    #   best. 70.5 s wall while two other trainings shared the CPU core; alone the same steps ran at
    #   1.2 M tokens/s, about 33 s with the evaluations.
    #   Run as is, it evaluates every 200 steps (auto_eval_interval: about 10 evaluations per run).
    # - --compile: 1.4-1.5 M tokens/s once compiled, but compiling takes the first ~25 s, so it pays
    #   only for runs of several minutes (the 5,000 steps: 87 s against 78 s without).
    "lecture-fast": TrainConfig(
        batch_size=64, block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2,
        learning_rate=1e-3, max_iters=2000, eval_interval=500, eval_iters=50,
        warmup_iters=100, min_lr=1e-4, beta2=0.99,
    ),
    "small": TrainConfig(
        batch_size=16, block_size=32, n_embd=64, n_head=4, n_layer=4, dropout=0.0,
        learning_rate=1e-3, max_iters=5000, eval_interval=500, eval_iters=100,
    ),
}

DEFAULT_SEED = 1337  # the lecture's seed
DEFAULT_OUT = "out"
DEFAULT_SAMPLE_TOKENS = 500


class TrainError(Exception):
    """A problem with the request itself (e.g. ``--device cuda`` on a machine without CUDA)."""


# --------------------------------------------------------------------------------------------------
# Configuration and device
# --------------------------------------------------------------------------------------------------


def get_config(config, max_iters=None, eval_interval=None, eval_iters=None):
    """A preset name or a ``TrainConfig`` (or a dict of its fields), with the given fields overridden."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise TrainError(f"unknown config {config!r}: choose one of {', '.join(PRESETS)}")
        cfg = PRESETS[config]
    elif isinstance(config, TrainConfig):
        cfg = config
    elif isinstance(config, dict):
        cfg = TrainConfig(**config)
    else:
        raise TrainError(f"config must be a preset name, a TrainConfig or a dict, got {type(config).__name__}")
    overrides = {
        name: value
        for name, value in (("max_iters", max_iters), ("eval_interval", eval_interval), ("eval_iters", eval_iters))
        if value is not None
    }
    cfg = dataclasses.replace(cfg, **overrides)
    for name in ("batch_size", "block_size", "n_embd", "n_head", "n_layer", "max_iters", "eval_interval",
                 "eval_iters"):
        if getattr(cfg, name) < 1:
            raise TrainError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    return cfg


def nice_number(x, up):
    """``x`` rounded up (or down) to 1, 2 or 5 times a power of ten, and at least 1."""
    nice = 1
    while nice * 10 <= x:
        nice *= 10
    steps = (nice, 2 * nice, 5 * nice, 10 * nice)
    if up:
        return next(n for n in steps if n >= x)
    return max(n for n in steps if n <= x) if x >= 1 else 1


def auto_eval_interval(cfg):
    """The evaluation interval when ``--eval-interval`` is not given: the preset's, but for a shorter run
    ``max_iters / 10`` rounded up to 1, 2 or 5 x 10^k, so that the curve has 6 to 11 points
    (``--max-iters 300``: every 50 steps, not twice in all). Rounded up, not down, because on a CPU
    one evaluation of the small preset costs about 60 training steps: measured on one thread,
    ``--max-iters 300`` took 6.4 s with 2 evaluations and 13 s with 7 (every 50); rounding down
    (every 20: 16 evaluations) would take about 17 s."""
    return min(cfg.eval_interval, nice_number(cfg.max_iters / 10, up=True))


def auto_log_interval(eval_interval):
    """Steps between the progress lines when not given: ``eval_interval / 2`` rounded down to 1, 2 or
    5 x 10^k, so 1 to 4 lines between two evaluations (every 200 steps with the presets): enough to
    see it move, few enough to read (a new user found every tenth of an interval chatty); none when
    the evaluations are less than 4 steps apart. A count of steps, not of seconds, so that the same
    command prints the same lines (only the timings differ)."""
    return nice_number(eval_interval / 2, up=False) if eval_interval >= 4 else 0


def resolve_device(device):
    """grader/device.py's rule, ``auto`` trying CUDA, then Apple's MPS, then the CPU; a device this
    machine cannot give raises TrainError."""
    from grader.device import DeviceError, resolve

    try:
        return resolve(device, auto_mps=True)
    except DeviceError as exc:
        raise TrainError(str(exc)) from None


# Torch's CPU threads. A model as narrow as the small preset (n_embd 64: 64 x 192 weights, batches of
# 16 x 32 tokens) gains from a second thread only while the cores are free: where other work shares them,
# torch's threads wait on each other. Measured on 2 cores, 1,000 steps of train --config small, whole
# process, medians of 3 alternated runs: idle, 29.1 s on one thread against 21.0 s on two; with other
# jobs (load average ~7), 26 steps/s on one thread against 3.1 on two. So training takes as many threads
# as cores are free when it starts (at least one, at most torch's own count). Generating one token at a
# time is too little work to share out at any load (353 characters/s on one thread against 20 on two at
# load ~7, 600 against 264 at ~2): sampling takes one. Wider models than ONE_THREAD_UP_TO (the
# lecture's 384) keep torch's default, a thread per core; widths between 64 and 384 were not measured.
ONE_THREAD_UP_TO = 128


def cpu_threads_for(n_embd, threads=None, share_out=True, load=None):
    """The torch threads to train (``share_out``) or sample a model of width ``n_embd`` with on a CPU:
    ``threads`` when given; else None (leave torch's count) when ``OMP_NUM_THREADS`` is set, as someone
    chose it, or the model is wider than ONE_THREAD_UP_TO; else for training the cores free now (``load``:
    the load average, read from the system when None), for sampling 1."""
    import torch

    if threads is not None:
        return threads
    if os.environ.get("OMP_NUM_THREADS") or n_embd > ONE_THREAD_UP_TO:
        return None
    if not share_out:
        return 1
    try:
        load = os.getloadavg()[0] if load is None else load
    except (AttributeError, OSError):  # no load average (Windows): torch's own count
        return None
    free = round((os.cpu_count() or 1) - load)
    return max(1, min(torch.get_num_threads(), free))


@contextmanager
def torch_threads(device, n_embd, threads=None, share_out=True):
    """Run with ``cpu_threads_for`` threads on the CPU, then put torch's count back; yields the words
    for the log (`` (1 thread)``), empty off the CPU."""
    import torch

    from grader.probes.training import cpu_threads

    n = cpu_threads_for(n_embd, threads, share_out) if device == "cpu" else None
    with cpu_threads(n) if n else nullcontext():
        count = torch.get_num_threads()
        yield f" ({count} thread{'s' if count > 1 else ''})" if device == "cpu" else ""


# --------------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------------


def train(impl, config="small", device="auto", max_iters=None, eval_interval=None, eval_iters=None,
          seed=DEFAULT_SEED, data_path=None, text=None, out_dir=None, sample_tokens=0, log=print, fast=None,
          compile=False, learning_rate=None, warmup_iters=None, min_lr=None, log_interval=None, threads=None):
    """Train the implementation's GPT with the lecture's loop and return what happened.

    ``impl``: an ``grader.impl.Implementation`` or its spec (``"solutions"``, ``"exercises"``, a folder).
    ``config``: a preset name from ``PRESETS``, a ``TrainConfig`` or a dict of its fields;
    ``max_iters``, ``eval_interval``, ``eval_iters`` override it when given (without ``eval_interval``
    a run shorter than the preset's evaluates more often: ``auto_eval_interval``).
    ``device``: ``"auto"`` (CUDA, else Apple's MPS, else the CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.
    ``text`` skips loading the data file (else ``grader.data.load_text(data_path)``). ``out_dir``: where
    to save ``ckpt.pt`` (none when None). ``sample_tokens``: how many characters to generate at the end
    (0: none). ``log``: gets each line. ``log_interval``: steps between the progress lines (default
    ``auto_log_interval``; 0: none); they change nothing in the training.

    The fast path (``fast``; default: on with CUDA, off on MPS and the CPU) keeps the model and the loop
    and changes how they run: attention through ``F.scaled_dot_product_attention`` where it reproduces the
    implementation's own (grader/trainer/fast.py), batches drawn on the device, and on CUDA TF32, bf16
    autocast and fused AdamW. ``compile`` wraps the model in ``torch.compile``. ``learning_rate``
    overrides the preset's; ``warmup_iters`` and ``min_lr`` (default: the preset's) give a linear
    warm-up and a cosine decay to ``min_lr`` (without them the rate is constant, as in the lecture).
    ``threads``: torch's CPU threads on the CPU (default ``cpu_threads_for``: the cores free for a small model).

    Returns a dict: ``train_loss``, ``val_loss`` (the last evaluation), ``history`` (one dict per
    evaluation: ``iter``, ``train``, ``val``, ``tok_per_s``, ``elapsed``, ``lr``), ``iters``, ``elapsed`` (s),
    ``device``, ``config`` (the TrainConfig used), ``model_config`` (dict), ``n_params``, ``checkpoint``
    (path or None), ``sample`` (str or None), ``model`` and ``tokenizer``; with ``out_dir`` also
    ``curve_csv`` (``loss.csv``) and ``curve_png`` (``loss.png``, None without matplotlib).

    Errors from the implementation propagate (``NotImplementedError`` from a stub, ``ImplementationError``);
    ``grader.data.DataError`` when the text is missing; ``TrainError`` for a bad request.
    """
    import torch

    cfg, log_interval = _loop_config(config, max_iters, eval_interval, eval_iters, log_interval)
    device = resolve_device(device)
    lr_at = learning_rate_schedule(cfg, learning_rate, warmup_iters, min_lr)
    impl, parts = _implementation(impl)  # all its parts now: a missing one fails before any training
    text = _text(text, data_path)
    tokenizer, splits = _data(parts, text)
    torch.manual_seed(seed)
    model, model_config = _model(parts, cfg, tokenizer.vocab_size, device)
    fast = device.startswith("cuda") if fast is None else bool(fast)
    with torch_threads(device, cfg.n_embd, threads) as on_threads:
        loop = _Loop.make(parts, model, cfg, splits, device, fast, compile, lr_at, log_interval)
        n_params = sum(p.numel() for p in model.parameters())
        log(f"training {impl.label} GPT on {device}{on_threads}: {n_params / 1e6:.2f} M parameters, "
            f"{len(text):,} characters, vocabulary {tokenizer.vocab_size}, config {_describe(config, cfg)}, "
            f"seed {seed}")
        _log_before_training(loop, log)
        history, elapsed = loop.run(log)
        result = _result(loop, history, elapsed, model_config, n_params, tokenizer)
        _save_and_report(result, out_dir, impl, seed, log)
        if sample_tokens:
            result["sample"] = _sample(parts["generate"], model, tokenizer, model_config.block_size, sample_tokens,
                                       device, log)
    return result


def _loop_config(config, max_iters, eval_interval, eval_iters, log_interval):
    """The TrainConfig (``get_config``, evaluating as ``auto_eval_interval`` says when ``eval_interval``
    is not given) and the steps between progress lines (``auto_log_interval`` when not given)."""
    cfg = get_config(config, max_iters, eval_interval, eval_iters)
    if eval_interval is None:
        cfg = dataclasses.replace(cfg, eval_interval=auto_eval_interval(cfg))
    return cfg, auto_log_interval(cfg.eval_interval) if log_interval is None else log_interval


def _implementation(impl):
    """The ``Implementation`` (``impl`` or the one its spec names) and all the parts the loop uses."""
    from grader.impl import Implementation

    if not isinstance(impl, Implementation):
        impl = Implementation(impl)
    return impl, _parts(impl)


def _text(text, data_path):
    """``text``, or the data file's (``grader.data.load_text``, which downloads it when missing)."""
    if text is not None:
        return text
    from grader.data import load_text

    return load_text(data_path, download=True)


def _log_before_training(loop, log):
    """What the fast path changes, and a word when the lecture's GPU-sized model is to train on a CPU."""
    cfg = loop.cfg
    if loop.speedups:
        log("fast path: " + "; ".join(loop.speedups))
    if loop.device == "cpu" and cfg.n_embd * cfg.n_layer * cfg.block_size >= 384 * 6 * 256:
        log("note: this is the lecture's GPU-sized model; on a CPU it takes many hours (try --config small)")


def _result(loop, history, elapsed, model_config, n_params, tokenizer):
    """What ``train`` returns (its docstring says what each key holds), before the checkpoint and the sample."""
    last = history[-1]
    return {"train_loss": last["train"], "val_loss": last["val"], "history": history, "iters": last["iter"],
            "elapsed": elapsed, "device": loop.device, "config": loop.cfg, "model_config": _as_dict(model_config),
            "n_params": n_params, "checkpoint": None, "sample": None, "model": loop.model, "tokenizer": tokenizer}


def _save_and_report(result, out_dir, impl, seed, log):
    """After the training: the checkpoint (with ``out_dir``; its path goes in ``result``) and the loss curve."""
    if out_dir is not None:
        result["checkpoint"] = _save_checkpoint(Path(out_dir), result, seed, impl, log)
    _report_curve(result["history"], out_dir, impl, result["config"], result, log)


def learning_rate_schedule(cfg, learning_rate=None, warmup_iters=None, min_lr=None):
    """The learning rate at each step, ``lr_at(it)``: constant (the lecture), or a linear warm-up and a
    cosine decay to ``min_lr``; each argument overrides the preset's. TrainError for rates that make no
    sense."""
    from grader.trainer import fast as fast_path

    base_lr = cfg.learning_rate if learning_rate is None else float(learning_rate)
    warmup_iters = cfg.warmup_iters if warmup_iters is None else warmup_iters
    min_lr = cfg.min_lr if min_lr is None else min_lr
    if base_lr <= 0 or (min_lr is not None and not 0 <= min_lr <= base_lr) or warmup_iters < 0:
        raise TrainError(f"learning rates: need lr > 0, 0 <= min_lr <= lr and warmup_iters >= 0 "
                         f"(got lr {base_lr}, min_lr {min_lr}, warmup_iters {warmup_iters})")

    def lr_at(it):
        if min_lr is None and not warmup_iters:
            return base_lr
        return fast_path.cosine_lr(base_lr, it, cfg.max_iters, warmup_iters, base_lr if min_lr is None else min_lr)

    return lr_at


# The implementation's parts the loop uses: name -> (module, attribute).
PARTS = {"CharTokenizer": ("tokenizer", "CharTokenizer"), "train_val_split": ("batching", "train_val_split"),
         "get_batch": ("batching", "get_batch"), "GPTConfig": ("gpt", "GPTConfig"),
         "GPTLanguageModel": ("gpt", "GPTLanguageModel"), "generate": ("generate", "generate"),
         "MultiHeadAttention": ("attention", "MultiHeadAttention")}


def _parts(impl):
    return {name: impl.get(module, attribute) for name, (module, attribute) in PARTS.items()}


def _data(parts, text):
    """The implementation's tokenizer and its 90 % / 10 % split of the whole text as ids."""
    import torch

    tokenizer = parts["CharTokenizer"](text)
    data = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    train_data, val_data = parts["train_val_split"](data)
    return tokenizer, {"train": train_data, "val": val_data}


def _model(parts, cfg, vocab_size, device):
    """The implementation's GPTLanguageModel of the preset's shape, on ``device``, and its GPTConfig."""
    model_config = parts["GPTConfig"](vocab_size=vocab_size, block_size=cfg.block_size, n_embd=cfg.n_embd,
                                      n_head=cfg.n_head, n_layer=cfg.n_layer, dropout=cfg.dropout)
    return parts["GPTLanguageModel"](model_config).to(device), model_config


@dataclass
class _Loop:
    """The lecture's loop over one model: how a batch is drawn, the optimizer, and how the model runs
    (the fast path changes only these)."""

    model: object
    run_model: object  # the model, or torch.compile's wrapper of it
    cfg: TrainConfig
    batch: object  # batch(split) -> (x, y)
    optimizer: object
    autocast: object
    lr_at: object
    device: str
    speedups: list
    log_interval: int = 0  # steps between progress lines (0: none)

    @classmethod
    def make(cls, parts, model, cfg, splits, device, fast, compile, lr_at, log_interval=0):
        import torch

        from grader.trainer import fast as fast_path

        # TF32, bf16 autocast and fused AdamW only on CUDA, where they are measured; on MPS the fast
        # path is SDPA attention and on-device batches (bf16 autocast there depends on the macOS version)
        cuda, speedups = device.startswith("cuda"), []
        if fast:
            if cuda:
                fast_path.configure_cuda()
                speedups.append("TF32, bf16 autocast, fused AdamW")
            swapped, kept = fast_path.sdpa_attention(model, parts["MultiHeadAttention"], cfg.block_size)
            speedups.append(f"SDPA attention in {swapped} of {swapped + kept} blocks")
            batch = fast_path.batches(splits, cfg.batch_size, cfg.block_size, device)
            speedups.append("batches drawn on the device")
        else:
            def batch(split):
                return parts["get_batch"](splits[split], cfg.batch_size, cfg.block_size, device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr_at(0), betas=(0.9, cfg.beta2), fused=fast and cuda)
        if compile:
            speedups.append("torch.compile (the first steps include compiling: up to a minute)")
        autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if fast and cuda else nullcontext()
        return cls(model, torch.compile(model) if compile else model, cfg, batch, optimizer, autocast, lr_at, device,
                   speedups, log_interval)

    def estimate_loss(self):
        """The mean loss over ``eval_iters`` batches of each split, in eval mode."""
        import torch

        out = {}
        self.model.eval()
        with torch.no_grad():
            for split in ("train", "val"):
                losses = torch.zeros(self.cfg.eval_iters)
                for k in range(self.cfg.eval_iters):
                    X, Y = self.batch(split)
                    with self.autocast:
                        logits, loss = self.run_model(X, Y)
                    losses[k] = loss.item()
                out[split] = losses.mean().item()
        self.model.train()
        return out

    def step(self, it):
        """One optimizer step on a training batch; returns the batch's loss (a tensor on the device)."""
        xb, yb = self.batch("train")
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(it)
        with self.autocast:
            logits, loss = self.run_model(xb, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        synchronize(self.device)  # so that the step's time is measured, not only its launch
        return loss.detach()

    def run(self, log):
        """``max_iters`` steps, evaluated every ``eval_interval`` and after the last, with a progress line
        every ``log_interval`` steps in between; stops early when the loss is not finite. Returns
        (history, elapsed seconds)."""
        cfg, history = self.cfg, []
        start = time.perf_counter()
        train_time, steps_since = 0.0, 0  # seconds spent in optimizer steps since the last evaluation
        line_time, steps_since_line = 0.0, 0  # the same since the last line, evaluation or progress
        for it in range(cfg.max_iters + 1):
            if it % cfg.eval_interval == 0 or it == cfg.max_iters:
                losses = self.estimate_loss()
                tok_per_s = steps_since * cfg.batch_size * cfg.block_size / train_time if train_time > 0 else None
                elapsed = time.perf_counter() - start
                history.append({"iter": it, "train": losses["train"], "val": losses["val"], "tok_per_s": tok_per_s,
                                "elapsed": elapsed, "lr": self.lr_at(it)})
                speed = f"{tok_per_s:,.0f} tok/s" if tok_per_s is not None else "- tok/s"
                log(f"iter {it}/{cfg.max_iters} | train {losses['train']:.4f} | val {losses['val']:.4f} | "
                    f"{speed} | {elapsed:.1f}s")
                if not (math.isfinite(losses["train"]) and math.isfinite(losses["val"])):
                    log(f"the loss is not finite at iter {it}: stopping")
                    break
                train_time, steps_since = 0.0, 0
                line_time, steps_since_line = 0.0, 0
            if it == cfg.max_iters:
                break
            t0 = time.perf_counter()
            loss = self.step(it)
            seconds = time.perf_counter() - t0
            train_time, steps_since = train_time + seconds, steps_since + 1
            line_time, steps_since_line = line_time + seconds, steps_since_line + 1
            if self.log_interval and it % self.log_interval == 0 and it % cfg.eval_interval != 0:
                tok_per_s = steps_since_line * cfg.batch_size * cfg.block_size / line_time if line_time > 0 else None
                log(progress_line(it, cfg.max_iters, loss.item(), tok_per_s, time.perf_counter() - start))
                line_time, steps_since_line = 0.0, 0
        return history, time.perf_counter() - start


def progress_line(it, max_iters, loss, tok_per_s, elapsed):
    """The line between evaluations: the loss of the one batch the step at ``it`` trained on (the model
    after ``it`` updates, as in the evaluation lines; noisier than they are), the speed since the
    previous line and the time since the start. Reading the loss with ``.item()`` draws no random
    number and leaves the model as it is, so the training is the same with or without these lines."""
    speed = f"{tok_per_s:,.0f} tok/s" if tok_per_s is not None else "- tok/s"
    return f"iter {it}/{max_iters} | batch loss {loss:.4f} | {speed} | {elapsed:.1f}s"


def _save_checkpoint(out_dir, result, seed, impl, log):
    """``out_dir/ckpt.pt`` (the module docstring says what it holds); returns its path as a str."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "ckpt.pt"
    tokenizer = result["tokenizer"]
    checkpoint = {
        "model": {k: v.detach().cpu() for k, v in result["model"].state_dict().items()},
        "config": result["model_config"],
        "train_config": dataclasses.asdict(result["config"]),
        # the characters in id order: CharTokenizer(vocab) rebuilds the tokenizer without the data file
        "vocab": "".join(tokenizer.itos[i] for i in range(tokenizer.vocab_size)),
        "iter": result["iters"],
        "train_loss": result["train_loss"],
        "val_loss": result["val_loss"],
        "seed": seed,
        "impl": impl.label,
    }
    torch.save(checkpoint, path)
    log(f"saved checkpoint to {path} (iter {result['iters']}, val loss {result['val_loss']:.4f})")
    return str(path)


def _report_curve(history, out_dir, impl, cfg, result, log):
    """The loss curve in words, and with ``out_dir`` as loss.csv and loss.png (when matplotlib is there)."""
    from grader.trainer import curve

    for line in curve.describe(history):
        log(line)
    if out_dir is not None:
        out_dir = Path(out_dir)
        result["curve_csv"] = str(curve.write_csv(history, out_dir / "loss.csv"))
        png = curve.write_png(history, out_dir / "loss.png", title=f"{impl.label}, {_describe_short(cfg)}")
        result["curve_png"] = str(png) if png else None
        log(f"loss curve: {png or 'install matplotlib for a PNG'}; the numbers are in {result['curve_csv']}")


def _sample(generate, model, tokenizer, block_size, tokens, device, log):
    """``tokens`` characters the implementation's ``generate`` writes after a newline."""
    import torch

    model.eval()
    context = torch.zeros((1, 1), dtype=torch.long, device=device)  # id 0: the newline character
    with torch.no_grad():  # the lecture's generate keeps no graph either; a student's may forget to
        ids = generate(model, context, tokens, block_size=block_size)
    sample = tokenizer.decode(ids[0, 1:].tolist())
    log(f"--- sample: {tokens} characters generated after a newline ---")
    log(sample)
    log("--- end of sample ---")
    return sample


def _describe_short(cfg):
    return f"n_embd {cfg.n_embd}, {cfg.n_layer} layers, {cfg.max_iters} iters"


def _describe(config, cfg):
    name = config if isinstance(config, str) else "custom"
    return (
        f"{name} (batch {cfg.batch_size}, block {cfg.block_size}, n_embd {cfg.n_embd}, n_head {cfg.n_head}, "
        f"n_layer {cfg.n_layer}, dropout {cfg.dropout}, lr {cfg.learning_rate:g}, max_iters {cfg.max_iters}, "
        f"eval every {cfg.eval_interval} on {cfg.eval_iters} batches)"
    )


def _as_dict(model_config):
    if dataclasses.is_dataclass(model_config):
        return dataclasses.asdict(model_config)
    return dict(vars(model_config))


# --------------------------------------------------------------------------------------------------
# Messages for a student: one line, no traceback
# --------------------------------------------------------------------------------------------------


def not_implemented_message(impl, exc):
    """"Training needs Exercise N first: ..." for a NotImplementedError raised by the implementation."""
    where, module, qualname = None, None, None
    root = Path(impl.path)
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame inside the implementation's folder
        code = tb.tb_frame.f_code
        try:
            file = Path(code.co_filename).resolve()
            if file.parent == root:
                module = file.stem
                qualname = getattr(code, "co_qualname", code.co_name)
        except (OSError, ValueError):
            pass
        tb = tb.tb_next
    detail = str(exc).strip()
    if module is None:
        return f"training stopped: NotImplementedError: {detail or 'no message'}"
    if qualname == "<module>":
        qualname = None
    where = impl.where(module, qualname)
    # the stubs' own messages ("Exercise 1: CharTokenizer.__init__") would only repeat the place
    note = f" ({detail})" if detail and not (qualname and qualname in detail) else ""
    exercise = _exercise_for(module, qualname)
    if exercise is None:
        return f"Training needs {where} first: it is not implemented yet{note}."
    return (
        f"Training needs Exercise {exercise.number} ({exercise.title}) first: {where} is not implemented "
        f"yet{note}. Fill it in, then check it with: pytest -m {exercise.marker}"
    )


def _exercise_for(module, qualname):
    try:
        from grader.rubric import EXERCISES
    except Exception:  # the table is optional for the message
        return None
    top = (qualname or "").split(".")[0]
    candidates = [ex for ex in EXERCISES if getattr(ex, "module", None) == module]
    for ex in candidates:
        if top in getattr(ex, "names", ()):
            return ex
    if module == "gpt" and top == "GPTConfig":
        candidates = [ex for ex in candidates if "GPTLanguageModel" in getattr(ex, "names", ())] or candidates
    return candidates[0] if len(candidates) == 1 else None


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


_positive_int = at_least(1, "at least 1")
_non_negative_int = at_least(0, "0 or more")


def add_arguments(parser):
    """The options of ``python -m grader train``."""
    parser.add_argument("--impl", default="exercises",
                        help="what to train: exercises (default), solutions, or a folder shaped like exercises/")
    parser.add_argument("--config", default="small", choices=list(PRESETS),
                        help="preset: small (2 to 6 minutes on a CPU, default), lecture (the lecture's model, "
                             "GPU) or lecture-fast (the same model with a warm-up and cosine schedule, GPU)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="auto (default): cuda when available, else mps (Apple silicon), else cpu")
    parser.add_argument("--max-iters", type=_positive_int, default=None, metavar="N",
                        help="optimizer steps (default: the preset's)")
    parser.add_argument("--eval-interval", type=_positive_int, default=None, metavar="N",
                        help="evaluate every N steps (default: the preset's, but about 10 times in a "
                             "shorter run: --max-iters 300 evaluates every 50)")
    parser.add_argument("--eval-iters", type=_positive_int, default=None, metavar="N",
                        help="batches averaged per evaluation and split (default: the preset's)")
    parser.add_argument("--log-interval", type=_non_negative_int, default=None, metavar="N",
                        help="a progress line (the batch's loss, tokens/s) every N steps between the "
                             "evaluations (default: about a fifth of the evaluation interval; 0: none)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"torch.manual_seed (default {DEFAULT_SEED})")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"where to save ckpt.pt (default {DEFAULT_OUT}/)")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="the text to train on (default data/tinyshakespeare/input.txt)")
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None,
                        help="the fast path (SDPA attention, on-device batches; on CUDA also TF32, bf16, fused "
                             "AdamW): on by default with CUDA, off on MPS and the CPU")
    parser.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    parser.add_argument("--warmup-iters", type=_non_negative_int, default=None, metavar="N",
                        help="linear learning-rate warm-up steps (default: the preset's, 0 but for lecture-fast)")
    parser.add_argument("--min-lr", type=float, default=None,
                        help="decay the learning rate on a cosine to this at the last step "
                             "(default: the preset's; constant but for lecture-fast)")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="torch threads on a CPU (default for a model as small as the small preset: the "
                             "cores free when training starts, at least 1; else torch's own count or "
                             "OMP_NUM_THREADS)")
    parser.add_argument("--sample-tokens", type=_non_negative_int, default=DEFAULT_SAMPLE_TOKENS, metavar="N",
                        help=f"characters to generate at the end (default {DEFAULT_SAMPLE_TOKENS}, 0: none)")


def run(args):
    """Run ``python -m grader train``; returns the exit code."""
    from grader.data import DataError
    from grader.impl import Implementation, ImplementationError

    def log(line):
        print(line, flush=True)

    def fail(message, code=1):
        print(f"error: {message}", file=sys.stderr, flush=True)
        return code

    try:
        impl = Implementation(args.impl)
    except ImplementationError as exc:
        return fail(str(exc))
    try:
        train(
            impl,
            args.config,
            args.device,
            max_iters=args.max_iters,
            eval_interval=args.eval_interval,
            eval_iters=args.eval_iters,
            seed=args.seed,
            data_path=args.data,
            out_dir=args.out,
            sample_tokens=args.sample_tokens,
            log=log,
            fast=args.fast,
            compile=args.compile,
            learning_rate=args.lr,
            warmup_iters=args.warmup_iters,
            min_lr=args.min_lr,
            log_interval=args.log_interval,
            threads=args.threads,
        )
    except TrainError as exc:
        return fail(str(exc), 2)
    except DataError as exc:
        return fail(str(exc))
    except ImplementationError as exc:
        return fail(str(exc))
    except NotImplementedError as exc:
        return fail(not_implemented_message(impl, exc))
    except SyntaxError as exc:  # in one of the implementation's files, found when it is imported
        return fail(f"{exc.filename}, line {exc.lineno}: {type(exc).__name__}: {exc.msg}")
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    return 0
