"""How the default pair was built (not part of the installed duolab package).

tasks.py     seeded generators of the seven miniature tasks (training data and prompt sets)
corpus.py    training documents, the tokenizer and token streams
training.py  model specs and the training loop
toy.py       tiny random-weight pairs for the tests

Used by scripts/build_models.py and the tests. recipe may import duolab; duolab never imports
recipe.
"""
