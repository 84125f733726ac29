"""grades/report.html (grader/classroom/class_report.py), from Graded objects made here as grade.py makes
them: no submission is graded. The page is read back with html.parser and, being well-formed XML, with
xml.etree, as a teacher's browser would see it."""

import argparse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from grader.classroom import class_report, grade
from grader.classroom.reports import Graded
from grader.classroom.catalog import Check
from grader.rubric import BY_MARKER, EXERCISES, POINTS
from grader.sandbox.supervisor import Verdict

MARKERS = [ex.marker for ex in EXERCISES]
CORE = [ex.marker for ex in EXERCISES if ex.track == "core"]
N_EMBD = ("Head's output differs from the lecture's computation from its weights\n"
          "  expected: tensor of shape (2, 5, 16)\n  got:      values off by up to 0.9\n"
          "  look at:  attention.py, Head.forward\n"
          "  mistake:  scaled by n_embd instead of head_size: the lecture corrects this at 01:20:05, "
          "scale by head_size**-0.5")
UPSIDE_DOWN = ("Head lets the future change the past\n  expected: the same output at t < 3\n"
               "  got:      position 0 changed\n  look at:  attention.py, Head.forward\n"
               "  mistake:  the mask hides the past instead of the future: mask where tril[:T, :T] == 0")
HOSTILE = "<script>alert(1)</script>"


def named(message):
    """A failed verdict that names the mistake on its "mistake:" line, as the judge passes it: as data."""
    return Verdict("failed", message, mistake=message.rpartition("  mistake:  ")[2])


def checks_of(markers=MARKERS):
    """The rubric's checks, one per check function, with its points."""
    return [Check(f"grader/checks/test_{m}.py::{name}", m, BY_MARKER[m].number, name, points)
            for m in markers for name, points in POINTS[m].items()]


def graded(name, failing=None, markers=MARKERS, error=""):
    """A submission that passes every check but those in ``failing`` ({check name or marker: Verdict})."""
    failing = failing or {}
    result = Graded(name, f"/class/{name}", "package", error=error)
    for check in checks_of(markers):
        verdict = failing.get(check.name, failing.get(check.marker, Verdict("passed")))
        if error:  # as grade_one marks a submission it could not grade
            verdict = Verdict("not run", f"not graded: {error}")
        result.checks.append((check, verdict))
    result.make_printable()
    return result


def scored(name, core, extras=0):
    """A submission whose core total is ``core`` of 100 and whose extras total is ``extras`` of 50."""
    checks = [(Check("c::a", "gpt", 9, "a", core), Verdict("passed")),
              (Check("c::b", "gpt", 9, "b", 100 - core), Verdict("failed", "no")),
              (Check("c::c", "modern", 14, "c", extras), Verdict("passed")),
              (Check("c::d", "modern", 14, "d", 50 - extras), Verdict("failed", "no"))]
    return Graded(name, name, "file", checks=[(c, v) for c, v in checks if c.points])


class Page(HTMLParser):
    """What a browser would see: tags with their attributes, the text of each table row's cells."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.rows, self.text = [], {}, []
        self._table, self._row, self._cell = None, None, None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.rows[self._table] = []
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td":
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows[self._table].append(self._row)

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def svgs(html):
    """The page's SVG elements by their aria-label, parsed as XML (the page is well-formed XML)."""
    root = ET.fromstring(html.split("\n", 1)[1])  # after <!DOCTYPE html>
    return {svg.get("aria-label"): svg for svg in root.iter("{http://www.w3.org/2000/svg}svg")}


def bars(svg):
    return [rect.attrib for rect in svg.iter("{http://www.w3.org/2000/svg}rect") if rect.get("class") == "bar"]


def test_one_file_that_fetches_nothing(tmp_path):
    path = class_report.write_report(tmp_path, [graded("alice"), scored("bob", 40, 10)], MARKERS)
    assert path == tmp_path / "report.html" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    references = [(tag, key, value) for tag, attrs in page.tags for key, value in attrs.items()
                  if key in ("src", "href", "xlink:href", "action", "srcset", "data")]
    assert references == []
    assert "url(" not in html and "@import" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert sorted(svgs(html)) == ["histogram of the core total", "histogram of the extras",
                                  "points per exercise, core", "points per exercise, extra"]


def test_histogram_counts_each_bin():
    grades = [scored(n, core) for n, core in
              [("a", 0), ("b", 5), ("c", 10), ("d", 10), ("e", 35), ("f", 99.5), ("g", 100), ("h", 90)]]
    core = svgs(class_report.render(grades, ["gpt"]))["histogram of the core total"]
    assert [(b["data-bin"], int(b["data-count"])) for b in bars(core)] == [
        ("0-10", 2), ("10-20", 2), ("20-30", 0), ("30-40", 1), ("40-50", 0),
        ("50-60", 0), ("60-70", 0), ("70-80", 0), ("80-90", 0), ("90-100", 3)]


def test_extras_histogram_has_its_own_range():
    grades = [scored("a", 50, 0), scored("b", 50, 25), scored("c", 50, 50)]
    extras = svgs(class_report.render(grades, ["gpt", "modern"]))["histogram of the extras"]
    counts = {b["data-bin"]: int(b["data-count"]) for b in bars(extras)}
    assert counts["0-5"] == 1 and counts["25-30"] == 1 and counts["45-50"] == 1 and sum(counts.values()) == 3


