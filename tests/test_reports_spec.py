"""The reports against the formats their readers document: results.json against Gradescope's autograder
specification, junit.xml against the JUnit XML schema CI dashboards read (Jenkins/xunit JUnit.xsd), and
grades.csv. Built from Graded objects made here, as grade.py makes them: no submission is graded."""

import argparse
import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import jsonschema
import pytest

from grader.classroom import bundle, grade, reports
from grader.classroom.reports import Graded
from grader.judges.catalog import Check
from grader.judges.rubric import BY_MARKER, CORE, EXTRAS, POINTS, TOTAL_POINTS
from grader.sandbox.isolate import Verdict

# Gradescope's results.json, as https://gradescope-autograders.readthedocs.io/en/latest/specs/ documents
# it ("Output format", "Test case status", "Output String Formatting", "Controlling Test Case Visibility",
# "Leaderboards"): every key is optional but a score, which is needed at the top or on every test.
FORMATS = ["text", "html", "simple_format", "md", "ansi"]
VISIBILITIES = ["hidden", "after_due_date", "after_published", "visible"]
TEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": {"enum": FORMATS},
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"enum": VISIBILITIES},
        "extra_data": {"type": "object"},
    },
}
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITIES},
        "stdout_visibility": {"enum": VISIBILITIES},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}


def schema_errors(result):
    """What in ``result`` the schema refuses, one short line each (the whole document is too long to read)."""
    errors = jsonschema.Draft202012Validator(RESULTS_SCHEMA).iter_errors(result)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors]


def validate_results(result):
    assert schema_errors(result) == []
    # Never rendered: the outputs quote the submission's code.
    assert result["output_format"] == result["test_output_format"] == result["test_name_format"] == "text"


def check(marker, function, points, param=None, module=None):
    ex = BY_MARKER[marker]
    name = f"{function}[{param}]" if param is not None else function
    return Check(f"grader/checks/{module or 'test_' + marker}.py::{name}", marker, ex.number, name, points)


def rubric_checks(parameters=3):
    """Every check function of the rubric, each split among ``parameters`` parameters as check_points
    splits them (thirds: the hardest to add up), and the two GPU checks (0 points)."""
    checks = [check(ex.marker, function, points / parameters, i)
              for ex in (*CORE, *EXTRAS) for function, points in POINTS[ex.marker].items()
              for i in range(parameters)]
    return checks + [check("gpt", "test_runs_on_cuda", 0.0), check("gpt", "test_lecture_model_trains_on_cuda", 0.0)]


def graded_with(checks, outcome_of, name="alice", error=""):
    """A Graded as grade_one leaves it: every check with a verdict, made printable."""
    graded = Graded(name, f"/class/{name}.py", "file", execution_time=12.3, error=error)
    graded.checks = [(c, outcome_of(c)) for c in checks]
    graded.make_printable()
    return graded


def on_cpu(c):
    """The reference graded without a GPU: all pass, the GPU checks are skipped."""
    return Verdict("skipped", "CUDA is not available here") if not c.points else Verdict("passed")


def mixed(c):
    """Some checks failed, one timed out, one skipped that carries points, the GPU checks skipped."""
    if not c.points:
        return Verdict("skipped", "CUDA is not available here")
    if c.marker == "head" and c.name.endswith("[0]"):
        return Verdict("failed", "expected <b>causal</b> **mask**\n  at attention.py:3")
    if c.marker == "tokenizer" and c.name.endswith("[1]"):
        return Verdict("timeout", "did not finish within the time limit")
    if c.marker == "batching" and c.name.endswith("[2]"):
        return Verdict("skipped", "an earlier check of this exercise timed out")
    return Verdict("passed")


def exactly(numbers):
    """The sum of JSON numbers as written (Decimal), not as floats add them up."""
    return sum((Decimal(str(n)) for n in numbers), Decimal(0))


@pytest.mark.parametrize("outcome_of", [on_cpu, mixed])
def test_results_json_has_only_the_documented_keys_and_values(outcome_of):
    result = json.loads(json.dumps(reports.gradescope(graded_with(rubric_checks(), outcome_of))))
    validate_results(result)
    assert result["extra_data"]["max_score"] == TOTAL_POINTS


