"""Types for the numbers on the command line, shared by every command: an error says what was expected."""

import argparse


def at_least(minimum, words, kind=int):
    """An argparse type: a number of ``kind`` no smaller than ``minimum`` (``words`` says so in the error)."""

    def parse(text):
        number = _read(text, kind)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got {number}")
        return number

    return parse


def more_than_zero(kind):
    """An argparse type: a number of ``kind`` above 0."""

    def parse(text):
        number = _read(text, kind)
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
        return number

    return parse


def _read(text, kind):
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
