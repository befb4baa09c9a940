"""Benchmark: value + all gradients of the NER window classifier, gradcomp compiled vs the
NumPy interpreter vs hand-written NumPy (and JAX, PyTorch where installed).

Run: python benchmarks/window_classifier.py [--quick] [--out-dir DIR]
(the same as `gradcomp bench`; pip install '.[bench]' for the plot).
"""

import argparse
import sys

from gradcomp.bench import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", default="bench-results")
    args = parser.parse_args()
    sys.exit(main(quick=args.quick, out_dir=args.out_dir))
