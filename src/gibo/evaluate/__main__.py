"""`python -m gibo.evaluate`: see `gibo.evaluate.cli`."""

import sys

from gibo.evaluate.cli import main

if __name__ == "__main__":
    sys.exit(main())
