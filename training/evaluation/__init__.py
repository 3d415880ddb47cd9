"""Fit heads and evaluate encoders on IQA datasets with the paper's protocol.

The Python API: :func:`evaluate` and :func:`cross_evaluate` (from :mod:`.api`), the readers
(:func:`load_dataset`, :data:`DATASETS`), and the protocol on precomputed features
(:func:`run_protocol`, :func:`cross_dataset`, :func:`fit_final`). The command is ``contrique-eval``
(:mod:`.cli`); ``docs/evaluation.md`` describes both.
"""

from .api import Evaluation, cross_evaluate, evaluate
from .datasets import DATASETS, Dataset, Item, load_dataset
from .protocol import ProtocolConfig, cross_dataset, fit_final, run_protocol

__all__ = [
    "DATASETS",
    "Dataset",
    "Evaluation",
    "Item",
    "ProtocolConfig",
    "cross_dataset",
    "cross_evaluate",
    "evaluate",
    "fit_final",
    "load_dataset",
    "run_protocol",
]
