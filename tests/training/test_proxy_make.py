"""Proxy sets (:mod:`contrique_training.proxy.make`): photos, distortion assignments, MDSI scores, files."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from contrique_infer.decoding import image_formats
from contrique_training.alternates import ALTERNATES, alternate_image, block_image
from contrique_training.errors import DataError
from contrique_training.distortions import CHAIN_TYPES, LEVELS, SERIES_TYPES, WIDE_TYPES, distort_image
from contrique_training.evaluation.datasets import read_csv
from contrique_training.proxy import make
from contrique_training.proxy.errors import ProxyError
from contrique_training.proxy.make import (
    CONTRAST_TYPE,
    MDSI_MAX,
    assignments,
    flat_image,
    ProxyImage,
    load_proxy_set,
    make_proxy_set,
    mdsi,
    mdsi_to_quality,
    prepare_photo,
    target_csv,
)

VARIANTS = 5  # the settings of the proxy_dir fixture (conftest.py)
SIDE = 80


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_proxy_set_files_rows_and_scores(proxy_dir: Path, skimage_dir: Path) -> None:
    photos = sorted(p.relative_to(skimage_dir).as_posix() for p in skimage_dir.iterdir())
    quality, level = _rows(proxy_dir / "quality.csv"), _rows(proxy_dir / "level.csv")
    assert list(quality[0]) == ["path", "score", "content_id"] == list(level[0])
    assert len(quality) == len(level) == len(photos) * (1 + VARIANTS)
    assert [r["path"] for r in quality] == [r["path"] for r in level]
    assert sorted(Counter(r["content_id"] for r in quality)) == photos
    assert set(Counter(r["content_id"] for r in quality).values()) == {1 + VARIANTS}
    for q, lv in zip(quality, level):
        image = Image.open(proxy_dir / q["path"])
        assert (max(image.size) <= SIDE or min(image.size) == 64) and min(image.size) >= 64 and image.mode == "RGB"
        pristine = q["path"].endswith("/00-pristine.png")
        assert (float(q["score"]) == 100.0) == pristine and (lv["score"] == "0") == pristine
        assert 0 <= float(q["score"]) <= 100 and int(lv["score"]) in range(LEVELS + 1)
    dataset = read_csv(proxy_dir / "quality.csv")  # the evaluation package's generic reader
    assert len(dataset) == len(quality) and len(set(dataset.content_ids or [])) == len(photos)

    proxy = load_proxy_set(proxy_dir)
    assert proxy.name == "proxy-mdsi-val-skimage" and proxy.settings["seed"] == 3
    assert proxy.settings == {"variants_per_photo": VARIANTS, "max_side": SIDE, "seed": 3, "limit": None}
    assert [im.path for im in proxy.images] == [r["path"] for r in quality]
    document = json.loads((proxy_dir / "proxy.json").read_text())
    assert document["metric"]["name"] == "mdsi" and document["mapping"]["mdsi_max"] == MDSI_MAX
    assert document["counts"]["images"] == len(quality) and document["counts"]["per_level"]["0"] == len(photos)
    for im in proxy.images:  # each stored image's score is the mapped MDSI against its stored pristine
        folder = im.path.rsplit("/", 1)[0]
        ref = Image.open(proxy_dir / folder / "00-pristine.png")
        # float32 MDSI of one image alone vs in its photo's batch: 3.5e-6 apart on one image of this set
        assert mdsi([Image.open(proxy_dir / im.path)], ref)[0] == pytest.approx(im.mdsi, abs=1e-5)
        assert im.quality == pytest.approx(float(mdsi_to_quality(np.array([im.mdsi]))[0]), abs=1e-4)


def test_same_seed_same_set(proxy_dir: Path, skimage_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    make_proxy_set(skimage_dir, again, variants_per_photo=VARIANTS, max_side=SIDE, seed=3, limit=2, progress=False)
    rows = _rows(again / "quality.csv")
    assert {r["content_id"] for r in rows} == {"astronaut.png", "rocket.jpg"}  # evenly spaced: first and last
    # pairs and seeds follow the photo's index in the set: the first photo's images are those of the full set
    first = [r for r in rows if r["content_id"] == "astronaut.png"]
    assert first == [r for r in _rows(proxy_dir / "quality.csv") if r["content_id"] == "astronaut.png"]
    assert (again / first[3]["path"]).read_bytes() == (proxy_dir / first[3]["path"]).read_bytes()
    with pytest.raises(ProxyError, match="not an empty folder"):
        make_proxy_set(skimage_dir, again, progress=False)


def test_second_implementations_replace_a_share_of_their_types(proxy_dir: Path, skimage_dir: Path,
                                                               tmp_path: Path) -> None:
    """With alt_fraction the same (type, level, seed) draws are made, and that share of the versions whose
    type has an OpenCV implementation is rendered by it, recorded per image and in the settings."""
    alt = make_proxy_set(skimage_dir, tmp_path / "alt", variants_per_photo=VARIANTS, max_side=SIDE, seed=3,
                         alt_fraction=1.0, progress=False)
    own = load_proxy_set(proxy_dir)
    assert alt.settings == {**own.settings, "alt_fraction": 1.0}
    assert len(alt.images) == len(own.images)
    for a, o in zip(alt.images, own.images):
        assert (a.content_id, a.distortion, a.level, a.seed) == (o.content_id, o.distortion, o.level, o.seed)
        second = o.distortion in ALTERNATES
        assert (a.implementation == "opencv") == second and (a.implementation is None) == (not second)
        assert a.path == (o.path.replace(f"-l{o.level}.png", f"-opencv-l{o.level}.png") if second else o.path)
        if second:  # the stored image is the OpenCV rendering of the pristine photo
            pristine = Image.open(tmp_path / "alt" / a.path.rsplit("/", 1)[0] / "00-pristine.png")
            expected = alternate_image(pristine, a.distortion, a.level, a.seed)
            assert np.array_equal(np.asarray(Image.open(tmp_path / "alt" / a.path)), np.asarray(expected))
        else:
            assert (tmp_path / "alt" / a.path).read_bytes() == (proxy_dir / o.path).read_bytes()
    assert any(im.implementation for im in alt.images)
    assert load_proxy_set(tmp_path / "alt").images == alt.images  # the field survives proxy.json
    document = json.loads((tmp_path / "alt" / "proxy.json").read_text())
    assert document["counts"]["second_implementation"] == sum(im.implementation is not None for im in alt.images)
    with pytest.raises(ProxyError, match="alt_fraction, block_fraction, flat_fraction and contrast_fraction in 0..1"):
        make_proxy_set(skimage_dir, tmp_path / "bad", alt_fraction=1.5, progress=False)


def _one_more_version_each(proxy_dir: Path, skimage_dir: Path, out: Path, fraction: str,
                           is_added: Callable[[ProxyImage], bool]) -> tuple[list[ProxyImage], set[str]]:
    """Make the proxy_dir fixture's set again with ``fraction`` at 1: every image of it again, byte for byte,
    and one more version of each photo (the images ``is_added`` picks), recorded in the settings. Returns
    those versions and the photos' content ids."""
    own = load_proxy_set(proxy_dir)
    made = make_proxy_set(skimage_dir, out, variants_per_photo=VARIANTS, max_side=SIDE, seed=3, progress=False,
                          **{fraction: 1.0})
    assert made.settings == {**own.settings, fraction: 1.0}
    added = [im for im in made.images if is_added(im)]
    photos = {im.content_id for im in own.images}
    assert sorted(im.content_id for im in added) == sorted(photos) and len(made.images) == len(own.images) + len(photos)
    assert [im for im in made.images if not is_added(im)] == list(own.images)
    for im in own.images:
        assert (out / im.path).read_bytes() == (proxy_dir / im.path).read_bytes()
    return added, photos


