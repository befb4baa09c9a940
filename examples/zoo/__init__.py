"""Losses people write in an NLP/ML course, each as gradcomp code and as the same PyTorch code.

Every module has ``loss()`` (the gradcomp expression), ``data(batch, seed)`` (float64 inputs)
and ``torch_loss(t)`` (the same loss on a dict of torch tensors: the oracle in
``tests/test_zoo.py`` and a peer in ``benchmarks/zoo.py``), and ``jax_loss(p)`` (the same in JAX,
a peer in the benchmark). Run one to see it compiled,
checked and its source: ``python -m examples.zoo.skipgram``.
"""

MODELS = ["logreg", "mlp", "skipgram", "glove", "attention", "rnn"]
