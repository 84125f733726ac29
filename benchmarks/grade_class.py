"""Teacher mode's throughput: grade a class of N copies of the reference with --jobs 1, 2, ...

    python benchmarks/grade_class.py --copies 30 --jobs 1 2

It prints figures; it asserts nothing. Every copy must score full marks, or the figure is void.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30, help="submissions in the class (default 30)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values to time")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPU cores; {args.copies} copies of solutions/ per class")
    print(f"{'jobs':>4}  {'wall s':>7}  {'s/submission':>12}  {'per minute':>10}  full marks")
    with tempfile.TemporaryDirectory() as tmp:
        klass = Path(tmp) / "class"
        for i in range(args.copies):
            shutil.copytree(KIT_ROOT / "solutions", klass / f"student{i:02d}",
                            ignore=shutil.ignore_patterns("__pycache__"))
        for jobs in args.jobs:
            out = Path(tmp) / f"out{jobs}"
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
                                   "--jobs", str(jobs)], cwd=KIT_ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
            rows = list(csv.DictReader((out / "grades.csv").open()))
            full = sum(float(r["total"]) == float(r["max"]) for r in rows)
            print(f"{jobs:>4}  {wall:>7.1f}  {wall / len(rows):>12.1f}  {len(rows) / wall * 60:>10.1f}  "
                  f"{full}/{len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
