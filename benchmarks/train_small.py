"""`python -m grader train --config small`, the whole process timed, and side by side with nanoGPT.

    python benchmarks/train_small.py                          # the kit's figures
    python benchmarks/train_small.py --nanogpt DIR            # and nanoGPT's train.py, alternating
    python benchmarks/train_small.py --nanogpt DIR --omp-threads 1   # both on one thread

DIR is a copy of nanoGPT (https://github.com/karpathy/nanoGPT) outside the kit, e.g. from
`git clone https://github.com/karpathy/nanoGPT DIR`; nothing of it is copied into the kit. Its data is
prepared the first time by its own data/shakespeare_char/prepare.py, from the kit's copy of Tiny
Shakespeare (no download). nanoGPT runs the kit's small preset: the same n_layer, n_head, n_embd,
block_size, batch_size, dropout, learning rate, steps, eval_interval and eval_iters, on the CPU in float32
without torch.compile. Its loop takes one step more than the kit's (it steps at iteration max_iters too)
and it generates no sample; the kit's whole process includes its 500-character sample at the end.

Each run is a whole process, started from the shell's point of view: the figures are the seconds until
its first evaluation is printed (imports, data, model, the evaluation at step 0) and until it exits.
The runs alternate (kit, nanoGPT, nanoGPT, kit, ...) so that a machine busy with other work slows both
alike; the medians are printed. It prints figures; it asserts nothing.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
SAME = ("batch_size", "block_size", "n_embd", "n_head", "n_layer", "dropout", "learning_rate")  # as nanoGPT names them


def timed(cmd, cwd, env, first_line):
    """(seconds until a line starting with ``first_line`` is printed, seconds until exit, output)."""
    start = time.perf_counter()
    first, lines = None, []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if first is None and line.startswith(first_line):
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed ({proc.returncode}):\n{''.join(lines[-20:])}")
    return first, total, "".join(lines)


def kit_command(args, out):
    return [sys.executable, "-m", "grader", "train", "--impl", "solutions", "--config", "small", "--device", "cpu",
            "--max-iters", str(args.max_iters), "--eval-interval", str(args.eval_interval),
            "--eval-iters", str(args.eval_iters), "--out", str(out)]


def nanogpt_command(args, out):
    from grader.trainer.train import PRESETS

    small = {name: getattr(PRESETS["small"], name) for name in SAME}
    flags = dict(small, device="cpu", compile=False, dtype="float32", max_iters=args.max_iters,
                 lr_decay_iters=args.max_iters, eval_interval=args.eval_interval, eval_iters=args.eval_iters,
                 log_interval=args.eval_interval // 2 or 1, out_dir=out)
    return [sys.executable, "train.py", "config/train_shakespeare_char.py", *(f"--{k}={v}" for k, v in flags.items())]


def prepare_nanogpt(nanogpt, text_path, tmp):
    """nanoGPT's data (train.bin, val.bin, meta.pkl) by its own prepare.py from the kit's copy of the text."""
    folder = nanogpt / "data" / "shakespeare_char"
    if (folder / "train.bin").is_file():
        return
    shutil.copyfile(text_path, folder / "input.txt")
    # prepare.py imports requests only to download input.txt, which is there: a stand-in where it is missing
    stub = Path(tmp) / "stub"
    stub.mkdir()
    (stub / "requests.py").write_text("")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(stub)])))
    subprocess.run([sys.executable, "prepare.py"], cwd=folder, env=env, check=True, capture_output=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, default=None, metavar="DIR", help="a copy of nanoGPT to run beside")
    parser.add_argument("--max-iters", type=int, default=1000, help="optimizer steps (default 1000)")
    parser.add_argument("--eval-interval", type=int, default=100, help="as train --max-iters 1000 does (100)")
    parser.add_argument("--eval-iters", type=int, default=100, help="the small preset's (100)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--omp-threads", type=int, default=None, metavar="N",
                        help="set OMP_NUM_THREADS=N for both (default: each chooses its own threads)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(KIT_ROOT))  # this kit's grader, whichever one the environment has installed
    from grader.data import default_path

    env = dict(os.environ)
    if args.omp_threads:
        env["OMP_NUM_THREADS"] = str(args.omp_threads)
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; OMP_NUM_THREADS="
          f"{env.get('OMP_NUM_THREADS', '(unset)')}; small preset, {args.max_iters} steps, evaluated every "
          f"{args.eval_interval} on {args.eval_iters} batches")
    results = {"kit": [], "nanoGPT": []}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"kit": (kit_command(args, Path(tmp) / "kit"), KIT_ROOT, "iter 0/")}
        if args.nanogpt:
            nanogpt = args.nanogpt.resolve()
            prepare_nanogpt(nanogpt, default_path(), tmp)
            runs["nanoGPT"] = (nanogpt_command(args, Path(tmp) / "nanogpt"), nanogpt, "step 0:")
        for rep in range(args.repeats):
            for name in (list(runs) if rep % 2 == 0 else list(reversed(runs))):
                cmd, cwd, first_line = runs[name]
                first, total, _ = timed(cmd, cwd, env, first_line)
                results[name].append((first, total))
                print(f"  run {rep + 1} {name:<8} first evaluation at {first:5.1f} s, whole process {total:6.1f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for name, rows in results.items():
        if rows:
            print(f"{name:<8} median: first evaluation at {statistics.median(r[0] for r in rows):5.1f} s, "
                  f"whole process {statistics.median(r[1] for r in rows):6.1f} s")
    if results["nanoGPT"]:
        ratio = statistics.median(r[1] for r in results["kit"]) / statistics.median(r[1] for r in results["nanoGPT"])
        print(f"kit / nanoGPT, whole process: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
