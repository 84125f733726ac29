"""The kit's grader: a pytest plugin with the graded checks, the trainer and the command line.

It never imports ``solutions``: every check is a property or an oracle built from torch primitives.
"""
