"""python -m gibo.paper"""

import sys

from gibo.paper.cli import main

sys.exit(main())
