"""``python -m grader merge --out DIR SHARD...``: one class's reports from the shards it was graded in.

A large class is graded in parts (``grade --shard K/N``, on K = 1..N machines: a GitHub Actions matrix,
a Slurm job array); each part writes its reports as ``grade`` does. ``merge`` copies every submission's
folder into DIR and writes grades.csv and report.html from their ``graded.json``, with the same code
``grade`` uses: the result is what one machine grading the whole class would have written. The
near-copy flags (grader/classroom/similarity.py) are set again over the whole class.
"""

import csv
import shutil
import sys
from pathlib import Path


class MergeError(Exception):
    """The shards cannot be merged; the message says why."""


def add_arguments(parser):
    parser.add_argument("shards", nargs="+", metavar="SHARD", help="the --out folders of grade --shard K/N")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the class's reports go (new or empty)")
    parser.add_argument("--csv-bom", action="store_true",
                        help="begin grades.csv with a UTF-8 byte-order mark, so that Excel shows accents right")


def read_sheet(shard):
    """(the exercises an --out folder was graded on, the names of its submissions), from its grades.csv."""
    from grader.rubric import BY_MARKER

    path = shard / "grades.csv"
    if not path.is_file():
        raise MergeError(f"{shard}: no grades.csv here; give the folders that grade --out wrote")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        names = [row["name"] for row in reader]
    return [column for column in reader.fieldnames or [] if column in BY_MARKER], names


def merge(shards, out, bom=False):
    """Merge the shards' reports into ``out``; returns the number of submissions. Raises MergeError."""
    from grader.classroom.class_report import write_report
    from grader.classroom.reports import read_graded, write_csv, write_graded
    from grader.classroom.similarity import mark_copies
    from grader.classroom import catalog

    shards, out = [Path(s) for s in shards], Path(out)
    if out.exists() and any(out.iterdir()):
        raise MergeError(f"{out} is not empty; merge into a new folder")
    found, markers, seen = [], None, {}
    for shard in shards:
        shard_markers, names = read_sheet(shard)
        if markers is not None and shard_markers != markers:
            raise MergeError(f"{shard} was graded on other exercises ({', '.join(shard_markers)}) than "
                             f"{shards[0]} ({', '.join(markers)}); grade every shard with the same -m")
        markers = shard_markers
        for name in names:
            if name in seen:
                raise MergeError(f"{name} is in both {seen[name]} and {shard}: was a shard given twice?")
            seen[name] = shard
            found.append((shard, name))
    checks = {check.nodeid: check for check in catalog.collect()}
    class_grades = []
    out.mkdir(parents=True, exist_ok=True)
    for shard, name in found:
        try:
            class_grades.append(read_graded(shard / name, checks))
        except KeyError as exc:
            raise MergeError(f"{shard / name}: a check this kit does not have ({exc}); merge with the kit "
                             "that graded it") from None
        shutil.copytree(shard / name, out / name)
    for graded in mark_copies(class_grades):  # over the whole class, not each shard alone
        write_graded(out, graded)
    write_csv(out, class_grades, markers, bom=bom)
    write_report(out, class_grades, markers)
    return len(class_grades)


def run(args):
    try:
        count = merge(args.shards, args.out, args.csv_bom)
    except (MergeError, OSError, ValueError) as exc:
        print(f"merge: {exc}", file=sys.stderr)
        return 2
    print(f"merged {count} submission(s) from {len(args.shards)} shard(s) into {args.out}", file=sys.stderr)
    return 0