def test_block_pixelation_adds_one_version_to_a_share_of_the_photos(proxy_dir: Path, skimage_dir: Path,
                                                                    tmp_path: Path) -> None:
    """With block_fraction every image of the set without it is made again, byte for byte, and that share of
    the photos gets one more version: pixelation as square blocks, recorded per image and in the settings."""
    added, photos = _one_more_version_each(proxy_dir, skimage_dir, tmp_path / "blocks", "block_fraction",
                                           lambda im: im.implementation == "blocks")
    for im in added:
        assert im.distortion == "pixelate" and 1 <= im.level <= LEVELS
        assert im.path.rsplit("/", 1)[1] == f"{VARIANTS + 1:02d}-pixelate-blocks-l{im.level}.png"
        pristine = Image.open(tmp_path / "blocks" / im.path.rsplit("/", 1)[0] / "00-pristine.png")
        expected = block_image(pristine, im.level, im.seed)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "blocks" / im.path)), np.asarray(expected))
        assert 0 < im.mdsi and im.quality < 100
    some = make_proxy_set(skimage_dir, tmp_path / "some", variants_per_photo=VARIANTS, max_side=SIDE, seed=3,
                          block_fraction=0.5, progress=False)
    assert 0 < sum(im.implementation == "blocks" for im in some.images) < len(photos)  # 5 photos, drawn per photo
    with pytest.raises(ProxyError, match="block_fraction, flat_fraction and contrast_fraction in 0..1"):
        make_proxy_set(skimage_dir, tmp_path / "bad", block_fraction=-0.5, progress=False)


