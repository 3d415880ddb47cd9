"""Features of a dataset through the runtime, cached on disk and resumable.

The cache lives in ``<cache_dir>/<sha256 of the encoder ONNX file, 16 hex>-<input contract, 8
hex>-<variant>/``: a ``model.json`` naming the bundle, variant, full sha256, the manifest's input
contract (how an image becomes the graph's input: scales, resize, ``max_side``; two bundles with
the same graph and another contract compute other features) and the feature dimension, and chunk files
``chunk-<n>.npz`` holding ``keys`` (one per image: absolute path, size in bytes and modification
time in ns) and ``features`` (float32). A chunk is written (atomically) every ``chunk_size``
images, so an interrupted run keeps what it computed and the next run only computes the rest;
an image that was modified or replaced gets a new key and is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contrique_infer.atomicfile import replace_file
from contrique_infer.commands import BestEffortStderr
from contrique_infer.jsonfile import loads

from .errors import FeatureError

CHUNK = re.compile(r"chunk-(\d{6,})\.npz", re.ASCII)
"""The name of a cache chunk (its number, zero-padded); other files in the folder are not chunks."""

if TYPE_CHECKING:
    from contrique_infer.scorer import QualityScorer

DEFAULT_CACHE = Path(os.environ.get("CONTRIQUE_EVAL_CACHE", Path.home() / ".cache" / "contrique-eval"))
"""The default cache folder (override with the ``CONTRIQUE_EVAL_CACHE`` environment variable)."""


@dataclass(frozen=True)
class ModelKey:
    """What a cached feature depends on: the encoder file's sha256, the variant and the input contract.

    ``contract`` is the sha256 (hex) of the manifest's ``input`` record as canonical JSON.
    """

    bundle_name: str
    variant: str
    sha256: str
    dim: int
    contract: str

    @property
    def folder_name(self) -> str:
        return f"{self.sha256[:16]}-{self.contract[:8]}-{self.variant}"

    def to_dict(self) -> dict[str, Any]:
        return {"bundle_name": self.bundle_name, "variant": self.variant, "sha256": self.sha256, "dim": self.dim,
                "contract": self.contract}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelKey:
        return cls(str(data["bundle_name"]), str(data["variant"]), str(data["sha256"]), int(data["dim"]),
                   str(data["contract"]))


def image_key(path: str | os.PathLike[str]) -> str:
    """The cache key of an image file: absolute path, size and modification time.

    Raises:
        FeatureError: The file does not exist.
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as exc:
        raise FeatureError(f"{p}: cannot be read ({exc.strerror})") from exc
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


class FeatureCache:
    """The on-disk features of one model (see the module docstring for the layout)."""

    def __init__(self, cache_dir: str | os.PathLike[str], model: ModelKey) -> None:
        self.model = model
        self.folder = Path(cache_dir) / model.folder_name
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "model.json"
        if meta.is_file():
            try:
                stored = ModelKey.from_dict(loads(meta.read_bytes()))
            except (ValueError, KeyError, TypeError) as exc:
                raise FeatureError(
                    f"{meta}: unreadable cache metadata ({exc}); delete the folder {self.folder}"
                ) from exc
            if (stored.sha256, stored.variant, stored.dim, stored.contract) != (
                    model.sha256, model.variant, model.dim, model.contract):
                raise FeatureError(
                    f"{meta}: the cache holds features of another model; delete the folder {self.folder}"
                )
        else:
            replace_file(meta, json.dumps(model.to_dict(), indent=2).encode())

    def chunks(self) -> dict[int, Path]:
        """The chunk files (names matching :data:`CHUNK`), by number, in order."""
        found = {int(match[1]): path for path in self.folder.iterdir() if (match := CHUNK.fullmatch(path.name))}
        return dict(sorted(found.items()))

    def load(self, wanted: set[str] | None = None) -> dict[str, np.ndarray]:
        """The cached features, by image key: all of them, or those whose key is in ``wanted``."""
        out: dict[str, np.ndarray] = {}
        for chunk in self.chunks().values():
            try:
                with np.load(chunk, allow_pickle=False) as data:
                    keys, feats = data["keys"], data["features"]
            except (OSError, ValueError, KeyError) as exc:
                raise FeatureError(
                    f"{chunk}: unreadable cache chunk ({exc}); delete it to recompute its images"
                ) from exc
            if feats.shape != (len(keys), self.model.dim):
                raise FeatureError(f"{chunk}: features of shape {feats.shape} for {len(keys)} keys; delete it")
            if not np.all(np.isfinite(feats)):
                raise FeatureError(f"{chunk}: cache chunk with non-finite features (NaN or infinity); delete it "
                                   "to recompute its images")
            out.update((k, f) for k, f in zip(keys.tolist(), feats) if wanted is None or k in wanted)
        return out

    def add(self, keys: Sequence[str], features: np.ndarray) -> Path | None:
        """Write one new chunk (None if ``keys`` is empty)."""
        if not keys:
            return None
        path = self.folder / f"chunk-{max(self.chunks(), default=-1) + 1:06d}.npz"
        arrays = {"keys": np.array(keys, dtype=str), "features": np.asarray(features, dtype=np.float32)}
        replace_file(path, lambda fh: np.savez(fh, **arrays))
        return path


