"""What ``python -m examples.zoo.<model>`` does: compile, check, print the first lines."""

import gradcomp as gc


def main(model) -> None:
    fn = gc.compile(model.loss())
    inputs = model.data(batch=8)
    value, grads = fn(**inputs)
    print(f"{model.__spec__.name.rsplit('.', 1)[-1]}: loss {value:.6f}; gradients of "
          f"{', '.join(sorted(grads))}")
    print(f"finite-difference check: max error {fn.check(**inputs):.1e}")
    print("\n".join(fn.source.splitlines()[:40]), "\n...")
