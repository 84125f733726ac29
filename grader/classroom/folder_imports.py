"""A folder of Python modules read as Python would import it, never run: which file ``import attention``
finds there (a package folder attention/ before attention.py), where a name a module binds comes from
(``from .model import Head``), and which of the folder's files its modules import. The upload picker
(grader/classroom/upload.py) credits a folder with it."""

import ast
import os
from importlib.machinery import BYTECODE_SUFFIXES, EXTENSION_SUFFIXES, SOURCE_SUFFIXES

from grader.classroom.submitted_files import copied

# What Python looks for in a folder for ``import x``, in its order (FileFinder): compiled extension
# modules, then .py, then .pyc; a folder x/ with an __init__ file of one of these comes before them all.
SUFFIXES = (*EXTENSION_SUFFIXES, *SOURCE_SUFFIXES, *BYTECODE_SUFFIXES)
MAX_HOPS = 100  # imports followed to find one name: a real re-export takes one or two


class _Module:
    """A module of a graded folder as Python finds it: ``file`` is what it runs (None for a folder
    without __init__), ``where`` the folder of its submodules (None for a plain module), ``tree`` the
    file read (None where it is not Python source), ``problem`` why a .py file could not be read."""

    def __init__(self, parts, file, where, tree=None, problem=""):
        self.parts, self.file, self.where, self.tree, self.problem = parts, file, where, tree, problem
        self._statements = None

    def statements(self):
        """The top-level statements, with those of a top-level ``try`` when it succeeds (``try: from
        .model import Head`` / ``except ImportError: from model import Head``)."""
        if self._statements is None:
            todo, self._statements = list(self.tree.body if self.tree else ()), []
            while todo:
                statement = todo.pop(0)
                if isinstance(statement, ast.Try):
                    todo[:0] = statement.body + statement.orelse + statement.finalbody
                else:
                    self._statements.append(statement)
        return self._statements


