"""Teacher mode's sandbox: the process keeper, the judge (worker), confinement, and the data protocol
between the judge and the process that runs a submission.
"""
