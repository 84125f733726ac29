"""A failed check, as the check raises it: the message for the student, and the facts it stated as
data (the mistake it named, the picture it drew), which the student's table, the judge's result event
and the reports read instead of the message's text. Imported by every side that shows a failure; it
imports nothing of the grader."""


class GradingFailure(AssertionError):
    """A check failed; the message is written for the student and shown without a traceback.
    ``mistake``: the mistake the check named (a Mistake hint of ``fail``), as data for the class report;
    ``picture``: the picture shown at the end of the message (see fail: an attention_picture.Picture,
    its text with the numbers it was drawn from), or None."""

    # The labels of a message's lines (see line): what reads the mistake reads ``mistake`` (named_in),
    # never its line; the student's summary keeps the lines with these labels.
    MISTAKE_LABEL = "mistake:"
    HINT_LABEL = "hint:"
    WHERE_LABEL = "look at:"

    @staticmethod
    def line(label, text):
        """A labelled line of a message, its text aligned with the others': "  hint:     ..."."""
        return f"  {label:<9} {text}"

    def __init__(self, message, mistake=None, picture=None):
        super().__init__(message)
        self.mistake = mistake
        self.picture = picture

    @staticmethod
    def named_in(exc):
        """The mistake that ``exc`` named, if it is a GradingFailure that named one (the grader's own
        object: the submission's exceptions never reach a check as one), else None."""
        mistake = exc.mistake if isinstance(exc, GradingFailure) else None
        return str(mistake) if mistake else None


class Mistake(str):
    """A hint that names the mistake itself: the output matched the grader's own computation with that
    mistake made (name_the_mistake). Shown as "mistake:", and ahead of failures that only saw its effects."""
