"""`python -m gibo.config`: see `gibo.config.cli`."""

import sys

from gibo.config.cli import main

if __name__ == "__main__":
    sys.exit(main())
