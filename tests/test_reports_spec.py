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
from grader.classroom.catalog import Check
from grader.rubric import BY_MARKER, CORE, EXERCISES, EXTRAS, POINTS, TOTAL_POINTS
from grader.sandbox.supervisor import Verdict

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
    assert result["output"].endswith("carry no points): test_runs_on_cuda, test_lecture_model_trains_on_cuda")
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


# What a student sees on Gradescope, and what a CI dashboard reads, in the cases that used to be noise:
# the extras not attempted, an upload that could not be read, the GPU checks without a GPU, and how
# long each check ran. The messages are the grader's own (explain.py, impl.py, supervisor.py), made here.

def failed(exc, exercise):
    """The verdict of a check of Exercise ``exercise`` that failed on ``exc``, with the message and the
    facts of the judge's explanation (explain.py), as the worker sends them and supervisor.py reads them."""
    from grader.rubric import BY_NUMBER
    from grader.student.explain import explain
    from grader.student.voice import Terminal

    with pytest.raises(type(exc)) as info:
        raise exc
    why = explain(info, None, BY_NUMBER[exercise], Terminal())
    return Verdict("failed", why.text, stub=why.stub or 0, missing_module=why.missing_module,
                   missing_name=why.missing_name)


def stub_verdict(number, exercise):
    """A check of Exercise ``exercise`` that reached a stub of Exercise ``number``."""
    return failed(NotImplementedError(f"Exercise {number}: some_name"), exercise)


def missing_verdict(tmp_path, module, name=None, single_file=False):
    """A check that found a module (or, with ``name``, a name) missing, as impl.py raises it."""
    from grader.impl import SINGLE_FILE_MARK, Implementation, ImplementationError

    folder = tmp_path / f"{module}-{name}-{single_file}"
    folder.mkdir()
    if single_file:
        (folder / SINGLE_FILE_MARK).write_text("")
        (folder / f"{module}.py").write_text("")
    impl = Implementation(folder)
    with pytest.raises(ImplementationError) as raised:
        impl.get(module, name) if name else impl.module(module)
    return failed(raised.value, next(ex.number for ex in EXERCISES if ex.module == module))


TRIED = BY_MARKER["modern"]  # the one extra core_only's submission began
NOT_ATTEMPTED = [ex.marker for ex in EXTRAS if ex is not TRIED]


def core_only(tmp_path):
    """The core done, the extras not: each extra's checks reach its stub, its module is missing, a name of
    a single file is missing, or (finetune) a check first needs another exercise; TRIED was tried."""
    verdicts = {ex.marker: stub_verdict(ex.number, ex.number) for ex in EXTRAS}
    verdicts["layernorm"] = missing_verdict(tmp_path, "layernorm")
    verdicts["addition"] = missing_verdict(tmp_path, "addition", "format_problem", single_file=True)

    def outcome_of(c):
        if not c.points:
            return Verdict("skipped", "skipped: needs CUDA, and this machine has none")
        if c.marker == "finetune" and c.name.endswith("[0]"):
            return stub_verdict(9, 13)  # needs Exercise 9 first: says nothing of 13
        if c.marker == TRIED.marker and c.name.endswith("[0]"):
            return Verdict("failed", "expected gelu(0) == 0, got 0.5\n  at modern.py:12")
        if c.marker == TRIED.marker:
            return stub_verdict(TRIED.number, TRIED.number)
        if c.marker in verdicts:
            return verdicts[c.marker]
        return Verdict("passed")
    return outcome_of


