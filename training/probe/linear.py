"""A linear probe of an encoder's quality features on distorted versions of held-out photos.

Every photo (centre square, ``size`` px) is distorted with all 126 classes; each image gets the
inference feature (L2-normalised pooled feature at full and half scale, concatenated). With
leave-one-photo-out cross-validation, ridge regressions on the raw features (as the paper's
heads) predict the distortion type (25 ways, one-hot) and the class (126 ways), and the level
(pristine 0, levels 1..5), scored by accuracy and Spearman correlation; each task's penalty is
chosen by an inner leave-one-photo-out loop. Run it on a random-init encoder and on a trained one to
see what training learnt (``python -m contrique_training.probe`` runs :func:`main`)::

    python -m contrique_training.probe --data ../shared/photos/val --random resnet18 --checkpoint run/checkpoint.pt
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr

from contrique_export.checkpoint import load_training_checkpoint
from contrique_export.model import ContriqueNet
from contrique_export.model_config import ModelConfig
from contrique_infer.commands import (
    EXIT_FAILED,
    EXIT_USAGE,
    fail,
    parse,
    printable,
    random_seed,
    run_quietly,
    say,
    write_stdout,
)
from contrique_infer.entry_points import PROBE_PROG as PROG
from contrique_infer.errors import ContriqueError
from contrique_infer.inputs import list_images

from ..data import load_rgb
from ..distortions import LEVELS, NUM_CLASSES, SERIES_TYPES, distort_image, split_class
from ..evaluation.ridge import RidgePath
from ..grid import square


def distorted_set(paths: list[Path], size: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray, np.ndarray]:
    """All 126 classes of each photo's centre square; returns images, class ids and photo indices."""
    images, classes, groups = [], [], []
    for photo, path in enumerate(paths):
        tile = square(load_rgb(path), size)
        for cls in range(NUM_CLASSES):
            type_index, level = split_class(cls)
            images.append(distort_image(tile, SERIES_TYPES[type_index].name, level, "kadid", seed * 100003 + photo * NUM_CLASSES + cls))
            classes.append(cls)
            groups.append(photo)
    return images, np.asarray(classes), np.asarray(groups)


def _tensor(images: list[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(im, dtype=np.float32) / 255 for im in images])).permute(0, 3, 1, 2)


@torch.no_grad()
def features(net: ContriqueNet, images: list[Image.Image], batch: int = 32) -> np.ndarray:
    """Inference features: pooled feature of the image and of its PIL-bicubic half, concatenated."""
    net.eval()
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        halves = [im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC) for im in chunk]
        out.append(torch.cat((net(_tensor(chunk)), net(_tensor(halves))), dim=1).numpy())
    return np.concatenate(out)


# Ridge penalties tried; each task takes the one that scores best in an inner cross-validation.
ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
Task = tuple[slice, Callable[[np.ndarray, np.ndarray], float]]


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Share of rows whose largest prediction is at the one-hot truth's class."""
    return float((pred.argmax(1) == truth.argmax(1)).mean())


