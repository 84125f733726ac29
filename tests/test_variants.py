"""Every broken variant loses points in its own exercise and only there; every valid alternative keeps them all.

A variant of a core module is graded on the core's checks; a variant of an extra's module, which no
other check imports, on that extra's checks only (see scope()). Within that scope, a
variant is graded on the checks that executed code of a module it edits when the reference was graded
(tests/grade_many.py's Recorder): a check that never runs a module's code gives the same verdict
whatever the module holds, so every other check keeps the reference's verdict, and
test_the_recording_is_right grades a few variants on every check of their scope to prove it. The
training checks, which take seconds a run, grade another exercise's variants only where TRAINS_ON lists
them (see there why those few stand for the rest).
The variants are graded in two processes (a 2-core machine), many in each, each on one thread.
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.rubric import BY_MARKER
from kit import SOLUTIONS, make_variant, run_checks_many, table_entry
from variants import all_variants

VARIANTS = all_variants()

# The adder's training check takes ~4 s a run. Each of the 24 broken addition variants is caught by a
# check that does not train (measured: every one fails at least one other), so only these are graded
# on it too: they show it failing on broken batches, targets and losses. Valid alternatives always are.
# The GPT's training check (~10 s a run) grades every variant of Exercise 9 and every valid alternative.
# An attention, feed-forward or Block that differs from the contract is replaced there by the grader's
# own (judge_training.differing_parts), so another exercise's variant trains either the reference's
# computation or the reference with one of the grader's parts: these few stand for the ~60 such
# variants (4 more minutes to grade them all), one or more for each part replaced, among them those
# that failed it before (NaN, no residuals), and each must keep it like any check of another exercise.
# test_the_recording_is_right grades head-scaled-by-n_embd and block-no-residuals on it as well.
TRAINS_ON = {"test_addition::test_gpt_learns_to_add": {"addition-sum-not-reversed", "addition-targets-not-shifted",
                                                      "addition-loss-detached"},
             "test_gpt::test_training_beats_the_bigram": {
                 "gpt": {"mha-mask-after-softmax-inf", "mha-softmax-over-heads", "mha-no-mask", "ffwd-residual-inside",
                         "block-no-residual-on-attention", "block-ln1-twice"}}}


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
def reference(tmp_path_factory):
    """The reference graded on every check, recording which modules each check executed."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    tmp = tmp_path_factory.mktemp("reference")
    [run] = run_checks_many([{"impl": SOLUTIONS, "record": tmp / "modules.json"}], tmp)
    assert run.cases, run.output[-3000:]
    return run, json.loads((tmp / "modules.json").read_text())


def trains_on(check, variant):
    """Whether ``variant`` is graded on ``check``, a training check of TRAINS_ON: every valid alternative;
    the broken variants listed (for the GPT's check: its own exercise's and those listed of the others)."""
    listed = TRAINS_ON[check]
    if not variant.exercise:
        return True
    if isinstance(listed, dict):
        return variant.exercise in listed or variant.name in listed[exercise_of(check)]
    return variant.name in listed


def selected_checks(variant, reference):
    """The checks of the variant's scope that executed code of a module it edits (see the docstring)."""
    run, modules = reference
    markers, edited = set(scope(variant)), set(variant.edits)
    return [check for check in run.cases
            if exercise_of(check) in markers and edited & set(modules.get(check, {}).get("modules", ()))
            and (check not in TRAINS_ON or trains_on(check, variant))]


def grade_all(variants, reference, tmp_path_factory, every_check=False):
    """Grade ``variants`` in two processes; name -> (CheckRun, the checks it was graded on)."""
    _, modules = reference
    jobs = []
    for variant in variants:
        folder = make_variant(tmp_path_factory.mktemp(variant.name), "impl", variant.edits)
        # Every check of the scope that ran on the reference (the GPU checks skip without a GPU).
        checks = [c for c in modules if exercise_of(c) in scope(variant)] if every_check \
            else selected_checks(variant, reference)
        paths = [modules[c]["nodeid"] for c in checks]
        jobs.append((variant.name, checks, {"impl": folder, "paths": paths or ["--collect-only"]}))
    halves = [jobs[0::2], jobs[1::2]]

    def grade(half):
        runs = run_checks_many([job for _, _, job in half], tmp_path_factory.mktemp("many")) if half else []
        return {name: (run, checks) for (name, checks, _), run in zip(half, runs)}

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = {}
        for part in pool.map(grade, halves):
            results.update(part)
    return results


@pytest.fixture(scope="session")
def graded(request, reference, tmp_path_factory):
    """Grade every selected variant once, on the checks that touch what it edits; name -> (run, checks)."""
    selected = {item.callspec.params["variant"].name for item in request.session.items
                if hasattr(item, "callspec") and "variant" in item.callspec.params}
    return grade_all([v for v in VARIANTS if v.name in selected], reference, tmp_path_factory)


