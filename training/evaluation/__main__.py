"""``python -m contrique_training.evaluation``: the same as ``contrique-eval``
(:func:`contrique_infer.entry_points.evaluate`, which names the extras if a package of them is missing)."""

import sys

from contrique_infer.entry_points import evaluate

sys.exit(evaluate())
