"""``python -m grader grade SUBMISSION... --out DIR``: grade a class of untrusted submissions.

Each submission is prepared in its own scratch folder and graded in its own sandboxed process
(grader/sandbox/supervisor.py); this process only reads what the sandbox reports, decides every score from the
rubric, and writes the reports as each submission finishes, so an interrupted run keeps what it did.
"""

import re
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from grader.arguments import more_than_zero
from grader.rubric import EXERCISES
from grader.classroom.safe_text import one_line, printable
from grader.classroom.submissions import SubmissionError, discover
from grader.classroom.notebook_source import load_failures
from grader.impl import PRIVATE_PACKAGE, SINGLE_FILE

# Gradescope's visibility settings (results.json), for --visibility; here, not in reports.py, which
# imports torch: the command line is read before anything heavy is imported.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def add_arguments(parser):
    defaults = _limits_class()()
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a folder shaped like exercises/, a .py file, a .ipynb notebook, a student's copy of "
                             "the kit, a .zip of one of these, or a folder holding such submissions (one per "
                             "student); inside a folder or a zip, what writes the most exercises is graded")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where the reports go: DIR/grades.csv and DIR/<submission>/results.json, junit.xml")
    parser.add_argument("--upload", action="store_true",
                        help="SUBMISSION is one student's upload, whatever it holds (as on Gradescope): "
                             "grade the one submission found in it, not each of its entries")
    parser.add_argument("--jobs", type=more_than_zero(int), default=1, metavar="N",
                        help="submissions graded at once (default 1; one CPU core each)")
    parser.add_argument("--timeout", type=more_than_zero(float), default=defaults.timeout, metavar="S",
                        help=f"seconds one check may take (default {defaults.timeout:.0f})")
    parser.add_argument("--total-timeout", type=more_than_zero(float), default=defaults.total, metavar="S",
                        help=f"seconds one submission may take in all (default {defaults.total:.0f})")
    parser.add_argument("--deadline", type=more_than_zero(float), default=None, metavar="S",
                        help="finish within S seconds of starting, every report written: a submission gets "
                             "what is left, less time to write its reports, and checks not run by then score 0 "
                             "(for an autograder's time limit; Gradescope's bundle sets it)")
    parser.add_argument("--memory", type=more_than_zero(int), default=defaults.memory_mb, metavar="MB",
                        help=f"memory (address space) one submission may use (default {defaults.memory_mb})")
    parser.add_argument("--max-processes", type=more_than_zero(int), default=defaults.processes, metavar="N",
                        help=f"processes one submission may run at once (default {defaults.processes})")
    parser.add_argument("--max-output", type=more_than_zero(int), default=defaults.output_mb, metavar="MB",
                        help=f"output one submission may print (default {defaults.output_mb})")
    parser.add_argument("-m", "--exercise", dest="markers", action="append",
                        choices=[ex.marker for ex in EXERCISES],
                        help="grade only this exercise (repeat for several); default: all")
    parser.add_argument("--require-sandbox", action="store_true",
                        help="refuse to grade where the sandbox is partial: no Landlock, no namespaces, or "
                             "workers that run as root (see the README)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where the checks run (default cpu: the same grade on every machine)")
    parser.add_argument("--visibility", default="visible", choices=VISIBILITIES,
                        help="when students see the results on Gradescope (results.json's visibility, for "
                             "the whole and every check; default visible)")
    parser.add_argument("--shard", type=_shard, metavar="K/N",
                        help="grade only the K-th of N equal parts of the class (1 <= K <= N), on one machine "
                             "each; python -m grader merge joins their --out folders")
    parser.add_argument("--csv-bom", action="store_true",
                        help="begin grades.csv with a UTF-8 byte-order mark, so that Excel shows accents right")


def _shard(text):
    import argparse

    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, e.g. 2/3; got {text!r}")
    return int(k), int(n)


def _markers_of(checks):
    """The exercises ``checks`` grade, in lecture order: the per-exercise columns of the reports."""
    return [ex.marker for ex in EXERCISES if any(c.marker == ex.marker for c in checks)]


