"""Your package for the "Let's build GPT" kit: the lecture's GPT, one exercise at a time.

Every function or method that the lecture has you write is here with its signature and a
docstring that says what to compute, the tensor shapes, where it is in the video, and a hint.
Its body is a ``# TODO: Exercise N`` comment and a ``raise NotImplementedError``: replace those
two lines with your code. Leave the names, the parameters and the rest of the code as they are:
the grader calls them.

The exercises, in lecture order (and the pytest marker that checks each one):

    1  tokenizer.py   CharTokenizer                 pytest -m tokenizer
    2  batching.py    train_val_split, get_batch    pytest -m batching
    3  bigram.py      BigramLanguageModel           pytest -m bigram
    4  generate.py    generate                      pytest -m generate
    5  attention.py   Head                          pytest -m head
    6  attention.py   MultiHeadAttention            pytest -m multihead
    7  block.py       FeedForward                   pytest -m feedforward
    8  block.py       Block                         pytest -m block
    9  gpt.py         GPTLanguageModel              pytest -m gpt

The extras, once the core above is done (their points are kept apart from the core's 100):

    10 averaging.py   average_past_loop, _matmul, _softmax   pytest -m averaging
    11 layernorm.py   LayerNorm1d                            pytest -m layernorm
    12 addition.py    EX2: a GPT that adds                   pytest -m addition
    13 finetune.py    EX3: load_pretrained, finetune         pytest -m finetune
    14 modern.py      EX4: one modern change (you pick)      pytest -m modern

Run ``pytest`` from the kit's folder to grade everything and see your score, or
``pytest -m head`` (any marker above) to check one exercise.
"""