def test_per_exercise_mean_median_and_full_marks():
    # Head is worth 15: two submissions get 15, one loses the 5-point check (10), one loses 5 + 2 (8).
    grades = [graded("a"), graded("b"),
              graded("c", {"test_matches_attention_from_its_weights": Verdict("failed", N_EMBD)}),
              graded("d", {"test_matches_attention_from_its_weights": Verdict("failed", N_EMBD),
                           "test_future_does_not_change_the_past": named(UPSIDE_DOWN)})]
    html = class_report.render(grades, CORE)
    rows = {int(b["data-exercise"]): b for b in bars(svgs(html)["points per exercise, core"])}
    assert sorted(rows) == list(range(1, 10))
    head = rows[5]
    assert (head["data-max"], head["data-mean"], head["data-median"], head["data-full-marks"]) == (
        "15", "12", "12.5", "2")
    assert rows[1]["data-full-marks"] == "4" and rows[1]["data-mean"] == rows[1]["data-max"] == "8"
    assert "mean 12 / 15, median 12.5, full marks 2 of 4" in "".join(Page(html).text)


def test_the_most_common_mistake_comes_first_with_who_made_it():
    n_embd = named(N_EMBD)
    grades = [graded("carol", {"head": n_embd}),  # every Head check names it: still one submission
              graded("alice", {"test_matches_attention_from_its_weights": n_embd}),
              graded("bob", {"test_matches_attention_from_its_weights": n_embd,
                             "test_matches_single_heads_from_its_weights": n_embd}),
              graded("dave", {"test_future_does_not_change_the_past": named(UPSIDE_DOWN)}),
              graded("erin")]
    rows = Page(class_report.render(grades, MARKERS)).rows["mistakes"]
    assert len(rows) == 2
    count, mistake, exercise, names = rows[0]
    assert count == "3" and names == "alice, bob, carol"
    assert mistake.startswith("scaled by n_embd instead of head_size")
    assert "scale by head_size**-0.5" in mistake  # what to do, below it
    assert "5. One head of self-attention" in exercise and "6. Multi-head attention, fused" in exercise
    assert rows[1][0] == "1" and rows[1][1].startswith("the mask hides the past") and rows[1][3] == "dave"


def test_mistakes_with_the_same_diagnosis_are_one_row():
    def off_by(n):
        return named(f"get_batch drew a wrong start\n  look at:  batching.py, get_batch\n"
                                 f"  mistake:  the start range is off by one: torch.randint(len(data) - "
                                 f"block_size {n}, ...) is wrong")
    grades = [graded("a", {"batching": off_by("- 1")}), graded("b", {"batching": off_by("+ 1")}),
              graded("c", {"head": named(UPSIDE_DOWN)})]
    rows = Page(class_report.render(grades, MARKERS)).rows["mistakes"]
    assert [(row[0], row[3]) for row in rows] == [("2", "a, b"), ("1", "c")]
    assert rows[0][1].startswith("the start range is off by one") and rows[0][2] == "2. Train/val split and batches"


def test_only_a_mistake_passed_as_data_is_named_never_text_in_a_message():
    # What the submission's code raised, or any text a message quotes, may read like a named mistake.
    raised = Verdict("failed", "your code raised ValueError: no\n  mistake:  I am a mistake: trust me")
    quoted = Verdict("failed", N_EMBD)
    assert "mistakes" not in Page(class_report.render([graded("a", {"head": raised}), graded("b", {"head": quoted})],
                                                      MARKERS)).rows


def test_hostile_text_is_escaped():
    mistake = N_EMBD.replace("head_size: the", f'head_size{HOSTILE}: "><img src=x onerror=alert(1)> the')
    grades = [graded(HOSTILE, {"head": named(mistake)}),
              graded('x" onload="alert(1)', error=f"could not unpack {HOSTILE}")]
    html = class_report.render(grades, MARKERS)
    page = Page(html)
    assert all(tag not in ("script", "img") for tag, _ in page.tags)
    assert all(not key.startswith("on") for _, attrs in page.tags for key in attrs)
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert page.rows["mistakes"][0][3] == HOSTILE  # shown as text
    assert [row[0] for row in page.rows["look-at"]] == ['x" onload="alert(1)']
    svgs(html)  # still well-formed


def test_submissions_not_ok_are_listed_with_why():
    grades = [graded("ok"), graded("slow", {"gpt": Verdict("timeout", "took more than 60 s")}),
              graded("broken", error="the zip holds no exercises/ folder or .py file")]
    rows = Page(class_report.render(grades, MARKERS)).rows["look-at"]
    assert rows[0][:2] == ["broken", "error"] and "holds no exercises/" in rows[0][2]
    assert rows[1][:2] == ["slow", "timeout"] and "took more than 60 s" in rows[1][2]
    assert len(rows) == 2


def test_grading_writes_the_report_with_the_csv(tmp_path):
    one = graded("alice", {"test_matches_attention_from_its_weights": named(N_EMBD)})
    parser = argparse.ArgumentParser()
    grade.add_arguments(parser)
    args = parser.parse_args(["class", "--out", str(tmp_path)])  # every option at its default
    grade._write_reports(tmp_path, one, "", [one], MARKERS, args)
    assert (tmp_path / "grades.csv").exists()
    assert Page((tmp_path / "report.html").read_text(encoding="utf-8")).rows["mistakes"][0][3] == "alice"


def test_a_long_bin_range_is_written_on_two_lines():
    """With a maximum that is not a round number (36 points, say), "21.6-25.2" would run into its
    neighbours under a bar: it takes two lines."""
    label = class_report._bin_label(100.0, 200, "21.6-25.2")
    assert label == ('<text x="100.0" y="200" text-anchor="middle"><tspan x="100.0">21.6-</tspan>'
                     '<tspan x="100.0" dy="13">25.2</tspan></text>')
    assert class_report._bin_label(100.0, 200, "90-100") == '<text x="100.0" y="200" text-anchor="middle">90-100</text>'