def _empty_shard(args, class_size):
    """More shards than submissions: this one's reports hold no one, so that merge still takes it."""
    from grader.classroom import reports
    from grader.classroom import catalog

    checks = catalog.collect(args.markers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports.write_csv(out, [], _markers_of(checks))
    k, n = args.shard
    print(f"grade: shard {k}/{n} holds no submission (the class has {class_size}); wrote an empty grades.csv",
          file=sys.stderr)
    return 0


def _limits_class():
    from grader.sandbox.supervisor import Limits

    return Limits


def run(args):
    started = time.monotonic()  # --deadline counts from here; run_autograder leaves time for what comes before
    try:
        submissions, class_size = _submissions_to_grade(args)
        if args.shard and class_size and not submissions:
            return _empty_shard(args, class_size)
        batch = _prepare_batch(args, submissions, started)
    except _NotGraded as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    return _grade_batch(batch, args)


class _NotGraded(Exception):
    """Why this run grades no one, found before it starts: run prints it and exits with 2."""


@dataclass
class _Batch:
    """What one run grades, how, and where its reports go."""

    submissions: list
    checks: list
    markers: list  # the exercises graded: the reports' columns (_markers_of)
    out: Path
    kept: list  # the Graded of the rows of out's grade sheet not graded again (_kept_rows)
    limits: object  # grader.sandbox.supervisor.Limits
    data_path: Path
    deadline: float  # the time.monotonic() by which every report is written; None: no --deadline


def _submissions_to_grade(args):
    """The submissions this run grades (with --shard, its part of the class) and the size of the class."""
    try:
        submissions, skipped = discover(args.submissions, upload=args.upload)
    except SubmissionError as exc:
        raise _NotGraded(str(exc)) from None
    for path, why in skipped:
        print(f"grade: {path} is not a submission ({why}): it is in the reports as an error", file=sys.stderr)
    class_size = len(submissions)
    if args.shard:
        # Every K-th of the class in name order (the names made unique over the whole class first), so
        # the parts do not overlap, cover the class, and give the names one machine would.
        k, n = args.shard
        submissions = submissions[k - 1::n]
    return submissions, class_size


def _prepare_batch(args, submissions, started):
    """The _Batch, once the data, the sandbox, the device and the --out folder can grade it; says so on
    the terminal. _NotGraded says why not."""
    from grader.classroom import catalog

    if not submissions:
        raise _NotGraded("found no submissions to grade")
    data_path, sandbox = _data_and_sandbox(args)
    out = Path(args.out)
    checks = catalog.collect(args.markers)
    markers = _markers_of(checks)
    try:
        kept = _kept_rows(out, markers, {sub.name for sub in submissions})
    except SheetError as exc:
        raise _NotGraded(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    limits = _limits_class()(timeout=args.timeout, total=args.total_timeout, memory_mb=args.memory,
                             processes=args.max_processes, output_mb=args.max_output)
    print(f"grading {len(submissions)} submission(s), {len(checks)} checks each, {args.jobs} at a time, "
          f"into {out}\nsandbox: {sandbox}", file=sys.stderr)
    if kept:
        print(f"{out} holds a grade sheet already: its rows for the submissions graded now are replaced, the "
              f"other {len(kept)} kept; grades.csv and report.html are rebuilt from all of them", file=sys.stderr)
    deadline = started + args.deadline if args.deadline else None
    return _Batch(submissions, checks, markers, out, kept, limits, data_path, deadline)


def _data_and_sandbox(args):
    """The verified data file's path and the sandbox's description (describe_sandbox); _NotGraded when
    the data is missing, the sandbox is partial under --require-sandbox, or --device cuda cannot grade."""
    from grader.data import DataError, load_text, verify

    try:
        load_text(download=True)  # the checks that train need it; download it once, here
        data_path = verify()
    except DataError as exc:
        raise _NotGraded(str(exc)) from None
    sandbox = describe_sandbox()
    if args.require_sandbox and sandbox.startswith("partial"):
        raise _NotGraded(f"--require-sandbox: the sandbox is {sandbox}")
    if args.device == "cuda" and (problem := _cuda_problem(_limits_class()(), data_path)):
        raise _NotGraded(f"--device cuda: {problem}; grade with --device cpu (the default) instead")
    return data_path, sandbox


def _grade_batch(batch, args):
    """Grade the batch, args.jobs submissions at a time, each one's reports written as it finishes; then
    flag the near-copies and print the summary. Returns the exit status: 0, or 130 when interrupted."""
    from grader.classroom import reports

    progress = reports.Progress(len(batch.submissions))
    graded = []
    start = time.monotonic()
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        futures = {pool.submit(grade_one, sub, batch.checks, batch.limits, batch.data_path, args.device, cancel,
                               batch.deadline): sub for sub in batch.submissions}
        for future, submission in _completed(futures):
            result, extracted = _result_of(future, submission)
            graded.append(result)
            _write_reports(batch.out, result, extracted, batch.kept + graded, batch.markers, args)
            progress.update(result)
    except KeyboardInterrupt:
        # Stop the workers; what was graded is already on disk.
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        print(f"\ngrade: interrupted; {len(graded)} of {len(batch.submissions)} graded, reports in {batch.out}",
              file=sys.stderr)
        return 130
    pool.shutdown()
    _flag_copies(batch.out, batch.kept + graded, batch.markers, args)
    _print_summary(graded, batch.markers, time.monotonic() - start, batch.out)
    return 0


def _print_summary(graded, markers, elapsed, out):
    """The class's table of grades, how long it took, and where the reports are."""
    from grader.classroom import reports

    print(reports.summary_table(graded, markers))
    rate = f" ({len(graded) / elapsed * 60:.1f} per minute)" if elapsed >= 10 else ""  # a rate of one quick run says little
    print(f"\n{len(graded)} graded in {elapsed:.0f} s{rate}; "
          f"reports in {out}/grades.csv and {out}/<submission>/results.json")


class SheetError(Exception):
    """The --out folder holds a grade sheet that this run cannot add to; the message says why."""


def _kept_rows(out, markers, names):
    """The Graded of every row of ``out``'s grades.csv that is not graded again now (its name not in
    ``names``), read from its graded.json: a regrade replaces its own rows and keeps the others. [] for a
    new or empty folder. Raises SheetError when the sheet is of other exercises or cannot be read."""
    from grader.classroom.merge import MergeError, read_sheet
    from grader.classroom.reports import GRADED_FILE, read_graded
    from grader.classroom import catalog

    if not (out / "grades.csv").is_file():
        return []
    try:
        sheet_markers, sheet_names = read_sheet(out)
    except (MergeError, OSError, ValueError) as exc:
        raise SheetError(f"{out}/grades.csv cannot be read ({exc}); grade into another --out") from None
    if sheet_markers != markers:
        raise SheetError(f"{out} holds grades of other exercises ({', '.join(sheet_markers) or 'none'}) than "
                         f"this run's ({', '.join(markers)}): grade with the same -m options, or into another --out")
    checks = {check.nodeid: check for check in catalog.collect()}
    kept = []
    for name in sheet_names:
        if name in names:
            continue
        try:
            kept.append(read_graded(out / name, checks))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SheetError(f"{out / name / GRADED_FILE} cannot be read ({type(exc).__name__}: {exc}), so its "
                             "row could not be kept: grade into another --out, or the whole class again") from None
    return kept


def _cuda_problem(limits, data_path):
    """Why CUDA cannot grade here (None when it can): checked here, then in a worker confined as for
    grading, so that a sandbox that hides the GPU stops the batch before it grades anyone."""
    import torch

    from grader.sandbox.supervisor import probe_cuda

    if not torch.cuda.is_available():
        return f"CUDA is not available on this machine (torch {torch.__version__})"
    with tempfile.TemporaryDirectory(prefix="gptkit-cuda-probe-") as scratch:
        ok, detail = probe_cuda(scratch, limits, data_path)
    return None if ok else f"CUDA works here but not inside the sandbox ({detail})"


def _completed(futures):
    """(future, submission) pairs in the order they finish."""
    for future in as_completed(futures):
        yield future, futures[future]


def _result_of(future, submission):
    """The future's (Graded, extracted); a grader bug becomes that submission's error, not the batch's end."""
    from grader.classroom import reports

    try:
        return future.result()
    except Exception as exc:
        graded = reports.Graded(submission.name, str(submission.path), submission.kind)
        graded.error = f"grader error ({type(exc).__name__}: {exc}); please report it"
        graded.make_printable()
        return graded, ""


def _write_reports(out, graded, extracted, class_grades, markers, args):
    """The submission's reports and the class's CSV. A submission whose reports cannot be written is
    an error in the CSV, and the batch goes on."""
    from grader.classroom import reports

    try:
        reports.write_submission(out, graded, extracted, visibility=args.visibility)
    except Exception as exc:
        graded.error = f"its reports could not be written to {out / graded.name} ({type(exc).__name__}: {exc})"
    try:
        reports.write_csv(out, class_grades, markers, bom=args.csv_bom)
    except Exception as exc:
        print(f"grade: could not write {out / 'grades.csv'} ({type(exc).__name__}: {exc})", file=sys.stderr)
    try:  # the class report, rewritten as each submission finishes (grader/classroom/class_report.py)
        from grader.classroom.class_report import write_report
        write_report(out, class_grades, markers)
    except Exception as exc:
        print(f"grade: could not write {out / 'report.html'} ({type(exc).__name__}: {exc})", file=sys.stderr)


def _flag_copies(out, class_grades, markers, args):
    """Near-copies flagged over the whole sheet (grader/classroom/similarity.py), once every submission's
    own reports are written: a student's results.json never names another student; grades.csv,
    report.html and graded.json do."""
    from grader.classroom import reports
    from grader.classroom.class_report import write_report
    from grader.classroom.similarity import mark_copies

    changed = mark_copies(class_grades)
    for graded in changed:
        reports.write_graded(out, graded)
    if changed:
        reports.write_csv(out, class_grades, markers, bom=args.csv_bom)
        write_report(out, class_grades, markers)


def describe_sandbox():
    """One line on what confines the submissions here; starts with "partial" when something is missing:
    Landlock, the namespaces, or an unprivileged user for the workers (the grader runs as root, and the
    user nobody cannot run its Python)."""
    from grader.sandbox.confine import landlock_abi, system_call_filter_available
    from grader.sandbox.namespaces import namespace_layers, nobody_cannot_read, worker_user

    abi, layers, user, syscalls = landlock_abi(), namespace_layers(), worker_user(), system_call_filter_available()
    parts = [f"Landlock ABI {abi}" if abi else "no Landlock (files not confined)",
             "an allowlist of system calls" if syscalls else "no system-call filter (install libseccomp)",
             ", ".join(layers) if layers else "no namespaces (processes tracked by marker)"]
    if user == "you":
        parts.append("as you")
    parts.append("memory and processes capped per process, not by cgroups")  # README: Not protected
    line = ("full: " if abi and syscalls and layers and user != "root" else "partial: ") + ", ".join(parts)
    if user == "root":
        blocked = nobody_cannot_read()
        line += ("; the workers run as root (without its capabilities): the user nobody cannot read "
                 f"{blocked or 'this Python'}; put Python, torch and the kit where every user may read them "
                 "(a virtual environment made with a Python outside /root, say)")
    return line


# Seconds kept, under --deadline, for what follows a submission's checks: stopping its processes and
# writing its reports (about a second here; ten times that on a slow, shared autograder).
REPORT_RESERVE = 15.0


def _within_deadline(limits, deadline):
    """``limits`` with a total time that ends REPORT_RESERVE seconds before ``deadline`` (if sooner)."""
    if deadline is None:
        return limits
    left = deadline - time.monotonic() - REPORT_RESERVE
    if left <= 0:
        raise SubmissionError("the run reached its --deadline before this submission's turn")
    if left >= limits.total:
        return limits
    return replace(limits, total=left, total_reason="grading stopped here, so that the results could be "
                                                    "written within the time this grading was given")


def grade_one(submission, checks, limits, data_path, device, cancel=None, deadline=None):
    """Grade one submission; never raises: a problem becomes the submission's status. With ``deadline``
    (a time.monotonic() value), its reports can be written before then."""
    from grader.classroom import reports
    from grader.classroom.reading import READ_SECONDS, prepare_apart

    graded = reports.Graded(submission.name, str(submission.path), submission.kind)
    extracted = ""
    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="gptkit-grade-"))
    try:
        reading = READ_SECONDS if deadline is None else min(READ_SECONDS, deadline - time.monotonic())
        prepared, flags = prepare_apart(submission, scratch / "submission", reading)  # in a process of its own
        graded.fingerprints = prepared.fingerprints
        graded.kind = prepared.kind
        graded.notes = prepared.notes
        extracted = prepared.extracted
        shown = _shown_paths(submission, prepared, scratch)
        graded.flags = [_as_submitted(flag, shown) for flag in flags]
        limits = _within_deadline(limits, deadline)
        result = _run_checks(prepared.package, scratch, checks, limits, data_path, device, cancel)
        graded.checks = [(check, _clean(result.verdicts[check.nodeid], shown)) for check in checks]
        graded.sandbox = {"device": device, "processes": result.runs, "landlock_abi": result.landlock,
                          "namespaces": result.namespaces, "output_bytes": result.output_bytes,
                          "blocked_modules": sorted(result.blocked)}
        for module, reason in sorted(result.blocked.items()):
            graded.notes.append(reason)
        graded.import_errors = {module: one_line(_as_submitted(f"{error} ({where})", shown))
                                for module, (error, where) in result.import_errors.items()}
        if prepared.kind == "notebook" and (failures := load_failures(result.output)):
            # The submission's own output says so: worth a look, but the submission could have printed anything.
            graded.notes.append("failed as the notebook loaded (as its own output says): " + "; ".join(failures))
        if not result.landlock:
            graded.notes.append("files were not confined (no Landlock on this system): see the README")
        if result.refused_limits:
            graded.notes.append(f"this system refused the limits {', '.join(result.refused_limits)}")
        graded.notes.extend(result.cleanup)
    except SubmissionError as exc:
        graded.error = str(exc)
    except Exception as exc:  # a bug in the grader must not stop the class from being graded
        # The traceback is the teacher's (on this terminal), not the student's (the reports).
        print(f"grade: {submission.name}: grader error\n{traceback.format_exc()}", file=sys.stderr)
        graded.error = f"grader error ({type(exc).__name__}: {exc}); please report it"
    finally:
        if graded.error:
            from grader.sandbox.supervisor import Verdict

            graded.checks = [(check, Verdict("not run", f"not graded: {graded.error}")) for check in checks]
        _remove_scratch(scratch, graded)
    graded.execution_time = time.monotonic() - start
    graded.make_printable()
    return graded, printable(extracted)


