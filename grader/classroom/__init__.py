"""The teacher's side: ``grade`` for a class of submissions, the reports, and the Gradescope and
Classroom bundles.
"""
