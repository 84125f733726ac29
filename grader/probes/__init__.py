"""What runs where the submission's code runs: the probes the checks ask for, the grader's stand-ins
and training loops. Nothing here decides a grade.
"""
