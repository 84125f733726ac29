"""What a stub looks like in source (``raise NotImplementedError("Exercise N: ...")``), for the places that
tell a stub from written code without running it: the upload picker (grader/classroom/upload.py) and the
notebook's extras not yet started (grader/notebook/in_notebook.py)."""

import ast


def top_level(tree):
    """The functions and classes defined at the top level of ``tree``, by name (the last definition wins)."""
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def raises_not_implemented(statement):
    """Whether ``statement`` is ``raise NotImplementedError`` or ``raise NotImplementedError(...)``."""
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
