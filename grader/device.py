"""Where to run: one rule for the checks (``pytest --device``), ``check``, ``train``, ``sample`` and ``bench``."""

CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device this machine cannot give; the message says what to use instead."""


def resolve(requested, auto_mps=False):
    """``auto`` -> ``cuda`` when CUDA is available, else ``mps`` when ``auto_mps`` and Apple's MPS is
    available, else ``cpu``; ``cpu``; ``cuda`` or ``cuda:N`` when CUDA has that GPU; ``mps`` when MPS is
    available. Anything else raises DeviceError.

    ``auto_mps`` is off by default because the graded checks compare against float64 oracles, which MPS
    does not have; ``train``, ``sample`` and ``bench`` turn it on."""
    import torch  # here, not at import: ``--help`` stays quick

    requested = str(requested)
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if auto_mps and torch.backends.mps.is_available() else "cpu"
    if requested == "cpu":
        return requested
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device mps: Apple's MPS is not available here (torch {torch.__version__}, "
                              "torch.backends.mps.is_available() is False; it needs a Mac with Apple silicon); "
                              "use --device cpu or --device auto")
        return requested
    kind, _, index = requested.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"--device {requested}: choose auto, cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {requested}: CUDA is not available here (torch {torch.__version__}, "
                          "torch.cuda.is_available() is False); use --device cpu or --device auto")
    if index and int(index) >= torch.cuda.device_count():
        raise DeviceError(f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s), "
                          f"numbered from 0")
    return requested


def synchronize(device):
    """Wait until ``device`` has run all the work queued on it, so that a timer measures the work and
    not only its launch (CUDA and MPS run asynchronously; the CPU does not)."""
    import torch

    kind = str(device).partition(":")[0]
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()
