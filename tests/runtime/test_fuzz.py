"""Property-based tests (hypothesis): parsers and the image-input layer never fail with a foreign exception.

Whatever they are given, ``Manifest.from_dict`` and ``Head.from_dict`` return a valid object
(which survives a ``to_dict`` round trip) or raise a :class:`ContriqueError`; the image-input
layer (:func:`contrique_infer.preprocessing.prepare`) returns a well-formed prepared image or
raises an :class:`ImageError`, for arbitrary bytes, mutations of valid files in every common
format, and arbitrary NumPy arrays. Examples are bounded so the file runs in seconds; there is
no deadline per example (timings on a shared CI machine vary).
"""

from __future__ import annotations

import copy
import io
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from tiny_bundle import head_infos, make_heads

from contrique_infer.errors import ContriqueError, ImageError
from contrique_infer.head import Head
from contrique_infer.manifest import InputContract, Manifest, Scale
from contrique_infer.preprocessing import PreparedImage, prepare

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- JSON-like values -------------------------------------------------------------------------------

HUGE = [10**400, -(10**400), 2**63, 2**64, -(2**63) - 1]
scalars = (
    st.none() | st.booleans() | st.integers() | st.sampled_from(HUGE) | st.floats()
    | st.text(max_size=12) | st.sampled_from(["", "..", "../x", "/etc/passwd", "fp32", "nr", "RGB", "C:\\x"])
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=16,
)


@st.composite
def mutations(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with 1-3 nested values replaced by arbitrary JSON values, or keys deleted."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        node = data
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.integers(0, 3)) == 0:
                del node[key]
            else:
                node[key] = draw(scalars | json_values)
            break
    return data


def _valid_manifest() -> dict[str, Any]:
    """A complete, valid manifest dict (as testkit/tiny_bundle.py writes, with made-up hashes)."""
    from contrique_infer.manifest import FeatureSpec, FileEntry, Parity, Provenance, VariantInfo

    heads = head_infos()
    files = {rel: FileEntry("ab" * 32, 1000 + i) for i, rel in enumerate(["encoder.onnx"] + [h.file for h in heads])}
    manifest = Manifest(
        name="fuzz", architecture="tiny-conv", input=InputContract(min_size=8),
        feature=FeatureSpec(dim=16, per_scale_dim=8), variants={"fp32": VariantInfo("fp32", "encoder.onnx")},
        heads=heads, default_head="quality", files=files,
        provenance=Provenance("none", "0" * 64, "none", "MIT"), parity=Parity(0.0, 1, 2, 1e-4, "CPUExecutionProvider", "torch"),
    )
    return manifest.to_dict()


MANIFEST = _valid_manifest()
HEAD = make_heads()[0].to_dict()


def _manifest_or_error(data: Any) -> None:
    try:
        manifest = Manifest.from_dict(data, "fuzz/contrique.json")
    except ContriqueError as exc:
        event(type(exc).__name__)  # shown by pytest --hypothesis-show-statistics
        assert "fuzz/contrique.json" in str(exc)
        return
    event("valid")
    assert Manifest.from_dict(manifest.to_dict(), "again") == manifest


def _head_or_error(data: Any) -> None:
    try:
        head = Head.from_dict(data, "fuzz/head.json", "heads/h.json")
    except ContriqueError as exc:
        event(type(exc).__name__)
        assert "fuzz/head.json" in str(exc)
        return
    event("valid")
    assert head.coef.dtype == np.float64 and np.all(np.isfinite(head.coef)) and math.isfinite(head.intercept)
    again = Head.from_dict(head.to_dict(), "again", "heads/h.json")
    assert again.info == head.info and np.array_equal(again.coef, head.coef) and again.intercept == head.intercept


def test_valid_documents_parse() -> None:
    """The mutation bases are valid, so mutations explore around real documents."""
    manifest = Manifest.from_dict(MANIFEST)
    assert manifest.name == "fuzz" and Manifest.from_dict(manifest.to_dict()) == manifest
    assert Head.from_dict(HEAD, "h.json", "heads/quality.json").name == "quality"


@FUZZ
@given(json_values)
def test_manifest_from_arbitrary_json(data: Any) -> None:
    _manifest_or_error(data)


@FUZZ
@given(mutations(MANIFEST))
@example({**MANIFEST, "input": {**MANIFEST["input"], "value_range": [0, 10**400]}})  # was OverflowError
@example({**MANIFEST, "input": {**MANIFEST["input"], "mean": [10**400, 0, 0]}})
@example({**MANIFEST, "variants": {"fp32": {"file": "encoder.onnx", "fidelity": {"cosine_min": -(10**400)}}}})
def test_manifest_mutations(data: Any) -> None:
    _manifest_or_error(data)


