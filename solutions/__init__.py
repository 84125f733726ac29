"""Reference solutions for the "Let's build GPT" kit.

Same modules and public names as ``exercises/`` (see CONTRACT.md), filled in.
The grader never imports this package: teachers may delete it before handing
the kit out.
"""
