"""``python -m grader`` (or ``python -m grader check``): the student view, from any folder.

It runs the graded checks and shows only the table: points per exercise, the first failing check of
each with its hint, and the exercise to do next. ``pytest`` shows every failure in full.
"""

import pytest

from grader.device import CHOICES as DEVICE_CHOICES
from grader.impl import KIT_ROOT
from grader.rubric import EXERCISES, EXTRAS_SPAN
from grader.student.voice import CHOICES as VOICES

CHECKS = KIT_ROOT / "grader" / "checks"


def add_arguments(parser):
    parser.add_argument("--impl", default="exercises", metavar="exercises|solutions|PATH",
                        help="what to grade (default: exercises)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="where the checks run (default: auto)")
    parser.add_argument("-m", "--exercise", dest="markers", action="append", metavar="MARKER",
                        choices=[ex.marker for ex in EXERCISES],
                        help="grade only this exercise, e.g. -m head (repeatable)")
    parser.add_argument("--voice", default="terminal", choices=VOICES,
                        help="how messages name places and commands (the notebook edition asks for notebook)")
    parser.add_argument("--extras", action="store_true",
                        help=f"grade the extras ({EXTRAS_SPAN}) too; by default the core is graded")
    parser.add_argument("--pictures-json", metavar="PATH",
                        help="write the attention picture of the failure shown in full, with its weights, to "
                             "this JSON file (the notebook edition draws it as an image)")


def run(args):
    argv = [
        str(CHECKS), "-q", "--tb=no", "-rN", "-p", "grader.student.plugin",
        "--rootdir", str(KIT_ROOT), "-c", str(KIT_ROOT / "tox.ini"),
        "--impl", args.impl, "--device", args.device, "--voice", args.voice,
    ]
    if args.markers:
        argv += ["-m", " or ".join(args.markers)]
    if args.extras:
        argv.append("--extras")
    if args.pictures_json:
        argv += ["--pictures-json", args.pictures_json]
    return int(pytest.main(argv))
