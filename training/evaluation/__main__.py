"""``python -m contrique_training.evaluation``: the same as ``contrique-eval``."""

import sys

from .cli import main

sys.exit(main())
