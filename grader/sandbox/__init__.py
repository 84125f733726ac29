"""Teacher mode's sandbox: the supervisor's side (supervisor.py, which starts and watches the judge),
the judge (judge.py; "the worker" in its messages) and its proxy to the submission's process (remote.py),
the confinement both confined processes apply to themselves, and the data protocol between them.
"""
