"""How the grader names a function of the submission that did not finish in time: a label, such as
``block.FeedForward.forward`` (its module in the graded folder, its class if any, its name).

The judge makes labels (grader/sandbox/remote.py), the worker sends them on its events and the
supervisor (grader/sandbox/supervisor.py) passes them to the next worker: a leaf module, so that the
supervisor reads them without importing the judge's machinery (and torch).
"""

import re

LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){1,8}")


def shown(label):
    """The label as a message shows it: a method without its module (``FeedForward.forward``), a
    module's function with it (``block.helper``)."""
    return label.partition(".")[2] if label.count(".") > 1 else label
