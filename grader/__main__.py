"""``python -m grader COMMAND``: the kit's command line."""

import argparse
import importlib
import sys

# command -> (module with add_arguments(parser) and run(args) -> exit code, one-line help)
COMMANDS = {
    "check": ("grader.student.check", "grade an implementation with the graded checks (runs pytest)"),
    "train": ("grader.trainer.train", "train a GPT built from an implementation on Tiny Shakespeare"),
    "bench": ("grader.trainer.bench", "time training of the fused reference and of per-head attention (prints figures)"),
    "sample": ("grader.trainer.sample", "generate text from a checkpoint saved by train"),
    "grade": ("grader.classroom.grade", "grade a class of submissions (folders, .py files, notebooks, zips) in a sandbox"),
    "merge": ("grader.classroom.merge", "merge the reports of a class graded in shards (grade --shard K/N)"),
    "bundle": ("grader.classroom.bundle", "pack the grader as a Gradescope autograder, or write a GitHub Classroom workflow"),
    "notebook": ("grader.notebook.edition", "write the exercises as a Jupyter notebook (for Colab) that grades itself"),
    "data": ("grader.data", "obtain Tiny Shakespeare (download, or copy a local file) and verify it"),
}


def build_parser(command=None):
    """The parser; only ``command``'s module is imported, so ``data`` never waits for torch."""
    parser = argparse.ArgumentParser(prog="python -m grader", description="The Let's build GPT kit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        argv = ["check"]
    args = build_parser(argv[0]).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    return importlib.import_module(COMMANDS[args.command][0]).run(args)


if __name__ == "__main__":
    sys.exit(main())
