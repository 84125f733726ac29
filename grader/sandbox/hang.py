"""A function of the submission known to hang, refused at once: the trap set in the submission's process,
and the exception it raises. Standard library only: the submission's process imports it to set a trap,
and nothing of the judge comes with it."""


class KnownHang(BaseException):
    """A check called a function of the submission that already did not finish in time in an earlier
    check: it is charged at once instead of waiting out its time limit again. A BaseException, as
    pytest's own outcomes are, so that an ``except Exception`` (a check's or the submission's) does not
    take it for an ordinary error. In the submission's process, where ``HangTrap`` raises it, it
    carries the function's label only; the judge raises its own, worded from its own record."""

    def __init__(self, label, message=None):
        super().__init__(message or label)
        self.label = label


class HangTrap:
    """Set, in the submission's process, in the place of a method known to hang (``FeedForward.forward``
    as a class attribute): a call of it, from the judge or from the submission's own code (a Block
    calling its FeedForward), raises KnownHang at once. Not a function, so it is never bound."""

    def __init__(self, label):
        self.label = str(label)

    def __call__(self, *args, **kwargs):
        raise KnownHang(self.label)