def test_flat_frames_add_one_version_to_a_share_of_the_photos(proxy_dir: Path, skimage_dir: Path,
                                                              tmp_path: Path) -> None:
    """With flat_fraction every other image is made again, byte for byte, and that share of the photos gets
    a last version: a frame of the photo's mean colour, level 5, the lowest quality of its photo."""
    added, _ = _one_more_version_each(proxy_dir, skimage_dir, tmp_path / "flats", "flat_fraction",
                                      lambda im: im.distortion == "flat")
    own = load_proxy_set(proxy_dir)
    for im in added:
        assert im.level == LEVELS and im.path.rsplit("/", 1)[1] == f"{VARIANTS + 1:02d}-flat-l{LEVELS}.png"
        pristine = np.asarray(Image.open(tmp_path / "flats" / im.path.rsplit("/", 1)[0] / "00-pristine.png"))
        frame = np.asarray(Image.open(tmp_path / "flats" / im.path))
        assert frame.shape == pristine.shape and (frame == frame[0, 0]).all()
        np.testing.assert_allclose(frame[0, 0], pristine.reshape(-1, 3).mean(axis=0), atol=0.5)
        assert im.quality <= min(o.quality for o in own.images if o.content_id == im.content_id)
    assert np.asarray(flat_image(Image.new("L", (4, 3), 7))).shape == (3, 4, 3)  # always RGB
    both = make_proxy_set(skimage_dir, tmp_path / "both", variants_per_photo=VARIANTS, max_side=SIDE, seed=3,
                          block_fraction=1.0, flat_fraction=1.0, progress=False)
    names = [im.path.rsplit("/", 1)[1] for im in both.images if im.content_id == own.images[0].content_id]
    assert names[-2:] == [f"{VARIANTS + 1:02d}-pixelate-blocks-l{names[-2][-5]}.png", f"{VARIANTS + 2:02d}-flat-l5.png"]
    with pytest.raises(ProxyError, match="flat_fraction and contrast_fraction in 0..1"):
        make_proxy_set(skimage_dir, tmp_path / "bad", flat_fraction=2.0, progress=False)


def test_linear_contrast_loss_adds_one_version_to_a_share_of_the_photos(proxy_dir: Path, skimage_dir: Path,
                                                                        tmp_path: Path) -> None:
    """With contrast_fraction every other image is made again, byte for byte, and that share of the photos
    gets a last version: the photo's contrast lowered linearly towards its mean grey (gain 0.72 to 0.15 at
    levels 1 to 5), worse by MDSI than the photo, recorded per image and in the settings."""
    added, _ = _one_more_version_each(proxy_dir, skimage_dir, tmp_path / "contrast", "contrast_fraction",
                                      lambda im: im.distortion == CONTRAST_TYPE
                                      and im.implementation is not None)
    gains = dict(zip(range(1, LEVELS + 1), (0.72, 0.56, 0.40, 0.28, 0.15)))
    for im in added:
        assert im.implementation == "opencv" and 1 <= im.level <= LEVELS
        assert im.path.rsplit("/", 1)[1] == f"{VARIANTS + 1:02d}-contrast_change-opencv-l{im.level}.png"
        pristine = np.asarray(Image.open(tmp_path / "contrast" / im.path.rsplit("/", 1)[0] / "00-pristine.png"))
        lowered = np.asarray(Image.open(tmp_path / "contrast" / im.path)).astype(np.float64)
        x = pristine.astype(np.float64)
        np.testing.assert_allclose(lowered, x.mean() + gains[im.level] * (x - x.mean()), atol=1.01)
        assert 0 < im.mdsi and im.quality < 100
    with pytest.raises(ProxyError, match="contrast_fraction in 0..1"):
        make_proxy_set(skimage_dir, tmp_path / "bad", contrast_fraction=1.5, progress=False)


