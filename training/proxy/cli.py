"""``python -m contrique_training.proxy``: ``make`` a proxy set, fit its ``heads`` into a bundle, give them a
``fade`` far outside their range or a contrast ``floor``.

Results go to stdout as JSON, progress to stderr. Exit codes: 0 ok, 1 failed, 2 usage error, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP); an interrupted or terminated ``make``
removes what it made, as a failed one does.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from contrique_export.model_config import FEATURE_GROUPS
from contrique_infer.commands import (
    EXIT_USAGE,
    fail,
    fraction,
    parse,
    positive_int,
    random_seed,
    run_terminable,
    say,
    write_stdout,
)
from contrique_infer.entry_points import PROXY_PROG as PROG
from contrique_infer.errors import ContriqueError
from contrique_infer.head import FEATURE_CLIPS, fade_problem
from contrique_infer.manifest import VARIANTS

from ..evaluation.cli import (
    add_feature_arguments,
    add_protocol_arguments,
    feature_options,
    positive_number,
    protocol_config,
)
from ..evaluation.protocol import ProtocolConfig
from ..evaluation.report import check_output_folder
from .fitting import BLEND_PARTS, PROXY_ALPHAS, parse_group_weights, parse_part_weights
from .fade import add_fade
from .floor import DEFAULT_RATE, add_contrast_floor
from .heads import DEFAULT_FADE, HEAD_NAMES, add_proxy_heads
from .make import MIN_SIDE, TARGETS, make_proxy_set


def max_side(text: str) -> int:
    """argparse type: the longer side of a proxy set's PNGs, an integer >= :data:`.make.MIN_SIDE`."""
    value = positive_int(text)
    if value < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"expected an integer of at least {MIN_SIDE} (pixels), got {text!r}")
    return value