def test_checks_that_did_not_apply_are_not_shown_as_failures():
    result = reports.gradescope(graded_with(rubric_checks(), mixed))
    names = [t["name"] for t in result["tests"]]
    assert not any("cuda" in n for n in names), names
    assert [item["name"] for item in result["extra_data"]["left_out"]] == \
        ["test_runs_on_cuda", "test_lecture_model_trains_on_cuda"]
    assert "test_runs_on_cuda (CUDA is not available here)" in result["output"]
    # A skipped check that carries points lost them: it stays, as failed.
    lost = [t for t in result["tests"] if t["output"].startswith("[skipped]")]
    assert lost and all(t["status"] == "failed" and t["max_score"] > 0 for t in lost)


def test_the_tests_points_add_up_exactly_to_the_score_they_make():
    result = reports.gradescope(graded_with(rubric_checks(), on_cpu))
    core = [t for t in result["tests"] if BY_MARKER[t["tags"][0]].track == "core"]
    extras = [t for t in result["tests"] if BY_MARKER[t["tags"][0]].track == "extra"]
    assert exactly(t["max_score"] for t in result["tests"]) == exactly(t["score"] for t in result["tests"]) \
        == result["score"] == TOTAL_POINTS
    assert exactly(t["max_score"] for t in core) == TOTAL_POINTS
    # The extras are kept apart from the score: no points on Gradescope, theirs said in their output.
    assert extras and all(t["max_score"] == 0 and "kept apart from the score" in t["output"] for t in extras)
    assert all(Decimal(repr(t["max_score"])).as_tuple().exponent >= -2 for t in core)


def test_the_points_of_each_exercise_add_up_exactly_whatever_is_graded():
    for parameters in (1, 3, 4, 6, 7):
        result = reports.gradescope(graded_with(rubric_checks(parameters), on_cpu))
        for ex in CORE:
            shown = exactly(t["max_score"] for t in result["tests"] if t["tags"] == [ex.marker])
            assert shown == ex.max_points, (parameters, ex.marker, shown)


def test_visibility_goes_to_the_top_and_every_test():
    result = reports.gradescope(graded_with(rubric_checks(), mixed), visibility="after_due_date")
    validate_results(result)
    assert result["visibility"] == "after_due_date"
    assert {t["visibility"] for t in result["tests"]} == {"after_due_date"}
    assert result["stdout_visibility"] == "hidden"


def test_grade_and_bundle_take_a_visibility(tmp_path):
    grade_parser, bundle_parser = argparse.ArgumentParser(), argparse.ArgumentParser()
    grade.add_arguments(grade_parser)
    bundle.add_arguments(bundle_parser)
    assert grade_parser.parse_args(["class", "--out", "o"]).visibility == "visible"
    assert grade_parser.parse_args(["class", "--out", "o", "--visibility", "hidden"]).visibility == "hidden"
    with pytest.raises(SystemExit):
        grade_parser.parse_args(["class", "--out", "o", "--visibility", "later"])
    # grade.py passes it on to results.json, and --csv-bom to grades.csv.
    graded = graded_with(rubric_checks(), on_cpu)
    args = argparse.Namespace(visibility="after_published", csv_bom=True)
    grade._write_reports(tmp_path, graded, "", [graded], [ex.marker for ex in CORE], args)
    assert json.loads((tmp_path / "alice" / "results.json").read_text())["visibility"] == "after_published"
    assert (tmp_path / "grades.csv").read_bytes().startswith(b"\xef\xbb\xbfname,")
    assert bundle_parser.parse_args(["--visibility", "after_due_date"]).visibility == "after_due_date"


def test_the_upload_that_cannot_be_graded_is_reported_in_plain_text(tmp_path):
    bundle.collect(tmp_path / "nothing", tmp_path / "results.json")
    result = json.loads((tmp_path / "results.json").read_text())
    assert schema_errors(result) == []
    assert result["output_format"] == "text" and "found nothing to grade" in result["output"]


