"""The GitHub Classroom workflow that ``python -m grader bundle --classroom FILE`` writes, and the step of it
that turns the grade sheet into what Classroom's reporter adds up:

    python -m grader.classroom.github_classroom grades/exercises/results.json head --runners tokenizer,...,gpt

prints ``result=<base64 JSON>`` (for $GITHUB_OUTPUT) with the checks of one exercise, each worth the points it
earned in the grade sheet, such that Classroom's total is the grade sheet's total, to the point.

What the reporter reads (classroom-resources/autograding-grading-reporter@v1; read in src/main.js,
src/notify-classroom.js, src/helpers/test-helpers.js and the built dist/main.js):
  - its ``runners`` input: step ids separated by commas; the result of runner ``head`` is the environment
    variable HEAD_RESULTS (the id upper-cased), base64 of a UTF-8 JSON object;
  - the total that Classroom records: the notice "Points <total>/<max>" and the JSON {totalPoints, maxPoints},
    where max adds up each runner's ``max_score`` and total adds up each test's ``score`` with JavaScript's +=
    (binary floats), from 0, runners in the input's order and tests in their order; a runner whose max_score
    is 0 or missing is left out, and a test without a score would make the total NaN;
  - a runner's ``status`` "fail" or "error" marks the step failed; a test's ``status`` "pass" shows a tick,
    "error" shows its ``message``, anything else a cross; ``line_no`` other than 0 is shown as a line number and
    ``test_code`` when set, so 0 and none here.
The graders that Classroom's own workflows use write the same object the same way (``result=`` then base64
into $GITHUB_OUTPUT: autograding-python-grader bin/run.sh; {version: 1, status, max_score, tests: [{name,
status, score, message, line_no}]} in autograding-command-grader src/main.js).
"""

import argparse
import base64
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

# Only the rubric and the standard library: the step must run, and say why there are no points, even when
# installing the kit failed (python -m finds the grader package in the checkout).
from grader.classroom.safe_text import clipped
from grader.rubric import BY_MARKER, EXERCISES, POINTS

TEMPLATES = Path(__file__).resolve().parent / "templates"
RESULTS = "grades/exercises/results.json"  # where the workflow's Grade sheet step grades exercises/
DECIMALS = 4  # grade rounds its totals to 4 decimals (reports.Graded), and so do these points
UNIT = 10 ** DECIMALS
SEE_THE_GRADE_SHEET = ("The log of the step \"Grade sheet\" says why, and the artifact \"grades\" of this "
                       "workflow run (on its page in the Actions tab) holds what it wrote.")


def workflow_exercises(markers=None):
    """The exercises the workflow grades, in lecture order: the core's (100 points), or those of ``markers``,
    extras included. Classroom adds up every step, so the extras join only when named."""
    return [ex for ex in EXERCISES if (ex.marker in markers if markers else ex.track == "core")]


def classroom_workflow(markers=None):
    """The GitHub Classroom workflow: the grade sheet once, then one step per exercise with its points."""
    exercises = workflow_exercises(markers)
    runners = ",".join(ex.marker for ex in exercises)
    grade_options = "".join(f" -m {ex.marker}" for ex in exercises) if markers else ""
    env = [f"          {ex.marker.upper()}_RESULTS: \"${{{{steps.{ex.marker}.outputs.result}}}}\"" for ex in exercises]
    return ((TEMPLATES / "github-classroom.yml").read_text()
            .replace("@GRADE_OPTIONS@", grade_options)
            .replace("@STEPS@", "\n".join(_exercise_step(ex, runners) for ex in exercises))
            .replace("@REPORTER_ENV@", "\n".join(env))
            .replace("@RUNNERS@", runners))


def _exercise_step(ex, runners):
    # The result after || is for when Python cannot even start this step: 0 points, and the reason.
    fallback = encode(no_grade(ex, "the grader could not run in this step: its log says why."))
    return (f"      - name: Exercise {ex.number} ({ex.marker})\n"
            f"        id: {ex.marker}\n"
            f"        if: always()\n"
            f"        run: |\n"
            f"          python -m grader.classroom.github_classroom {RESULTS} {ex.marker} \\\n"
            f"            --runners {runners} >> \"$GITHUB_OUTPUT\" \\\n"
            f"            || echo \"result={fallback}\" >> \"$GITHUB_OUTPUT\"")


@dataclass
class GradedCheck:
    """One test of results.json, with the points the rubric gives it."""

    marker: str
    name: str
    passed: bool
    output: str
    exact: Fraction  # its points, exactly: a parametrized check shares its function's points equally
    points: float  # the same as grade adds them up (grader/student/scoreboard.py, check_points)


