"""Compile the NER window classifier and print the generated fused forward+backward kernel.

Run: python examples/window_classifier_source.py
"""

import numpy as np

import gradcomp as gc
from gradcomp.models import WindowConfig, init_params, window_classifier_loss

cfg = WindowConfig(window=2, dim=50, hidden=100, classes=5)
fn = gc.compile(window_classifier_loss(window=2, dim=50, hidden=100, classes=5))
print(fn.source)

rng = np.random.default_rng(0)
inputs = init_params(cfg, vocab_size=1000)
inputs.update(windows=rng.integers(0, 1000, (32, 5)), labels=rng.integers(0, 5, 32))
value, grads = fn(**inputs)
print(f"loss {value:.4f}; dL as rows: {len(grads['L'].indices)} of 1000 rows touched")