# The JUnit XML schema of Jenkins/xunit (JUnit.xsd), as CI dashboards read it.
SUITE_COUNTS = ("tests", "failures", "errors", "skipped")
CASE_RESULTS = {"skipped", "error", "failure"}


def _decimal(text):
    return Decimal(text) >= 0


def validate_junit(data):
    """testsuites > testsuite(name, tests, failures, errors, skipped, time, timestamp?) > properties?,
    testcase*, system-out?, system-err?; testcase(name, classname, time) > (skipped|error|failure)*,
    system-out?, system-err?; the counts those of the cases. Returns the testsuite."""
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    [suite] = list(root)
    assert suite.tag == "testsuite"
    assert {"name", *SUITE_COUNTS, "time"} <= set(suite.attrib) <= {"name", *SUITE_COUNTS, "time", "timestamp"}
    assert _decimal(suite.get("time"))
    order = [child.tag for child in suite]
    allowed = ["properties", "testcase", "system-out", "system-err"]
    assert order == sorted(order, key=allowed.index) and order.count("properties") <= 1, order
    for prop in suite.iter("property"):
        assert set(prop.attrib) == {"name", "value"}
    cases = suite.findall("testcase")
    counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    for case in cases:
        assert set(case.attrib) == {"name", "classname", "time"} and _decimal(case.get("time")), case.attrib
        tags = [child.tag for child in case]
        assert set(tags) <= CASE_RESULTS | {"system-out", "system-err"}, tags
        results = [t for t in tags if t in CASE_RESULTS]
        assert tags[:len(results)] == results, tags  # results first, then system-out and system-err
        for child in case:
            if child.tag in ("failure", "error"):
                assert set(child.attrib) <= {"message", "type"}
            elif child.tag == "skipped":
                assert set(child.attrib) <= {"message"}
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            counts[key] += tag in results
    assert {key: int(suite.get(key)) for key in SUITE_COUNTS} == counts
    return suite


def test_junit_xml_follows_the_schema_with_the_points_on_the_testsuite():
    suite = validate_junit(reports.junit(graded_with(rubric_checks(), mixed)))
    assert all(int(suite.get(key)) > 0 for key in ("failures", "errors", "skipped"))
    points = {p.get("name"): p.get("value") for p in suite.iter("property") if p.get("name").startswith("points:")}
    assert len(points) == len(suite.findall("testcase"))
    assert exactly(v for k, v in points.items() if ".test_head::" in k) == BY_MARKER["head"].max_points


def test_junit_xml_of_a_submission_that_could_not_be_read_counts_what_it_holds():
    checks = rubric_checks()
    graded = graded_with(checks, lambda c: Verdict("not run", "not graded: not a zip file"), error="not a zip file")
    suite = validate_junit(reports.junit(graded))
    # One error (the submission could not be prepared); its checks were never run.
    assert (suite.get("tests"), suite.get("errors"), suite.get("skipped")) == \
        (str(len(checks) + 1), "1", str(len(checks)))


def test_grades_csv_tells_apart_submissions_whose_names_collapse(tmp_path):
    # bob.py and the folder bob_py/ are both named bob_py: the second gets -2 (submissions._unique_names).
    bob_file, bob_folder = graded_with([], on_cpu, name="bob_py"), graded_with([], on_cpu, name="bob_py-2")
    bob_file.source, bob_folder.source = "/class/bob.py", "/class/bob_py"
    reports.write_csv(tmp_path, [bob_file, bob_folder], ["tokenizer"])
    lines = (tmp_path / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("name,path,total,max,")
    assert [line.split(",")[:2] for line in lines[1:]] == [["bob_py", "bob.py"], ["bob_py-2", "bob_py"]]


def test_grades_csv_has_a_byte_order_mark_only_when_asked(tmp_path):
    graded = graded_with([], on_cpu, name="zoé")
    reports.write_csv(tmp_path, [graded], ["tokenizer"])
    assert (tmp_path / "grades.csv").read_bytes().startswith(b"name,")
    reports.write_csv(tmp_path, [graded], ["tokenizer"], bom=True)
    data = (tmp_path / "grades.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfname,") and "zoé".encode() in data
