"""``exercises/`` and ``solutions/`` stay in step: same names, signatures, bases, given code; stubs are well formed.

Both packages are loaded by path through ``grader.impl.Implementation``; ``solutions`` is never
imported by name.
"""

import ast
import dataclasses
import inspect
import re

import pytest
import torch.nn as nn

from grader.impl import Implementation
from grader.rubric import BY_NUMBER, EXERCISES, MODULES

MARKERS = {ex.marker for ex in EXERCISES}
STUB_MESSAGE = re.compile(r"^Exercise (\d+): (\S+)$")
TODO_LINE = re.compile(r"^\s*# TODO: Exercise (\d+) \u2014 \S.*$")
RAISE_LINE = re.compile(r'^\s*raise NotImplementedError\("Exercise (\d+): ([\w.]+)"\)$')
TIMESTAMP = re.compile(r"\b\d\d:\d\d:\d\d\b")


def expected_stubs(module):
    """qualname -> (exercise number, marker) for the stubs ``module`` must contain."""
    return {qualname: (ex.number, ex.marker) for ex in EXERCISES if ex.module == module for qualname in ex.stubs}


@pytest.fixture(scope="module")
def ex():
    return Implementation("exercises")


@pytest.fixture(scope="module")
def sol():
    return Implementation("solutions")


# --- helpers ------------------------------------------------------------------------------------


def public_names(mod):
    """Functions and classes defined in ``mod`` itself (not imported), whose names do not start with ``_``."""
    names = {}
    for name, obj in vars(mod).items():
        if name.startswith("_"):
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) == mod.__name__ or dataclasses.is_dataclass(obj):
            names[name] = obj
    return names


def public_methods(cls):
    """Methods defined in the class body: ``__init__`` and every name not starting with ``_``."""
    return {
        name: obj
        for name, obj in vars(cls).items()
        if inspect.isfunction(obj) and (name == "__init__" or not name.startswith("_"))
    }


def base_names(cls, package):
    """Bases by name; a base defined inside the package is named by its module relative to the package."""
    names = []
    for base in cls.__bases__:
        module = base.__module__
        if module == package or module.startswith(package + "."):
            module = "<package>" + module[len(package) :]
        names.append(f"{module}.{base.__qualname__}")
    return names


