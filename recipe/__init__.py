"""How the default pair was built (not part of the installed duolab package).

tasks.py     seeded generators of the seven miniature tasks (training data and prompt sets)
corpus.py    training documents, the tokenizer and token streams
training.py  model specs and the training loop
toy.py       tiny random-weight pairs for the tests
build_models.py           `python -m recipe.build_models` (make models): the pair from scratch
plot_training_curves.py   `python -m recipe.plot_training_curves`: the loss curves of that build

Run its modules from the repository root (`-m` puts it on sys.path; recipe is not installed).
Used by build_models and the tests. recipe may import duolab; duolab never imports
recipe.
"""