def graded_checks(results):
    """The checks in results.json, in its order (lecture order). Their points come from the rubric, not from
    the file: results.json shows each check's points to the hundredth (1 point over 3 parameters is 0.34, 0.33,
    0.33) and the extras' as 0 (they are kept apart from its score), neither of which adds up to grade's total."""
    tests = [(test["tags"][0], test["name"].partition(": ")[2].partition("[")[0], test) for test in results["tests"]]
    shares = Counter((marker, function) for marker, function, _ in tests)
    checks = []
    for marker, function, test in tests:
        points, share = POINTS.get(marker, {}).get(function, 0), shares[(marker, function)]
        checks.append(GradedCheck(marker, test["name"], test["status"] == "passed", test.get("output") or "",
                                  Fraction(points, share), points / share))
    return checks


def grade_total(checks):
    """A track's total as grade computes it: the float sum of the points earned, in lecture order, rounded to
    4 decimals (reports.Graded), here in units of 1/10,000 of a point."""
    total = round(sum(check.points for check in checks if check.passed), DECIMALS)
    return round(Fraction(total) * UNIT)


def apportion(units, weights):
    """``units`` (whole 1/10,000 points) shared among ``weights`` (exact points) as closely as can be: each gets
    its weight rounded down, and the units left over go to the largest remainders, the earlier on a tie; a
    weight of 0 (a failed check) gets nothing."""
    exact = [weight * UNIT for weight in weights]
    shares = [math.floor(e) for e in exact]
    left = units - sum(shares)
    by_remainder = sorted((i for i, e in enumerate(exact) if e), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:max(left, 0)]:
        shares[i] += 1
    return shares


def earned_units(checks, runners):
    """marker -> each check's points in units of 1/10,000, for the exercises in ``runners``: per track (core,
    extras) they add up to grade's total exactly; per exercise, to its exact points rounded up or down."""
    units = {}
    for track in ("core", "extra"):
        markers = [m for m in runners if BY_MARKER[m].track == track]
        in_track = [c for c in checks if c.marker in markers]
        by_exercise = [[c for c in in_track if c.marker == m] for m in markers]
        totals = apportion(grade_total(in_track), [sum(c.exact for c in ex if c.passed) for ex in by_exercise])
        for marker, ex_checks, total in zip(markers, by_exercise, totals):
            units[marker] = apportion(total, [c.exact if c.passed else Fraction(0) for c in ex_checks])
    return units


def reporter_total(scores):
    """The total as the reporter adds it up: floats, from 0, in order (JavaScript's numbers are these floats)."""
    total = 0.0
    for score in scores:
        total += score
    return total


def land_on(target, scores):
    """``scores`` with the last nonzero one moved by a few units in the last place, if need be, so that the
    reporter's float sum is exactly ``target``: adding 0.3333 and 0.3334 as binary floats can print as
    0.6667000000000001, and Classroom records the sum as it prints. Invisible anywhere else."""
    nonzero = [i for i, score in enumerate(scores) if score]
    if not nonzero:
        return scores
    last = nonzero[-1]
    before = reporter_total(scores[:last])
    score = target - before
    for _ in range(64):
        total = before + score
        if total == target:
            break
        score = math.nextafter(score, math.inf if total < target else -math.inf)
    return scores[:last] + [score] + scores[last + 1:]


def classroom_scores(checks, runners):
    """marker -> each check's score as the reporter will read it (floats), the reporter's total over ``runners``
    being grade's total exactly."""
    units = earned_units(checks, runners)
    flat = [u / UNIT for m in runners for u in units[m]]
    target = sum(sum(units[m]) for m in runners) / UNIT
    flat = land_on(target, flat)
    scores, start = {}, 0
    for marker in runners:
        scores[marker] = flat[start:start + len(units[marker])]
        start += len(units[marker])
    return scores


def runner_result(ex, checks, scores):
    """One exercise as the reporter reads it."""
    tests = [{"name": c.name, "status": "pass" if c.passed else "fail", "score": _json_number(score),
              "message": "" if c.passed else _message(c.output), "line_no": 0}
             for c, score in zip(checks, scores)]
    return {"version": 1, "status": "pass" if all(c.passed for c in checks) else "fail",
            "max_score": ex.max_points, "tests": tests}


def no_grade(ex, why):
    """An exercise that could not be graded: 0 of its points, and why, shown as the reporter shows errors."""
    message = f"No points for Exercise {ex.number}: {why}"
    return {"version": 1, "status": "error", "max_score": ex.max_points,
            "tests": [{"name": f"Exercise {ex.number} ({ex.marker}): {ex.title}", "status": "error", "score": 0,
                       "message": message, "line_no": 0}]}