def negative_mse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Minus the mean squared error (higher is better)."""
    return -float(((pred - truth) ** 2).mean())


def nested_ridge(x: np.ndarray, y: np.ndarray, groups: np.ndarray, tasks: list[Task]) -> np.ndarray:
    """Leave-one-group-out predictions of ``y``, each task's penalty chosen by an inner leave-one-group-out loop.

    Args:
        x: Features (n, d).
        y: Targets (n, k); each task owns some columns.
        groups: Group (photo) of each row.
        tasks: (columns, score(pred, truth)) per task; higher scores are better.

    Returns:
        Held-out predictions, shape (n, k).
    """
    out = np.empty_like(y)
    for g in np.unique(groups):
        train, test = groups != g, groups == g
        scores = np.zeros((len(tasks), len(ALPHAS)))
        for h in np.unique(groups[train]):
            fit, val = train & (groups != h), groups == h
            preds = RidgePath.fit(x[fit], y[fit]).predict(x[val], ALPHAS)
            for t, (cols, score) in enumerate(tasks):
                scores[t] += [score(p[:, cols], y[val][:, cols]) for p in preds]
        full = RidgePath.fit(x[train], y[train]).predict(x[test], ALPHAS)
        for t, (cols, _) in enumerate(tasks):
            out[test, cols] = full[int(np.argmax(scores[t]))][:, cols]
    return out


def probe(feats: np.ndarray, classes: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Leave-one-photo-out probe scores: type and class accuracy, Spearman of the level (0 = pristine).

    Raises:
        ValueError: Fewer than 3 photos (the nested cross-validation needs them).
    """
    if len(np.unique(groups)) < 3:
        raise ValueError("the probe needs at least 3 photos (nested leave-one-photo-out cross-validation)")
    distorted = classes > 0
    types = (classes[distorted] - 1) // LEVELS
    levels = np.where(distorted, (classes - 1) % LEVELS + 1, 0).astype(np.float64)
    type_pred = nested_ridge(feats[distorted], np.eye(25)[types], groups[distorted], [(slice(0, 25), accuracy)])
    joint = np.concatenate((np.eye(NUM_CLASSES)[classes], levels[:, None]), axis=1)
    tasks = [(slice(0, NUM_CLASSES), accuracy), (slice(NUM_CLASSES, None), negative_mse)]
    pred = nested_ridge(feats, joint, groups, tasks)
    return {
        "type_accuracy": float((type_pred.argmax(1) == types).mean()),
        "class_accuracy": float((pred[:, :NUM_CLASSES].argmax(1) == classes).mean()),
        "level_spearman": float(spearmanr(pred[:, NUM_CLASSES], levels).statistic),
        "chance_type_accuracy": 1 / 25,
        "chance_class_accuracy": 1 / NUM_CLASSES,
    }


MIN_SIZE, MAX_SIZE = 32, 1024
"""The sides ``--size`` takes, in pixels."""


def main(argv: list[str] | None = None) -> int:
    """Run the probe; prints one JSON object per encoder on stdout, its progress lines on stderr (best-effort,
    :func:`~contrique_infer.commands.say`). Exit codes: 0 ok, 1 failed, 2 usage; Ctrl-C 130, and a stdout
    that fails ends it quietly (:func:`~contrique_infer.commands.run_quietly`)."""
    return run_quietly(PROG, lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    """:func:`main` without its handling of Ctrl-C and a stdout that fails."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of held-out photos (e.g. ../shared/photos/val)")
    parser.add_argument("--checkpoint", action="append", default=[], help="a contrique-train checkpoint (repeatable)")
    parser.add_argument("--random", action="append", default=[], metavar="ARCH",
                        help="a randomly initialised encoder of this architecture (repeatable)")
    parser.add_argument("--size", type=int, default=256,
                        help=f"side of the photo squares, {MIN_SIZE} to {MAX_SIZE} (default 256)")
    parser.add_argument("--seed", type=random_seed, default=0,
                        help="seed of the distortions and random init (default 0)")
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    if not args.checkpoint and not args.random:
        return fail(PROG, "pass at least one --checkpoint or --random ARCH", EXIT_USAGE, parser)
    if not MIN_SIZE <= args.size <= MAX_SIZE:  # every photo is distorted into NUM_CLASSES squares of this side
        return fail(PROG, f"--size must be from {MIN_SIZE} to {MAX_SIZE}", EXIT_USAGE, parser)
    try:
        paths = list_images(args.data)
        if len(paths) < 3:
            raise ValueError(f"{args.data}: {len(paths)} photo(s); the probe needs at least 3")
        say(f"distorting {len(paths)} photos x {NUM_CLASSES} classes at {args.size} px")
        images, classes, groups = distorted_set(paths, args.size, args.seed)
        models: list[tuple[str, ContriqueNet]] = []
        for arch in args.random:
            torch.manual_seed(args.seed)
            models.append((f"random {arch}", ContriqueNet(ModelConfig(arch=arch))))
        for path in args.checkpoint:
            ckpt = load_training_checkpoint(path)
            net = ContriqueNet(ModelConfig.from_dict(ckpt["model_config"]))
            net.load_state_dict(ckpt["model"])
            models.append((f"{path} (step {ckpt['step']})", net))
    except (ContriqueError, ValueError) as exc:
        return fail(PROG, exc, EXIT_FAILED)
    for name, net in models:
        say(printable(f"features of {name}"))
        result = {"encoder": name, "photos": len(paths), "size": args.size,
                  **probe(features(net, images), classes, groups)}
        write_stdout(json.dumps(result) + "\n")
    return 0

