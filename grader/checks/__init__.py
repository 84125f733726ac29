"""The graded checks: one file per exercise, each check marked with its exercise's marker.

They reach the graded code only through the ``impl`` fixture (see grader/student/plugin.py), never by
importing ``exercises`` or ``solutions``.
"""
