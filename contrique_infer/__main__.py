"""``python -m contrique_infer``: the same as the ``contrique-score`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
