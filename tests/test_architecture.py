"""The layout ARCHITECTURE.md describes holds: the grader's sub-packages import one way, and every
function fits on a screen. Read from the source with ``ast``; nothing is imported."""

import ast

from grader.impl import KIT_ROOT

GRADER = KIT_ROOT / "grader"
MAX_FUNCTION_LINES = 60
# The imports among grader's sub-packages that ARCHITECTURE.md lists; a new one is a decision to write
# down there (and here), and may not close a cycle.
ALLOWED = {
    "checks": {"oracles", "probes", "sandbox"},
    "oracles": {"probes", "sandbox"},
    "probes": {"sandbox"},
    "classroom": {"student", "sandbox"},
    "student": {"sandbox"},
    "notebook": {"classroom", "oracles"},
    "trainer": {"probes"},
    "sandbox": set(),
}


def package_of(module):
    """``grader.sandbox.remote`` -> ``sandbox``; a top-level module (``grader.impl``) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (GRADER / parts[1]).is_dir() else None


def imported(path, module):
    """The grader modules ``path`` (module ``module``) imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package (an __init__ is its own package)
                parts = module.split(".")
                drop = node.level - 1 if path.name == "__init__.py" else node.level
                base = ".".join(parts[:len(parts) - drop] + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("grader.")}


def package_graph():
    """{package: {the packages it imports}}, among grader's sub-packages."""
    graph = {}
    for path in GRADER.rglob("*.py"):
        module = ".".join(path.relative_to(KIT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        source = package_of(module)
        for name in imported(path, module):
            target = package_of(name)
            if source and target and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycle_from(graph, start):
    """A path of imports from ``start`` back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        package, path = stack.pop()
        for target in sorted(graph.get(package, ())):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_sub_packages_import_one_way():
    graph = package_graph()
    unlisted = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets - ALLOWED.get(a, set()))
    assert not unlisted, f"imports ARCHITECTURE.md does not list: {unlisted}"
    cycles = [cycle for package in graph if (cycle := cycle_from(graph, package))]
    assert not cycles, "import cycles among grader's sub-packages: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_listed_imports_have_no_cycle():
    cycles = [cycle for package in ALLOWED if (cycle := cycle_from(ALLOWED, package))]
    assert not cycles, cycles


def test_the_cycle_finder_finds_a_cycle():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": {"c"}}, "a") is None


def test_every_function_fits_on_a_screen():
    long = []
    for path in sorted(GRADER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(KIT_ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)
