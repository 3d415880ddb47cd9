"""Reduced-precision variants: which to build, building and measuring them, and rebuilding a bundle's; torch-free.

:func:`derive_variants` rebuilds the int8 and fp16 variants of an existing bundle (a folder of
``contrique-export``'s, one downloaded from the Hub) from its fp32 graph, with new calibration and
fidelity images: no checkpoint and no torch needed. The fp32 graph and the heads are copied
unchanged (their sha256 checked), so the parity with torch recorded when the graph was exported
still holds and is kept.

The other functions are what :func:`contrique_export.exporter.export_bundle` and
:func:`derive_variants` share about variants: which to build, building them, opening each as the
runtime does, and measuring their fidelity (the staging folder and its publication are in
:mod:`contrique_export.staging`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnx
import onnxruntime

from contrique_infer.bundle import file_table, load_bundle
from contrique_infer.head import Head
from contrique_infer.manifest import VARIANTS, VariantInfo
from contrique_infer.preprocessing import PreparedImage
from contrique_infer.session import Encoder, resolve_providers

from .errors import ExportError
from .fidelity import measure_fidelity
from .images import image_sets
from .quantize import convert_fp16, quantize_int8
from .staging import Steps, check_bundle_name, check_output, package_version, publish, staging_folder

VARIANT_FILES = {"fp32": "encoder.onnx", "int8": "encoder.int8.onnx", "fp16": "encoder.fp16.onnx"}


def wanted_variants(variants: Sequence[str]) -> list[str]:
    """``fp32`` first, then the requested reduced-precision variants in :data:`VARIANTS` order.

    Raises:
        ExportError: An unknown variant name.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ExportError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return ["fp32"] + [v for v in VARIANTS if v != "fp32" and v in variants]


def build_variants(staging: Path, variants: Sequence[str], calibration: Sequence[PreparedImage], log: Steps) -> None:
    """Write the reduced-precision variants of ``staging``'s fp32 graph next to it.

    Raises:
        ExportError: Quantization or conversion failed.
    """
    fp32 = staging / VARIANT_FILES["fp32"]
    for variant in variants:
        if variant == "int8":
            with log.step(f"quantizing int8 (calibration on {len(calibration)} images)"):
                quantize_int8(fp32, staging / VARIANT_FILES[variant], calibration)
        elif variant == "fp16":
            with log.step("converting to fp16"):
                convert_fp16(fp32, staging / VARIANT_FILES[variant])


def open_variant(folder: Path, variant: str) -> Encoder:
    """A variant of a staged bundle opened on the CPU as the runtime opens it (``QualityScorer``).

    Raises:
        BundleError: The manifest, a file's hash, a head, or the graph's input and output do not check out.
    """
    bundle = load_bundle(folder, variant=variant)
    return Encoder(bundle.model_path, bundle.manifest, providers=resolve_providers(device="cpu"))


def measure_variants(
    encoders: Mapping[str, Encoder], inputs: Sequence[PreparedImage], heads: Sequence[Head], log: Steps
) -> dict[str, VariantInfo]:
    """Every variant's record: fp32 as the reference, the others with their fidelity on ``inputs``.

    Raises:
        ExportError: A variant computes non-finite features (see :func:`measure_fidelity`).
    """
    infos = {"fp32": VariantInfo("fp32", VARIANT_FILES["fp32"])}
    for variant, encoder in encoders.items():
        if variant == "fp32":
            continue
        with log.step(f"measuring {variant} fidelity on {len(inputs)} held-out images"):
            fidelity = measure_fidelity(encoders["fp32"], encoder, inputs, heads)
        log.note(f"{variant}: feature cosine mean {fidelity.cosine_mean:.5f}, min {fidelity.cosine_min:.5f}")
        infos[variant] = VariantInfo(variant, VARIANT_FILES[variant], fidelity)
    return infos


def derive_variants(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    variants: Sequence[str] = ("int8",),
    calibration: str | os.PathLike[str] | None = None,
    parity_images: str | os.PathLike[str] | None,
    name: str | None = None,
    card_notes: str = "",
    progress: bool = True,
) -> Path:
    """A copy of a bundle whose int8 and fp16 variants are rebuilt from its fp32 graph.

    Args:
        source: The bundle folder (its fp32 graph and heads are checked against its manifest).
        out: The bundle folder to create (must not exist, or be empty).
        variants: Any of ``int8``, ``fp16`` (``fp32`` is always copied); variants of ``source``
            not named here are left out.
        calibration: Image folder for int8 calibration; default: every other image of
            ``parity_images`` (the rest are held out for fidelity).
        parity_images: Image folder for the variants' fidelity (held out from calibration).
        name: Bundle name; default the source's.
        card_notes: Markdown for the model card.
        progress: Report the steps and their durations on stderr.

    Returns:
        The bundle folder.

    Raises:
        ExportError: Any failure (its subclasses name the offending file); ``out`` is left as it was.
        BundleError: ``source`` is not a valid bundle, or a file does not match its hash.
    """
    out, log = Path(out), Steps(progress)
    wanted = wanted_variants(["fp32", *variants])
    check_bundle_name(name)
    check_output(out)
    with staging_folder(out) as staging:
        source_bundle = load_bundle(source, variant="fp32")
        original = source_bundle.manifest
        heads = list(source_bundle.heads.values())
        _, calibration_set, fidelity_set, described = image_sets(wanted, original.input, parity_images, calibration)
        described["parity"] = (
            f"as recorded when the fp32 graph was exported (the graph is unchanged: sha256 "
            f"{original.files[original.variants['fp32'].file].sha256[:12]}...)"
        )
        shutil.copyfile(source_bundle.model_path, staging / VARIANT_FILES["fp32"])
        for info in original.heads:
            (staging / info.file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_bundle.root / info.file, staging / info.file)
        build_variants(staging, wanted[1:], calibration_set, log)
        provenance = dataclasses.replace(
            original.provenance,
            notes="; ".join(filter(None, [
                original.provenance.notes,
                f"{', '.join(wanted[1:]) or 'no'} variant(s) rebuilt from the fp32 graph by contrique-export "
                f"{package_version()} (onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__})",
            ])),
        )
        manifest = dataclasses.replace(
            original,
            name=name or original.name,
            variants={v: VariantInfo(v, VARIANT_FILES[v]) for v in wanted},
            files=file_table(staging, [*(VARIANT_FILES[v] for v in wanted), *(h.file for h in original.heads)]),
            provenance=provenance,
        )
        manifest.save(staging)
        with log.step("opening every variant as contrique-infer does"):
            encoders = {variant: open_variant(staging, variant) for variant in wanted}
        manifest = dataclasses.replace(manifest, variants=measure_variants(encoders, fidelity_set, heads, log))
        return publish(staging, out, manifest, image_sets=described, notes=card_notes, log=log)
