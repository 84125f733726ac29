"""``python -m grader check``: grade an implementation with the graded checks, from any folder."""

import pytest

from .impl import KIT_ROOT
from .rubric import EXERCISES

CHECKS = KIT_ROOT / "grader" / "checks"


def add_arguments(parser):
    parser.add_argument("--impl", default="exercises", metavar="exercises|solutions|PATH",
                        help="what to grade (default: exercises)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the checks run (default: auto)")
    parser.add_argument("-m", "--exercise", dest="marker", choices=[ex.marker for ex in EXERCISES],
                        help="grade one exercise only, e.g. -m head")


def run(args):
    argv = [
        str(CHECKS), "-q", "-p", "grader.plugin",
        "--rootdir", str(KIT_ROOT), "-c", str(KIT_ROOT / "tox.ini"),
        "--impl", args.impl, "--device", args.device,
    ]
    if args.marker:
        argv += ["-m", args.marker]
    return int(pytest.main(argv))
