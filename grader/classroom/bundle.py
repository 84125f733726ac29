"""``python -m grader bundle``: the grader packed for Gradescope, or a GitHub Classroom workflow.

The Gradescope autograder (``--out autograder.zip``) holds ``setup.sh``, ``run_autograder``, a
``requirements.txt``, a README.md for the teacher (the settings to choose, and what they were measured
with) and the grader itself (no ``solutions/``, no tests). Gradescope runs each
submission in its own container; inside it, ``run_autograder`` runs ``python -m grader grade`` on
``/autograder/submission`` with the limits given here, then ``collect`` writes the one
``/autograder/results/results.json`` Gradescope reads.
"""

import json
import shlex
import shutil
import zipfile
from pathlib import Path

from grader.arguments import at_least, more_than_zero
from grader.classroom.github_classroom import classroom_workflow
from grader.classroom.grade import VISIBILITIES
from grader.impl import KIT_ROOT
from grader.rubric import EXERCISES

TEMPLATES = Path(__file__).resolve().parent / "templates"
# The kit files the autograder needs; the grader package is added file by file.
KIT_FILES = ("tox.ini", "pyproject.toml", "README.md")
REQUIREMENTS = "pytest>=8.0\npytest-timeout>=2.2\nnbformat>=5.9\nnumpy>=1.24\n"
GRADESCOPE_TIMEOUT = 600  # seconds: Gradescope's default autograder timeout
MIN_TIME_LIMIT = 120  # below this, starting torch and the sandbox leave no time to grade


def add_arguments(parser):
    parser.add_argument("--out", default="autograder.zip", metavar="FILE",
                        help="the Gradescope autograder zip to write (default autograder.zip)")
    parser.add_argument("--classroom", metavar="FILE",
                        help="write a GitHub Classroom workflow to FILE instead "
                             "(e.g. .github/workflows/classroom.yml)")
    parser.add_argument("--timeout", type=more_than_zero(float), default=None, metavar="S", help="seconds per check")
    parser.add_argument("--total-timeout", type=more_than_zero(float), default=None, metavar="S", help="seconds per submission")
    parser.add_argument("--memory", type=more_than_zero(int), default=None, metavar="MB", help="memory per submission")
    parser.add_argument("--time-limit", type=at_least(MIN_TIME_LIMIT, f"at least {MIN_TIME_LIMIT} s"), default=GRADESCOPE_TIMEOUT, metavar="S",
                        help="the autograder timeout set in the assignment's settings on Gradescope (default "
                             f"{GRADESCOPE_TIMEOUT}, Gradescope's own; at least {MIN_TIME_LIMIT}): grading stops "
                             "about 45 s before it, so that the results are always written")
    parser.add_argument("-m", "--exercise", dest="markers", action="append",
                        choices=[ex.marker for ex in EXERCISES],
                        help="grade only this exercise (repeatable); the Classroom workflow has the core's by default")
    parser.add_argument("--visibility", default=None, choices=VISIBILITIES,
                        help="when students see the results on Gradescope (default visible)")


def run(args):
    if args.classroom:
        path = Path(args.classroom)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(classroom_workflow(args.markers))
        print(f"wrote {path}: commit it to your template repository's .github/workflows/")
        return 0
    grade_args = []
    for option, value in (("--timeout", args.timeout), ("--total-timeout", args.total_timeout),
                          ("--memory", args.memory), ("--visibility", args.visibility)):
        if value is not None:
            grade_args += [option, str(value)]
    for marker in args.markers or ():
        grade_args += ["-m", marker]
    out = build(Path(args.out), grade_args, args.time_limit)
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment, on the "
          f"Ubuntu 22.04 base image, with an autograder timeout of {args.time_limit} s (its README.md says more)")
    return 0


def build(out, grade_args=(), time_limit=GRADESCOPE_TIMEOUT):
    """Write the autograder zip to ``out``; returns its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run_autograder = ((TEMPLATES / "run_autograder").read_text()
                      .replace("@GRADE_ARGS@", " ".join(shlex.quote(a) for a in grade_args))
                      .replace("@TIME_LIMIT@", str(int(time_limit))))
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add(zf, "setup.sh", (TEMPLATES / "setup.sh").read_text(), executable=True)
        _add(zf, "run_autograder", run_autograder, executable=True)
        _add(zf, "requirements.txt", REQUIREMENTS)
        _add(zf, "README.md", (TEMPLATES / "README-gradescope.md").read_text()
             .replace("@TIME_LIMIT@", str(int(time_limit)))
             .replace("@GRADE_ARGS@", f"`{' '.join(grade_args)}`" if grade_args else "none"))
        for name in KIT_FILES:
            _add(zf, f"kit/{name}", (KIT_ROOT / name).read_text())
        grader = KIT_ROOT / "grader"
        for path in sorted(grader.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                _add(zf, f"kit/grader/{path.relative_to(grader)}", path.read_bytes())
    shutil.move(tmp, out)
    return out


def _add(zf, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same bytes on every build
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    zf.writestr(info, data)


def collect(graded_dir, results_path, grade_status=0):
    """Copy the one submission's results.json to ``results_path``; when there is not exactly one,
    write a zero score whose output says why (``grade_status``: how grade ended, 124 when run_autograder's
    timeout stopped it)."""
    graded_dir, results_path = Path(graded_dir), Path(results_path)
    found = sorted(graded_dir.glob("*/results.json")) if graded_dir.is_dir() else []
    if len(found) == 1:
        shutil.copyfile(found[0], results_path)
        return
    upload = ("Upload the .py files of exercises/ (tokenizer.py, attention.py, ...), one .py file holding "
              "every name, or one notebook.")
    if found:
        output = f"found {len(found)} submissions in your upload ({', '.join(p.parent.name for p in found)}). {upload}"
    elif grade_status in (124, 137):
        output = ("grading did not finish within the autograder's time limit: please tell your teacher, "
                  "who can raise it (bundle --time-limit, and the assignment's settings).")
    elif grade_status:
        output = f"the grader stopped before grading (exit status {grade_status}): please tell your teacher."
    else:
        output = f"found nothing to grade in your upload. {upload}"
    # Plain text, as every report: the output names the student's files.
    results = {"score": 0, "output": output, "output_format": "text", "tests": []}
    results_path.write_text(json.dumps(results, indent=2) + "\n")
