"""Training and sampling the student's GPT: ``train``, the fast path, the loss curve, ``sample`` and
``bench``.
"""
