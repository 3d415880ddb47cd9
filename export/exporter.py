"""The export pipeline: checkpoint (+ heads) -> a verified model bundle folder.

Steps: read and validate the checkpoint and heads; export the fp32 graph and build the requested
int8/fp16 variants; write the heads and the manifest (with every file's hash); open every variant
as the runtime does (:func:`contrique_infer.bundle.load_bundle`, then
:class:`contrique_infer.session.Encoder`, which checks the graph against the manifest); check
parity with torch and measure the variants' fidelity on those very sessions; record the results
and the model card in the manifest, and re-read it. Everything is written into a staging folder
next to ``out`` that replaces ``out`` only when all checks passed, so a failed export leaves
nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from contrique_infer.bundle import file_table
from contrique_infer.head import Head
from contrique_infer.manifest import FeatureSpec, HeadInfo, InputContract, Manifest, Provenance, VariantInfo

from .checkpoint import load_checkpoint
from .errors import ExportError, OptionError
from .fidelity import bundle_features
from .heads import check_scores, read_head
from .images import image_sets
from .model_config import MIN_SIZE, SCALE_COUNTS, SCALES, check_max_side
from .onnx_export import export_onnx, graph_opset
from .parity import check_parity
from .staging import Steps, check_bundle_name, check_output, package_version, publish, staging_folder
from .variants import VARIANT_FILES, build_variants, measure_variants, open_variant, wanted_variants

DEFAULT_HEAD = "Koniq"
TRAINED_HEAD = "rank"


def export_bundle(
    ckpt: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    arch: str | None = None,
    heads: Mapping[str, str | os.PathLike[str]] | None = None,
    variants: Sequence[str] = ("fp32",),
    calibration: str | os.PathLike[str] | None = None,
    name: str | None = None,
    license: str | None = None,  # noqa: A002 - the public keyword is "license"
    opset: int | None = None,
    parity_images: str | os.PathLike[str] | None = None,
    default_head: str | None = None,
    card_notes: str = "",
    nss_pairs: bool = False,
    scales: int = 2,
    max_side: int | None = None,
    progress: bool = True,
) -> Path:
    """Export a checkpoint and heads to a model bundle folder.

    Args:
        ckpt: Official ``CONTRIQUE_checkpoint25.tar`` or a checkpoint written by contrique-train.
        out: The bundle folder to create (must not exist, or be empty).
        arch: Architecture of an official checkpoint (default resnet50); ours record theirs.
        heads: Head name -> file (official ``*.save`` pickles or our head JSON).
        variants: Any of ``fp32`` (always written), ``int8``, ``fp16``.
        calibration: Image folder for int8 calibration; default: every other image of
            ``parity_images`` (the rest are held out for fidelity).
        name: Bundle name; default the checkpoint's file name without suffix.
        license: Licence of the weights; default the checkpoint's data licence, else ``unknown``.
        opset: ONNX opset; default the exporter's.
        parity_images: Image folder for parity (added to built-in synthetic odd-size patterns)
            and for int8/fp16 fidelity.
        default_head: The head ``score`` uses by default; None: ``Koniq`` if given, else the
            first no-reference head.
        card_notes: Markdown for the model card (how the weights were made, what they measured).
        nss_pairs: Add the statistics' pairwise products to a network trained without them
            (:meth:`~contrique_export.checkpoint.Checkpoint.with_nss_pairs`).
        scales: How many of :data:`SCALES` the encoder runs on: 2 (full and half size, the official
            computation), 3 (and quarter size) or 4 (and eighth size). The graph is the same at every
            scale; the trained head gets weight 0 on the blocks of the scales after the second.
        max_side: The input contract's longest side (``input.max_side``: a longer photo is downscaled to
            it); 0 scores every photo at its own size; None keeps the checkpoint's ``config.max_side``
            (the size its training photos were downscaled to).
        progress: Report the steps and their durations on stderr.

    Returns:
        The bundle folder.

    Raises:
        ExportError: Any failure of the export (its subclasses name the offending file).
        BundleError: The written bundle does not load in contrique-infer (a bug: please report it).
        In every case ``out`` is left as it was.
    """
    out = Path(out)
    wanted = wanted_variants(variants)
    if scales not in SCALE_COUNTS:
        raise ExportError(f"scales must be 2 (full and half size), 3 (and quarter size) or 4 (and eighth size), "
                          f"got {scales}")
    if max_side is not None:
        check_max_side(max_side)
    check_bundle_name(name)
    check_output(out)
    log = Steps(progress)
    with staging_folder(out) as staging:
        with log.step("reading checkpoint"):
            checkpoint = load_checkpoint(ckpt, arch=arch)
            if nss_pairs and not checkpoint.config.nss_pairs:
                checkpoint = checkpoint.with_nss_pairs()
            model = checkpoint.build_model()
        config = checkpoint.config
        # A model trained on photos downscaled to max_side sees them so at scoring too, unless told otherwise.
        side = checkpoint.max_side if max_side is None else max_side or None
        contract = InputContract(min_size=MIN_SIZE, max_side=side, scales=SCALES[:scales])
        feature = FeatureSpec(dim=scales * config.feature_dim, per_scale_dim=config.feature_dim,
                              layout=tuple(s.name for s in contract.scales))
        loaded_heads = [read_head(n, p, feature_dim=feature.dim) for n, p in (heads or {}).items()]
        if checkpoint.trained_head is not None and TRAINED_HEAD not in {h.name.lower() for h in loaded_heads}:
            coef, intercept = checkpoint.trained_head  # trained on the full and half scales
            loaded_heads.append(_trained_head(np.pad(coef, (0, feature.dim - coef.size)), intercept))
        _unique(loaded_heads)
        _check_default(loaded_heads, default_head)
        parity_set, calibration_set, fidelity_set, described = image_sets(wanted, contract, parity_images, calibration)
        fp32_path = staging / VARIANT_FILES["fp32"]
        with log.step(f"exporting ONNX ({config.name})"):
            export_onnx(model, fp32_path, opset=opset, min_size=MIN_SIZE)
        build_variants(staging, wanted[1:], calibration_set, log)
        for head in loaded_heads:
            head.save(staging / head.info.file)
        manifest = Manifest(
            name=name or checkpoint.path.stem,
            architecture=config.name,
            input=contract,
            feature=feature,
            format_version=contract.format_version,
            variants={v: VariantInfo(v, VARIANT_FILES[v]) for v in wanted},
            heads=tuple(h.info for h in loaded_heads),
            default_head=default_head or _default_head(loaded_heads),
            files=file_table(staging, [VARIANT_FILES[v] for v in wanted] + [h.info.file for h in loaded_heads]),
            provenance=Provenance(
                source_checkpoint=checkpoint.path.name,
                source_checkpoint_sha256=checkpoint.sha256,
                training_data=checkpoint.training_data,
                license=license or checkpoint.data_license or "unknown",
                created_by=_created_by(),
                notes=f"{checkpoint.kind} checkpoint; ONNX opset {graph_opset(fp32_path)}; "
                f"projection_dim {config.projection_dim} (projector not exported)",
            ),
        )
        manifest.save(staging)
        with log.step("opening every variant as contrique-infer does"):
            encoders = {variant: open_variant(staging, variant) for variant in wanted}
        with log.step(f"checking parity with torch on {len(parity_set)} images"):
            parity = check_parity(model, encoders["fp32"], parity_set)
        log.note(f"parity: max abs feature difference {parity.max_abs_diff:.2e}")
        check_scores(loaded_heads, np.stack([bundle_features(encoders["fp32"], item) for item in parity_set]))
        variant_infos = measure_variants(encoders, fidelity_set, loaded_heads, log)
        manifest = dataclasses.replace(manifest, variants=variant_infos, parity=parity)
        return publish(staging, out, manifest, image_sets=described, notes=card_notes, log=log)


def _unique(heads: Sequence[Head]) -> None:
    names = [h.name.lower() for h in heads]
    duplicates = sorted({h.name for h in heads if names.count(h.name.lower()) > 1})
    if duplicates:
        raise ExportError(f"head name(s) given more than once (names are case-insensitive): {', '.join(duplicates)}")


def _check_default(heads: Sequence[Head], default_head: str | None) -> None:
    """Refuse a ``default_head`` that is not among ``heads``, or that is a full-reference head.

    Raises:
        OptionError: It is either (contrique-score scores with the default head, one image at a time).
    """
    if default_head is None:
        return
    head = next((h for h in heads if h.name == default_head), None)
    if head is None:
        raise OptionError(f"default head {default_head!r} is not among the heads "
                          f"({', '.join(h.name for h in heads)})")
    if head.kind == "fr":
        nr = [h.name for h in heads if h.kind == "nr"]
        raise OptionError(f"default head {default_head!r} is a full-reference head, which needs a reference image for "
                          "every score, so the default head (scoring one image) cannot be it; name a no-reference head "
                          + (f"({', '.join(nr)})" if nr else "(add one with --head)") + " or omit --default-head")


def _trained_head(coef: np.ndarray, intercept: float) -> Head:
    """The head a checkpoint trained with its encoder (ranking objective), as bundle head ``rank``."""
    info = HeadInfo(
        name=TRAINED_HEAD,
        file=f"heads/{TRAINED_HEAD}.json",
        kind="nr",
        dataset="synthetic distortion series (training data)",
        score_scale="arbitrary (only the order is trained)",
        higher_is_better=True,
        description="linear head trained with the encoder to rank each photo region above its more distorted "
        "versions (wide distortion levels); its scale is arbitrary",
    )
    return Head(info=info, coef=coef, intercept=intercept)


def _default_head(heads: Sequence[Head]) -> str | None:
    names = [h.name for h in heads]
    if DEFAULT_HEAD in names:
        return DEFAULT_HEAD
    return next((h.name for h in heads if h.kind == "nr"), None)


def _created_by() -> str:
    return (
        f"contrique-export {package_version()} (torch {torch.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__})"
    )