def source_tree(impl, module):
    path = impl.path / f"{module}.py"
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def functions_by_qualname(tree):
    """qualname -> FunctionDef for every function and method of the module (nested ones included)."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[f"{prefix}{child.name}"] = child
                visit(child, f"{prefix}{child.name}.<locals>.")

    visit(tree, "")
    return found


def raises_not_implemented(func):
    for node in ast.walk(func):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


def without_docstring(func):
    """``ast.dump`` of a function with its docstring removed, to compare given code."""
    func = ast.parse(ast.unparse(func)).body[0]
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(
        body[0].value.value, str
    ):
        func.body = body[1:] or [ast.Pass()]
    return ast.dump(func)


def call_stub(mod, qualname):
    """Call the stub ``qualname`` of ``mod`` with placeholder arguments; return the exception it raised."""
    parts = qualname.split(".")
    if len(parts) == 1:
        func = getattr(mod, parts[0])
        bound = func
    else:
        cls = getattr(mod, parts[0])
        func = getattr(cls, parts[1])
        if parts[1] == "__init__":
            bound = cls
        else:
            obj = cls.__new__(cls)
            if isinstance(obj, nn.Module):
                nn.Module.__init__(obj)
            bound = getattr(obj, parts[1])
    params = inspect.signature(bound).parameters.values()
    args = [None for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        bound(*args)
    except NotImplementedError as exc:
        return exc
    except Exception as exc:  # a stub must raise NotImplementedError before it touches its arguments
        return exc
    return None


def last_frame(exc):
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code


# --- names, signatures, bases -------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_same_public_names(ex, sol, module):
    ex_names = set(public_names(ex.module(module)))
    sol_names = set(public_names(sol.module(module)))
    problems = [f"{ex.where(module)} lacks {n} (defined in {sol.where(module)})" for n in sorted(sol_names - ex_names)]
    problems += [f"{ex.where(module)} defines {n}, not in {sol.where(module)}" for n in sorted(ex_names - sol_names)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_same_signatures_and_bases(ex, sol, module):
    ex_mod, sol_mod = ex.module(module), sol.module(module)
    ex_names, sol_names = public_names(ex_mod), public_names(sol_mod)
    problems = []

    def compare_signature(qualname, ex_obj, sol_obj):
        ex_sig, sol_sig = inspect.signature(ex_obj), inspect.signature(sol_obj)
        if str(ex_sig) != str(sol_sig):
            problems.append(
                f"{ex.where(module, qualname)} has signature {ex_sig}, "
                f"{sol.where(module, qualname)} has {sol_sig}"
            )

    for name in sorted(set(ex_names) & set(sol_names)):
        ex_obj, sol_obj = ex_names[name], sol_names[name]
        if inspect.isclass(ex_obj) != inspect.isclass(sol_obj):
            problems.append(f"{ex.where(module, name)} and {sol.where(module, name)}: one is a class, the other is not")
            continue
        compare_signature(name, ex_obj, sol_obj)  # a class: its constructor
        if not inspect.isclass(ex_obj):
            continue
        ex_bases, sol_bases = base_names(ex_obj, ex.package), base_names(sol_obj, sol.package)
        if ex_bases != sol_bases:
            problems.append(f"{ex.where(module, name)} has bases {ex_bases}, {sol.where(module, name)} has {sol_bases}")
        if dataclasses.is_dataclass(ex_obj) != dataclasses.is_dataclass(sol_obj):
            problems.append(
                f"{ex.where(module, name)} and {sol.where(module, name)}: one is a dataclass, the other is not"
            )
        ex_methods, sol_methods = public_methods(ex_obj), public_methods(sol_obj)
        for method in sorted(set(sol_methods) - set(ex_methods)):
            problems.append(f"{ex.where(module, name)} lacks the method {method} (defined in {sol.where(module)})")
        for method in sorted(set(ex_methods) - set(sol_methods)):
            problems.append(f"{ex.where(module, name)} defines the method {method}, which {sol.where(module)} does not")
        for method in sorted(set(ex_methods) & set(sol_methods)):
            compare_signature(f"{name}.{method}", ex_methods[method], sol_methods[method])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_given_code_is_identical(ex, sol, module):
    """Imports, dataclasses and every function that is not a stub are the same code in both packages."""
    ex_tree, sol_tree = source_tree(ex, module), source_tree(sol, module)
    problems = []

    def imports(tree):
        return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]

    if imports(ex_tree) != imports(sol_tree):
        problems.append(
            f"{ex.where(module)} imports {imports(ex_tree)}, {sol.where(module)} imports {imports(sol_tree)}"
        )

    def dataclass_defs(tree):
        return {
            node.name: ast.dump(node)
            for node in tree.body
            if isinstance(node, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in node.decorator_list)
        }

    ex_dc, sol_dc = dataclass_defs(ex_tree), dataclass_defs(sol_tree)
    for name in sorted(set(ex_dc) | set(sol_dc)):
        if ex_dc.get(name) != sol_dc.get(name):
            problems.append(
                f"{ex.where(module, name)} differs from {sol.where(module, name)}: the dataclass is given code"
            )

    ex_funcs, sol_funcs = functions_by_qualname(ex_tree), functions_by_qualname(sol_tree)
    stubs = expected_stubs(module)
    for qualname in sorted(set(sol_funcs) - set(stubs)):
        if "<locals>" in qualname:
            continue
        if qualname not in ex_funcs:
            problems.append(f"{ex.where(module)} lacks {qualname}, given code in {sol.where(module)}")
        elif without_docstring(ex_funcs[qualname]) != without_docstring(sol_funcs[qualname]):
            problems.append(
                f"{ex.where(module, qualname)} differs from {sol.where(module, qualname)}: "
                f"it is given code (not an exercise) and must be copied as is"
            )
    assert not problems, "\n".join(problems)


# --- stubs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_stubs_are_exactly_the_exercises(ex, sol, module):
    ex_stubs = {q for q, f in functions_by_qualname(source_tree(ex, module)).items() if raises_not_implemented(f)}
    sol_stubs = {q for q, f in functions_by_qualname(source_tree(sol, module)).items() if raises_not_implemented(f)}
    expected = set(expected_stubs(module))
    problems = [f"{ex.where(module, q)} should be a stub (an exercise) but is not" for q in sorted(expected - ex_stubs)]
    problems += [f"{ex.where(module, q)} is a stub but is no exercise" for q in sorted(ex_stubs - expected)]
    problems += [f"{sol.where(module, q)} raises NotImplementedError: it must be complete" for q in sorted(sol_stubs)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_stub_bodies_are_the_idiom(ex, module):
    """After the docstring: ``raise NotImplementedError(...)``, or ``super().__init__()`` then the raise."""
    funcs = functions_by_qualname(source_tree(ex, module))
    problems = []
    for qualname in sorted(expected_stubs(module)):
        func = funcs.get(qualname)
        if func is None:
            continue  # reported by test_stubs_are_exactly_the_exercises
        body = func.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            body = body[1:]
        else:
            problems.append(f"{ex.where(module, qualname)} has no docstring")
        statements = [ast.unparse(node) for node in body]
        expected = []
        owner = getattr(ex.module(module), qualname.split(".")[0]) if "." in qualname else None
        if qualname.endswith(".__init__") and inspect.isclass(owner) and issubclass(owner, nn.Module):
            expected.append("super().__init__()")
        number = expected_stubs(module)[qualname][0]
        expected.append(f"raise NotImplementedError('Exercise {number}: {qualname}')")
        if statements != expected:
            problems.append(f"{ex.where(module, qualname)}: body is {statements}, expected {expected}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_stubs_raise_with_their_own_name(ex, module):
    mod = ex.module(module)
    path = str(ex.path / f"{module}.py")
    problems = []
    for qualname, (number, _) in sorted(expected_stubs(module).items()):
        where = ex.where(module, qualname)
        exc = call_stub(mod, qualname)
        if exc is None:
            problems.append(f"{where}: calling the stub raised nothing")
            continue
        if not isinstance(exc, NotImplementedError):
            problems.append(f"{where}: calling the stub raised {type(exc).__name__}: {exc}, not NotImplementedError")
            continue
        match = STUB_MESSAGE.match(str(exc))
        if not match:
            problems.append(f"{where}: message {str(exc)!r} does not match 'Exercise N: Qualname'")
            continue
        if (int(match.group(1)), match.group(2)) != (number, qualname):
            problems.append(f"{where}: message {str(exc)!r}, expected 'Exercise {number}: {qualname}'")
        code = last_frame(exc)
        if code.co_qualname != qualname or code.co_filename != path:
            problems.append(f"{where}: the NotImplementedError came from {code.co_qualname} in {code.co_filename}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_todo_comments_precede_matching_raises(ex, module):
    lines = (ex.path / f"{module}.py").read_text(encoding="utf-8").splitlines()
    problems = []
    for lineno, line in enumerate(lines, start=1):
        where = f"{ex.where(module)}:{lineno}"
        if re.match(r"^\s*#.*\bTODO\b", line):
            todo = TODO_LINE.match(line)
            if not todo:
                problems.append(f"{where}: {line.strip()!r} is not '# TODO: Exercise N \u2014 <what to write>'")
                continue
            following = next((l for l in lines[lineno:] if l.strip()), "")
            raise_ = RAISE_LINE.match(following)
            if not raise_:
                problems.append(f"{where}: the TODO is not followed by raise NotImplementedError(\"Exercise N: ...\")")
            elif raise_.group(1) != todo.group(1):
                problems.append(
                    f"{where}: TODO says Exercise {todo.group(1)}, the raise says Exercise {raise_.group(1)}"
                )
        elif re.match(r"^\s*raise\s+NotImplementedError\b", line):
            previous = next((l for l in reversed(lines[: lineno - 1]) if l.strip()), "")
            if not TODO_LINE.match(previous):
                problems.append(f"{where}: the raise is not preceded by its '# TODO: Exercise N \u2014' comment")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_stub_docstrings_teach(ex, module):
    """Each stub's docstring has Shapes:, a lecture timestamp, a Hint: and 'Check it: pytest -m <its marker>'."""
    funcs = functions_by_qualname(source_tree(ex, module))
    problems = []
    for qualname, (_, marker) in sorted(expected_stubs(module).items()):
        func = funcs.get(qualname)
        doc = ast.get_docstring(func) if func is not None else None
        if not doc:
            continue  # reported elsewhere
        where = ex.where(module, qualname)
        if "Shapes:" not in doc:
            problems.append(f"{where}: the docstring has no 'Shapes:' section")
        if "Lecture:" not in doc or not TIMESTAMP.search(doc):
            problems.append(f"{where}: the docstring names no lecture chapter with its hh:mm:ss timestamp")
        if "Hint:" not in doc:
            problems.append(f"{where}: the docstring has no 'Hint:'")
        checks = re.findall(r"Check it: pytest -m (\w+)", doc)
        if checks != [marker]:
            problems.append(f"{where}: the docstring says 'Check it: pytest -m {checks}', expected [{marker!r}]")
    assert not problems, "\n".join(problems)


