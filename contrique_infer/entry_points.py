"""The console scripts of the tools that need an extra: ``contrique-train``, ``contrique-export``,
``contrique-distortions`` and ``contrique-eval``; and ``python -m contrique_training.proxy`` and ``.probe``.

Every script is installed whatever extras are chosen, while each tool imports what its extra installs
(torch, onnx, SciPy, ...), some of it as its module is imported and some only as a command needs it.
Each script here imports its tool only when it is run, so that a package its extra provides that is
missing, at either moment, ends the command with one line naming the extra to install (exit 2, as
``contrique-score`` without onnxruntime), not a traceback.
"""

from __future__ import annotations

import importlib

from .commands import EXIT_USAGE, fail
from .errors import DependencyError

_OURS = frozenset({"contrique_infer", "contrique_export", "contrique_training"})

# Each command's name, as its messages and its --help begin; the tool's own module takes it from here.
TRAIN_PROG = "contrique-train"
EXPORT_PROG = "contrique-export"
DISTORTIONS_PROG = "contrique-distortions"
EVAL_PROG = "contrique-eval"
PROXY_PROG = "python -m contrique_training.proxy"
PROBE_PROG = "python -m contrique_training.probe"


def run_tool(prog: str, module: str, extra: str) -> int:
    """Import ``module`` and run its ``main()``; returns its exit code.

    Args:
        prog: The command's name, as its messages begin.
        module: The module that holds the command's ``main(argv=None) -> int``.
        extra: The extra of the distribution that installs what the command needs.

    Returns:
        The command's exit code, or 2 where a package it needs is not installed (said on stderr).
    """
    try:
        return int(importlib.import_module(module).main())
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing in _OURS:  # our own module missing: a broken install, not an extra
            raise
        return fail(prog, DependencyError(f'{missing} is not installed, and {prog} needs it: install it with pip '
                                          f'install "contrique-infer[{extra}]"'), EXIT_USAGE)


def train() -> int:
    """``contrique-train`` (:mod:`contrique_training.cli`; the train extra)."""
    return run_tool(TRAIN_PROG, "contrique_training.cli", "train")


def export() -> int:
    """``contrique-export`` (:mod:`contrique_export.cli`; the export extra)."""
    return run_tool(EXPORT_PROG, "contrique_export.cli", "export")


def distortions() -> int:
    """``contrique-distortions`` (:mod:`contrique_training.grid`; the train extra)."""
    return run_tool(DISTORTIONS_PROG, "contrique_training.grid", "train")


def evaluate() -> int:
    """``contrique-eval`` (:mod:`contrique_training.evaluation.cli`; the cpu and eval extras)."""
    return run_tool(EVAL_PROG, "contrique_training.evaluation.cli", "cpu,eval")


def proxy() -> int:
    """``python -m contrique_training.proxy`` (:mod:`contrique_training.proxy.cli`; the train extra)."""
    return run_tool(PROXY_PROG, "contrique_training.proxy.cli", "train")


def probe() -> int:
    """``python -m contrique_training.probe`` (:mod:`contrique_training.probe.linear`; the train extra)."""
    return run_tool(PROBE_PROG, "contrique_training.probe.linear", "train")