def _remove_scratch(scratch, graded):
    """Delete the submission's scratch folder, whatever it holds. Where that fails (not seen so far) the
    grade stands: the report and the terminal say what is left, for the teacher to delete."""
    from grader.sandbox.cleanup import remove_tree

    try:
        remove_tree(scratch)
    except Exception as exc:  # a grade is never lost to its cleanup
        why = (f"the grader could not delete all it wrote in {scratch} ({type(exc).__name__}: {exc}); "
               "delete it by hand")
        graded.notes.append(why)
        print(f"grade: {graded.name}: {why}", file=sys.stderr)


def _run_checks(package, scratch, checks, limits, data_path, device, cancel):
    """Run the checks in the sandbox, each judged where no submission code runs (grader/sandbox/remote.py)."""
    from grader.sandbox.supervisor import run_sandboxed

    return run_sandboxed(package, scratch, [c.nodeid for c in checks], limits, data_path, device, cancel=cancel,
                         budgets={c.nodeid: c.budget(limits.timeout) for c in checks},
                         exercises={c.nodeid: c.marker for c in checks})


def _shown_paths(submission, prepared, scratch):
    """[(pattern of a path in the graded copy, as the report shows it)], most specific first: the teacher
    reads ``bob/attention.py``, ``bob/exercises/attention.py`` or ``bob.py`` (``extracted.py`` for a
    notebook: the report's folder keeps it; Prepared.shown), not the scratch folder, which also differs
    from one run to the next. The checks name the copy's files from the scratch folder
    (``submission/attention.py``) or in full."""
    copy = re.escape(f"{scratch}/") + "|" + r"(?<![\w/.-])"  # the scratch folder, or nothing before it
    shown = []
    if prepared.kind != "package":
        single = prepared.shown
        shown += [(f"(?:{copy})submission/{re.escape(SINGLE_FILE)}", single),
                  (rf"(?<![\w/.-]){re.escape(SINGLE_FILE)}:", f"{single}:")]
        folder = f"{submission.name}/"
    else:
        folder = prepared.shown
    # The private name the graded folder is imported under ("_gptkit_impl_9c25154bfe.attention"): the module's.
    private = (rf"{re.escape(PRIVATE_PACKAGE)}[0-9a-f]+\.", "")
    return shown + [(f"(?:{copy})submission/", folder), (re.escape(f"{scratch}/"), ""),
                    (re.escape(str(scratch)), "."), private]


def _as_submitted(text, shown):
    for pattern, name in shown:
        text = re.sub(pattern, lambda _: name, text)
    return text


def _clean(verdict, shown):
    """The verdict with the graded copy's paths shown as submitted (``_shown_paths``)."""
    return replace(verdict, message=_as_submitted(verdict.message, shown),
                   raised=tuple(_as_submitted(text, shown) for text in verdict.raised))
