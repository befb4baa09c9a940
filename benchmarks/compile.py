"""Benchmark: how long compiling takes, each loss in fresh processes (``gradcomp bench
--compile``; the measuring is in ``gradcomp/bench/compile_times.py``).

Run: python benchmarks/compile.py [--repeats 3] [--losses window mlp8 ...] [--out-dir DIR]
     python benchmarks/compile.py --scaling 250 500 1000 2000 4000 8000 16000 20000
"""

import argparse
import sys

from gradcomp.bench.compile_times import LOSSES, main, scaling

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--losses", nargs="*", default=LOSSES)
    parser.add_argument("--out-dir", default="benchmarks/results")
    parser.add_argument("--scaling", nargs="*", type=int,
                        help="only chains of these many ops (median of --repeats each)")
    args = parser.parse_args()
    if args.scaling:
        sys.exit(scaling(args.scaling, args.out_dir, args.repeats))
    sys.exit(main(args.repeats, args.losses, args.out_dir))
