"""Honest, independent solutions of the core (Exercises 1-9) and two extras, each written from the
exercises' docstrings in a style of its own, all shaped by the lecture and CONTRACT.md as a student's
would be: tests/test_similarity.py measures that none is flagged as a near-copy of another or of
solutions/ (grader/classroom/similarity.py). They are single files, as a student may submit one."""
