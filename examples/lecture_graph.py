"""Draw the lecture's graph: f = (x + y) * max(y, z) at x=1, y=2, z=0.

Each node shows its forward value, each edge the gradient flowing back along it
(upstream × local), and each input its total gradient: f = 6, df/dx = 2, df/dy = 5, df/dz = 0.
Run: python examples/lecture_graph.py [out.svg|out.png]   (needs gradcomp[viz] and Graphviz)
"""

import sys

import gradcomp as gc

x, y, z = gc.scalars("x y z")
f = (x + y) * gc.maximum(y, z)
inputs = {"x": 1.0, "y": 2.0, "z": 0.0}

print(gc.to_dot(f, inputs, grads=True))
path, note = gc.draw(f, sys.argv[1] if len(sys.argv) > 1 else "lecture.svg", inputs, grads=True)
print(f"written to {path}" + (f" ({note})" if note else ""))
