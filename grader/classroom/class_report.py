"""``report.html``: one page a teacher opens after grading a class.

It shows how the core total (and the extras) are spread over the class, how each exercise went, the
mistakes the checks named most often (what to teach again), the submissions that need a look, and the
near-copies (grader/classroom/similarity.py).
It is built from the same Graded objects as grades.csv (grader/classroom/reports.py), and it is one
self-contained file: inline CSS and SVG, no JavaScript, nothing fetched from elsewhere.

Everything a submission wrote (its name, its messages) is HTML-escaped where it is put in the page.

Mistakes are grouped by their diagnosis: a check that names a mistake (``<diagnosis>: <what to do>``,
from the grader's own table, grader/oracles/expect.py) passes it as data with its verdict, never as text
to be found in a message, which may quote the submission. The diagnosis, the text before the first
": ", is what the same mistake shares wherever it is named (``scaled by n_embd instead of head_size`` in Exercises 5
and 6). A mistake counts once per submission, however many checks named it.
"""

import os
import statistics
from dataclasses import dataclass, field
from html import escape

from grader.rubric import BY_MARKER, CORE_SPAN, TOTAL_POINTS
from grader.sandbox.supervisor import MAX_MISTAKE

BINS = 10
NAMES_SHOWN = 40  # submissions named per mistake; the rest are counted

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top;
  padding: 0.3em 0.6em; border-bottom: 1px solid #e4e4e4; } th { background: #f4f4f4; }
