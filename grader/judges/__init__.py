"""What the checks decide with: expectations and messages, the oracles, the judge of trained weights.
It runs where the checks run (the judge process in teacher mode), never where the submission's code does.
"""
