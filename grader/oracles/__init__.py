"""The checks' oracles, in the testing sense: what decides whether a check passed. The expectations
and the words of a failure (expect.py), the grader's own computations compared against (attention,
loss, causality, a training step, trained weights), the attention picture, the corpus of Exercise 13.
It runs where the checks run (the judge process in teacher mode), never where the submission's code does.
"""
