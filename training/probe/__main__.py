"""``python -m contrique_training.probe``: the linear probe (:mod:`.linear`), through
:func:`contrique_infer.entry_points.probe`, which names the train extra if a package of it is missing."""

import sys

from contrique_infer.entry_points import probe

sys.exit(probe())