td.count { text-align: right; font-weight: bold; } .fix { color: #555; font-size: 0.9em; }
.names { font-size: 0.9em; } .note { color: #555; font-size: 0.9em; } svg { max-width: 100%; height: auto; }
"""
# The charts' colours and font are attributes of the SVG, not the page's CSS: a viewer that does not
# apply a page's CSS to its inline SVG (a PDF converter, an e-mail client) shows them too.
BAR, TRACK, MEDIAN = 'fill="#4a7fb5"', 'fill="#e8e8e8"', 'stroke="#b5443a" stroke-width="2"'
SVG_TEXT = 'font-family="system-ui, sans-serif" font-size="12" fill="#222"'


@dataclass
class ExerciseRow:
    number: int
    title: str
    track: str
    max_points: float
    mean: float
    median: float
    full_marks: int


@dataclass
class ClassMistake:
    diagnosis: str
    fix: str  # what the first check that named it says to do
    exercises: list = field(default_factory=list)  # exercise numbers, in lecture order
    names: list = field(default_factory=list)  # submissions that made it, sorted


def write_report(out, class_grades, markers):
    """Write ``out/report.html`` (through a temporary file, so it is never half written)."""
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(class_grades, markers), encoding="utf-8")
    os.replace(tmp, path)
    return path


def render(class_grades, markers):
    """The report as one HTML document (str)."""
    grades = sorted(class_grades, key=lambda g: g.name)
    parts = [_head(), f"<h1>Class report: {len(grades)} submission{'s' if len(grades) != 1 else ''}</h1>",
             _totals_section(grades), _exercises_section(grades, markers), _mistakes_section(grades),
             _look_at_section(grades), _copies_section(grades), "</body>\n</html>\n"]
    return "\n".join(parts)


def _head():
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
            '<title>Class report</title>\n' f"<style>{CSS}</style>\n</head>\n<body>")


# -- scores ----------------------------------------------------------------------------------------------

def histogram(scores, top, bins=BINS):
    """How many of ``scores`` fall in each of ``bins`` equal bins from 0 to ``top``: a bin holds its lower
    bound up to, not including, its upper one; the last bin also holds ``top``."""
    counts = [0] * bins
    for score in scores:
        index = int(score * bins / top) if top > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def bin_labels(top, bins=BINS):
    edges = [_num(top * i / bins) for i in range(bins + 1)]
    return [f"{edges[i]}-{edges[i + 1]}" for i in range(bins)]


def _totals_section(grades):
    core_max = max((g.max_score for g in grades), default=0)
    extra_max = max((g.extra_max_score for g in grades), default=0)
    html = ["<h2>Core total</h2>", _score_summary([g.score for g in grades], core_max),
            histogram_svg(histogram([g.score for g in grades], core_max), core_max, "core total")]
    if extra_max:
        html += ["<h2>Extras (kept apart from the core)</h2>",
                 _score_summary([g.extra_score for g in grades], extra_max),
                 histogram_svg(histogram([g.extra_score for g in grades], extra_max), extra_max, "extras")]
    html.append('<p class="note">Each bar counts the submissions whose points are at least its lower bound and '
                'below its upper one; the last bar also counts full marks.</p>')
    return "\n".join(html)


def _score_summary(scores, top):
    if not scores:
        return "<p>No submissions graded.</p>"
    return (f"<p>Out of {_num(top)} points: mean {_num(statistics.mean(scores))}, median "
            f"{_num(statistics.median(scores))}, lowest {_num(min(scores))}, highest {_num(max(scores))}.</p>")


def _bin_label(x, y, label):
    """A bin's range under its bar: on one line when short ("90-100"), else on two ("21.6-" over "25.2"),
    which a bar's width always holds."""
    if len(label) <= 7:
        return f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{label}</text>'
    low, high = label.split("-")
    return (f'<text x="{x:.1f}" y="{y}" text-anchor="middle"><tspan x="{x:.1f}">{low}-</tspan>'
            f'<tspan x="{x:.1f}" dy="13">{high}</tspan></text>')


def histogram_svg(counts, top, what):
    """Vertical bars, one per bin, each with its count above it and its range below it."""
    width, height, left, bottom, bar_gap = 620, 232, 30, 52, 6  # bottom: two lines of a range, the caption
    plot = height - bottom - 20
    step = (width - left) / len(counts)
    tallest = max(counts) or 1
    items = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="histogram of the {what}" {SVG_TEXT}>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#888"/>']
    for i, (count, label) in enumerate(zip(counts, bin_labels(top, len(counts)))):
        x = left + i * step
        h = plot * count / tallest
        y = height - bottom - h
        items.append(f'<rect class="bar" {BAR} data-bin="{label}" data-count="{count}" x="{x + bar_gap / 2:.1f}" '
                     f'y="{y:.1f}" width="{step - bar_gap:.1f}" height="{h:.1f}">'
                     f'<title>{label} points: {count} submission{"s" if count != 1 else ""}</title></rect>')
        items.append(f'<text x="{x + step / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{count}</text>')
        items.append(_bin_label(x + step / 2, height - bottom + 16, label))
    items.append(f'<text x="{left + (width - left) / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                 f'points of the {what} (out of {_num(top)})</text>')
    items.append("</svg>")
    return "\n".join(items)


# -- exercises -------------------------------------------------------------------------------------------

def exercise_rows(grades, markers):
    """One ExerciseRow per exercise graded, in lecture order."""
    rows = []
    for marker in markers:
        top = max((_exercise_max(g, marker) for g in grades), default=0)
        scores = [g.exercise_score(marker) for g in grades] or [0]
        ex = BY_MARKER[marker]
        rows.append(ExerciseRow(ex.number, ex.title, ex.track, top, statistics.mean(scores),
                                statistics.median(scores),
                                sum(1 for g in grades if top > 0 and g.exercise_score(marker) >= top)))
    return rows


def _exercise_max(graded, marker):
    return round(sum(check.points for check, _ in graded.checks if check.marker == marker), 4)


def _exercises_section(grades, markers):
    rows = exercise_rows(grades, markers)
    html = ["<h2>Exercises</h2>",
            f'<p class="note">Blue: the class mean, as a share of the exercise\'s points; red line: the median. '
            f"Full marks: how many of the {len(grades)} submissions got every point of the exercise.</p>"]
    for track, title in (("core", f"Core ({CORE_SPAN}, the {TOTAL_POINTS} points)"), ("extra", "Extras")):
        in_track = [row for row in rows if row.track == track]
        if in_track:
            html += [f"<h3>{title}</h3>", exercise_svg(in_track, len(grades), track)]
    return "\n".join(html)


def exercise_svg(rows, class_size, track):
    """Horizontal bars, one per exercise: the mean (bar) and the median (line) against the maximum."""
    width, row_height, label_width, bar_width = 1000, 30, 350, 260
    height = row_height * len(rows) + 10
    items = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="points per exercise, {track}" {SVG_TEXT}>']
    for i, row in enumerate(rows):
        y = 5 + i * row_height
        share = row.mean / row.max_points if row.max_points else 0
        median_x = label_width + bar_width * (row.median / row.max_points if row.max_points else 0)
        text = (f"mean {_num(row.mean)} / {_num(row.max_points)}, median {_num(row.median)}, "
                f"full marks {row.full_marks} of {class_size}")
        items += [f'<text x="0" y="{y + 16}">{row.number}. {escape(row.title)}</text>',
                  f'<rect class="track" {TRACK} x="{label_width}" y="{y + 4}" width="{bar_width}" height="16"/>',
                  f'<rect class="bar" {BAR} data-exercise="{row.number}" data-mean="{_num(row.mean)}" '
                  f'data-max="{_num(row.max_points)}" data-median="{_num(row.median)}" '
                  f'data-full-marks="{row.full_marks}" x="{label_width}" y="{y + 4}" '
                  f'width="{bar_width * share:.1f}" height="16"><title>{text}</title></rect>',
                  f'<line class="median" {MEDIAN} x1="{median_x:.1f}" y1="{y + 1}" x2="{median_x:.1f}" y2="{y + 23}"/>',
                  f'<text x="{label_width + bar_width + 10}" y="{y + 16}">{text}</text>']
    items.append("</svg>")
    return "\n".join(items)


# -- mistakes --------------------------------------------------------------------------------------------

def split_mistake(text):
    """(diagnosis, what to do): the text before the first ": " and after it ("" when there is none)."""
    diagnosis, _, fix = text.partition(": ")
    return diagnosis.strip(), fix.strip()


def class_mistakes(grades):
    """The named mistakes of the class, the one most submissions made first."""
    found = {}
    for graded in grades:
        for check, verdict in graded.checks:
            if verdict.outcome == "passed" or not verdict.mistake:
                continue
            diagnosis, fix = split_mistake(verdict.mistake[:MAX_MISTAKE])
            mistake = found.setdefault(diagnosis, ClassMistake(diagnosis, fix))
            if check.number not in mistake.exercises:
                mistake.exercises.append(check.number)
            if graded.name not in mistake.names:
                mistake.names.append(graded.name)
    for mistake in found.values():
        mistake.exercises.sort()
        mistake.names.sort()
    return sorted(found.values(), key=lambda m: (-len(m.names), m.exercises[0], m.diagnosis))


def _table_section(title, empty, note, table_id, headers, rows):
    """A section of the page: its title, then ``empty`` when there are no rows, else a note and a table
    whose rows are already escaped HTML cells."""
    html = [f"<h2>{title}</h2>"]
    if not rows:
        return "\n".join(html + [f"<p>{empty}</p>"])
    html += [f'<p class="note">{note}</p>', f'<table id="{table_id}">',
             "<tr>" + "".join(f"<th>{header}</th>" for header in headers) + "</tr>"]
    html += [f"<tr>{row}</tr>" for row in rows]
    return "\n".join(html + ["</table>"])


def _mistakes_section(grades):
    rows = []
    for mistake in class_mistakes(grades):
        fix = f'<div class="fix">{escape(mistake.fix)}</div>' if mistake.fix else ""
        rows.append(f'<td class="count">{len(mistake.names)}</td><td>{escape(mistake.diagnosis)}{fix}</td>'
                    f"<td>{_exercise_names(mistake.exercises)}</td>"
                    f'<td class="names">{_name_list(mistake.names)}</td>')
    return _table_section(
        "Mistakes the checks named", "No check named a mistake.",
        "A mistake counts once per submission, however many checks named it; mistakes with the same "
        "diagnosis (the text before the first colon) are one row. Most common first.",
        "mistakes", ("submissions", "mistake", "exercise", "made by"), rows)


def _exercise_names(numbers):
    by_number = {ex.number: ex for ex in BY_MARKER.values()}
    return "<br/>".join(f"{n}. {escape(by_number[n].title)}" if n in by_number else str(n) for n in numbers)


def _name_list(names):
    shown = ", ".join(escape(name) for name in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


# -- submissions to look at ------------------------------------------------------------------------------

def to_look_at(grades):
    """The submissions whose status is not ok, and those with status ok that say why (nothing passed, or
    a module raised at import)."""
    return [g for g in grades if g.status != "ok" or g.why]


def _look_at_section(grades):
    rows = [f"<td>{escape(graded.name)}</td><td>{escape(graded.status)}</td><td>{escape(graded.why[:500])}</td>"
            for graded in to_look_at(grades)]
    return _table_section(
        "Submissions to look at", "Every submission ran to the end (status ok).",
        "Status other than ok (timeout, crashed, tampered, error), nothing could be graded, or a module "
        "raised when it was imported. The whole story is in each submission's results.json.", "look-at", ("submission", "status", "why"), rows)


# -- near-copies -----------------------------------------------------------------------------------------

def _copies_section(grades):
    """The pairs behind the near-copy flags (grader/classroom/similarity.py), once the flags are set: they
    are set when the whole class is graded, and computing the pairs each time a submission finishes would
    cost too much in a large class."""
    from grader.classroom import similarity

    flagged = any(flag.startswith(similarity.FLAG_START) for graded in grades for flag in graded.flags)
    pairs = similarity.copy_pairs(grades) if flagged else []
    rows = [f"<td>{escape(pair.first)}</td><td>{escape(pair.second)}</td>"
            f'<td class="count">{pair.percent} %</td><td>{pair.shared} of {pair.smaller}</td>' for pair in pairs]
    return _table_section(
        "Near-copies", "No submission is flagged as a near-copy of another or of the kit's solutions.",
        f"Pairs of which at least {int(similarity.THRESHOLD * 100)} % of the smaller one's code fingerprints "
        "are in both (runs of code alike once names, comments and layout are set aside; the code "
        "exercises/ gives every student is left out). Honest solutions written apart share up to 63 % when "
        "both follow the lecture's code closely, far less otherwise. Read the two side by side before you "
        "conclude anything: a flag costs no points.",
        "copies", ("submission", "near-copy of", "shared", "fingerprints in both"), rows)


def _num(value):
    value = round(float(value), 2)
    return str(int(value)) if value.is_integer() else f"{value:g}"
