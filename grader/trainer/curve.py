"""The loss curve of a training run: a text sparkline always, a CSV next to the checkpoint, and a PNG
where matplotlib is installed (it is not a dependency of the kit)."""

import csv
from pathlib import Path

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values, bars=BARS):
    """``values`` as one character each, low to high: ``"█▅▃▂▂▁"``. Non-finite values show as ``?``."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if not finite:
        return "?" * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    chars = []
    for v in values:
        if v != v or abs(v) == float("inf"):
            chars.append("?")
        else:
            chars.append(bars[0] if span == 0 else bars[round((v - low) / span * (len(bars) - 1))])
    return "".join(chars)


def describe(history):
    """Two lines: the train and val losses over the evaluations, first and last value beside them."""
    lines = []
    for split in ("train", "val"):
        values = [h[split] for h in history]
        lines.append(f"{split:>5} loss {values[0]:.3f} {sparkline(values)} {values[-1]:.3f}")
    return lines


def write_csv(history, path):
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["iter", "train", "val", "lr", "tok_per_s", "elapsed"])
        for h in history:
            writer.writerow([h["iter"], f"{h['train']:.6f}", f"{h['val']:.6f}", f"{h.get('lr', float('nan')):.6g}",
                             "" if h.get("tok_per_s") is None else f"{h['tok_per_s']:.1f}", f"{h['elapsed']:.2f}"])
    return path


def write_png(history, path, title="loss"):
    """Plot the losses to ``path``; returns the path, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no screen needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    iters = [h["iter"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(iters, [h["train"] for h in history], label="train")
    ax.plot(iters, [h["val"] for h in history], label="val")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
