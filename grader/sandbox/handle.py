"""A handle: the judge's stand-in for an object of the submission that stays in the submission's process
(grader/sandbox/remote.py makes them and answers their reads and calls). A leaf module, so that code
that runs on both sides (the probes) can ask ``is_remote`` without importing the judge's channel."""

import torch

_TORCH_PREFIX = "torch."


def _torch_class(types):
    """The first torch module class among the remote object's classes, so ``isinstance(h, nn.Linear)``
    works. Never a tensor class: torch's C code would read a handle that says it is a tensor as one."""
    for qualname in types:
        if isinstance(qualname, str) and qualname.startswith(_TORCH_PREFIX):
            obj = torch
            for part in qualname[len(_TORCH_PREFIX):].split("."):
                obj = getattr(obj, part, None)
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
                return obj
    return Handle


class Handle:
    """An object of the submission that stays in its process; attribute reads and calls go there."""

    __slots__ = ("_channel", "_number", "_types", "_root", "_path", "_written", "_generation")

    def __init__(self, channel, number, types):
        for name, value in (("_channel", channel), ("_number", number), ("_types", types), ("_root", None),
                            ("_path", ""), ("_written", None), ("_generation", channel.generation)):
            object.__setattr__(self, name, value)

    @property
    def __class__(self):
        return _torch_class(self._types)

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__"):  # a class's name, for messages
            raise AttributeError(name)
        return self._channel.getattr(self, name)

    def __setattr__(self, name, value):
        self._channel.request({"op": "setattr", "target": self, "name": name, "value": value})

    def __call__(self, *args, **kwargs):
        return self._channel.request({"op": "call", "target": self, "args": args, "kwargs": kwargs})

    def __len__(self):
        return int(self._channel.request({"op": "len", "target": self}))

    def __iter__(self):
        return iter(self._channel.items(self))

    def __getitem__(self, key):
        return self._channel.child(self, str(key), self._channel.request({"op": "getitem", "target": self,
                                                                           "key": key}))

    def __repr__(self):
        return f"<{self._types[0] if self._types else 'object'} of the submission>"


def is_remote(value):
    return type(value) is Handle
