"""``python -m contrique_export``: the same as ``contrique-export``."""

import sys

from .cli import main

sys.exit(main())
