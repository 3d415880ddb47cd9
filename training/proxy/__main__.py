"""``python -m contrique_training.proxy``: the proxy command (:mod:`.cli`)."""

import sys

from .cli import main

sys.exit(main())
