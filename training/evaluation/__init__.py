"""Fit heads and evaluate encoders on IQA datasets with the paper's protocol.

The Python API: :func:`evaluate` and :func:`cross_evaluate` (from :mod:`.api`), the readers
(:func:`load_dataset`, :data:`DATASETS`), and the protocol on precomputed features
(:func:`run_protocol`, :func:`cross_dataset`, :func:`fit_final`). The command is ``contrique-eval``
(:mod:`.cli`); ``docs/evaluation.md`` describes both.
"""

from ..lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "api": ("Evaluation", "cross_evaluate", "evaluate"),
    "datasets": ("DATASETS", "Dataset", "Item", "load_dataset"),
    "protocol": ("ProtocolConfig", "cross_dataset", "fit_final", "run_protocol"),
})