def test_an_extra_not_attempted_is_one_line_of_the_output_not_failed_tests(tmp_path):
    result = json.loads(json.dumps(reports.gradescope(graded_with(rubric_checks(), core_only(tmp_path)))))
    validate_results(result)
    shown = {t["tags"][0] for t in result["tests"]}
    assert not shown & set(NOT_ATTEMPTED), shown
    assert all(t["status"] == "passed" for t in result["tests"] if t["tags"][0] != TRIED.marker)
    lines = result["output"].splitlines()
    for ex in (BY_MARKER[marker] for marker in NOT_ATTEMPTED):
        assert [line for line in lines if line.startswith(f"Exercise {ex.number} ")] == \
            [f"Exercise {ex.number} ({ex.marker}): not attempted (an extra: 0 of {ex.max_points} points, "
             "kept apart from the score)"]
    assert result["extra_data"]["not_attempted"] == NOT_ATTEMPTED
    # An extra begun (one check failed on the student's own code) keeps every check, as failed tests.
    tried = [t for t in result["tests"] if t["tags"] == [TRIED.marker]]
    assert len(tried) == 3 * len(POINTS[TRIED.marker]) and all(t["status"] == "failed" for t in tried)
    assert not any(line.startswith(f"Exercise {TRIED.number} ") for line in lines)
    assert result["score"] == TOTAL_POINTS


def test_a_core_exercise_not_attempted_still_fails_its_checks(tmp_path):
    # The core is the grade: its stubs lose their points, test by test, as before.
    def stubs(c):
        return stub_verdict(c.number, c.number) if c.points else Verdict("skipped", "needs CUDA")
    result = reports.gradescope(graded_with(rubric_checks(), stubs))
    core = [t for t in result["tests"] if BY_MARKER[t["tags"][0]].track == "core"]
    assert len(core) == 3 * sum(len(POINTS[ex.marker]) for ex in CORE) and all(t["status"] == "failed" for t in core)
    assert result["extra_data"]["not_attempted"] == [ex.marker for ex in EXTRAS]


def test_an_upload_that_could_not_be_read_is_one_error_that_says_why():
    error = "alice.zip is not a zip file that can be read: File is not a zip file"
    graded = graded_with(rubric_checks(), lambda c: Verdict("not run", f"not graded: {error}"), error=error)
    result = json.loads(json.dumps(reports.gradescope(graded)))
    validate_results(result)
    [test] = result["tests"]
    assert test["status"] == "failed" and test["output"] == error and test["score"] == 0
    assert test["max_score"] == result["extra_data"]["max_score"] == TOTAL_POINTS
    assert result["output"].count(error) == 1 and result["extra_data"]["status"] == "error"
    assert len(json.dumps(result, indent=2)) < 2000  # it was 154 failed tests, 60-80 KB


def test_github_classroom_reads_the_upload_that_could_not_be_read_as_0_points_and_why(tmp_path):
    from grader.classroom.github_classroom import exercise_result

    error = "exercises/ holds no module of the contract"
    graded = graded_with(rubric_checks(), lambda c: Verdict("not run", f"not graded: {error}"), error=error)
    (tmp_path / "results.json").write_text(json.dumps(reports.gradescope(graded)))
    result = exercise_result(tmp_path / "results.json", "head", [ex.marker for ex in CORE])
    [test] = result["tests"]
    assert result["status"] == "error" and test["score"] == 0 and f"status error ({error})" in test["message"]


def charged_on_cpu(c):
    """Without a GPU: the GPU checks were charged for another check's timeout, or for a crash right
    after they were skipped; they never ran."""
    if c.name == "test_runs_on_cuda":
        return Verdict("timeout", "not run: test_parts of the same exercise did not finish in time, and this "
                                  "check would have waited on the same code")
    if c.name == "test_lecture_model_trains_on_cuda":
        return Verdict("crashed", "the grading process exited with code 3 right after this check")
    return Verdict("passed")


