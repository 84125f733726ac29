"""A check's time limit in teacher mode, decided once: the supervisor gives each check this budget
(grader/classroom/catalog.py's Check.budget) and the judge sets pytest-timeout's limit to it
(grader/sandbox/judge.py)."""


def time_limit(timeout, own):
    """A check's time limit in teacher mode, under a per-check limit of ``timeout`` seconds: the longer of
    the two when the check has a limit of its own (``own``, its timeout marker; 0 for none), so a check
    that trains (and says so) is never cut short. The one rule: the worker and the parent both use it."""
    return max(timeout, own)


def own_time_limit(item):
    """A collected check's own time limit: the seconds of its timeout marker, 0 when it has none."""
    mark = item.get_closest_marker("timeout")
    return float(mark.args[0]) if mark is not None and mark.args else 0.0