def _add_fade_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fade", type=float, nargs=2, default=list(DEFAULT_FADE), metavar=("START", "POWER"),
                        help="beyond the range distance START (the largest |value - centre| / half-width over the "
                             "feature; 1 at the range's edge) a score keeps the share (START / distance)^POWER of its way "
                             "from the worst end of its range, so that images far outside every fitted image (photos "
                             "blurred to mush, which clipping alone scored near the top) score near the worst "
                             "(default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``make``, ``heads``, ``fade`` and ``floor`` subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Proxy targets (full-reference quality of synthetically distorted training photos) "
                    "and the default heads they fit.",
        epilog="Results go to stdout as JSON, progress to stderr. Exit codes: 0 ok, 1 failed, 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="make a proxy set from a folder of TRAINING photos")
    make.add_argument("--data", required=True, help="folder of training photos (never the validation photos)")
    make.add_argument("--out", required=True, help="new or empty folder for the set")
    make.add_argument("--variants", type=positive_int, default=12, help="distorted versions per photo (default 12)")
    make.add_argument("--max-side", type=max_side, default=384,
                      help=f"longer side of the PNGs, at least {MIN_SIDE} (default 384)")
    make.add_argument("--seed", type=random_seed, default=0, help="seed of the distortions (default 0)")
    make.add_argument("--limit", type=positive_int, help="use only this many photos, evenly spaced (default all)")
    make.add_argument("--chains", action="store_true", help="draw from the composite chains too (contrique_training.chains)")
    make.add_argument("--alt-fraction", type=fraction, default=0.0, metavar="F",
                      help="share (0..1) of the versions whose type has a second (OpenCV) implementation that it "
                           "renders (default 0)")
    make.add_argument("--block-fraction", type=fraction, default=0.0, metavar="F",
                      help="share (0..1) of the photos that get one more version, pixelated as square blocks of whole "
                           "pixels (default 0; the other versions do not change)")
    make.add_argument("--flat-fraction", type=fraction, default=0.0, metavar="F",
                      help="share (0..1) of the photos that get one more version, a flat frame of the photo's mean "
                           "colour, so that heads see frames without structure (default 0; the others do not change)")
    make.add_argument("--contrast-fraction", type=fraction, default=0.0, metavar="F",
                      help="share (0..1) of the photos that get one more version, linear contrast loss towards the "
                           "mean grey at a random level (default 0; the others do not change)")
    make.add_argument("--quiet", action="store_true", help="no progress bar")
    heads = sub.add_parser("heads", help="fit the quality and level heads on a proxy set and add them to a bundle")
    heads.add_argument("--bundle", required=True, help="local bundle folder")
    heads.add_argument("--proxy", required=True, help="folder made by the make command")
    heads.add_argument("--default", choices=HEAD_NAMES, default="quality", help="the bundle's default head")
    heads.add_argument("--target", choices=TARGETS, default="mdsi",
                       help="the quality head's target: mdsi (default) or fr6, the mean rank of six full-reference "
                            "metrics (computed once, kept in the proxy folder)")
    heads.add_argument("--force", action="store_true", help="replace existing heads of those names")
    heads.add_argument("--splits", type=positive_int, default=10, help="random 80/20 splits by photo (default 10)")
    heads.add_argument("--group-weight", action="append", default=[], metavar="GROUP[@SCALE]=WEIGHT",
                       help=f"prior weight of a feature group ({', '.join(FEATURE_GROUPS)}; default 1 each): "
                            "its standardised columns are multiplied by it before the ridge, so below 1 it must "
                            "explain more to get the same coefficients, 0 leaves it out; GROUP@SCALE (e.g. "
                            "learned@half=0) weighs it in one scale's block only, over the group's weight; repeatable")
    heads.add_argument("--orientation-invariant", action="store_true",
                       help="average each head over the moves of the statistics that mirroring, flipping and "
                            "90-degree turns make (the neighbour statistics of two directions swap), so those "
                            "changes of a photo barely move the statistics' part of its score")
    heads.add_argument("--also-max-side", type=max_side, action="append", default=[], metavar="PIXELS",
                       help="fit on the proxy images at the bundle's input contract and again downscaled to this longer "
                            "side (each image a row per size, one photo's rows in one fold), so the heads also suit "
                            "photos seen at that size, e.g. 512 for a 1024 px contract; repeatable")
    heads.add_argument("--also-proxy", action="append", default=[], metavar="DIR",
                       help="another proxy set whose images join --proxy's, each with the targets computed within its "
                            "own set (a photo's images in every set in one fold), e.g. one made at 512 px for a "
                            "1024 px contract, so smaller photos carry targets measured at their size; repeatable")
    heads.add_argument("--feature-clip", choices=FEATURE_CLIPS, default="box",
                       help="how the heads bring a feature outside the proxy set's range into it: box (default) clips "
                            "each value to its own bounds; ray moves it along the line to the range's centre, so its "
                            "values keep their proportions")
    _add_fade_argument(heads)
    heads.add_argument("--no-fade", dest="fade", action="store_const", const=None,
                       help="no fade: far outside the range the clipped feature's score stands")
    heads.add_argument("--blend", action="append", default=[], metavar="PART=WEIGHT",
                       help=f"average each head with a ridge on one part of the feature alone ({', '.join(BLEND_PARTS)}: "
                            "the statistics with their products, or the learned channels; the group weights apply "
                            "within it), each ridge's prediction divided by its out-of-fold spread and counted WEIGHT "
                            "times (the ridge on every column: once); still one linear head; repeatable; needs a "
                            "bundle with statistics"),
    add_protocol_arguments(heads, alphas=PROXY_ALPHAS,
                           alphas_help="ridge alpha candidates, for standardised features (default 0.1 .. 1e7 in quarter decades)")
    add_feature_arguments(heads)
    fade = sub.add_parser("fade", help="give a bundle's fitted heads a fade far outside their range, without fitting "
                                       "them again (for heads fitted with --no-fade)")
    fade.add_argument("--bundle", required=True, help="local bundle folder")
    _add_fade_argument(fade)
    fade.add_argument("--head", action="append", choices=HEAD_NAMES, metavar="NAME",
                      help=f"a head to give the fade; repeatable (default: {', '.join(HEAD_NAMES)})")
    floor = sub.add_parser("floor", help="give a bundle's heads a floor at the lowest global contrast of TRAINING photos")
    floor.add_argument("--bundle", required=True, help="local bundle folder")
    floor.add_argument("--photos", required=True, help="folder of training photos (never the validation photos)")
    floor.add_argument("--rate", type=positive_number, default=DEFAULT_RATE,
                       help="below the floor a score keeps (contrast / floor contrast)^RATE of its way from the worst "
                            f"end (default {DEFAULT_RATE:g})")
    floor.add_argument("--head", action="append", choices=HEAD_NAMES, metavar="NAME",
                       help=f"a head to give the floor; repeatable (default: {', '.join(HEAD_NAMES)})")
    floor.add_argument("--variant", default="auto", choices=("auto", *VARIANTS),
                       help="encoder variant the photos are measured with (default auto)")
    return parser


