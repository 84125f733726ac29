"""The notebook edition: the notebook ``python -m grader notebook`` writes, and how a notebook grades
itself.
"""