def test_assignments_cover_types_and_levels_evenly() -> None:
    photos = len(WIDE_TYPES)  # x 10 draws: every (type, level) pair twice
    plan = assignments(photos, 10, seed=0)
    pairs = Counter(p for photo in plan for p in photo)
    assert len(pairs) == len(WIDE_TYPES) * LEVELS and set(pairs.values()) == {2}
    assert assignments(photos, 10, seed=0) == plan and assignments(photos, 10, seed=1) != plan
    assert all(len(photo) == 10 for photo in plan)
    with_chains = Counter(p for photo in assignments(len(SERIES_TYPES), 10, seed=0, chains=True) for p in photo)
    assert len(with_chains) == len(SERIES_TYPES) * LEVELS and set(with_chains.values()) == {2}
    assert {name for name, _ in with_chains} - {d.name for d in WIDE_TYPES} == {d.name for d in CHAIN_TYPES}


def test_quality_is_100_for_pristine_and_falls_with_blur_level(skimage_dir: Path) -> None:
    pristine = prepare_photo(Image.open(skimage_dir / "chelsea.png").convert("RGB"), 96)
    series = [distort_image(pristine, "gaussian_blur", level) for level in range(LEVELS + 1)]
    quality = mdsi_to_quality(mdsi(series, pristine))
    assert quality[0] == 100.0
    assert np.all(np.diff(quality) < 0), quality


def test_prepare_photo_sizes() -> None:
    assert prepare_photo(Image.new("RGB", (1000, 500)), 384).size == (384, 192)
    assert prepare_photo(Image.new("RGB", (1000, 100)), 384).size == (640, 64)  # short side kept at 64
    assert prepare_photo(Image.new("RGB", (40, 50)), 384).size == (64, 80)
    small = Image.new("RGB", (300, 200))
    assert prepare_photo(small, 384) is small


def test_a_photo_too_narrow_to_upscale_is_refused_before_resizing() -> None:
    # 1x60000 (a 320-byte PNG): its short side upscaled to 64 px made 64x3840000 = 737 MB, then distortions
    # and MDSI of it: proxy make died of MemoryError at 2.7 GB
    with pytest.raises(DataError, match=r"^thin.png: is 1x60000 pixels, so narrow that upscaling its shorter side "
                                        r"to fit makes 64x3840000 = 245,760,000 pixels, more than the 89,478,485 "
                                        r"allowed; crop the photo closer to square, or remove it$"):
        prepare_photo(Image.new("RGB", (1, 60000)), 384, "thin.png")
    assert prepare_photo(Image.new("RGB", (8, 4000)), 384).size == (64, 32000)  # 2 MP: allowed