def model_key(scorer: QualityScorer) -> ModelKey:
    """The cache identity of a scorer's encoder: the sha256 of its variant's ONNX file (from the
    manifest) and of the manifest's input contract."""
    manifest = scorer.manifest
    entry = manifest.files[manifest.variant(scorer.variant).file]
    contract = hashlib.sha256(json.dumps(manifest.input.to_dict(), sort_keys=True).encode()).hexdigest()
    return ModelKey(manifest.name, scorer.variant, entry.sha256, manifest.feature.dim, contract)


def compute_features(
    paths: Sequence[str | os.PathLike[str]],
    scorer: QualityScorer,
    *,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE,
    chunk_size: int = 256,
    batch_size: int = 8,
    workers: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Features of image files through the runtime, from the cache where present.

    Images are processed ``chunk_size`` at a time with :meth:`QualityScorer.features_many`; the
    features of each chunk are cached as soon as it is done.

    Args:
        paths: Image files.
        scorer: The runtime scorer (its bundle and variant are the cache key).
        cache_dir: The cache root; None disables caching.
        chunk_size: Images per cache chunk.
        batch_size, workers: Passed to :meth:`QualityScorer.features_many`.
        progress: Show a tqdm progress bar on stderr.

    Returns:
        float32 array (len(paths), dim), in the order of ``paths``.

    Raises:
        FeatureError: Some images failed (the message lists them; every other feature is
            cached, so a rerun after fixing them computes only those), or a file is missing.
    """
    from tqdm import tqdm

    model = model_key(scorer)
    keys = [image_key(p) for p in paths]
    cache = FeatureCache(cache_dir, model) if cache_dir is not None else None
    known = cache.load(set(keys)) if cache is not None else {}
    todo: list[int] = []  # first index of each image not cached yet
    pending: set[str] = set()
    for i, k in enumerate(keys):
        if k not in known and k not in pending:
            pending.add(k)
            todo.append(i)
    failed: list[str] = []
    with tqdm(total=len(todo), desc=f"features ({model.variant})", unit="img", file=BestEffortStderr(),
              disable=not progress or not todo) as bar:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            results = scorer.features_many(
                [os.fspath(paths[i]) for i in chunk], batch_size=batch_size, workers=workers,
                progress=lambda _: bar.update(1),
            )
            done = [(keys[i], r.feature) for i, r in zip(chunk, results) if r.ok]
            failed += [f"{r.source}: {r.error}" for r in results if not r.ok]
            if cache is not None and done:
                cache.add([k for k, _ in done], np.stack([f for _, f in done]))
            known.update(done)
    if failed:
        shown = "; ".join(failed[:5]) + ("; ..." if len(failed) > 5 else "")
        rerun = ("the other features are cached, a rerun computes only the missing ones" if cache is not None else
                 "no feature cache is in use, so a rerun computes every feature again: mend or remove them first")
        raise FeatureError(f"{len(failed)} of {len(paths)} images failed ({shown}); {rerun}")
    if not keys:
        return np.zeros((0, model.dim), np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)
