"""Variants of the reference: broken ones (one mistake each) and valid alternatives.

Each module here defines ``VARIANTS``, a list of ``Variant``; tests/test_variants.py grades every one.
A variant is a copy of solutions/ with text replacements, so it reads like the student's own edit.
"""

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    name: str
    # The exercise (pytest marker) that must lose points, and no other; None for a valid alternative
    # that must keep every point.
    exercise: str | None
    # {module: [(old, new), ...]}: each ``old`` occurs exactly once in solutions/<module>.py.
    edits: dict = field(default_factory=dict)
    # For a named mistake: text that the failure message of at least one lost check must contain.
    hint: str | None = None


def all_variants():
    found = []
    for info in pkgutil.iter_modules(__path__):
        found += importlib.import_module(f"{__name__}.{info.name}").VARIANTS
    names = [v.name for v in found]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"variant names used twice: {sorted(duplicates)}"
    return found