@FUZZ
@given(json_values)
def test_head_from_arbitrary_json(data: Any) -> None:
    _head_or_error(data)


@FUZZ
@given(mutations(HEAD))
@example({**HEAD, "intercept": 10**400})  # was OverflowError
@example({**HEAD, "alpha": -(10**400)})
@example({**HEAD, "coef": [10**400] * len(HEAD["coef"])})
def test_head_mutations(data: Any) -> None:
    _head_or_error(data)


# --- the image-input layer --------------------------------------------------------------------------

CONTRACT = InputContract(min_size=8)
MAX_PIXELS = 1_000_000  # keeps declared sizes that decode cheap; larger ones are refused on the header


def _encoded_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    variants = {
        "PNG": [rgb, rgb.convert("L"), rgb.convert("RGBA"), rgb.quantize(8)],
        "JPEG": [rgb, rgb.convert("L"), rgb.convert("CMYK")],
        "GIF": [rgb.quantize(16)], "BMP": [rgb], "TIFF": [rgb, rgb.convert("CMYK")], "WEBP": [rgb],
        "PPM": [rgb], "TGA": [rgb],
    }
    seeds = []
    for fmt, images in variants.items():
        for img in images:
            buf = io.BytesIO()
            img.save(buf, fmt)
            seeds.append(buf.getvalue())
    animated = io.BytesIO()
    rgb.save(animated, "GIF", save_all=True, append_images=[rgb.rotate(90), rgb.rotate(180)])
    seeds.append(animated.getvalue())
    return seeds


SEEDS = _encoded_seeds()


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A valid encoded image with bytes overwritten, cut off or inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["set", "cut", "insert"]))
        if op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _prepared_or_error(image: Any) -> PreparedImage | None:
    try:
        prepared = prepare(image, CONTRACT, max_pixels=MAX_PIXELS)
    except ImageError as exc:
        event(type(exc).__name__)
        assert exc.reason and str(exc).startswith(exc.source)
        return None
    event("valid")
    w, h = prepared.width, prepared.height
    assert min(w, h) >= 8 and w * h <= MAX_PIXELS
    assert [s.shape for s in prepared.scales] == [(3, h, w), (3, h // 2, w // 2)]
    for s in prepared.scales:
        assert s.dtype == np.float32 and s.min() >= 0.0 and s.max() <= 1.0
    return prepared


# Pillow warns (UserWarning) about some corrupt metadata it skips; warnings are not failures here.
@pytest.mark.filterwarnings("ignore::UserWarning")
@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(data: bytes) -> None:
    _prepared_or_error(data)
    _prepared_or_error(io.BytesIO(data))


@pytest.mark.filterwarnings("ignore::UserWarning")
@FUZZ
@given(damaged_files())
def test_damaged_files(data: bytes) -> None:
    _prepared_or_error(data)


def test_undamaged_seeds_are_accepted() -> None:
    """Every seed format decodes, so the damaged variants start from files the layer reads."""
    sizes = {(p.width, p.height) for p in (prepare(seed, CONTRACT) for seed in SEEDS)}
    assert sizes == {(24, 20)}


DTYPES = [np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_,
          np.complex64, np.dtype(">u2"), np.dtype("U2"), np.dtype(object)]


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=20))
    elements = st.none() | st.integers(0, 255) | st.text(max_size=2) if dtype.kind == "O" else None
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    if array.ndim >= 2 and draw(st.booleans()):
        array = array[::-1, ::2]  # a non-contiguous view
    return array


@FUZZ
@given(arrays())
@example(np.zeros((9, 9, 3), np.uint8)[:, :, ::-1])
@example(np.zeros((0, 9, 3), np.uint8))
@example(np.zeros((9, 9, 1), np.uint8))
@example(np.zeros((9, 9, 4), np.uint8))
def test_arbitrary_arrays(array: np.ndarray) -> None:
    prepared = _prepared_or_error(array)
    if prepared is None:
        return
    # Accepted arrays are exactly uint8 HxW, HxWx1, HxWx3, HxWx4; their pixels are used as they are.
    assert array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)))
    rgb = array if array.ndim == 3 and array.shape[2] >= 3 else np.repeat(array.reshape(*array.shape[:2], 1), 3, 2)
    np.testing.assert_array_equal(prepared.scales[0], rgb[:, :, :3].transpose(2, 0, 1).astype(np.float32) / 255)


def test_wrong_python_types_are_type_errors() -> None:
    """Not an image type at all (a programming error) is a TypeError, outside the fuzzed contract."""
    with pytest.raises(TypeError, match="cannot use int as an image"):
        prepare(3, InputContract(scales=(Scale("full", 1),)))  # type: ignore[arg-type]
