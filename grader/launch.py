"""How the grader starts a Python process of its own: this interpreter, finding this copy of the grader.

The grader may be installed (editable or not), run from a clone's folder, or run from an unzipped
Gradescope bundle (``cd kit && python -m grader``), where nothing but the working folder makes it
importable. A child started in another folder (a submission's, a scratch folder) would then not
find it. So every child is told where it is: the folder that holds this ``grader`` package comes first
on its ``PYTHONPATH``, and ``-P`` (Python 3.11+) keeps its working folder off ``sys.path``, so that a
submission's files there can never stand in for a module.
"""

import os
import sys

from grader.impl import KIT_ROOT


def python(*args):
    """The command that runs this Python with ``args`` (``"-m", module, ...`` or ``"-c", code``)."""
    return [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), *args]


def python_module(module, *args):
    """The command that runs ``python -m module args`` as this process would."""
    return python("-m", module, *args)


def environment(variables):
    """``variables`` (a mapping of environment variables) with this grader first on ``PYTHONPATH``."""
    env = dict(variables)
    paths = [str(KIT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env