@pytest.mark.parametrize("sandbox", [{}, {"device": "cpu"}])
def test_gpu_checks_are_never_failed_where_no_gpu_was_used(sandbox):
    graded = graded_with(rubric_checks(), charged_on_cpu)
    graded.sandbox = sandbox
    result = reports.gradescope(graded)
    assert not [t["name"] for t in result["tests"] if "cuda" in t["name"]]
    assert [item["name"] for item in result["extra_data"]["left_out"]] == \
        ["test_runs_on_cuda", "test_lecture_model_trains_on_cuda"]
    suite = validate_junit(reports.junit(graded))
    cuda = [case for case in suite.findall("testcase") if "cuda" in case.get("name")]
    assert [[child.tag for child in case] for case in cuda] == [["skipped"], ["skipped"]]
    # Where they ran on a GPU (as grade records it, or as a GPU check that failed tells it), they are shown.
    for sandbox in ({"device": "cuda"}, {}):
        graded = graded_with(rubric_checks(), lambda c: Verdict("failed", "validation loss 1.9, expected below 1.6")
                             if not c.points else Verdict("passed"))
        graded.sandbox = sandbox
        failed = [t for t in reports.gradescope(graded)["tests"] if t["status"] == "failed"]
        assert [t["name"] for t in failed] == ["Exercise 9 (gpt): test_runs_on_cuda",
                                               "Exercise 9 (gpt): test_lecture_model_trains_on_cuda"]
        assert all(t["max_score"] == 0 for t in failed)


def timed(verdict, seconds):
    """``verdict`` with the seconds its check ran, as supervisor.py records them."""
    verdict.seconds = seconds
    return verdict


def test_junit_xml_has_the_seconds_each_check_ran():
    def outcome_of(c):
        if c.marker == "head" and c.name.endswith("[0]"):
            return timed(Verdict("timeout", "did not finish within the time limit of 60 s for this check"), 70.25)
        return timed(on_cpu(c), 0.5 if c.points else 0.0)
    suite = validate_junit(reports.junit(graded_with(rubric_checks(), outcome_of)))
    times = {(case.get("classname").rpartition(".")[2], case.get("name")): Decimal(case.get("time"))
             for case in suite.findall("testcase")}
    assert times["test_head", "test_matches_attention_from_its_weights[0]"] == Decimal("70.25")
    assert times["test_tokenizer", "test_encode_hii_there[1]"] == Decimal("0.5")
    assert times["test_gpt", "test_runs_on_cuda"] == 0
    assert suite.get("time") == "12.300"


def test_junit_xml_skips_an_extra_not_attempted(tmp_path):
    suite = validate_junit(reports.junit(graded_with(rubric_checks(), core_only(tmp_path))))
    for case in suite.findall("testcase"):
        marker = case.get("classname").rpartition("test_")[2]
        tags = [child.tag for child in case]
        if marker in NOT_ATTEMPTED:
            assert tags == ["skipped"], (case.get("name"), tags)
            assert case.find("skipped").get("message").startswith(
                f"Exercise {BY_MARKER[marker].number} ({marker}): not attempted")
        elif marker == TRIED.marker:
            assert tags == ["failure"], (case.get("name"), tags)
    assert (suite.get("failures"), suite.get("errors")) == (str(3 * len(POINTS[TRIED.marker])), "0")


def test_an_extra_is_not_attempted_on_the_judges_facts_not_on_words_that_read_like_them():
    """What the submission's code says cannot leave an extra out: an error it raised whose words read
    like a stub's, a missing module's or a missing name's counts as the failure it is."""
    layernorm = BY_MARKER["layernorm"]
    words = {"your code raised ValueError: x is missing: the graded folder needs a module layernorm.py",
             "your code raised KeyError: 'layernorm.py defines no LayerNorm1d: CONTRACT.md names it there'",
             f"not implemented yet: Exercise {layernorm.number}: LayerNorm1d.forward"}
    for text in words:
        graded = graded_with(rubric_checks(), lambda c: Verdict("failed", text) if c.marker == "layernorm"
                             else Verdict("passed"))
        assert reports.not_attempted(graded) == [], text
    # The same failures with the judge's facts (supervisor.Verdict's fields) leave it out.
    facts = ({"stub": layernorm.number}, {"missing_module": "layernorm"}, {"missing_name": "LayerNorm1d"})
    for fields in facts:
        graded = graded_with(rubric_checks(), lambda c: Verdict("failed", "", **fields) if c.marker == "layernorm"
                             else Verdict("passed"))
        assert reports.not_attempted(graded) == [layernorm], fields


