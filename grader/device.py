"""Where to run: one rule for the checks (``pytest --device``), ``check``, ``train``, ``sample`` and ``bench``."""

CHOICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    """A device this machine cannot give; the message says what to use instead."""


def resolve(requested):
    """``auto`` -> ``cuda`` when CUDA is available, else ``cpu``; ``cpu``; ``cuda`` or ``cuda:N`` when
    CUDA has that GPU. Anything else raises DeviceError."""
    import torch  # here, not at import: ``--help`` stays quick

    requested = str(requested)
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return requested
    kind, _, index = requested.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"--device {requested}: choose auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {requested}: CUDA is not available here (torch {torch.__version__}, "
                          "torch.cuda.is_available() is False); use --device cpu or --device auto")
    if index and int(index) >= torch.cuda.device_count():
        raise DeviceError(f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s), "
                          f"numbered from 0")
    return requested