@pytest.mark.slow
def test_fr6_target_is_the_six_metric_rank_over_the_set_made_once(skimage_dir: Path, tmp_path: Path,
                                                                 proxy_dir: Path) -> None:
    proxy = make_proxy_set(skimage_dir, tmp_path / "set", variants_per_photo=3, max_side=256, seed=1, limit=3,
                           progress=False)
    assert target_csv(proxy, "mdsi") == proxy.quality_csv
    path = target_csv(proxy, "fr6")
    rows, mdsi_rows = _rows(path), _rows(proxy.quality_csv)
    assert [(r["path"], r["content_id"]) for r in rows] == [(r["path"], r["content_id"]) for r in mdsi_rows]
    fr6 = np.array([float(r["score"]) for r in rows])
    assert fr6.min() == 0 and fr6.max() == 100
    levels = np.array([im.level for im in proxy.images])
    assert fr6[levels == 0].min() > fr6[levels > 0].max()  # every pristine above every distorted image
    # six metrics agree with MDSI on the order of most images, not on all (else fr6 would add nothing)
    rho = spearmanr(fr6, [float(r["score"]) for r in mdsi_rows]).statistic
    assert 0.6 < rho < 1.0
    records = json.loads((proxy.folder / "fullref.json").read_text())["images"]
    assert {"mdsi", "gmsd", "vsi", "haarpsi", "ms_ssim", "fsim"} <= set(records[0])
    stamp = path.stat().st_mtime_ns
    assert target_csv(load_proxy_set(proxy.folder), "fr6") == path and path.stat().st_mtime_ns == stamp  # kept
    with pytest.raises(ProxyError, match="unknown proxy target"):
        target_csv(proxy, "psnr")
    small = load_proxy_set(shutil.copytree(proxy_dir, tmp_path / "small"))  # 80 px: too small for MS-SSIM
    small_fr6 = np.array([float(r["score"]) for r in _rows(target_csv(small, "fr6"))])
    records = json.loads((small.folder / "fullref.json").read_text())["images"]
    assert all(r["ms_ssim"] is None and r["vsi"] is not None for r in records)  # ranked by the other five
    small_levels = np.array([im.level for im in small.images])
    assert small_fr6[small_levels == 0].min() > small_fr6[small_levels > 0].max()


def test_a_proxy_json_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "proxy.json")
    with pytest.raises(ProxyError, match=r"proxy.json: not a readable proxy set \(.*is a named pipe \(FIFO\)"):
        load_proxy_set(tmp_path)  # refused, not waited on


def test_a_proxy_json_larger_than_the_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contrique_training.proxy import make

    monkeypatch.setattr(make, "MAX_PROXY_JSON_BYTES", 10)
    (tmp_path / "proxy.json").write_text('{"format_version": 1}')
    with pytest.raises(ProxyError,
                       match=r"proxy.json: not a readable proxy set \(is 21 bytes, more than the 10 allowed"):
        load_proxy_set(tmp_path)


