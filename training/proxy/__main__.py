"""``python -m contrique_training.proxy``: the proxy command (:mod:`.cli`), through
:func:`contrique_infer.entry_points.proxy`, which names the train extra if a package of it is missing."""

import sys

from contrique_infer.entry_points import proxy

sys.exit(proxy())
