"""``contrique-eval``: evaluate a bundle on IQA datasets, fit heads, write reports.

Subcommands:
    run       the paper's protocol on one dataset; writes reports, the final head, optionally adds it to the bundle
    cross     fit on one dataset, test on another
    datasets  list the supported datasets and the file layout each expects

Exit codes: 0 success; 1 the evaluation failed (missing or malformed dataset files, images that
could not be read, a bundle problem, an existing head without --force); 2 usage error.
The Markdown report goes to stdout, progress and diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

from contrique_infer.commands import (
    EXIT_USAGE,
    fail,
    parse,
    positive_int,
    printable,
    random_seed,
    run_quietly,
    say,
    write_stdout,
)
from contrique_infer.entry_points import EVAL_PROG as PROG
from contrique_infer.errors import ContriqueError
from contrique_infer.manifest import VARIANTS
from contrique_infer.session import DEVICES

from .api import cross_evaluate, evaluate
from .datasets import CSV_LAYOUT, DATASETS, Dataset, load_dataset
from .features import DEFAULT_CACHE
from .protocol import ProtocolConfig
from .report import check_output_folder, markdown
from .ridge import DEFAULT_ALPHAS

DATASET_CHOICES = [*DATASETS, "csv"]


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (a Ridge alpha)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def add_feature_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of how a command computes a bundle's features (read by :func:`feature_options`):
    ``--variant``, ``--device``, ``--cache``, ``--no-cache``, ``--batch-size``, ``--workers``, ``--quiet``."""
    parser.add_argument("--variant", default="auto", choices=("auto", *VARIANTS), help="encoder variant (default auto)")
    parser.add_argument("--device", choices=DEVICES, help="where onnxruntime runs (default: CUDA if available)")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"feature cache folder (default {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="images per encoder run (default 8)")
    parser.add_argument("--workers", type=positive_int, help="image decoding threads (default: min(4, CPUs))")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def feature_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`.api.evaluate` (and of the functions that take the same ones)
    set by the options of :func:`add_feature_arguments`."""
    return {
        "variant": args.variant, "device": args.device, "cache_dir": None if args.no_cache else args.cache,
        "batch_size": args.batch_size, "workers": args.workers, "progress": not args.quiet,
    }


def add_protocol_arguments(parser: argparse.ArgumentParser, *, alphas: Sequence[float], alphas_help: str) -> None:
    """Add the protocol's ``--folds``, ``--alphas`` (default ``alphas``, described by ``alphas_help``) and
    ``--seed`` (read by :func:`protocol_config`)."""
    parser.add_argument("--folds", type=positive_int, default=5,
                        help="cross-validation folds for Ridge alpha (default 5)")
    parser.add_argument("--alphas", type=positive_number, nargs="+", default=list(alphas), help=alphas_help)
    parser.add_argument("--seed", type=random_seed, default=0, help="random seed of the splits and folds (default 0)")


def protocol_config(args: argparse.Namespace) -> ProtocolConfig:
    """The protocol's settings from the options of :func:`add_protocol_arguments`, and from ``--splits``
    and ``--train-fraction`` where the command has them (else the defaults).

    Raises:
        ProtocolError: A setting is out of range.
    """
    given = {key: getattr(args, key) for key in ("splits", "train_fraction") if hasattr(args, key)}
    return ProtocolConfig(folds=args.folds, alphas=tuple(args.alphas), seed=args.seed, **given)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder or Hugging Face Hub repository id (org/name)")
    p.add_argument("--out", help="folder for report.json, report.md, scatter.png and the head JSON")
    add_feature_arguments(p)
    add_protocol_arguments(p, alphas=DEFAULT_ALPHAS, alphas_help="Ridge alpha candidates")
    p.add_argument("--lower-is-better", action="store_true", help="csv datasets: lower scores mean better quality")
    p.add_argument("--score-kind", choices=["MOS", "DMOS"], default="MOS", help="csv datasets: the score's name")
    p.add_argument("--scale", default="score", help="csv datasets: a description of the score range")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Evaluate a CONTRIQUE bundle on IQA datasets with the paper's protocol and fit heads.",
        epilog="Exit codes: 0 ok, 1 evaluation failed, 2 usage error. See docs/evaluation.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the paper's protocol on one dataset")
    run.add_argument("--dataset", required=True, type=str.lower, choices=DATASET_CHOICES, help="dataset kind")
    run.add_argument("--root", required=True, help="dataset folder (for csv: the CSV file)")
    run.add_argument("--splits", type=positive_int, default=10, help="random train/test splits (default 10)")
    run.add_argument("--train-fraction", type=float, default=0.8, help="training share of each split (default 0.8)")
    run.add_argument("--add-head", metavar="NAME",
                     help="add the head fitted on all images to the bundle folder as NAME")
    run.add_argument("--head-name",
                     help="name of the final head written to --out (default: --add-head or the dataset name)")
    run.add_argument("--force", action="store_true", help="replace an existing head of the same name")
    run.add_argument("--default", action="store_true", help="make the added head the bundle's default")
    _common(run)
    cross = sub.add_parser("cross", help="fit on one dataset, test on another")
    cross.add_argument("--train", nargs=2, required=True, metavar=("DATASET", "ROOT"), help="training dataset and root")
    cross.add_argument("--test", nargs=2, required=True, metavar=("DATASET", "ROOT"), help="test dataset and root")
    _common(cross)
    sub.add_parser("datasets", help="list the supported datasets and their layouts")
    return parser


def _load(kind: str, root: str, args: argparse.Namespace) -> Dataset:
    if kind.lower() == "csv":
        return load_dataset(kind, root, higher_is_better=not args.lower_is_better, score_kind=args.score_kind,
                            scale=args.scale)
    return load_dataset(kind, root)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``contrique-eval``; returns the exit code (0 ok, 1 failed, 2 usage error; Ctrl-C 130, and a
    stdout that fails ends it quietly: :func:`~contrique_infer.commands.run_quietly`)."""
    return run_quietly(PROG, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and a stdout that fails."""
    parser = build_parser()
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    if args.command == "datasets":
        for spec in DATASETS.values():
            paper = f" (paper SRCC {spec.paper_srcc:.3f})" if spec.paper_srcc is not None else ""
            write_stdout(f"{spec.key:8} {spec.title}{paper}\n         {spec.layout}\n")
        write_stdout(f"{'csv':8} generic\n         {CSV_LAYOUT}\n")
        return 0
    for kind, _ in [args.train, args.test] if args.command == "cross" else []:
        if kind.lower() not in DATASET_CHOICES:
            return fail(PROG, f"unknown dataset {kind!r}; choose from {', '.join(DATASET_CHOICES)}", EXIT_USAGE,
                        parser)
    if args.command == "run" and args.add_head == "":
        return fail(PROG, "--add-head needs the name of the head to add", EXIT_USAGE, parser)
    if args.command == "run" and args.default and args.add_head is None:
        return fail(PROG, "--default makes the added head the bundle's default: give --add-head NAME too", EXIT_USAGE,
                    parser)
    try:
        config = protocol_config(args)
        if args.out is not None:
            check_output_folder(args.out, bundle=args.bundle)
    except ContriqueError as exc:
        return fail(PROG, exc, EXIT_USAGE)
    common = dict(config=config, out_dir=args.out, **feature_options(args))
    try:
        if args.command == "run":
            dataset = _load(args.dataset, args.root, args)
            say(printable(f"{dataset.name}: {len(dataset)} images from {dataset.root}"))
            result = evaluate(
                args.bundle, dataset, head_name=args.add_head or args.head_name, add_head=args.add_head is not None,
                force=args.force, make_default=args.default, **common,
            )
        else:
            train, test = _load(*args.train, args), _load(*args.test, args)
            result = cross_evaluate(args.bundle, train, test, **common)
    except ContriqueError as exc:
        return fail(PROG, exc)
    write_stdout(markdown(result.report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
