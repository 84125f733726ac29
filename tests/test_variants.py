"""Every broken variant loses points in its own exercise and only there; every valid alternative keeps them all.

The variants are graded two at a time, each process on one thread, to fit a 2-core machine. A variant
of a core module is graded on the core's checks; a variant of an extra's module (Exercises 10-14),
which no other check imports, on that extra's checks only (see scope()).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from kit import make_variant, run_checks
from variants import all_variants

VARIANTS = all_variants()

# The end-to-end check trains a small GPT built from all of the student's own parts (DESIGN.md), so a
# part that breaks training (NaN from a mask applied after the softmax, say) loses it too: the one
# place where a mistake may cost points outside its own exercise.
END_TO_END = {"test_gpt::test_training_beats_the_bigram"}


def exercise_of(check):
    """``test_head::test_x[...]`` -> ``head`` (one check file per exercise)."""
    return check.split("::")[0].removeprefix("test_")


def scope(variant):
    """The markers whose checks grade ``variant``: the extras whose modules it edits, else the core."""
    from grader.rubric import CORE, EXTRAS

    edited = set(variant.edits)
    extras = [ex.marker for ex in EXTRAS if ex.module in edited]
    if extras and not edited & {ex.module for ex in CORE}:
        return extras
    return [ex.marker for ex in CORE]


def marker_expression(markers):
    return " or ".join(markers)


# Grading ~100 variants takes minutes, all in the first test that asks: this guards against a hang only.
pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    """Grade the reference and every selected variant once; name -> CheckRun."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    selected = {item.callspec.params["variant"].name for item in request.session.items
                if hasattr(item, "callspec") and "variant" in item.callspec.params}
    chosen = [v for v in VARIANTS if v.name in selected]

    def grade(variant):
        tmp = tmp_path_factory.mktemp(variant.name if variant else "reference")
        if variant is None:
            return run_checks("solutions", tmp_path=tmp)
        folder = make_variant(tmp, "impl", variant.edits)
        return run_checks(folder, "-m", marker_expression(scope(variant)), tmp_path=tmp)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip([None] + [v.name for v in chosen], pool.map(grade, [None] + chosen)))
    return runs


def lost_checks(graded, variant):
    reference, run = graded[None], graded[variant.name]
    markers = set(scope(variant))
    expected = {check: outcome for check, (outcome, _) in reference.cases.items() if exercise_of(check) in markers}
    assert run.cases.keys() == expected.keys(), f"{variant.name}: not every check ran\n{run.output[-3000:]}"
    return {check: run.cases[check][1] for check, outcome in expected.items()
            if outcome == "passed" and run.cases[check][0] != "passed"}


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.exercise], ids=lambda v: v.name)
def test_broken_variant_loses_points_in_its_exercise_only(graded, variant):
    lost = lost_checks(graded, variant)
    assert lost, f"{variant.name}: no check caught this mistake"
    where = {exercise_of(check) for check in lost
             if check not in END_TO_END or exercise_of(check) == variant.exercise}
    assert where == {variant.exercise}, f"{variant.name}: lost checks {sorted(lost)}"
    if variant.hint:
        assert any(variant.hint in message for message in lost.values()), (
            f"{variant.name}: no failure names the mistake ({variant.hint!r}):\n" + "\n---\n".join(lost.values()))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.exercise], ids=lambda v: v.name)
def test_valid_alternative_keeps_every_point(graded, variant):
    lost = lost_checks(graded, variant)
    assert not lost, f"{variant.name} is valid but lost:\n" + "\n---\n".join(f"{k}\n{v}" for k, v in lost.items())


def test_enough_variants_cover_every_exercise():
    from grader.rubric import EXERCISES

    broken = [v for v in VARIANTS if v.exercise]
    assert len(broken) >= 25
    assert {v.exercise for v in broken} == {ex.marker for ex in EXERCISES}
    # Issue 6: at least two broken variants for each extra.
    for ex in EXERCISES:
        if ex.track == "extra":
            assert sum(v.exercise == ex.marker for v in broken) >= 2, ex.marker
