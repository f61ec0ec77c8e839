"""``python -m fluoro sync DIR...`` and ``python -m fluoro login``."""

import sys

from ._cli import main

sys.exit(main())
