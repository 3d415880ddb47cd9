"""Which variant a scorer opens: names checked, and ``auto``'s policy (contrique_infer.variant_policy)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contrique_infer import variant_policy
from contrique_infer.errors import VariantNotFoundError
from contrique_infer.manifest import Fidelity, Manifest, VariantInfo
from contrique_infer.session import CPU, CUDA
from contrique_infer.variant_policy import choose_variant, variant_trusted


def fidelity(cosine_min: float, images: int = 12, **spearman: float) -> Fidelity:
    """A variant's fidelity record with the figures ``auto`` looks at."""
    return Fidelity(images=images, cosine_mean=1.0, cosine_min=cosine_min, feature_max_abs_diff=0.0, spearman=spearman)


def test_variant_trusted_needs_every_threshold(tiny_bundle_dir: Path) -> None:
    manifest = Manifest.load(tiny_bundle_dir)

    def trusted(cosine_min: float, images: int = variant_policy.MIN_FIDELITY_IMAGES, **spearman: float) -> bool:
        info = VariantInfo("int8", "encoder.onnx", fidelity(cosine_min, images, **spearman))
        return variant_trusted(dataclasses.replace(manifest, variants={**manifest.variants, "int8": info}), "int8")

    assert trusted(variant_policy.MIN_COSINE, quality=variant_policy.MIN_SPEARMAN)  # the thresholds themselves pass
    assert not trusted(variant_policy.MIN_COSINE - 1e-6, quality=variant_policy.MIN_SPEARMAN)
    assert not trusted(variant_policy.MIN_COSINE, quality=variant_policy.MIN_SPEARMAN - 1e-6)
    assert not trusted(1.0, variant_policy.MIN_FIDELITY_IMAGES - 1, quality=1.0)  # too few images to tell
    assert not trusted(1.0)  # no head's agreement recorded


def test_variant_trusted_for_the_heads_in_use(tiny_bundle_dir: Path) -> None:
    manifest = Manifest.load(tiny_bundle_dir)
    info = VariantInfo("int8", "encoder.onnx", fidelity(0.999, quality=1.0, level=0.95))
    with_int8 = dataclasses.replace(manifest, variants={**manifest.variants, "int8": info})
    assert not variant_trusted(with_int8, "int8")  # every head: level is below the threshold
    assert variant_trusted(with_int8, "int8", heads=["quality"])
    assert not variant_trusted(with_int8, "int8", heads=["level"])
    assert not variant_trusted(with_int8, "int8", heads=["fr_quality"])  # none recorded in use: all count
    assert choose_variant("auto", with_int8, [CPU], ["quality"]) == "int8"
    assert choose_variant("auto", with_int8, [CPU]) == "fp32"
    assert not variant_trusted(manifest, "int8")  # no such variant


def test_auto_variant_prefers_fp16_on_cuda(tiny_bundle_dir: Path) -> None:
    manifest = Manifest.load(tiny_bundle_dir)
    fp16 = VariantInfo("fp16", "encoder.onnx", fidelity(0.999, quality=0.995))
    with_fp16 = dataclasses.replace(manifest, variants={**manifest.variants, "fp16": fp16})
    choose = choose_variant
    assert choose("auto", with_fp16, [CUDA, CPU]) == "fp16"
    assert choose("auto", with_fp16, [CPU]) == "fp32"
    assert choose("auto", manifest, [CUDA, CPU]) == "fp32"
    assert choose("fp16", with_fp16, [CPU]) == "fp16"
    untrusted = VariantInfo("fp16", "encoder.onnx", fidelity(0.9998, quality=0.94))
    assert choose("auto", dataclasses.replace(manifest, variants={**manifest.variants, "fp16": untrusted}),
                  [CUDA, CPU]) == "fp32"  # fp16 whose head scores drift is not chosen automatically


def test_auto_variant_picks_int8_on_cpu_only_when_its_fidelity_passes(tiny_bundle_dir: Path) -> None:
    manifest = Manifest.load(tiny_bundle_dir)
    choose = choose_variant

    def with_int8(cosine_min: float, **spearman: float) -> Manifest:
        info = VariantInfo("int8", "encoder.onnx", fidelity(cosine_min, **spearman))
        return dataclasses.replace(manifest, variants={**manifest.variants, "int8": info})

    good = with_int8(0.995, quality=0.999, level=0.992)
    assert choose("auto", good, [CPU]) == "int8"
    assert choose("auto", good, [CUDA, CPU]) == "fp32"  # GPUs: fp16 or fp32, never int8
    assert choose("auto", with_int8(0.98, quality=0.999), [CPU]) == "fp32"
    assert choose("auto", with_int8(0.999, quality=0.999, level=0.95), [CPU]) == "fp32"
    assert choose("auto", with_int8(0.999), [CPU]) == "fp32"  # no head's agreement recorded
    assert choose("auto", manifest, [CPU]) == "fp32"


def test_variant_names_are_checked(tiny_bundle_dir: Path) -> None:
    manifest = Manifest.load(tiny_bundle_dir)
    assert choose_variant("fp32", manifest, [CUDA, CPU]) == "fp32"
    with pytest.raises(VariantNotFoundError, match="variant must be auto, fp32, fp16, int8; got 'bf16'"):
        choose_variant("bf16", manifest, [CPU])
    with pytest.raises(VariantNotFoundError, match="has no 'int8' variant; available: fp32"):
        choose_variant("int8", manifest, [CPU])
