"""Notice when a submission rewrites the code that judges it.

Before the first check, the worker records which function, class and code object every name of the
grader, pytest, pluggy, torch (its top level, ``torch.Tensor``, ``torch.nn.functional``,
``torch.testing``) and ``builtins`` points at, and which plugins and hook functions pytest has.
After every check it compares: a name that points elsewhere now (``torch.allclose = lambda *a: True``,
``grader.expect.fail = print``, a new ``pytest_runtest_makereport`` plugin) is tampering.
Names added later are not compared: modules legitimately import submodules lazily. A name that
torch itself rebinds on first use (``torch.manual_seed`` is wrapped when ``torch._dynamo`` loads) is
accepted when the new object has the same name and its code lies in torch, pytest, pluggy or the
grader, which a submission cannot write to.
"""

import builtins
import inspect
import os
import sys
import types

WATCHED_PACKAGES = ("grader", "_pytest", "pytest", "pluggy", "torch.testing", "torch.nn.functional")
WATCHED_CLASSES = ("torch.Tensor", "torch._C.TensorBase", "torch.nn.Module")


class _Entry:
    __slots__ = ("value", "code")

    def __init__(self, value, code=None):
        self.value, self.code = value, code

    def __eq__(self, other):
        if not isinstance(other, _Entry) or self.value is not other.value:
            return False
        if isinstance(self.code, tuple) and isinstance(other.code, tuple):  # a hook's functions
            return len(self.code) == len(other.code) and all(a is b for a, b in zip(self.code, other.code))
        return self.code is other.code


def _fingerprint(value):
    """What identifies a callable: the object, and for a Python function its code too."""
    return _Entry(value, getattr(value, "__code__", None))


def _trusted_folders():
    folders = []
    for name in ("torch", "_pytest", "pluggy", "grader"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            folders.append(os.path.dirname(os.path.realpath(module.__file__)) + os.sep)
    return folders


def _rebound_by_a_trusted_module(name, old, new, folders):
    if new is None or getattr(new.value, "__name__", None) != getattr(old.value, "__name__", None):
        return False
    target = inspect.unwrap(new.value) if callable(new.value) else new.value
    code = getattr(target, "__code__", None)
    path = code.co_filename if code is not None else None
    if path is None:
        return False
    return any(os.path.realpath(path).startswith(folder) for folder in folders)


def _judged(value):
    return callable(value) or isinstance(value, types.ModuleType)


def _namespace_entries(prefix, namespace, out):
    for key, value in list(namespace.items()):
        if key.startswith("__") and key.endswith("__") and key not in ("__eq__", "__ne__", "__bool__"):
            continue
        if _judged(value):
            out[f"{prefix}.{key}"] = _fingerprint(value)


def _resolve(dotted):
    module_name, _, attr = dotted.rpartition(".")
    return getattr(sys.modules[module_name], attr)


def snapshot(pluginmanager):
    """A dict name -> fingerprint of everything the checks rely on."""
    out = {}
    for name, module in list(sys.modules.items()):
        if module is None or not any(name == p or name.startswith(p + ".") for p in WATCHED_PACKAGES):
            continue
        namespace = vars(module)
        _namespace_entries(name, namespace, out)
        for key, value in list(namespace.items()):
            if isinstance(value, type) and getattr(value, "__module__", None) == name:
                _namespace_entries(f"{name}.{key}", vars(value), out)
    torch = sys.modules.get("torch")
    if torch is not None:
        _namespace_entries("torch", vars(torch), out)
        for dotted in WATCHED_CLASSES:
            _namespace_entries(dotted, vars(_resolve(dotted)), out)
    _namespace_entries("builtins", vars(builtins), out)
    for plugin_name, plugin in pluginmanager.list_name_plugin():
        out[f"plugin {plugin_name}"] = _Entry(plugin)
    for hook_name in dir(pluginmanager.hook):
        caller = getattr(pluginmanager.hook, hook_name)
        if hasattr(caller, "get_hookimpls"):
            out[f"hook {hook_name}"] = _Entry(None, tuple(impl.function for impl in caller.get_hookimpls()))
    return out


def changes(before, after):
    """Names whose target changed or disappeared (sorted), ignoring names that were added."""
    folders = _trusted_folders()
    return sorted(
        name for name, value in before.items()
        if after.get(name) != value and not _rebound_by_a_trusted_module(name, value, after.get(name), folders)
    )


# Types whose values the checks compare, and the methods that would let a value lie about itself.
_VALUE_TYPES = (str, bytes, int, float, bool, list, tuple, dict, set)
_LYING_METHODS = ("__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__")


def _subclasses(cls):
    seen, stack = [], list(type.__subclasses__(cls))
    while stack:
        sub = stack.pop()
        seen.append(sub)
        stack.extend(type.__subclasses__(sub))
    return seen


def lying_types(package):
    """Classes of the submission (module under ``package``) that subclass a value type or
    ``torch.Tensor`` and redefine how they compare: an answer that claims to equal everything."""
    torch = sys.modules.get("torch")
    bases = _VALUE_TYPES + ((torch.Tensor,) if torch is not None else ())
    found = set()
    for base in bases:
        for sub in _subclasses(base):
            module = vars(sub).get("__module__", "")
            if isinstance(module, str) and module.startswith(package + ".") and any(
                    name in vars(sub) for name in _LYING_METHODS):
                found.add(f"{module.rpartition('.')[2]}.{sub.__qualname__}")
    return sorted(found)
