"""``contrique-distortions``: a labelled grid PNG of every distortion type (rows) and level (columns) for one photo.

Exit codes: 0 grid written; 1 the image cannot be read or the PNG cannot be written; 2 usage error (an
output that is the photo itself, or whose name does not end in .png, among them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from contrique_infer.atomicfile import link_target, replace_file
from contrique_infer.commands import EXIT_USAGE, fail, parse, random_seed, run_quietly, write_stdout
from contrique_infer.entry_points import DISTORTIONS_PROG as PROG
from contrique_infer.errors import ContriqueError
from contrique_infer.inputs import lists

from .data import load_rgb
from .distortions import DISTORTIONS, LEVELS, distort_image

MIN_TILE, MAX_TILE = 16, 1024
"""The tile sides ``--size`` takes, in pixels."""
_LABEL_WIDTH = 270
_HEADER = 26


def square(image: Image.Image, size: int) -> Image.Image:
    """The centred square crop of ``image``, resized (bicubic) to ``size`` x ``size``."""
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return image.crop(box).resize((size, size), Image.Resampling.BICUBIC)


def make_grid(image: Image.Image, size: int = 160, seed: int = 0) -> Image.Image:
    """The grid: a label column, then the pristine tile and levels 1..5 of each type, one row per type.

    Args:
        image: An RGB photo (its centred square is used).
        size: Side of each tile, in pixels.
        seed: Seed of the random distortions.

    Returns:
        The grid image.
    """
    tile = square(image, size)
    font = ImageFont.load_default(size=14)
    grid = Image.new("RGB", (_LABEL_WIDTH + (LEVELS + 1) * size, _HEADER + len(DISTORTIONS) * size), "white")
    draw = ImageDraw.Draw(grid)
    for column, title in enumerate(["pristine"] + [f"level {level + 1}" for level in range(LEVELS)]):
        draw.text((_LABEL_WIDTH + column * size + 6, 5), title, fill="black", font=font)
    for row, distortion in enumerate(DISTORTIONS):
        top = _HEADER + row * size
        draw.text((6, top + size // 2 - 8), f"{row + 1}. {distortion.name}", fill="black", font=font)
        grid.paste(tile, (_LABEL_WIDTH, top))
        for level in range(LEVELS):
            grid.paste(distort_image(tile, distortion.name, level + 1, "kadid", seed), (_LABEL_WIDTH + (level + 1) * size, top))
    return grid


def main(argv: list[str] | None = None) -> int:
    """Run ``contrique-distortions``; returns the exit code (0 ok, 1 failed, 2 usage error; Ctrl-C 130, a
    stdout that fails ends it quietly: :func:`~contrique_infer.commands.run_quietly`)."""
    return run_quietly(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and a stdout that fails."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write a labelled grid PNG of every distortion type (rows) and level (columns) for one photo.",
    )
    parser.add_argument("image", help="a photo")
    parser.add_argument("-o", "--output", required=True, help="the grid PNG to write")
    parser.add_argument("--size", type=int, default=160,
                        help=f"tile side in pixels, {MIN_TILE} to {MAX_TILE} (default 160)")
    parser.add_argument("--seed", type=random_seed, default=0, help="seed of the random distortions (default 0)")
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    if not MIN_TILE <= args.size <= MAX_TILE:  # the grid holds 150 tiles: 1024 px ones make 164 MP
        return fail(PROG, f"--size must be from {MIN_TILE} to {MAX_TILE}", EXIT_USAGE, parser)
    if Path(args.output).suffix.lower() != ".png":  # JPEG would add artefacts of its own to the tiles
        return fail(PROG, f"-o {args.output}: the grid is written as a PNG; give a file name ending in .png",
                    EXIT_USAGE, parser)
    if lists([args.image], args.output):  # contrique-score's check of -o against its inputs
        return fail(PROG, f"-o {args.output} is the photo {args.image}; refusing to overwrite it: choose another "
                          "output file", EXIT_USAGE, parser)
    try:
        grid = make_grid(load_rgb(Path(args.image)), args.size, args.seed)
        replace_file(link_target(args.output), lambda fh: grid.save(fh, format="PNG"))
    except ContriqueError as exc:
        return fail(PROG, exc)
    except OSError as exc:
        return fail(PROG, f"{args.output}: cannot write the grid ({exc})")
    write_stdout(f"{args.output}\n")
    return 0