def exercise_result(results_path, marker, runners):
    """The result of exercise ``marker`` from the grade sheet at ``results_path``; never raises: with no grade
    sheet, or one that cannot be read, the exercise scores 0 and the message says what happened."""
    ex = BY_MARKER[marker]
    try:
        results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return no_grade(ex, f"{results_path} is missing: grading did not finish. {SEE_THE_GRADE_SHEET}")
    except (OSError, ValueError) as exc:
        return no_grade(ex, f"{results_path} could not be read ({type(exc).__name__}: {exc}). {SEE_THE_GRADE_SHEET}")
    try:
        checks = graded_checks(results)
        mine = [c for c in checks if c.marker == marker]
        if not mine and marker in results.get("extra_data", {}).get("not_attempted", []):
            return {"version": 1, "status": "fail", "max_score": ex.max_points,
                    "tests": [{"name": f"Exercise {ex.number} ({ex.marker}): {ex.title}", "status": "fail",
                               "score": 0, "message": f"Exercise {ex.number}: not attempted", "line_no": 0}]}
        if not mine:
            return no_grade(ex, f"{results_path} has no checks of it ({_first_line(results.get('output', ''))}). "
                                f"{SEE_THE_GRADE_SHEET}")
        return runner_result(ex, mine, classroom_scores(checks, runners)[marker])
    except Exception as exc:  # a grade sheet of another shape: still a number for Classroom, and why
        return no_grade(ex, f"{results_path} could not be turned into points ({type(exc).__name__}: {exc}). "
                            f"{SEE_THE_GRADE_SHEET}")


def encode(result):
    """The value of the output ``result``: base64 of the JSON, in ASCII (the reporter decodes UTF-8)."""
    return base64.b64encode(json.dumps(result, separators=(",", ":")).encode()).decode()


def _json_number(score):
    return int(score) if float(score).is_integer() else score


def _message(text, lines=8, limit=800):
    """A failed check's message as the student needs it: its first ``lines`` lines that say something
    (what was expected, what came instead, where to look, the mistake named), at most ``limit``
    characters; the whole of it is in the grade sheet. Kept short: every exercise's messages travel
    in the environment variables the reporter reads."""
    kept = [line.rstrip() for line in str(text).splitlines() if line.strip()][:lines]
    message = "\n".join(kept)
    return clipped(message, limit)


def _first_line(text, limit=300):
    """The first line that says something, short enough for the environment variables the reporter reads
    (the whole message is in the grade sheet)."""
    lines = [line for line in str(text).splitlines() if line.strip()]
    line = lines[0].strip() if lines else ""
    return clipped(line, limit)


def _runners(text):
    markers = [m for m in text.split(",") if m]
    unknown = [m for m in markers if m not in BY_MARKER]
    if unknown or not markers:
        raise argparse.ArgumentTypeError(f"expected exercise markers separated by commas, got {text!r}")
    return markers


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m grader.classroom.github_classroom",
        description="Print result=<base64 JSON> for $GITHUB_OUTPUT: one exercise of the grade sheet as GitHub "
                    "Classroom's autograding reporter reads it.")
    parser.add_argument("results", help=f"the grade sheet's results.json (the workflow's: {RESULTS})")
    parser.add_argument("exercise", choices=[ex.marker for ex in EXERCISES])
    parser.add_argument("--runners", required=True, type=_runners, metavar="M1,M2,...",
                        help="the workflow's exercises, in the order the reporter's runners input lists them")
    args = parser.parse_args(argv)
    if args.exercise not in args.runners:
        parser.error(f"{args.exercise} is not one of --runners")
    result = exercise_result(args.results, args.exercise, args.runners)
    summary = _summary(BY_MARKER[args.exercise], result)  # before the result: nothing may fail after it
    print(f"result={encode(result)}")
    print(summary, file=sys.stderr)
    return 0


def _summary(ex, result):
    """What the step's log says, for whoever opens it."""
    earned = reporter_total(test["score"] for test in result["tests"])
    if result["status"] == "error":
        return result["tests"][0]["message"]
    passed = sum(test["status"] == "pass" for test in result["tests"])
    return (f"Exercise {ex.number} ({ex.marker}): {round(earned, DECIMALS):g} of {result['max_score']} points, "
            f"{passed} of {len(result['tests'])} checks passed")


if __name__ == "__main__":
    sys.exit(main())