class Folder:
    """A folder graded as a package, read as Python will import it from the copy that is graded
    (submitted_files.copied). A module is named by its parts inside the folder: ("attention",),
    ("model", "heads"); () is the folder's own __init__.py."""

    def __init__(self, root, parse):
        self.root, self.parse = root, parse  # parse(path) -> ast.Module, or ValueError saying why not
        self.modules, self.listings = {}, {}

    def copied(self, path):
        return copied(path, self.root)

    def _names(self, folder):
        # Names as they are spelled: Python matches case exactly, even where the disk does not.
        if folder not in self.listings:
            try:
                self.listings[folder] = set(os.listdir(folder))
            except OSError:  # not a folder, or one that cannot be listed: nothing there is imported
                self.listings[folder] = set()
        return self.listings[folder]

    def _find(self, folder, name):
        """What ``import name`` finds in ``folder``, in Python's order: a folder with an __init__ file,
        a file, a folder without one (a namespace package); None where nothing is found."""
        here = folder / name
        is_folder = name in self._names(folder) and here.is_dir() and self.copied(here)
        for suffix in SUFFIXES if is_folder else ():
            if f"__init__{suffix}" in self._names(here) and self.copied(here / f"__init__{suffix}"):
                return here / f"__init__{suffix}", here
        for suffix in SUFFIXES:
            if name + suffix in self._names(folder) and self.copied(folder / (name + suffix)):
                return folder / (name + suffix), None
        return (None, here) if is_folder else None

    def module(self, parts):
        """The _Module ``parts``, or None where the import fails (it is not in the copy)."""
        if parts not in self.modules:
            self.modules[parts] = self._read(parts)
        return self.modules[parts]

    def _read(self, parts):
        if not parts:
            init = self.root / "__init__.py"  # the grading runs it first (grader/impl.py)
            found = (init if self.copied(init) else None), self.root
        else:
            outer = self.module(parts[:-1])
            found = outer and outer.where and self._find(outer.where, parts[-1])
        if not found:
            return None
        file, where = found
        if file is None or file.suffix != ".py":
            return _Module(parts, file, where)  # nothing to read: a namespace package, compiled code
        try:
            return _Module(parts, file, where, self.parse(file))
        except ValueError as exc:  # the parser's own reason: a syntax error, a file too large
            return _Module(parts, file, where, problem=str(exc))

    def source(self, module, node):
        """The module ``from ... import`` (an ast.ImportFrom in ``module``) takes its names from, or None
        where it is not in the folder: torch, a library, or above the folder."""
        if node.level:
            base = module.parts if module.where else module.parts[:-1]
            if node.level - 1 > len(base):
                return None
            base = base[:len(base) - (node.level - 1)]
        elif self._find(self.root, node.module.split(".")[0]):
            base = ()  # `from model import Head`: a module of the folder, by its absolute name
        else:
            return None
        return base + tuple(node.module.split(".") if node.module else ())

    def definition(self, parts, name):
        """The function or class that ``name`` is in the module ``parts`` once imported, followed
        through imports from the folder and renames (``Head = AttentionHead``); None where it is not
        one the folder defines."""
        return self._lookup(parts, name, set())[1]

    def _lookup(self, parts, name, seen):
        """(whether the module binds ``name`` at its top level, the definition it is or None)."""
        module = self.module(parts)
        if module is None or (parts, name) in seen or len(seen) >= MAX_HOPS:
            return False, None  # not there, or an import cycle: the import fails at grading as well
        seen.add((parts, name))
        for statement in reversed(module.statements()):  # the last binding is the one that stays
            bound, node = self._binding(module, statement, name, seen)
            if bound:
                return True, node
        return False, None

    def _binding(self, module, statement, name, seen):
        """(whether ``statement`` binds ``name``, the definition it binds or None)."""
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return statement.name == name, statement
        if isinstance(statement, ast.ImportFrom):
            base = self.source(module, statement)
            for alias in reversed(statement.names):
                if alias.name == "*" and base is not None and self._exports(base, name):
                    bound, node = self._lookup(base, name, seen)
                    if bound:
                        return True, node
                elif (alias.asname or alias.name) == name:  # `from .model import AttentionHead as Head`
                    return True, None if base is None else self._lookup(base, alias.name, seen)[1]
            return False, None
        if name not in _bound_by(statement):
            return False, None
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Name) and t.id == name for t in _targets(statement)):
            return True, self._value(module, statement.value, seen)
        return True, None  # a module (import model), or unpacked from a tuple: not followed

    def _value(self, module, value, seen):
        """The definition ``value`` (``AttentionHead`` or ``model.Head``) stands for, or None."""
        if isinstance(value, ast.Name):
            return self._lookup(module.parts, value.id, seen)[1]
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            parts = self._module_named(module, value.value.id)
            return None if parts is None else self._lookup(parts, value.attr, seen)[1]
        return None

    def _module_named(self, module, name):
        """The module of the folder that ``name`` is bound to at the top level of ``module`` (by
        ``import model``, ``from . import model as m``), or None."""
        for statement in reversed(module.statements()):
            if isinstance(statement, ast.Import):
                for alias in reversed(statement.names):
                    parts = alias.name.split(".")
                    if (alias.asname or parts[0]) == name:  # `import model.heads` binds model
                        found = self._find(self.root, parts[0])
                        return tuple(parts if alias.asname else parts[:1]) if found else None
            elif isinstance(statement, ast.ImportFrom):
                for alias in reversed(statement.names):
                    if (alias.asname or alias.name) == name:
                        base = self.source(module, statement)
                        return None if base is None else base + (alias.name,)
            elif name in _bound_by(statement):
                return None  # bound to something else since
        return None

    def _exports(self, parts, name):
        """Whether ``from <parts> import *`` takes ``name``: the names in its literal __all__, else
        those not starting with _."""
        module = self.module(parts)
        for statement in reversed(module.statements() if module else []):
            if (isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                          for t in statement.targets)):
                try:
                    return name in ast.literal_eval(statement.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    break
        return not name.startswith("_")

    def runs(self, present):
        """The files Python may run when the modules ``present`` are graded: the folder's __init__.py,
        these modules, the packages that hold them, and every module of the folder they import,
        anywhere in their code (in a function too)."""
        todo, done = [()] + [(m,) for m in present], set()
        while todo:
            parts = todo.pop()
            module = None if parts in done else self.module(parts)
            done.add(parts)
            if module is None:
                continue
            todo += [parts[:i] for i in range(len(parts))]  # importing model.heads runs model first
            for node in ast.walk(module.tree) if module.tree else ():
                todo += self._imported(module, node)
        return frozenset(self.modules[parts].file for parts in done
                         if self.modules.get(parts) and self.modules[parts].file)

    def _imported(self, module, node):
        """The modules of the folder that ``node`` (any node of ``module``) may import."""
        if isinstance(node, ast.Import):
            return [tuple(alias.name.split(".")) for alias in node.names
                    if self._find(self.root, alias.name.split(".")[0])]
        base = self.source(module, node) if isinstance(node, ast.ImportFrom) else None
        # `from .model import heads` may import the module model.heads
        return [] if base is None else [base] + [base + (alias.name,) for alias in node.names if alias.name != "*"]


def _bound_by(statement):
    """The names a top-level ``statement`` binds (those of ``from x import *`` aside)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, ast.Import):
        return {alias.asname or alias.name.split(".")[0] for alias in statement.names}
    if isinstance(statement, ast.ImportFrom):
        return {alias.asname or alias.name for alias in statement.names if alias.name != "*"}
    return {node.id for target in _targets(statement) for node in ast.walk(target)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


def _targets(statement):
    if isinstance(statement, ast.Assign):
        return statement.targets
    return [statement.target] if isinstance(statement, ast.AnnAssign) and statement.value else []
