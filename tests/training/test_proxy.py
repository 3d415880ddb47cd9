"""Proxy sets (MDSI of distorted photos) and the quality/level heads fitted on them."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer.bundle import load_bundle
from contrique_infer.manifest import Manifest
from contrique_infer.scorer import QualityScorer
from contrique_training.distortions import CHAIN_TYPES, LEVELS, SERIES_TYPES, WIDE_TYPES, distort_image
from contrique_training.evaluation.datasets import read_csv
from contrique_training.evaluation.errors import HeadExistsError
from contrique_training.evaluation.protocol import ProtocolConfig
from contrique_training.evaluation.ridge import fit_ridge
from contrique_training.proxy import (
    MDSI_MAX,
    PROXY_ALPHAS,
    ProxyError,
    add_proxy_heads,
    assignments,
    load_proxy_set,
    main,
    make_proxy_set,
    mdsi,
    mdsi_to_quality,
    prepare_photo,
)

VARIANTS = 5
SIDE = 80
CONFIG = ProtocolConfig(splits=2, folds=2, alphas=PROXY_ALPHAS)


@pytest.fixture(scope="module")
def skimage_dir(photos_dir: Path) -> Path:
    return photos_dir / "val" / "skimage"  # 5 photos: tests only, never for a shipped head


@pytest.fixture(scope="module")
def proxy_dir(skimage_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("proxy") / "set"
    make_proxy_set(skimage_dir, folder, variants_per_photo=VARIANTS, max_side=SIDE, seed=3, progress=False)
    return folder


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


def test_add_proxy_heads_fits_loads_and_becomes_default(proxy_dir: Path, tiny_bundle_dir: Path,
                                                       tmp_path: Path) -> None:
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    with pytest.raises(HeadExistsError, match="quality"):  # the tiny bundle has a head 'quality'
        add_proxy_heads(bundle, proxy_dir, config=CONFIG, cache_dir=None, progress=False)
    assert Manifest.load(bundle) == Manifest.load(tiny_bundle_dir)
    with pytest.raises(ProxyError, match="default head"):
        add_proxy_heads(bundle, proxy_dir, default="fr_quality", force=True, cache_dir=None, progress=False)

    report = add_proxy_heads(bundle, proxy_dir, force=True, config=CONFIG, cache_dir=None, progress=False)
    loaded = load_bundle(bundle)  # every hash checked, the new heads' included
    assert loaded.manifest.default_head == report["default_head"] == "quality"
    assert set(loaded.heads) == {"quality", "level", "fr_quality"}
    quality, level = loaded.heads["quality"].info, loaded.heads["level"].info
    assert (quality.kind, quality.dataset, quality.score_scale, quality.higher_is_better) == (
        "nr", "proxy-mdsi-val-skimage", "0-100", True)
    assert (level.kind, level.dataset, level.score_scale, level.higher_is_better) == (
        "nr", "proxy-mdsi-val-skimage", "0-5 (distortion level)", False)
    assert "higher is WORSE" in level.description and "MDSI" in quality.description

    scorer = QualityScorer.from_pretrained(bundle)
    data = {n: read_csv(proxy_dir / f"{n}.csv") for n in ("quality", "level")}
    x = np.stack([scorer.features(p) for p in data["quality"].paths]).astype(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)  # the tiny encoder has no constant feature
    assert report["images"] == len(x) and report["photos"] == 5 and report["feature_dim"] == x.shape[1]
    for name in ("quality", "level"):
        entry = report["heads"][name]
        assert entry["alpha"] in PROXY_ALPHAS and loaded.heads[name].alpha == entry["alpha"]
        assert set(entry["cv"]) == {"srcc", "plcc", "rmse"} and len(entry["cv_splits"]) == CONFIG.splits
        head, targets = loaded.heads[name], data[name].scores
        np.testing.assert_array_equal(head.feature_range[0], x.min(axis=0))  # fitted on these features
        np.testing.assert_array_equal(head.feature_range[1], x.max(axis=0))
        assert head.score_range == (min(targets), max(targets))
        expected = np.clip(fit_ridge(z, targets, entry["alpha"]).predict(z), min(targets), max(targets))
        np.testing.assert_allclose(head(x), expected, rtol=1e-8, atol=1e-8)
        far = head(x[:1] * 0 + x.min(axis=0) - 1e6)  # far outside the fitted range: no extrapolation
        assert min(targets) <= float(far[0]) <= max(targets)
        assert float(far[0]) == pytest.approx(float(head(x.min(axis=0))))

    assert scorer.head is not None and scorer.head.name == "quality"
    image = Image.open(data["quality"].paths[1])
    assert scorer.score(image) == pytest.approx(float(loaded.heads["quality"](scorer.features(image))), rel=1e-9)
    assert scorer.score(image, head="level") == pytest.approx(float(loaded.heads["level"](scorer.features(image))))


def test_cli_make_and_heads(skimage_dir: Path, tiny_bundle_dir: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    assert main(["make", "--data", str(skimage_dir), "--out", str(out), "--variants", "3", "--max-side", "72",
                 "--quiet"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["counts"]["images"] == 5 * 4 and made["folder"] == str(out)
    assert main(["make", "--data", str(skimage_dir), "--out", str(out), "--quiet"]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    args = ["heads", "--bundle", str(bundle), "--proxy", str(out), "--splits", "2", "--folds", "2", "--no-cache",
            "--quiet", "--default", "level"]
    assert main(args) == 1 and "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["default_head"] == "level" and "SRCC" in captured.err
    assert Manifest.load(bundle).default_head == "level"
    assert main([*args, "--folds", "1"]) == 2
    assert main(["heads", "--bundle", str(bundle)]) == 2