def _make(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    proxy = make_proxy_set(args.data, args.out, variants_per_photo=args.variants, max_side=args.max_side,
                           seed=args.seed, limit=args.limit, chains=args.chains, alt_fraction=args.alt_fraction,
                           block_fraction=args.block_fraction, flat_fraction=args.flat_fraction,
                           contrast_fraction=args.contrast_fraction,
                           progress=not args.quiet)
    return {**proxy.summary(), "folder": str(proxy.folder), "seconds": round(time.perf_counter() - start, 1)}


def _heads(args: argparse.Namespace, config: ProtocolConfig, group_weights: dict[str, float],
           blend: dict[str, float]) -> dict[str, Any]:
    result = add_proxy_heads(args.bundle, args.proxy, default=args.default, target=args.target, force=args.force, config=config,
                             group_weights=group_weights, blend=blend, orientation_invariant=args.orientation_invariant,
                             also_max_side=args.also_max_side, also_proxy=args.also_proxy,
                             feature_clip=args.feature_clip, fade=None if args.fade is None else tuple(args.fade),
                             **feature_options(args))
    for name, head in result["heads"].items():
        cv = head["cv"]
        edge = " (the smallest or largest candidate: widen --alphas)" if head["alpha_at_edge"] else ""
        say(f"{name}: alpha {head['alpha']:g}{edge}, SRCC {cv['srcc']['median']:.3f}, "
            f"PLCC {cv['plcc']['median']:.3f} (medians of {config.splits} splits by photo)")
        if "blend" in head:
            shares = ", ".join(f"{part} {p['share']:.2f} (alpha {p['alpha']:g}{', an edge' if p['alpha_at_edge'] else ''})"
                               for part, p in head["blend"]["parts"].items())
            say(f"{name}: blend of {shares}; out-of-fold SRCC {head['blend']['oof']['srcc']:.3f}, "
                f"PLCC {head['blend']['oof']['plcc']:.3f}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy command; returns the exit code (0 ok, 1 failed, 2 usage error).

    Ctrl-C prints ``interrupted`` and returns 130; SIGTERM (handled while this runs in the main thread)
    prints ``terminated`` and returns 143, SIGHUP ``hung up`` and 129. Each unwinds the command, so ``make``
    removes what it made.
    """
    return run_terminable(PROG, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and SIGTERM."""
    args = parse(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:  # the protocol's settings, the group weights, the new set's folder
        if args.command == "make":
            check_output_folder(args.out)
        config = protocol_config(args) if args.command == "heads" else None
        group_weights = parse_group_weights(args.group_weight) if args.command == "heads" else {}
        blend = parse_part_weights(args.blend) if args.command == "heads" else {}
    except ContriqueError as exc:
        return fail(PROG, exc, EXIT_USAGE)
    problem = fade_problem(*args.fade) if args.command in ("heads", "fade") and args.fade is not None else None
    if problem is not None:
        return fail(PROG, f"--fade: {problem}", EXIT_USAGE)
    try:
        if args.command == "fade":
            result = add_fade(args.bundle, fade=tuple(args.fade), heads=args.head or HEAD_NAMES)
            say(f"fade from range distance {args.fade[0]:g}, power {args.fade[1]:g}, given to {', '.join(result['heads'])}")
        elif args.command == "floor":
            result = add_contrast_floor(args.bundle, args.photos, rate=args.rate, heads=args.head or HEAD_NAMES,
                                        variant=args.variant)
            say(f"floor {result['floor']:.3f} (standard deviation {result['floor_std']:.4f}, {result['lowest_photo']}) "
                f"given to {', '.join(result['heads'])}")
        else:
            result = _make(args) if config is None else _heads(args, config, group_weights, blend)
    except ContriqueError as exc:
        return fail(PROG, exc)
    write_stdout(json.dumps(result, indent=2) + "\n")
    return 0
