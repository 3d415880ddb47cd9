"""Turn a fitted ridge into a bundle head, and add it to a local bundle folder."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from contrique_infer.atomicfile import stage
from contrique_infer.errors import BundleFileError, HeadError
from contrique_infer.head import Head, head_name_problem
from contrique_infer.location import is_packaged
from contrique_infer.manifest import MANIFEST_NAME, FileEntry, HeadInfo, Manifest

from .datasets import Dataset
from .errors import HeadExistsError, ProtocolError
from .ridge import RidgeModel

def check_head_name(name: str) -> str:
    """Return ``name`` if it can name a head file (:func:`contrique_infer.head.head_name_problem`), else raise ProtocolError."""
    problem = head_name_problem(name)
    if problem is not None:
        raise ProtocolError(f"head name {name!r} cannot be used: {problem}")
    return name


def check_new_head(bundle_dir: str | os.PathLike[str], name: str, *, force: bool = False) -> Manifest:
    """The bundle's manifest, after checking that a head ``name`` may be added to it.

    Raises:
        HeadExistsError: The bundle has a head of that name (case-insensitive) and ``force`` is False.
        ProtocolError: The folder is a model packaged with contrique-infer (it is not changed in place).
        BundleError: The folder is not a valid bundle.
    """
    if is_packaged(bundle_dir):
        raise ProtocolError(f"{bundle_dir} is a model packaged with contrique-infer: a head added there would change "
                            "the scores of every user of this installation; copy the folder (cp -r) and add the "
                            "head to the copy")
    manifest = Manifest.load(bundle_dir)
    old = [h.name for h in manifest.heads if h.name.lower() == name.lower()]
    if old and not force:
        raise HeadExistsError(
            f"bundle {bundle_dir} already has a head {old[0]!r}; choose another name or pass --force to replace it"
        )
    return manifest


def make_head(model: RidgeModel, name: str, dataset: Dataset, description: str = "") -> Head:
    """A no-reference head from a ridge fitted on ``dataset`` (its scale and direction recorded).

    Raises:
        ProtocolError: ``name`` is not usable as a file name (letters, digits, ``_ . -``).
    """
    check_head_name(name)
    info = HeadInfo(
        name=name,
        file=f"heads/{name}.json",
        kind="nr",
        dataset=dataset.name,
        score_scale=dataset.scale,
        higher_is_better=dataset.higher_is_better,
        description=description
        or f"Ridge (alpha={model.alpha:g}) fitted on all {len(dataset)} images of {dataset.name}",
    )
    return Head(info=info, coef=model.coef, intercept=model.intercept, alpha=model.alpha)


def add_head(
    bundle_dir: str | os.PathLike[str], head: Head, *, force: bool = False, make_default: bool = False
) -> Path:
    """Write ``head`` into a local bundle and update its manifest (head list and file table).

    Args:
        bundle_dir: The bundle folder (holding contrique.json).
        head: The head; its ``info.file`` is where it is written, relative to the folder.
        force: Replace an existing head of the same name (case-insensitive).
        make_default: Make it the bundle's default head.

    Returns:
        The path of the written head file.

    Raises:
        HeadExistsError: A head of that name exists and ``force`` is False.
        HeadError: The head's length does not match the bundle's feature.
        ProtocolError: The folder is the packaged default model.
        BundleFileError: The files cannot be written (a full disk); the bundle is then unchanged.
        BundleError: The folder is not a valid bundle.
    """
    root = Path(bundle_dir)
    manifest = check_new_head(root, head.name, force=force)
    if head.coef.shape != (manifest.feature.dim,):
        raise HeadError(
            root / head.info.file,
            f"has {head.coef.shape[0]} coefficients but the bundle's feature has {manifest.feature.dim} values; "
            "were the features computed with another bundle?",
        )
    old = [h for h in manifest.heads if h.name.lower() == head.name.lower()]
    kept = tuple(h for h in manifest.heads if h not in old)
    if head.info.file in manifest.files and all(h.file != head.info.file for h in old):
        raise HeadError(root / head.info.file, "is already another file of the bundle; choose another head name")
    stale = [h.file for h in old if h.file != head.info.file and all(k.file != h.file for k in kept)]
    files = {rel: entry for rel, entry in manifest.files.items() if rel not in stale}
    data = head.dumps()
    files[head.info.file] = FileEntry(hashlib.sha256(data).hexdigest(), len(data))
    # the default where asked for, where it replaces the default, or where the bundle had none (a head-less export)
    default = (head.name if make_default or (old and manifest.default_head == old[0].name)
               or manifest.default_head is None else manifest.default_head)
    updated = dataclasses.replace(manifest, heads=kept + (head.info,), files=files, default_head=default)
    path, manifest_path = root / head.info.file, root / MANIFEST_NAME
    Manifest.from_dict(updated.to_dict(), manifest_path)  # validate before writing
    staged: list[Path] = []
    try:  # both files written in full before either replaces its old version: a full disk changes nothing
        path.parent.mkdir(exist_ok=True)
        staged.append(stage(path, lambda fh: fh.write(data)))
        staged.append(stage(manifest_path, lambda fh: fh.write(updated.dumps())))
    except OSError as exc:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
        raise BundleFileError(root, f"cannot be written ({exc.strerror or exc}); the bundle is unchanged") from exc
    os.replace(staged[0], path)
    os.replace(staged[1], manifest_path)
    for rel in stale:  # the replaced head's file (unless it is the new one on a case-insensitive disk)
        previous = root / rel
        if previous.exists() and not previous.samefile(path):
            previous.unlink()
    return path
