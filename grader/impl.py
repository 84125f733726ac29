"""Find and load the implementation that is graded or trained: ``exercises``, ``solutions`` or a folder.

A folder is loaded as a package under a private name, so relative imports inside it work and the
kit's own ``solutions`` package is never imported by name.
"""

import hashlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent

# A single-file submission (or a notebook) is graded as a folder holding it as submission.py, with one
# small module per contract module (rubric.MODULES) taking its names; the mark file tells where() so.
SINGLE_FILE = "submission.py"
SINGLE_FILE_MARK = ".gptkit-single-file"


# The graded folder is imported as a package of this name and a digest of its path, never by its own.
PRIVATE_PACKAGE = "_gptkit_impl_"


class ImplementationError(Exception):
    """The implementation cannot be found or one of its modules cannot be imported. As data, for the
    reports (an extra whose code is not there is "not attempted"): ``missing_module``, the contract
    module whose file the graded folder lacks, or ``missing_name``, the contract name its module (there)
    does not define; neither for anything else (a folder shadowing the module, no folder at all)."""

    def __init__(self, message, missing_module="", missing_name=""):
        super().__init__(message)
        self.missing_module = missing_module
        self.missing_name = missing_name


def resolve(spec):
    """Turn ``--impl`` into a folder: ``exercises`` and ``solutions`` name the kit's own, else a path."""
    spec = str(spec)
    if spec in ("exercises", "solutions") and not Path(spec).is_dir():
        folder = KIT_ROOT / spec
    else:
        folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ImplementationError(
            f"--impl {spec}: no folder {folder}. Give 'exercises', 'solutions', "
            f"or the path to a folder shaped like exercises/ (tokenizer.py, attention.py, ...)."
        )
    return folder.resolve()


class Implementation:
    """A folder of modules shaped like ``exercises/``, imported on demand under a private package name."""

    def __init__(self, spec):
        self.spec = str(spec)
        self.path = resolve(spec)
        digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:10]
        self.package = f"{PRIVATE_PACKAGE}{digest}"
        self._package_module = None

    @property
    def label(self):
        """How reports name it: ``exercises``, ``solutions`` or the folder's path."""
        return self.spec if self.spec in ("exercises", "solutions") else str(self.path)

    def where(self, module, name=None):
        """A place a student can open, e.g. ``exercises/attention.py, Head.forward``."""
        if (self.path / SINGLE_FILE_MARK).is_file():
            module = SINGLE_FILE[:-3]
        try:
            file = (self.path / f"{module}.py").relative_to(Path.cwd())
        except ValueError:
            file = self.path / f"{module}.py"
        return f"{file}, {name}" if name else str(file)

    def where_is(self, name):
        """``where`` for a name of CONTRACT.md, in the module the exercise table gives it:
        ``where_is("Head.forward")`` is ``where("attention", "Head.forward")``."""
        # Imported here, not above: the submission's process loads this module, and nothing of the judge
        # (grader/probes/server.py, JUDGE_MODULES).
        from grader.rubric import EXERCISES

        owner = name.partition(".")[0]
        modules = {exercise.module for exercise in EXERCISES if owner in exercise.names}
        if len(modules) != 1:
            raise ValueError(f"{owner} is not a name of one exercise in grader/rubric.py")
        return self.where(modules.pop(), name)

    def _ensure_package(self):
        if self._package_module is not None:
            return self._package_module
        init = self.path / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(
                self.package, init, submodule_search_locations=[str(self.path)]
            )
            pkg = importlib.util.module_from_spec(spec)
            sys.modules[self.package] = pkg
            try:
                spec.loader.exec_module(pkg)
            except BaseException:
                del sys.modules[self.package]
                raise
        else:
            pkg = types.ModuleType(self.package)
            pkg.__path__ = [str(self.path)]
            pkg.__package__ = self.package
            sys.modules[self.package] = pkg
        self._package_module = pkg
        return pkg

    def module(self, name):
        """Import ``<folder>/<name>.py``; a missing file raises ImplementationError that says which."""
        if not (self.path / f"{name}.py").is_file():
            raise ImplementationError(f"{self.where(name)} is missing: the graded folder needs a module {name}.py",
                                      missing_module=name)
        self._ensure_package()
        return importlib.import_module(f"{self.package}.{name}")

    def build(self, cls, *args, **kwargs):
        """A grader object that the submission's code will use (a stand-in model, say), built where that
        code runs: here, in this process; in teacher mode, in the submission's own (grader/sandbox/remote.py).
        ``cls`` and any function among the arguments must be defined at the top level of a grader module."""
        return cls(*args, **kwargs)

    def get(self, module, name):
        """``module.name`` from the implementation, or ImplementationError saying what is missing."""
        mod = self.module(module)
        try:
            return getattr(mod, name)
        except AttributeError:
            if Path(getattr(mod, "__file__", None) or self.path / module) != self.path / f"{module}.py":
                # A package folder of the same name, which Python imports in the module's place.
                raise ImplementationError(f"{self.where(module)} is not what Python imports: the folder {module}/ "
                                          f"beside it comes first, and defines no {name}; rename or delete the "
                                          f"folder {module}/") from None
            raise ImplementationError(f"{self.where(module)} defines no {name}: CONTRACT.md names it there",
                                      missing_name=name) from None
