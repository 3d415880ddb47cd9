"""``python -m contrique_training`` (and ``torchrun ... -m contrique_training``): the ``contrique-train`` CLI."""

import sys

from contrique_infer.entry_points import train

sys.exit(train())
