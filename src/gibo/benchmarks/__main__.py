"""`python -m gibo.benchmarks`: see `gibo.benchmarks.cli`."""

import sys

from gibo.benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
