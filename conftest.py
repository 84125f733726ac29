# Loads the grading plugin for every pytest run in the kit (the graded checks and the kit's own tests),
# and pytester, with which the kit's own tests run the plugin on made-up test files.
pytest_plugins = ("grader.student.plugin", "pytester")
