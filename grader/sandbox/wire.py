"""The data that crosses between a judge and the process that runs a submission's code.

Only data crosses: plain tensors, numbers, strings, bytes, None, dtypes, devices, and lists, tuples
and dicts of these. Each message is one frame (8 bytes of length, then ``torch.save`` bytes) and is
read with ``torch.load(weights_only=True)``, which builds no other kind of object, under caps on its
size, depth and count, so whatever bytes arrive, the reader gets data or a ``WireError``.

What is not data crosses as a dict with one tag, written and read by grader/sandbox/remote.py and
grader/probes/server.py, never by the reader here: ``{"__handle__": n}`` (an object that stays in the child),
``{"__grader__": "module:qualname"}`` (a grader or torch class or function, imported on the other side),
``{"__generator__": state, "device": ...}`` (a torch.Generator, which comes back as the call left it),
``{"__set__": [...]}``, ``{"__slice__": [start, stop, step]}`` and ``{"__ellipsis__": True}``.
"""

import io
import os
import struct
import warnings

import torch

MAX_FRAME = 256 * 2**20  # bytes: the largest answer a check asks for (logits, weights) is a few MB
MAX_ITEMS = 100_000  # values in one message
MAX_DEPTH = 32
_HEADER = struct.Struct("<Q")
SCALARS = (type(None), bool, int, float, str, bytes, torch.dtype, torch.device)
# The requests that run the submission's code: they carry the judge's random state and autograd switch,
# and the answer says what the code left the switch at.
RUNS_CODE = ("call", "probe", "build")


class WireError(Exception):
    """A message that is not the grader's: too large, malformed, or of a kind that may not cross."""


def check(value, depth=0, count=None):
    """Raise WireError unless ``value`` is data that may cross; returns the number of values in it."""
    count = [0] if count is None else count
    count[0] += 1
    if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
        raise WireError(f"a message with more than {MAX_ITEMS} values or {MAX_DEPTH} levels")
    kind = type(value)
    if kind in SCALARS or kind is torch.Size:
        return count[0]
    if kind is torch.Tensor:
        if value.layout != torch.strided:
            raise WireError("a tensor that is not dense")
        return count[0]
    if kind in (list, tuple):
        for item in value:
            check(item, depth + 1, count)
        return count[0]
    if kind is dict:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise WireError("a dict key that is not a string or an integer")
            check(item, depth + 1, count)
        return count[0]
    raise WireError(f"a value of type {kind.__name__}, which may not cross")


def encode(message):
    check(message)
    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def decode(data):
    try:
        with warnings.catch_warnings():  # torch warns about the format of bytes it then refuses
            warnings.simplefilter("ignore")
            message = torch.load(io.BytesIO(data), weights_only=True, map_location=None)
    except Exception as exc:  # weights_only refuses anything but data; any refusal is the same answer
        raise WireError(f"a message that is not data ({type(exc).__name__})") from None
    check(message)
    return message


def send(fd, message):
    send_encoded(fd, encode(message))


def send_encoded(fd, data):
    data = _HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def receive(fd, limit=MAX_FRAME):
    """The next message on ``fd``; EOFError when the other side has closed it."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if size > limit:
        raise WireError(f"a message of {size} bytes, over the limit of {limit}")
    return decode(_read_exactly(fd, size))


def _read_exactly(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
