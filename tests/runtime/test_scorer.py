"""Tests of contrique_infer.scorer: values against the NumPy reference, batching, heads, threads, pickling."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from tiny_bundle import make_heads, reference_feature, rehash, write_tiny_bundle

import contrique_infer
from contrique_infer import location
from contrique_infer.bundle import file_table, load_bundle
from contrique_infer.errors import (
    BundleError,
    BundleFileError,
    HeadKindError,
    HeadNotFoundError,
    ImageError,
    ImageTooLargeError,
    ImageTypeError,
    InferenceError,
    NoDefaultModelError,
    ScanError,
    VariantNotFoundError,
)
from contrique_infer.location import locate
from contrique_infer.manifest import MANIFEST_NAME, Manifest
from contrique_infer.results import FeatureResult, ScoreResult
from contrique_infer.preprocessing import prepare
from contrique_infer.scorer import QualityScorer
from contrique_infer.session import CPU, Encoder
from contrique_infer.variant_policy import variant_trusted

HEADS = {h.name: h for h in make_heads()}


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


def _img(h: int, w: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _reference(img: Image.Image) -> np.ndarray:
    """The tiny encoder's feature computed in NumPy on the official inputs (PIL bicubic half scale)."""
    w, h = img.size
    scales = [img, img.resize((w // 2, h // 2), Image.Resampling.BICUBIC)]
    return np.concatenate([reference_feature(np.asarray(s, np.float32).transpose(2, 0, 1) / 255) for s in scales])


def test_properties(scorer: QualityScorer) -> None:
    assert scorer.manifest.name == "tiny-test-bundle"
    assert [h.name for h in scorer.heads] == ["quality", "fr_quality"]
    assert scorer.head is not None and scorer.head.name == "quality"
    assert scorer.providers == [CPU] and scorer.device == "cpu" and scorer.variant == "fp32"
    assert "tiny-test-bundle" in repr(scorer)
    assert contrique_infer.QualityScorer is QualityScorer and contrique_infer.ScoreResult is ScoreResult


@pytest.mark.parametrize(("h", "w"), [(37, 50), (8, 8), (61, 23), (100, 77)])
def test_features_and_score_match_reference(scorer: QualityScorer, h: int, w: int) -> None:
    img = _img(h, w, seed=h * w)
    feature = scorer.features(img)
    assert feature.shape == (16,) and feature.dtype == np.float32
    ref = _reference(img)
    np.testing.assert_allclose(feature, ref, rtol=0, atol=2e-6)
    head = HEADS["quality"]
    assert scorer.score(img) == pytest.approx(float(feature.astype(np.float64) @ head.coef + head.intercept), abs=1e-9)
    assert scorer.score(img) == pytest.approx(float(ref @ head.coef + head.intercept), abs=1e-4)


def test_head_selection(scorer: QualityScorer, tiny_bundle_dir: Path) -> None:
    img = _img(30, 40, 1)
    assert scorer.score(img, head="QUALITY") == scorer.score(img)
    with pytest.raises(HeadKindError, match="'fr_quality' is a full-reference head.*nr heads: quality"):
        scorer.score(img, head="fr_quality")
    with pytest.raises(HeadNotFoundError, match="available heads: quality, fr_quality"):
        scorer.score(img, head="koniq")
    assert scorer.resolve_head(kind="fr").name == "fr_quality"

    only_fr = QualityScorer.from_pretrained(tiny_bundle_dir, head="FR_quality")
    assert [h.name for h in only_fr.heads] == ["fr_quality"] and only_fr.head.name == "fr_quality"
    with pytest.raises(HeadKindError, match="use it with score_fr"):
        only_fr.score(img)
    with pytest.raises(HeadNotFoundError, match="loaded only fr_quality; create the scorer with head=None"):
        only_fr.score(img, head="quality")
    assert only_fr.score_fr(img, img) == pytest.approx(HEADS["fr_quality"].intercept, abs=1e-12)


def test_score_fr_values(scorer: QualityScorer) -> None:
    ref, dist = _img(40, 40, 2), _img(30, 44, 3)  # sizes may differ
    head = HEADS["fr_quality"]
    want = float(np.abs(scorer.features(ref) - scorer.features(dist)).astype(np.float64) @ head.coef + head.intercept)
    assert scorer.score_fr(ref, dist) == pytest.approx(want, abs=1e-9)
    assert scorer.score_fr(ref, dist, head="fr_quality") == pytest.approx(want, abs=1e-9)
    with pytest.raises(HeadKindError, match="'quality' is a no-reference head"):
        scorer.score_fr(ref, dist, head="quality")
    many = scorer.score_many([dist, ref], reference=ref)
    assert many[0].score == pytest.approx(want, abs=1e-9)
    assert many[1].score == pytest.approx(head.intercept, abs=1e-12)


@pytest.mark.parametrize(("batch_size", "workers"), [(1, 1), (3, 2), (8, 4)])
def test_score_many_mixed_sizes_equals_single(
    scorer: QualityScorer, tmp_path: Path, batch_size: int, workers: int
) -> None:
    sizes = [(30, 40), (41, 33), (30, 40), (16, 16), (30, 40), (41, 33), (50, 20)] * 3
    images: list = [_img(h, w, i) for i, (h, w) in enumerate(sizes)]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    images[5] = str(broken)
    images[11] = np.zeros((4, 4, 3), np.uint8)  # too small
    images[17] = ScanError("photos/locked", "cannot read directory (Permission denied)")  # failed before scoring
    seen: list[ScoreResult] = []
    results = scorer.score_many(images, batch_size=batch_size, workers=workers, progress=seen.append)
    assert len(results) == len(images) == len(seen)
    for i, (image, result) in enumerate(zip(images, results)):
        if i == 5:
            assert (result.source, result.score, result.error_type) == (str(broken), None, "ImageDecodeError")
        elif i == 11:
            assert result.error_type == "ImageTooSmallError" and "at least 8" in result.error
            assert result.source == "<array (4, 4, 3)>"
        elif i == 17:
            assert result == ScoreResult("photos/locked", None, "cannot read directory (Permission denied)", "ScanError")
        else:
            assert result.ok and (result.width, result.height) == image.size
            assert result.score == pytest.approx(scorer.score(image), abs=1e-9)
    assert sum(not r.ok for r in results) == 3


def test_a_score_does_not_depend_on_its_batch_on_cpu(tmp_path: Path) -> None:
    """Scores alone and in batches of any size are bitwise equal on a CPU, although onnxruntime's own
    output for this graph (a Log of per-image values) depends on the batch."""
    folder = write_tiny_bundle(tmp_path / "log", log_brightness=True)
    scorer = QualityScorer.from_pretrained(folder)
    images = [_img(30, 40, i) for i in range(16)]  # one size: what batching would put together
    encoder = Encoder(folder / "encoder.onnx", scorer.manifest, providers=[CPU])
    stacked = np.stack([prepare(image, scorer.manifest.input).scales[0] for image in images])
    alone = np.concatenate([encoder.run(x[None]) for x in stacked])
    assert (encoder.run(stacked) != alone).any(), "onnxruntime no longer depends on the batch: a weaker test"
    assert not encoder.batches and scorer.device == "cpu"
    expected = [scorer.score(image) for image in images]
    for batch_size in (1, 3, 8, 16):
        assert [r.score for r in scorer.score_many(images, batch_size=batch_size, workers=2)] == expected
        assert all(np.array_equal(r.feature, scorer.features(image))  # type: ignore[arg-type]
                   for r, image in zip(scorer.features_many(images[:5], batch_size=batch_size), images))


def test_features_many(scorer: QualityScorer) -> None:
    images = [_img(20 + i % 3, 25, i) for i in range(7)] + [b"nope"]
    results = scorer.features_many(images, batch_size=2, workers=2)
    assert all(isinstance(r, FeatureResult) for r in results)
    for image, result in zip(images[:-1], results):
        np.testing.assert_allclose(result.feature, scorer.features(image), rtol=0, atol=1e-7)
    assert results[-1].feature is None and results[-1].source == "<bytes 4>"


def test_score_many_streams_with_bounded_work(scorer: QualityScorer) -> None:
    n, batch_size, workers = 120, 4, 2
    finished = 0
    ahead = []

    def images():
        for i in range(n):
            ahead.append(i - finished)  # images taken from the input but not finished yet
            yield _img(16 + i % 5, 16 + i % 7, i)

    def progress(result: ScoreResult) -> None:
        nonlocal finished
        finished += 1

    results = scorer.score_many(images(), batch_size=batch_size, workers=workers, progress=progress)
    assert len(results) == n and all(r.ok for r in results) and finished == n
    assert max(ahead) <= batch_size + 2 * workers


def test_inputs_that_are_not_images_are_results_in_a_batch_and_raise_alone(scorer: QualityScorer) -> None:
    good = _img(20, 20, 0)
    results = scorer.score_many([None, good, 42, good])  # type: ignore[list-item]
    assert [r.score for r in results[1::2]] == [scorer.score(good)] * 2  # the batch is not aborted
    assert [(r.source, r.error_type, r.error) for r in results[::2]] == [
        ("<NoneType>", "ImageTypeError", "cannot use NoneType as an image: pass a path, bytes, a binary file object, "
                                         "a PIL image or a uint8 NumPy array"),
        ("<int>", "ImageTypeError", "cannot use int as an image: pass a path, bytes, a binary file object, "
                                    "a PIL image or a uint8 NumPy array"),
    ]
    with pytest.raises(ImageTypeError, match="^<NoneType>: cannot use NoneType") as raised:
        scorer.score(None)  # type: ignore[arg-type]
    assert isinstance(raised.value, TypeError)  # score() raises it, a TypeError as before


def test_unusable_paths_and_streams_are_results_in_a_batch(scorer: QualityScorer, tmp_path: Path) -> None:
    good = _img(20, 20, 0)
    closed = open(tmp_path / "c.png", "wb")  # noqa: SIM115
    closed.close()
    results = scorer.score_many([good, "x\0y.jpg", good, "\ud800.jpg", good, closed, good])
    assert [r.score for r in results[::2]] == [scorer.score(good)] * 4  # the batch is not aborted
    assert [(r.error_type, r.error.split(" (")[0]) for r in results[1::2]] == [
        ("ImageDecodeError", "is not a usable file path"), ("ImageDecodeError", "is not a usable file path"),
        ("ImageDecodeError", "cannot be read"),
    ]


class _BadPath(os.PathLike):
    """A path object whose __fspath__ gives no path (42), or raises: ``error`` says which."""

    def __init__(self, error: bool) -> None:
        self.error = error

    def __fspath__(self) -> str:
        if self.error:
            raise RuntimeError("boom")
        return 42  # type: ignore[return-value]


def test_path_objects_whose_fspath_fails_are_results_in_a_batch_and_raise_alone(scorer: QualityScorer) -> None:
    """They aborted the whole batch: score_many's fallback named the input with os.fspath, which raised again."""
    good = _img(20, 20, 0)
    results = scorer.score_many([_BadPath(False), good, _BadPath(True), good])  # type: ignore[list-item]
    assert [r.score for r in results[1::2]] == [scorer.score(good)] * 2  # the batch is not aborted
    assert [(r.source, r.error_type, r.error) for r in results[::2]] == [
        ("<_BadPath>", "ImageTypeError", "cannot use _BadPath as an image path: its __fspath__() failed (TypeError: "
                                         "expected _BadPath.__fspath__() to return str or bytes, not int); pass the "
                                         "path as a str or a pathlib.Path"),
        ("<_BadPath>", "ImageTypeError", "cannot use _BadPath as an image path: its __fspath__() failed (RuntimeError: "
                                         "boom); pass the path as a str or a pathlib.Path"),
    ]
    for bad in (_BadPath(False), _BadPath(True)):
        with pytest.raises(ImageTypeError, match="^<_BadPath>: cannot use _BadPath as an image path"):
            scorer.score(bad)  # type: ignore[arg-type]
    assert [r.error_type for r in scorer.features_many([_BadPath(True), good])] == ["ImageTypeError", None]


def test_one_lazy_pil_image_many_times_in_a_batch(scorer: QualityScorer, tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _img(1200, 1600, 5).save(path, "JPEG", quality=90)
    with Image.open(path) as loaded:
        loaded.load()
        want = scorer.score(loaded)
    with Image.open(path) as lazy:  # not loaded: each decoding thread would load it at once
        results = scorer.score_many([lazy] * 12, batch_size=4, workers=4)
        assert lazy.size == (1600, 1200)
    assert [(r.score, r.width, r.height, r.error) for r in results] == [(want, 1600, 1200, None)] * 12


def test_a_model_without_a_full_reference_head_says_so(tiny_bundle_dir: Path) -> None:
    img = _img(20, 20, 0)
    only_nr = QualityScorer.from_pretrained(tiny_bundle_dir, head="quality")
    with pytest.raises(HeadKindError, match="loaded none of the model's full-reference heads \\(fr_quality\\)"):
        only_nr.score_fr(img, img)


def test_argument_errors_raise(scorer: QualityScorer) -> None:
    with pytest.raises(TypeError, match="iterable of images"):
        scorer.score_many("photo.png")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        scorer.score_many([], batch_size=0)
    with pytest.raises(ValueError, match="workers"):
        scorer.score_many([], workers=0)


def test_a_stack_of_images_in_one_array_is_scored_as_its_images(scorer: QualityScorer) -> None:
    """score_many(np.stack(images)) said "use score() or features() for a single image" (since the fifteenth
    round: pass list(array)), and score() of the stack "is not an image". A 4-D array is N images to score_many,
    iter_scores and features_many, as its list is; score() says so."""
    stack = np.stack([np.asarray(_img(20, 24, i)) for i in range(3)])
    singly = [scorer.score(image) for image in stack]
    assert [r.score for r in scorer.score_many(stack)] == singly == [r.score for r in scorer.score_many(list(stack))]
    assert [r.source for r in scorer.iter_scores(stack)] == ["<array (20, 24, 3)>"] * 3
    assert [r.feature.tolist() for r in scorer.features_many(stack)] == [scorer.features(i).tolist() for i in stack]
    with pytest.raises(ImageError, match=r"array shape \(3, 20, 24, 3\) is not an image \(a stack of images: "
                                         r"score_many\(array\) scores each\)"):
        scorer.score(stack)
    channels_first = scorer.score_many(stack.transpose(0, 3, 1, 2))  # as torch holds a batch: each says how to mend
    assert [r.error_type for r in channels_first] == ["ImageDecodeError"] * 3
    assert "pass array.transpose(1, 2, 0)" in str(channels_first[0].error)


def test_a_callback_that_cannot_be_called_is_refused_before_any_image(scorer: QualityScorer) -> None:
    """thumbnail=5 made every image of the batch a ThumbnailError ('int' object is not callable), and
    progress=5 ended the run with a bare TypeError once the first image was scored."""
    read: list[int] = []

    def images():  # noqa: ANN202 - a generator
        for i in range(3):
            read.append(i)
            yield _img(20, 20, i)

    with pytest.raises(TypeError, match=r"^thumbnail must be a function \(or None\); got 5 \(int\)"):
        scorer.score_many(images(), thumbnail=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^thumbnail must be a function"):
        scorer.iter_scores(images(), thumbnail="jpeg")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^progress must be a function \(or None\); got 5 \(int\)"):
        scorer.score_many(images(), progress=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^progress must be a function"):
        scorer.features_many(images(), progress="bar")  # type: ignore[arg-type]
    assert read == []  # refused before the first image was asked for


def test_thread_safety(scorer: QualityScorer) -> None:
    images = [_img(20 + i % 4, 30 - i % 3, i) for i in range(12)]
    expected = [scorer.score(img) for img in images]
    outputs: dict[int, list[float]] = {}

    def work(k: int) -> None:
        outputs[k] = [scorer.score(img) for img in images[k % 3 :] + images[: k % 3]]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, got in outputs.items():
        assert got == expected[k % 3 :] + expected[: k % 3]
    assert len(outputs) == 8


def test_pickle_and_spawn_pool(scorer: QualityScorer, tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        _img(20 + i, 30, i).save(path)
        paths.append(str(path))
    expected = [scorer.score(p) for p in paths]
    clone = pickle.loads(pickle.dumps(scorer))
    assert [clone.score(p) for p in paths] == expected
    assert clone.head.name == "quality" and clone.variant == "fp32"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(scorer.score, paths) == expected


def test_max_pixels_and_exif_options(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    small = QualityScorer.from_pretrained(tiny_bundle_dir, max_pixels=1000)
    with pytest.raises(ImageTooLargeError, match="max_pixels=1000"):
        small.score(_img(40, 40, 0))
    assert small.score_many([_img(40, 40, 0)])[0].error_type == "ImageTooLargeError"
    with pytest.raises(ValueError, match="max_pixels"):
        QualityScorer.from_pretrained(tiny_bundle_dir, max_pixels=0)
    numpy_limit = QualityScorer.from_pretrained(tiny_bundle_dir, max_pixels=np.int64(1000))  # NumPy's ints count too
    with pytest.raises(ImageTooLargeError, match="max_pixels=1000"):
        numpy_limit.score(_img(40, 40, 0))

    img = _img(20, 40, 5)
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "rot.png"
    img.save(path, exif=exif.tobytes())
    plain = QualityScorer.from_pretrained(tiny_bundle_dir)
    turned = QualityScorer.from_pretrained(tiny_bundle_dir, apply_exif=True)
    assert plain.score(path) == plain.score(img)
    assert turned.score(path) == plain.score(img.transpose(Image.Transpose.ROTATE_90))
    assert pickle.loads(pickle.dumps(turned)).score(path) == turned.score(path)
    assert (plain.apply_exif, turned.apply_exif, pickle.loads(pickle.dumps(turned)).apply_exif) == (False, True, True)


def test_apply_exif_is_a_bool(tiny_bundle_dir: Path) -> None:
    """apply_exif=1 was recorded as 1 in a report header (then refused on --resume), np.True_ made the header
    unwritable JSON, and "no" was taken as true."""
    for flag in (np.True_, np.False_):
        scorer = QualityScorer.from_pretrained(tiny_bundle_dir, apply_exif=flag)
        assert type(scorer.apply_exif) is bool and scorer.apply_exif == bool(flag)
        assert json.dumps(scorer.apply_exif) == json.dumps(bool(flag))
        assert pickle.loads(pickle.dumps(scorer)).apply_exif is bool(flag)
    assert QualityScorer(load_bundle(tiny_bundle_dir), apply_exif=np.True_).apply_exif is True
    makers = (lambda flag: QualityScorer.from_pretrained(tiny_bundle_dir / "absent", apply_exif=flag),  # unread
              lambda flag: QualityScorer.from_location(locate(tiny_bundle_dir), apply_exif=flag),
              lambda flag: QualityScorer(load_bundle(tiny_bundle_dir), apply_exif=flag))
    for bad in (1, 0, "no", None, 1.0):
        for make in makers:
            with pytest.raises(TypeError) as refused:
                make(bad)
            assert str(refused.value) == f"apply_exif must be True or False; got {bad!r} ({type(bad).__name__})"


def test_one_provider_name_is_refused_before_the_bundle_is_read(tiny_bundle_dir: Path) -> None:
    """providers="CPUExecutionProvider" (a name, not a list) said that providers 'C', 'P', 'U', ... were missing."""
    makers = (lambda: QualityScorer.from_pretrained(tiny_bundle_dir / "absent", providers=CPU),  # never read
              lambda: QualityScorer.from_location(locate(tiny_bundle_dir), providers=CPU),
              lambda: QualityScorer(load_bundle(tiny_bundle_dir), providers=CPU))
    for make in makers:
        with pytest.raises(TypeError, match=r"^providers must be a list .*got the single str 'CPUExecutionProvider'"):
            make()
    assert QualityScorer.from_pretrained(tiny_bundle_dir, providers=(CPU,)).providers == [CPU]


def test_local_files_only_is_a_bool(tiny_bundle_dir: Path) -> None:
    """local_files_only="no" was taken as true (offline: a Hub model not yet cached failed as a cache miss),
    and 0 or 1 were kept as they were in the options a pickled scorer re-opens with."""
    for flag in (np.True_, False):
        scorer = QualityScorer.from_pretrained(tiny_bundle_dir, local_files_only=flag)
        assert pickle.loads(pickle.dumps(scorer))._options.local_files_only is bool(flag)
    for bad in ("no", 1, None):
        with pytest.raises(TypeError) as refused:
            QualityScorer.from_pretrained("org/never-downloaded", local_files_only=bad)  # refused before the Hub
        assert str(refused.value) == f"local_files_only must be True or False; got {bad!r} ({type(bad).__name__})"


def test_resolve_head_refuses_an_unknown_kind(scorer: QualityScorer) -> None:
    """resolve_head(kind="FR") (or any kind but nr and fr) raised a bare KeyError: 'FR'."""
    assert scorer.resolve_head(kind="fr").name == "fr_quality"
    for kind in ("FR", "xx", None):
        with pytest.raises(ValueError, match=r"^kind must be 'nr' \(a no-reference head, for score\) or 'fr' "
                                             r"\(a full-reference head, for score_fr\); got "):
            scorer.resolve_head("quality", kind=kind)  # type: ignore[arg-type]


def test_bundle_digest_identifies_the_bundle_content(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    digest = QualityScorer.from_pretrained(tiny_bundle_dir).bundle_digest
    canonical = json.dumps(json.loads((tiny_bundle_dir / MANIFEST_NAME).read_text()), sort_keys=True,
                           separators=(",", ":"))
    assert digest == hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]  # as the docs say
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle_dir, copy)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    (copy / MANIFEST_NAME).write_text(json.dumps(dict(reversed(manifest.items())), indent=4))  # laid out otherwise
    moved = QualityScorer.from_pretrained(copy, head="quality", apply_exif=True)
    assert moved.bundle_digest == digest  # another folder, file layout, head or exif setting: the same content
    head = json.loads((copy / HEADS["quality"].info.file).read_text())
    head["intercept"] += 1.0
    (copy / HEADS["quality"].info.file).write_text(json.dumps(head))
    manifest["files"][HEADS["quality"].info.file] = file_table(copy, [HEADS["quality"].info.file])[
        HEADS["quality"].info.file].to_dict()
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    changed = QualityScorer.from_pretrained(copy).bundle_digest  # one head changed in place, the same name
    assert changed != digest and len(changed) == 16


@pytest.mark.parametrize("model", location.packaged_models())
def test_packaged_models_rank_distortions(photos_dir: Path, model: str) -> None:
    scorer = QualityScorer.from_pretrained(model, device="cpu", threads=1)  # a bundle installed with the package
    manifest = scorer.manifest
    assert manifest.default_head == "quality" and {h.name for h in manifest.heads} == {"quality", "level", "rank"}
    # auto on CPUs weighs the recorded int8 fidelity of the heads loaded: all of them, or the one named.
    assert scorer.variant == ("int8" if variant_trusted(manifest, "int8") else "fp32")
    for head in manifest.heads:
        chosen = QualityScorer.from_pretrained(model, head=head.name, device="cpu").variant
        assert chosen == ("int8" if variant_trusted(manifest, "int8", [head.name]) else "fp32"), head.name
    photo = Image.open(photos_dir / "val" / "skimage" / "coffee.png").convert("RGB")
    rng = np.random.default_rng(0)
    x = np.asarray(photo, dtype=np.float64)
    noisy = [Image.fromarray(np.clip(x + rng.normal(0, s, x.shape), 0, 255).astype(np.uint8)) for s in (10, 40)]
    blurred = [photo.filter(ImageFilter.GaussianBlur(r)) for r in (1.5, 5)]
    jpegs = []
    for quality in (30, 5):
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=quality)
        jpegs.append(Image.open(buffer).convert("RGB"))
    quality = [r.score for r in scorer.score_many([photo, *noisy, *blurred, *jpegs])]
    assert 0 <= min(quality) and max(quality) <= 110  # the proxy's 0..100 scale (a linear head may overshoot)
    for mild, severe in ((1, 2), (3, 4), (5, 6)):
        assert quality[0] > quality[mild] > quality[severe], quality
    level = [r.score for r in scorer.score_many([photo, noisy[1], blurred[1]], head="level")]
    assert level[0] < min(level[1:])  # the level head: higher is worse


@pytest.mark.parametrize("model", location.packaged_models())
def test_packaged_models_score_flat_frames(photos_dir: Path, model: str) -> None:
    """Exported with finite statistics and clipping heads, the packaged models score flat frames
    (v1, exported before, made them a NonFiniteError), and score them far below a photo: a v2.2
    candidate whose heads gave a flat white frame 100 was not shipped."""
    scorer = QualityScorer.from_pretrained(model, head="quality", device="cpu")
    colours = ((0, 0, 0), (255, 255, 255), (128, 128, 128), (250, 250, 250), (255, 0, 0))
    frames = [Image.new("RGB", size, colour) for colour in colours for size in ((80, 64), (512, 384))]
    scores = [r.score for r in scorer.score_many(frames)]
    assert all(s is not None and 0 <= s <= 100 for s in scores), scores
    photo = scorer.score(photos_dir / "val" / "skimage" / "coffee.png")
    assert max(scores) < photo / 2, (scores, photo)


def test_the_packaged_default_scores_photos_blurred_to_mush_near_the_worst(photos_dir: Path) -> None:
    """v2.4 scored photos blurred far beyond the proxy set's strongest blur about 90, above the sharp
    photos: its heads' fade (format 4) takes a feature far outside the fitted range to the worst end."""
    scorer = QualityScorer.from_pretrained(head="quality", device="cpu")
    head = load_bundle(scorer.bundle_dir).heads["quality"]
    assert head.fade == (2.0, 4.0)
    for name in ("coffee.png", "rocket.jpg", "astronaut.png"):
        photo = Image.open(photos_dir / "val" / "skimage" / name).convert("RGB")
        photo.thumbnail((512, 512))
        versions = [photo] + [photo.filter(ImageFilter.GaussianBlur(sigma)) for sigma in (4, 24, 48)]
        features = np.stack([scorer.features(v) for v in versions])
        sharp, blurred, mush, more = head(features)
        results = scorer.score_many(versions)
        assert [r.score for r in results] == pytest.approx([sharp, blurred, mush, more], rel=1e-12)
        assert [r.note is None for r in results] == [True, True, False, False]  # the faded ones say so
        assert "range distance" in results[2].note and results[2].to_dict().keys() == results[0].to_dict().keys()
        assert sharp > 40 and blurred < sharp and max(mush, more) < 3, (name, head(features))
        assert head.range_distance(features[2:]).min() > 4  # mush lies far outside the range
        unfaded = dataclasses.replace(head, fade=None)(features)  # v2.4's heads: the climb the fade ends
        assert unfaded[0] == sharp and min(unfaded[2:]) > 40, (name, unfaded)


def test_the_packaged_default_scores_washed_out_photos_near_the_worst(photos_dir: Path) -> None:
    """v2.4.1 scored a photo washed out to 2 % of its contrast about 38 (the statistics normalise contrast
    away); v2.4.2's heads have a floor at the lowest global contrast of the training photos (head format 5)."""
    scorer = QualityScorer.from_pretrained(head="quality", device="cpu")
    head = load_bundle(scorer.bundle_dir).heads["quality"]
    assert head.floor is not None and head.floor.rate == 2.0 and head.floor.value == pytest.approx(-3.077, abs=1e-3)
    for name in ("coffee.png", "rocket.jpg", "astronaut.png"):
        photo = Image.open(photos_dir / "val" / "skimage" / name).convert("RGB")
        photo.thumbnail((512, 512))
        pixels = np.asarray(photo, dtype=np.float64)
        versions = [photo] + [Image.fromarray(np.clip(pixels.mean() + (pixels - pixels.mean()) * keep, 0, 255)
                                              .round().astype(np.uint8)) for keep in (0.3, 0.1, 0.05, 0.02)]
        features = np.stack([scorer.features(v) for v in versions])
        results = scorer.score_many(versions)
        scores = [r.score for r in results]
        assert scores == pytest.approx(head(features).tolist(), rel=1e-12)
        assert scores == sorted(scores, reverse=True) and scores[-1] < 2, (name, scores)  # ordered, the last near 0
        assert float(dataclasses.replace(head, floor=None)(features[0])) == scores[0]  # the photo itself: unchanged
        assert results[0].note is None and "global contrast" in results[-1].note, (name, results[-1].note)
        assert (dataclasses.replace(head, floor=None)(features[3:]) > np.array(scores[3:])).all()  # moved down


@pytest.mark.parametrize("model", location.packaged_models())
def test_packaged_models_scores_do_not_depend_on_the_batch(model: str) -> None:
    """The case of the report: alone and in batches of 8, the same image gave different scores."""
    scorer = QualityScorer.from_pretrained(model, head="quality", device="cpu")  # as contrique-score runs it
    images = [_img(48, 64, i) for i in range(9)]
    alone = [scorer.score(image) for image in images]
    assert [r.score for r in scorer.score_many(images, batch_size=8)] == alone
    assert [r.score for r in scorer.score_many(images[::-1], batch_size=4)] == alone[::-1]


def test_missing_models(tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(location, "DEFAULT_BUNDLE", tmp_path / "none")
    with pytest.raises(NoDefaultModelError, match="no default model is installed.*bundle folder.*'org/name'"):
        QualityScorer.from_pretrained()
    monkeypatch.setattr(location, "DEFAULT_BUNDLE", tiny_bundle_dir)
    assert QualityScorer.from_pretrained().manifest.name == "tiny-test-bundle"
    with pytest.raises(BundleFileError, match="no such bundle folder"):
        QualityScorer.from_pretrained(str(tmp_path / "missing" / "deeper"))
    with pytest.raises(BundleFileError, match="no bundle manifest"):
        QualityScorer.from_pretrained(tmp_path)
    with pytest.raises(VariantNotFoundError, match="int8"):
        QualityScorer.from_pretrained(tiny_bundle_dir, variant="int8")
    with pytest.raises(VariantNotFoundError, match="variant must be"):
        QualityScorer.from_pretrained(tiny_bundle_dir, variant="bf16")
    with pytest.raises(HeadNotFoundError):
        QualityScorer.from_pretrained(tiny_bundle_dir, head="nope")


def test_constructor_from_loaded_bundle(tiny_bundle_dir: Path, scorer: QualityScorer) -> None:
    direct = QualityScorer(load_bundle(tiny_bundle_dir), providers=[CPU], threads=1)
    img = _img(33, 33, 9)
    assert direct.score(img) == scorer.score(img)
    assert pickle.loads(pickle.dumps(direct)).score(img) == scorer.score(img)


def test_hub_names_go_through_hub(tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contrique_infer import hub

    snapshot = Path(shutil.copytree(tiny_bundle_dir, tmp_path / "snapshot"))
    calls: list = []

    def fetch_manifest(repo_id, *, revision=None, cache_dir=None, local_files_only=False):
        calls.append(("manifest", repo_id, revision, cache_dir, local_files_only))
        return hub.RemoteBundle(repo_id, "c" * 40, Manifest.load(snapshot))

    def fetch_files(remote, files, *, cache_dir=None, local_files_only=False):
        calls.append(("files", remote.revision, list(files), cache_dir, local_files_only))
        return snapshot

    monkeypatch.setattr(hub, "fetch_manifest", fetch_manifest)
    monkeypatch.setattr(hub, "fetch_files", fetch_files)
    remote = QualityScorer.from_pretrained("org/tiny", head="quality", revision="v1", cache_dir=tmp_path / "c",
                                           local_files_only=True)
    cache = str(tmp_path / "c")
    assert calls == [
        ("manifest", "org/tiny", "v1", cache, True),
        ("files", "c" * 40, ["encoder.onnx", "heads/quality.json"], cache, True),
    ]
    assert locate("org/tiny").manifest.name == "tiny-test-bundle"
    img = _img(30, 30, 4)
    expected = remote.score(img)
    calls.clear()
    assert pickle.loads(pickle.dumps(remote)).score(img) == expected
    assert calls == []  # the cached snapshot folder is reused
    state = remote.__getstate__()
    state["folder"] = str(tmp_path / "gone")  # e.g. unpickled on another machine
    clone = QualityScorer.__new__(QualityScorer)
    clone.__setstate__(state)
    assert clone.score(img) == expected
    assert calls[0] == ("manifest", "org/tiny", "c" * 40, cache, True)  # re-fetched at the pinned commit
    assert (snapshot / MANIFEST_NAME).is_file()


def test_threads_beyond_what_onnxruntime_can_make_are_refused_before_the_bundle_is_read(tiny_bundle_dir: Path) -> None:
    """``threads=2**31`` was a bare ``TypeError`` from onnxruntime's binding (``incompatible function
    arguments``), ``2**31 - 1`` a ``BundleError`` calling the model file damaged (``std::bad_alloc``),
    each only once the bundle was read (for a Hub model: downloaded); a NumPy integer was kept as such
    in the options a pickled scorer re-opens with."""
    for bad in (2**31, 2**31 - 1, 1025, 0):
        with pytest.raises(ValueError) as refused:
            QualityScorer.from_pretrained("org/never-downloaded", threads=bad)  # refused before the Hub
        assert str(refused.value) == f"threads must be an integer from 1 to 1,024 or None; got {bad}"
    scorer = QualityScorer.from_pretrained(tiny_bundle_dir, threads=np.int64(2))
    assert type(pickle.loads(pickle.dumps(scorer))._options.threads) is int


def test_a_scorer_unpickled_after_its_bundle_changed_is_refused(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """A pickled scorer re-opens its bundle folder when unpickled: a bundle exported again into that folder
    meanwhile (new heads, hashes consistent) was opened without a word, so the workers of one
    multiprocessing job could score with two models."""
    folder = shutil.copytree(tiny_bundle_dir, tmp_path / "b")
    original = QualityScorer.from_pretrained(folder)
    pickled = pickle.dumps(original)
    head = folder / "heads" / "quality.json"
    before = head.read_bytes()
    data = json.loads(before)
    data["intercept"] += 7.0
    head.write_text(json.dumps(data))
    rehash(folder)
    changed = QualityScorer.from_pretrained(folder)
    with pytest.raises(BundleError) as refused:
        pickle.loads(pickled)
    assert refused.value.path == str(folder)
    assert refused.value.reason == (
        f"was changed since this scorer was pickled (bundle_digest {original.bundle_digest!r} then, "
        f"{changed.bundle_digest!r} now), so the unpickled scorer would give other scores than the one pickled; "
        "pickle the scorer again from the bundle as it is now, or restore the bundle as it was")
    state = original.__getstate__()
    del state["digest"]  # as a version that kept no digest pickled it: opened as before
    earlier = QualityScorer.__new__(QualityScorer)
    earlier.__setstate__(state)
    assert earlier.bundle_digest == changed.bundle_digest
    head.write_bytes(before)
    rehash(folder)
    image = _img(20, 30, 1)
    assert pickle.loads(pickled).score(image) == original.score(image)


def test_one_image_too_large_for_the_memory_left_loses_no_other(tiny_bundle_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5000x5000 image on the tiny bundle under ulimit -v 1100000: onnxruntime's std::bad_alloc ended
    score_many with an InferenceError, the images after it lost (under 900000, NumPy's MemoryError became an
    error result calling itself a bug of contrique-infer)."""
    scorer = QualityScorer.from_pretrained(tiny_bundle_dir)
    real_run = Encoder.run

    def run(self: Encoder, batch: np.ndarray) -> np.ndarray:
        if batch.shape[2] >= 60:  # what onnxruntime raises where an allocation fails, wrapped by Encoder.run
            failure = RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while "
                                   "running Conv node. Name:'relu_nchwc' Status Message: std::bad_alloc")
            raise InferenceError(f"{self.path}: onnxruntime failed on a batch of shape {batch.shape}: {failure}") \
                from failure
        return real_run(self, batch)

    monkeypatch.setattr(Encoder, "run", run)
    images = [_img(20, 30, 1), _img(130, 140, 2), _img(24, 30, 3)]
    results = scorer.score_many(images)
    assert [r.error_type for r in results] == [None, "ImageTooLargeError", None]
    assert [r.score for r in results[::2]] == [scorer.score(images[0]), scorer.score(images[2])]
    assert results[1].error.startswith("is too large for the memory left to run the model on it ([ONNXRuntimeError]")
    with pytest.raises(ImageTooLargeError, match="is too large for the memory left to run the model on it"):
        scorer.score(images[1])
