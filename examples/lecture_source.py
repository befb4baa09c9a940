"""Compile the lecture's f = (x + y) * max(y, z) and print its generated source.

Run: python examples/lecture_source.py
"""

import gradcomp as gc

x, y, z = gc.scalars("x y z")
f = (x + y) * gc.maximum(y, z)
fn = gc.compile(f)

value, grads = fn(x=1.0, y=2.0, z=0.0)
print(f"f = {value}, gradients {grads}")  # f = 6.0, gradients {'x': 2.0, 'y': 5.0, 'z': 0.0}
print(f"finite-difference check: max error {fn.check(x=1.0, y=2.0, z=0.0):.1e}\n")
print(fn.source)
