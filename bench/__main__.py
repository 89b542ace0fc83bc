"""`make bench` / `python -m bench [options]`: every benchmark in BENCHMARKS, one after the other.

Options go to each benchmark's main(); `python -m bench.overhead --help` lists those of one.
"""

import sys

from . import overhead

BENCHMARKS = (overhead,)


def main(argv: list[str]) -> int:
    status = 0
    for benchmark in BENCHMARKS:
        status = max(status, benchmark.main(argv))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