def _photos(folder: Path, count: int) -> Path:
    """``count`` small noise photos (80x72 PNGs) in ``folder``: p0.png, p1.png, ..."""
    folder.mkdir()
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (72, 80, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
    return folder


def _make(photos: Path, out: Path) -> None:
    make_proxy_set(photos, out, variants_per_photo=1, max_side=64, progress=False)


def test_every_unreadable_photo_is_named_before_anything_is_made(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the first bad photo stopped the run when reached (minutes in), leaving the PNGs of those before it
    photos = _photos(tmp_path / "photos", 3)
    (photos / "notes.png").write_text("not a photo")
    (photos / "q_empty.jpg").write_bytes(b"")
    loaded: list[Path] = []
    monkeypatch.setattr(make, "load_rgb", lambda path: loaded.append(path) or pytest.fail("a photo was decoded"))
    with pytest.raises(DataError) as caught:
        _make(photos, tmp_path / "set")
    assert str(caught.value) == (
        f"{photos}: 2 of 5 photos cannot be read, so nothing was made; mend or remove each and run again: "
        f"(1) {photos / 'notes.png'}: is not an image file in a format contrique-infer reads ({', '.join(image_formats())}); "
        f"remove or replace the file (2) {photos / 'q_empty.jpg'}: is empty (0 bytes); remove or replace the file"
    )
    assert not (tmp_path / "set").exists() and not loaded


def test_a_run_that_fails_later_removes_what_it_made(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", 3)
    whole = (photos / "p1.png").read_bytes()
    (photos / "p1.png").write_bytes(whole[: len(whole) // 2])  # its header passes the check; its pixels do not
    with pytest.raises(DataError, match=r"p1.png: cannot be decoded, the file is truncated or corrupt"):
        _make(photos, tmp_path / "new")
    assert not (tmp_path / "new").exists()  # it made the folder: it is gone
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="p1.png: cannot be decoded"):
        _make(photos, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []  # it was the user's folder: it stays, empty
    (photos / "p1.png").unlink()
    _make(photos, tmp_path / "new")  # the same command again, once the photo is removed
    assert (tmp_path / "new" / "proxy.json").is_file()


def test_an_interrupted_run_removes_what_it_made_and_nothing_else(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    photos, out = _photos(tmp_path / "photos", 3), tmp_path / "set"
    calls: list[int] = []

    def interrupted(distorted: list[Image.Image], pristine: Image.Image) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:  # the first photo's PNGs are written: Ctrl-C at the second
            (out / "notes.txt").write_text("the user's, put there meanwhile")
            raise KeyboardInterrupt
        return mdsi(distorted, pristine)

    monkeypatch.setattr(make, "mdsi", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _make(photos, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # images/ removed; the user's file and so its folder stay


def test_what_cannot_be_removed_is_called_the_failed_runs_leftover(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    photos, out = _photos(tmp_path / "photos", 2), tmp_path / "set"
    whole = (photos / "p1.png").read_bytes()
    (photos / "p1.png").write_bytes(whole[: len(whole) // 2])

    def refused(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(make.shutil, "rmtree", refused)
    with pytest.raises(ProxyError) as caught:
        _make(photos, out)
    assert str(caught.value) == (
        f"{caught.value.__cause__}; {out}: is this failed run's leftover, which could not be removed "
        f"([Errno 13] Permission denied: '{out / 'images'}'); it may be deleted"
    )
    assert isinstance(caught.value.__cause__, DataError) and "p1.png: cannot be decoded" in str(caught.value)
    # the rerun says so too
    (photos / "p1.png").unlink()
    with pytest.raises(ProxyError, match=rf"^{out}: exists and is not an empty folder \(it holds images but no "
                                         r"proxy.json: the leftover of a run that failed or was stopped, which may be "
                                         r"deleted\); choose a new folder or delete it$"):
        _make(photos, out)
    (out / "notes.txt").write_text("not the run's")  # then it may be the user's: no such guess
    with pytest.raises(ProxyError, match=rf"^{out}: exists and is not an empty folder; choose a new folder"):
        _make(photos, out)


def test_a_hand_edited_proxy_json_of_the_wrong_shape_is_refused_by_name(tmp_path: Path) -> None:
    # [] was AttributeError 'list' object has no attribute 'get'; a level of 1e999 (or Infinity) an OverflowError
    record = {"path": "images/a/00-pristine.png", "content_id": "a.png", "distortion": None, "level": 0, "seed": 0,
              "mdsi": 0.0, "quality": 100.0}
    document = {"format_version": 1, "name": "n", "photos": "p", "settings": {}, "images": [record]}
    for text, said in (
        ("[]", "it holds a JSON list, not an object"),
        (json.dumps({**document, "images": {}}), "its images are a JSON dict, not a list"),
        (json.dumps({**document, "images": [[]]}), "an image record is list, not an object"),
        (json.dumps({**document, "images": [{**record, "level": 1e999}]}), "level inf is not an integer"),
        (json.dumps(document).replace('"level": 0', '"level": Infinity'), "level inf is not an integer"),
        (json.dumps({**document, "images": [{**record, "level": True}]}), "level True is not an integer"),
        (json.dumps({**document, "images": [{**record, "quality": "high"}]}), "quality 'high' is not a finite number"),
        (json.dumps({**document, "images": [{**record, "path": 3}]}), "path 3 is not a string"),
    ):
        (tmp_path / "proxy.json").write_text(text)
        with pytest.raises(ProxyError, match=r"proxy.json: not a readable proxy set \(.*" + said.replace("(", r"\(")):
            load_proxy_set(tmp_path)
    (tmp_path / "proxy.json").write_text(json.dumps(document))
    assert load_proxy_set(tmp_path).images[0].level == 0


def test_a_photo_without_one_pristine_image_is_refused_when_read(proxy_dir: Path, tmp_path: Path) -> None:
    # was: StopIteration traceback from target_csv (fr6) on a proxy.json whose photo lost its pristine record
    folder = shutil.copytree(proxy_dir, tmp_path / "set")
    document = json.loads((folder / "proxy.json").read_text())
    photo = document["images"][-1]["content_id"]
    for images, count in (([im for im in document["images"] if im["content_id"] != photo or im["level"] != 0], 0),
                          (document["images"] + [next(im for im in document["images"] if im["content_id"] == photo)],
                           2)):
        (folder / "proxy.json").write_text(json.dumps({**document, "images": images}))
        with pytest.raises(ProxyError, match=re.escape(f"not a readable proxy set (photo {photo!r} has {count} pristine "
                                                       "images (level 0), not one)")):
            load_proxy_set(folder)
