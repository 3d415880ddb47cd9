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
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

from contrique_infer.bundle import (
    VARIANTS,
    FeatureSpec,
    Head,
    HeadInfo,
    InputContract,
    Manifest,
    Provenance,
    VariantInfo,
    file_table,
    load_bundle,
)
from contrique_infer.inputs import list_images
from contrique_infer.preprocessing import PreparedImage
from contrique_infer.session import Encoder, resolve_providers

from .card import write_card
from .checkpoint import load_checkpoint
from .errors import ExportError
from .fidelity import measure_fidelity
from .heads import read_head
from .images import prepare_files, synthetic_inputs
from .onnx_export import export_onnx, graph_opset
from .parity import check_parity
from .quantize import convert_fp16, quantize_int8

MIN_SIZE = 32
VARIANT_FILES = {"fp32": "encoder.onnx", "int8": "encoder.int8.onnx", "fp16": "encoder.fp16.onnx"}
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
        progress: Report the steps and their durations on stderr.

    Returns:
        The bundle folder.

    Raises:
        ExportError: Any failure of the export (its subclasses name the offending file).
        BundleError: The written bundle does not load in contrique-infer (a bug: please report it).
        In every case ``out`` is left as it was.
    """
    out = Path(out)
    wanted = _variants(variants)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new output folder or remove it")
    log = _Steps(progress)
    with log.step("reading checkpoint"):
        checkpoint = load_checkpoint(ckpt, arch=arch)
        model = checkpoint.build_model()
    config = checkpoint.config
    contract = InputContract(min_size=MIN_SIZE)
    feature = FeatureSpec(dim=2 * config.feature_dim, per_scale_dim=config.feature_dim, layout=("full", "half"))
    loaded_heads = [read_head(n, p, feature_dim=feature.dim) for n, p in (heads or {}).items()]
    if checkpoint.trained_head is not None and TRAINED_HEAD not in {h.name.lower() for h in loaded_heads}:
        loaded_heads.append(_trained_head(*checkpoint.trained_head))
    _unique(loaded_heads)
    if default_head is not None and default_head not in {h.name for h in loaded_heads}:
        raise ExportError(f"default head {default_head!r} is not among the heads ({', '.join(h.name for h in loaded_heads)})")
    parity_set, calibration_set, fidelity_set, image_sets = _image_sets(wanted, contract, parity_images, calibration)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fp32_path = staging / VARIANT_FILES["fp32"]
        with log.step(f"exporting ONNX ({config.name})"):
            export_onnx(model, fp32_path, opset=opset, min_size=MIN_SIZE)
        for variant in wanted[1:]:
            if variant == "int8":
                with log.step(f"quantizing int8 (calibration on {len(calibration_set)} images)"):
                    quantize_int8(fp32_path, staging / VARIANT_FILES[variant], calibration_set)
            else:
                with log.step("converting to fp16"):
                    convert_fp16(fp32_path, staging / VARIANT_FILES[variant])
        for head in loaded_heads:
            head.save(staging / head.info.file)
        infos = {v: VariantInfo(v, VARIANT_FILES[v]) for v in wanted}
        manifest = Manifest(
            name=name or checkpoint.path.stem,
            architecture=config.name,
            input=contract,
            feature=feature,
            variants=infos,
            heads=tuple(h.info for h in loaded_heads),
            default_head=default_head or _default_head(loaded_heads),
            files=file_table(staging, [v.file for v in infos.values()] + [h.info.file for h in loaded_heads]),
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
            encoders = {variant: _open(staging, variant) for variant in infos}
        with log.step(f"checking parity with torch on {len(parity_set)} images"):
            parity = check_parity(model, encoders["fp32"], parity_set)
        log.note(f"parity: max abs feature difference {parity.max_abs_diff:.2e}")
        for variant in wanted[1:]:
            with log.step(f"measuring {variant} fidelity on {len(fidelity_set)} held-out images"):
                fidelity = measure_fidelity(encoders["fp32"], encoders[variant], fidelity_set, loaded_heads)
            log.note(f"{variant}: feature cosine mean {fidelity.cosine_mean:.5f}, min {fidelity.cosine_min:.5f}")
            infos[variant] = VariantInfo(variant, VARIANT_FILES[variant], fidelity)
        manifest = dataclasses.replace(manifest, variants=infos, parity=parity)
        card = write_card(manifest, staging, image_sets=image_sets, notes=card_notes)
        manifest = dataclasses.replace(manifest, files=file_table(staging, [*manifest.files, card.name]))
        manifest.save(staging)
        with log.step("verifying the final manifest"):
            for variant in infos:
                load_bundle(staging, variant=variant)
        staging.chmod(0o755)  # mkdtemp creates it private; a bundle is meant to be shared
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.note(f"bundle written to {out} ({', '.join(infos)}; {len(loaded_heads)} heads)")
    return out


def _open(folder: Path, variant: str) -> Encoder:
    """A variant of the staged bundle opened on the CPU as the runtime opens it (``QualityScorer``).

    Raises:
        BundleError: The manifest, a file's hash, a head, or the graph's input and output do not check out.
    """
    bundle = load_bundle(folder, variant=variant)
    return Encoder(bundle.model_path, bundle.manifest, providers=resolve_providers(device="cpu"))


def _variants(variants: Sequence[str]) -> list[str]:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ExportError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return ["fp32"] + [v for v in VARIANTS if v != "fp32" and v in variants]


def _unique(heads: Sequence[Head]) -> None:
    names = [h.name.lower() for h in heads]
    duplicates = sorted({h.name for h in heads if names.count(h.name.lower()) > 1})
    if duplicates:
        raise ExportError(f"head name(s) given more than once (names are case-insensitive): {', '.join(duplicates)}")


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


def _image_sets(
    variants: Sequence[str],
    contract: InputContract,
    parity_images: str | os.PathLike[str] | None,
    calibration: str | os.PathLike[str] | None,
) -> tuple[list[PreparedImage], list[PreparedImage], list[PreparedImage], dict[str, str]]:
    """Parity, calibration and held-out fidelity inputs, and a description of each for the card."""
    parity = synthetic_inputs(contract)
    described = {"parity": f"{len(parity)} synthetic odd-size patterns"}
    parity_files = list_images(parity_images) if parity_images is not None else []
    if parity_files:
        parity += prepare_files(parity_files, contract)
        described["parity"] += f" and the {len(parity_files)} images of `{Path(parity_images).name}/`"
    if len(variants) == 1:
        return parity, [], [], described
    if not parity_files:
        raise ExportError(
            f"variant(s) {', '.join(variants[1:])} need real images to measure fidelity: pass --parity-images DIR"
        )
    by_path = {item.source: item for item in parity}
    calibration_set: list[PreparedImage] = []
    held_out = parity_files
    if "int8" in variants:
        if calibration is None:
            calibration_set = [by_path[str(p)] for p in parity_files[::2]]
            held_out = parity_files[1::2]
            described["calibration"] = f"every other image of `{Path(parity_images).name}/` ({len(calibration_set)})"
        else:
            calibration_files = list_images(calibration)
            taken = {p.resolve() for p in calibration_files}
            held_out = [p for p in parity_files if p.resolve() not in taken]
            calibration_set = prepare_files(calibration_files, contract)
            described["calibration"] = f"the {len(calibration_set)} images of `{Path(calibration).name}/`"
    if not held_out:
        raise ExportError(
            f"{parity_images}: no images are left for measuring fidelity after calibration; "
            "use a --parity-images folder that differs from --calibration, or one with at least 2 images"
        )
    described["fidelity"] = (
        f"{len(held_out)} images of `{Path(parity_images).name}/`, measured with onnxruntime "
        f"{onnxruntime.__version__} on CPUExecutionProvider"
    )
    fidelity = [by_path[str(p)] for p in held_out]
    return parity, calibration_set, fidelity, described


def _created_by() -> str:
    try:
        version = metadata.version("contrique-infer")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return (
        f"contrique-export {version} (torch {torch.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__})"
    )


class _Steps:
    """Reports named steps and their durations on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled:
            print(f"contrique-export: {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.note(f"{what} ...")
        start = time.perf_counter()
        yield
        self.note(f"{what}: done in {time.perf_counter() - start:.1f} s")
