"""``contrique-export``: turn a CONTRIQUE checkpoint and heads into a verified model bundle, or
rebuild a bundle's int8/fp16 variants from its fp32 graph (``--from-bundle``, no torch needed).

Exit codes: 0 the bundle was written; 1 the export failed (the message says why; nothing is
left in the output folder); 2 usage error (bad arguments, or options that do not fit the inputs, such as a
full-reference --default-head); 130 interrupted (Ctrl-C); 143 terminated
(SIGTERM); 129 hung up (SIGHUP). An interrupted or terminated export removes its staging folder, like a
failed one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from contrique_infer.commands import EXIT_OK, EXIT_USAGE, fail, parse, run_terminable, write_stdout
from contrique_infer.entry_points import EXPORT_PROG as PROG
from contrique_infer.errors import ContriqueError
from contrique_infer.manifest import VARIANTS
from contrique_infer.regularfile import FileTooLargeError, read_regular

from .errors import ModelConfigError, OptionError
from .heads import check_head_name
from .model_config import ARCHITECTURES, SCALE_COUNTS, check_max_side, check_opset

CHECKPOINT_ONLY = {"--arch": "arch", "--head": "head", "--opset": "opset", "--license": "license",
                   "--default-head": "default_head", "--nss-pairs": "nss_pairs",
                   "--scales": "scales", "--max-side": "max_side"}
"""Options that describe a checkpoint's export, by flag and argparse destination."""
MAX_CARD_NOTES_BYTES = 1024 * 1024
"""The largest ``--card-notes`` file read (Markdown; the default model's notes are 17 kB)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Export a CONTRIQUE checkpoint (official CONTRIQUE_checkpoint25.tar or one written by "
        "contrique-train) and its linear heads to an ONNX model bundle that contrique-infer loads.",
        epilog="Exit codes: 0 written, 1 export failed, 2 usage error. "
        "Example: contrique-export --ckpt CONTRIQUE_checkpoint25.tar --out contrique-official "
        "--head Koniq=models/Koniq.save --parity-images sample_images; "
        "contrique-export --from-bundle contrique-official --out contrique-official-int8 --variants int8 "
        "--calibration train_photos --parity-images val_photos. Ctrl-C exits 130, SIGTERM 143; either leaves "
        "nothing behind.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="checkpoint file")
    source.add_argument("--from-bundle", metavar="DIR", help="an existing bundle folder: copy its fp32 graph and "
                        "heads and rebuild the --variants from that graph (no checkpoint or torch needed)")
    p.add_argument("--out", required=True, help="bundle folder to create (must not exist or be empty; not a "
                   "symbolic link, not . or ..)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), help="architecture of an official checkpoint (default resnet50)")
    p.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a linear head: official pickled Ridge (*.save; NAME one of Koniq, CLIVE, LIVE, CSIQ, LIVE_FR, CSIQ_FR) "
        "or a head JSON file; repeatable",
    )
    p.add_argument("--variants", default="fp32", help=f"comma-separated, from {','.join(VARIANTS)} (default fp32)")
    p.add_argument("--calibration", metavar="DIR", help="image folder (subfolders included) for int8 calibration (default: half of --parity-images)")
    p.add_argument("--parity-images", metavar="DIR", help="image folder (subfolders included) for the parity check and int8/fp16 fidelity")
    p.add_argument("--name", help="bundle name (default: checkpoint file name, or the --from-bundle bundle's)")
    p.add_argument("--license", help="licence of the exported weights (default: the checkpoint's, else unknown)")
    p.add_argument("--opset", type=_checked(check_opset), help="ONNX opset, from 18 to the installed onnx's newest "
                   "(default: the exporter's)")
    p.add_argument("--default-head", metavar="NAME", help="the head scores use by default (default: Koniq if given, "
                   "else the first no-reference head)")
    p.add_argument("--card-notes", metavar="FILE", help="Markdown file added to the model card (how the model was "
                   "made, what it measured)")
    p.add_argument("--nss-pairs", action="store_true", help="add the natural-scene statistics' pairwise products "
                   "to a network trained without them (they have no weights; the trained head weighs them 0), so "
                   "that linear heads can be quadratic in the statistics")
    p.add_argument("--scales", type=int, choices=SCALE_COUNTS, help="input scales the encoder runs on: 2 (default: "
                   "full and half size, the official computation), 3 (and quarter size) or 4 (and eighth size); the "
                   "trained head weighs the added scales 0")
    p.add_argument("--max-side", type=_checked(check_max_side), metavar="N",
                   help="the input contract: photos whose longer side is longer are downscaled to N px before "
                        "scoring; 0 scores them at their own size (default: the size the checkpoint's training "
                        "photos were downscaled to, else 0)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def _checked(check: Callable[[int], int]) -> Callable[[str], int]:
    """An argparse type: an integer that ``check`` accepts (its :class:`ModelConfigError` becomes the usage
    error), such as :func:`~contrique_export.model_config.check_opset` or ``check_max_side``."""

    def checked(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        try:
            return check(value)
        except ModelConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return checked


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code.

    Ctrl-C prints ``contrique-export: interrupted`` and returns 130; SIGTERM (handled while this
    runs in the main thread) prints ``contrique-export: terminated`` and returns 143, SIGHUP ``hung up`` and
    129. Each unwinds the export, which removes its staging folder.
    """
    return run_terminable(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and SIGTERM."""
    parser = _parser()
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    heads: dict[str, str] = {}
    for item in args.head:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            return fail(PROG, f"--head expects NAME=PATH, got {item!r}", EXIT_USAGE, parser)
        given = next((n for n in heads if n.lower() == name.lower()), None)
        if given is not None:
            return fail(PROG, f"--head {name} is given twice ({heads[given]} and {path}; names are case-insensitive): "
                        "give each head once, under a name of its own", EXIT_USAGE, parser)
        try:
            check_head_name(name)
        except OptionError as exc:
            return fail(PROG, f"--head: {exc}", EXIT_USAGE, parser)
        heads[name] = path
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        return fail(PROG, f"--variants takes {','.join(VARIANTS)}, got {args.variants!r}", EXIT_USAGE, parser)
    if args.from_bundle is not None:
        values = {flag: getattr(args, dest) for flag, dest in CHECKPOINT_ONLY.items()}
        given = [flag for flag, value in values.items() if value is not None and value is not False and value != []]
        # (not "value not in (None, False, [])": --max-side 0 equals False)
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            return fail(PROG, f"{', '.join(given)} only {verb} to --ckpt: a --from-bundle export keeps the bundle's "
                        "graph, input contract, heads and licence", EXIT_USAGE, parser)
    try:
        notes = ""
        if args.card_notes:  # a FIFO is refused, never waited on
            notes = read_regular(args.card_notes, MAX_CARD_NOTES_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError, FileTooLargeError) as exc:
        return fail(PROG, f"{args.card_notes}: cannot read the card notes ({exc})", EXIT_USAGE)
    try:
        if args.from_bundle is not None:
            from .variants import derive_variants

            out = derive_variants(args.from_bundle, args.out, variants=variants, calibration=args.calibration,
                                  parity_images=args.parity_images, name=args.name, card_notes=notes,
                                  progress=not args.quiet)
        else:
            from .exporter import export_bundle

            out = export_bundle(args.ckpt, args.out, arch=args.arch, heads=heads, variants=variants,
                                calibration=args.calibration, name=args.name, license=args.license, opset=args.opset,
                                parity_images=args.parity_images, default_head=args.default_head, card_notes=notes,
                                nss_pairs=args.nss_pairs, scales=args.scales or 2, max_side=args.max_side,
                                progress=not args.quiet)
    except OptionError as exc:
        return fail(PROG, exc, EXIT_USAGE)
    except ContriqueError as exc:
        return fail(PROG, exc)
    write_stdout(f"{out}\n")
    return EXIT_OK