def lost_checks(reference, graded, variant):
    (run, checks), ref = graded[variant.name], reference[0]
    assert set(run.cases) == set(checks), f"{variant.name}: not every check ran\n{run.output[-3000:]}"
    return {check: run.cases[check][1] for check in checks
            if ref.cases[check][0] == "passed" and run.cases[check][0] != "passed"}


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.exercise], ids=lambda v: v.name)
def test_broken_variant_loses_points_in_its_exercise_only(reference, graded, variant):
    lost = lost_checks(reference, graded, variant)
    assert lost, f"{variant.name}: no check caught this mistake"
    where = {exercise_of(check) for check in lost}
    assert where == {variant.exercise}, f"{variant.name}: lost checks {sorted(lost)}"
    if variant.hint:
        # The right diagnosis leads: the table's line for the exercise names this mistake.
        shown = table_entry(graded[variant.name][0].output, BY_MARKER[variant.exercise].number)
        assert variant.hint in shown, (
            f"{variant.name}: the table does not show the mistake ({variant.hint!r}) but:\n{shown}\n"
            "the failures:\n" + "\n---\n".join(lost.values()))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not v.exercise], ids=lambda v: v.name)
def test_valid_alternative_keeps_every_point(reference, graded, variant):
    lost = lost_checks(reference, graded, variant)
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


# One variant of each module the core's checks execute, graded on every check of its scope: the
# checks left out of its selection must give the reference's verdict, or the recording is wrong.
PROOF = ["ids-start-at-one", "start-range-minus-one", "bigram-loss-summed", "argmax-instead-of-sampling",
         "head-scaled-by-n_embd", "block-no-residuals", "gpt-no-position-embedding"]


def test_the_recording_is_right(reference, tmp_path_factory):
    by_name = {v.name: v for v in VARIANTS}
    sampled = {name for listed in TRAINS_ON.values() for names in (listed.values() if isinstance(listed, dict)
                                                                    else [listed]) for name in names}
    assert set(PROOF) | sampled <= set(by_name), sorted(set(PROOF) | sampled - set(by_name))
    proof = [by_name[name] for name in PROOF]
    assert {module for v in proof for module in v.edits} >= {"tokenizer", "batching", "bigram", "generate",
                                                              "attention", "block", "gpt"}
    runs = grade_all(proof, reference, tmp_path_factory, every_check=True)
    for variant in proof:
        run, checks = runs[variant.name]
        assert set(run.cases) == set(checks), f"{variant.name}: not every check ran\n{run.output[-3000:]}"
        left_out = set(checks) - set(selected_checks(variant, reference))
        changed = {c for c in left_out if run.cases[c][0] != reference[0].cases[c][0]}
        assert not changed, f"{variant.name}: checks left out of its selection changed verdict: {sorted(changed)}"


# A variant of each part a GPT is built of, and the part the training checks must replace for it.
REPLACED = {"mha-mask-after-softmax-inf": ["sa"], "ffwd-residual-inside": ["ffwd"], "block-post-norm": ["block"],
            "mha-sdpa": [], "block-functional-layernorm": []}


def test_the_graders_parts_stand_in_for_the_differing_ones(tmp_path):
    # The training checks' first step (judge_training.differing_parts) finds the part that differs, and
    # the GPT made with the grader's parts in its place computes the contract at its own weights.
    import torch

    from grader.impl import Implementation
    from grader.oracles import judge_training
    from grader.probes.stand_ins import GPTWithGradersParts

    by_name = {v.name: v for v in VARIANTS}
    assert not judge_training.differing_parts(Implementation(str(SOLUTIONS)), 32, 4, 16)
    for name, keys in REPLACED.items():
        impl = Implementation(str(make_variant(tmp_path / name, "impl", by_name[name].edits)))
        assert [part.key for part in judge_training.differing_parts(impl, 32, 4, 16)] == keys, name
        torch.manual_seed(0)
        config = impl.get("gpt", "GPTConfig")(vocab_size=11, block_size=16, n_embd=32, n_head=4, n_layer=2, dropout=0.0)
        model = GPTWithGradersParts(impl.get("gpt", "GPTLanguageModel"), keys)(config).eval()
        idx = torch.randint(11, (2, 16), generator=torch.Generator().manual_seed(1))
        weights = {k: v.detach() for k, v in model.state_dict().items()}
        expected = judge_training.contract_forward(weights, idx, 2, 4)
        assert (model(idx)[0] - expected).abs().max().item() < 1e-4, name
