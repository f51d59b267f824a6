"""`python -m gibo.report`: see `gibo.report.cli`."""

import sys

from gibo.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
