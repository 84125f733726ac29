"""Every broken variant loses points in its own exercise and only there; every valid alternative keeps them all.

The variants are graded two at a time, each process on one thread, to fit a 2-core machine.
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
        folder = make_variant(tmp, "impl", variant.edits) if variant else "solutions"
        return run_checks(folder, tmp_path=tmp)

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip([None] + [v.name for v in chosen], pool.map(grade, [None] + chosen)))
    return runs


def lost_checks(graded, name):
    reference, run = graded[None], graded[name]
    assert run.cases.keys() == reference.cases.keys(), f"{name}: not every check ran\n{run.output[-3000:]}"
    return {check: run.cases[check][1] for check, (outcome, _) in reference.cases.items()
            if outcome == "passed" and run.cases[check][0] != "passed"}


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.exercise], ids=lambda v: v.name)
def test_broken_variant_loses_points_in_its_exercise_only(graded, variant):
    lost = lost_checks(graded, variant.name)
    assert lost, f"{variant.name}: no check caught this mistake"
    where = {exercise_of(check) for check in lost
             if check not in END_TO_END or exercise_of(check) == variant.exercise}
    assert where == {variant.exercise}, f"{variant.name}: lost checks {sorted(lost)}"
    if variant.hint:
        assert any(variant.hint in message for message in lost.values()), (
            f"{variant.name}: no failure names the mistake ({variant.hint!r}):\n" + "\n---\n".join(lost.values()))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.exercise], ids=lambda v: v.name)
def test_valid_alternative_keeps_every_point(graded, variant):
    lost = lost_checks(graded, variant.name)
    assert not lost, f"{variant.name} is valid but lost:\n" + "\n---\n".join(f"{k}\n{v}" for k, v in lost.items())


def test_enough_variants_cover_every_exercise():
    from grader.rubric import EXERCISES

    broken = [v for v in VARIANTS if v.exercise]
    assert len(broken) >= 25
    assert {v.exercise for v in broken} == {ex.marker for ex in EXERCISES}