def test_exercise_numbers_and_markers(ex):
    """The exercises are numbered exactly as the rubric's table, and docstrings name exactly its markers."""
    numbers, markers, problems = set(), set(), []
    for module in MODULES:
        text = (ex.path / f"{module}.py").read_text(encoding="utf-8")
        numbers |= {int(n) for n in re.findall(r"Exercise (\d+)", text)}
        tree = ast.parse(text)
        docs = [ast.get_docstring(tree)] + [ast.get_docstring(f) for f in functions_by_qualname(tree).values()]
        docs += [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for doc in filter(None, docs):
            markers |= set(re.findall(r"pytest -m (\w+)", doc))
    init_doc = ast.get_docstring(ast.parse((ex.path / "__init__.py").read_text(encoding="utf-8")))
    if not init_doc:
        problems.append(f"{ex.path / '__init__.py'} has no docstring")
    else:
        init_markers = set(re.findall(r"pytest -m (\w+)", init_doc))
        if not init_markers <= MARKERS:
            problems.append(f"exercises/__init__.py names unknown markers {sorted(init_markers - MARKERS)}")
        if "pytest" not in init_doc.replace("pytest -m", ""):
            problems.append("exercises/__init__.py does not tell the student to run pytest")
    if numbers != set(BY_NUMBER):
        problems.append(f"exercise numbers used in exercises/ are {sorted(numbers)}, expected {sorted(BY_NUMBER)}")
    if markers != MARKERS:
        problems.append(f"markers named in exercises/ docstrings are {sorted(markers)}, expected {sorted(MARKERS)}")
    assert not problems, "\n".join(problems)
