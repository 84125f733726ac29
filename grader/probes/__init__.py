"""What runs where the submission's code runs: the probes the checks ask for, the grader's stand-ins
and training loops, and in teacher mode the server of the submission's confined process (server.py).
Nothing here decides a grade.
"""
