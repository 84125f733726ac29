"""What the checks decide with: expectations and messages, the oracles, the judge of trained weights,
the catalog of checks and their points.
"""
