"""``python -m contrique_training`` (and ``torchrun ... -m contrique_training``): the ``contrique-train`` CLI."""

import sys

from .cli import main

sys.exit(main())
