"""``python -m simulator``: the command line."""

import sys

from simulator.cli import main

sys.exit(main())