def test_graded_json_keeps_the_facts_of_an_extra_not_attempted_and_reads_a_record_without_them(tmp_path):
    from grader.classroom.reports import graded_from_record, graded_record

    graded = graded_with(rubric_checks(), core_only(tmp_path))
    by_nodeid = {c.nodeid: c for c, _ in graded.checks}
    record = json.loads(json.dumps(graded_record(graded)))
    again = graded_from_record(record, by_nodeid)
    assert again.checks == graded.checks and reports.not_attempted(again) == reports.not_attempted(graded)
    # A graded.json written before these fields (merge reads the shards of an older grade): none of them.
    for fields in record["checks"]:
        del fields[6:]
    old = graded_from_record(record, by_nodeid)
    assert reports.not_attempted(old) == [] and [v.outcome for _, v in old.checks] == \
        [v.outcome for _, v in graded.checks]


def test_each_verdict_holds_the_seconds_its_check_ran_from_start_to_result(monkeypatch):
    from grader.sandbox import supervisor

    clock = [100.0]
    monkeypatch.setattr(supervisor.time, "monotonic", lambda: clock[0])
    nodeids = ["grader/checks/test_head.py::test_a", "grader/checks/test_head.py::test_b"]
    remaining, result = list(nodeids), supervisor.SandboxResult({})
    state = supervisor._RunState(supervisor.Limits(), deadline=1000.0)

    def send(**event):
        assert state.handle(json.dumps(event), remaining, result, None) is None
    clock[0] = 101.0
    send(event="start", nodeid=nodeids[0])
    clock[0] = 103.5
    send(event="result", nodeid=nodeids[0], outcome="passed", message="")
    clock[0] = 104.0
    send(event="start", nodeid=nodeids[1])  # confirms the first
    clock[0] = 164.0
    state.finish(state.timeout_verdict(), None, remaining, result)  # the second timed out under way
    assert result.verdicts[nodeids[0]].seconds == 2.5 and result.verdicts[nodeids[1]].seconds == 60.0
    # and make_printable, which every report goes through, keeps them
    graded = Graded("alice", "/class/alice.py", "file")
    graded.checks = [(check("head", "test_a", 1.0), result.verdicts[nodeids[0]])]
    graded.make_printable()
    assert graded.checks[0][1].seconds == 2.5


def test_modules_that_raised_the_same_error_at_import_are_one_reason():
    """gpt.py imports block.py, which raises: one reason, led by the module whose file raised."""
    from grader.classroom.reports import Graded

    graded = Graded("frank", "frank", "package", import_errors={
        "gpt": "NameError: x (frank/block.py:4)", "block": "NameError: x (frank/block.py:4)",
        "tokenizer": "ValueError: y (frank/tokenizer.py:1)"})
    assert graded.why == ("block.py raised at import: NameError: x (frank/block.py:4), and so did gpt.py, which "
                          "imports it; the checks that need them failed; tokenizer.py raised at import: ValueError: "
                          "y (frank/tokenizer.py:1); the checks that need it failed")


def test_why_nothing_passed_reads_where_the_submission_raised_as_data():
    """The error and where come with the verdict (Verdict.raised, from the judge's explanation), carried
    through graded.json; a message that only reads like one, with no such field, is not taken for one."""
    from grader.classroom.reports import graded_from_record, graded_record

    raised = ("NameError: name 'device' is not defined", "extracted.py:12, in CharTokenizer")
    text = f"your code raised {raised[0]}\n  at {raised[1]}"
    graded = Graded("grace", "grace.py", "file")
    graded.checks = [(check("head", f"test_{n}", 1.0), Verdict("failed", text, 0.5, "", raised)) for n in "abc"]
    graded.checks.append((check("head", "test_d", 1.0), Verdict("failed", "expected a ValueError")))
    assert graded.why == ("nothing could be graded: 3 of the 4 checks that failed stopped at the same error in "
                          "the submission's code: NameError: name 'device' is not defined "
                          "(extracted.py:12, in CharTokenizer)")
    by_nodeid = {c.nodeid: c for c, _ in graded.checks}
    assert graded_from_record(json.loads(json.dumps(graded_record(graded))), by_nodeid).why == graded.why
    graded.checks = [(c, Verdict("failed", text)) for c, _ in graded.checks]
    assert graded.why == ""
