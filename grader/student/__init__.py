"""The student's side: the pytest plugin, the table and explanations, and ``python -m grader check``."""
