"""The contrast floor given to a bundle's heads (:mod:`contrique_training.proxy.floor`) and its command."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer import QualityScorer, location
from contrique_infer.bundle import load_bundle
from contrique_training.evaluation.errors import ProtocolError
from contrique_training.evaluation.heads import add_head
from contrique_training.proxy import main
from contrique_training.proxy.errors import ProxyError
from contrique_training.proxy.floor import CONTRAST_NAME, add_contrast_floor


def _washed_out(photo: Image.Image, keep: float) -> Image.Image:
    pixels = np.asarray(photo, dtype=np.float64)
    return Image.fromarray(np.clip(pixels.mean() + (pixels - pixels.mean()) * keep, 0, 255).round().astype(np.uint8))


def _log_contrast(photo: Image.Image) -> float:
    """Statistic 5 of contrique_export.nss at the default model's 512 px contract, in NumPy."""
    small = photo.copy()
    small.thumbnail((512, 512), Image.Resampling.BICUBIC)
    luma = (np.asarray(small, dtype=np.float64) / 255) @ np.array([0.299, 0.587, 0.114])
    return float(np.log(luma.std()))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged default with the floor taken off its heads (v2.4.1's heads)."""
    bundle = shutil.copytree(location.DEFAULT_BUNDLE, tmp_path_factory.mktemp("plain") / "bundle")
    for head in load_bundle(bundle).heads.values():
        if head.floor is not None:
            add_head(bundle, dataclasses.replace(head, floor=None), force=True, make_default=head.name == "quality")
    return bundle


@pytest.fixture(scope="module")
def floored(plain: Path, photos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """That bundle with a floor measured on three training photos."""
    root = tmp_path_factory.mktemp("floor")
    bundle = shutil.copytree(plain, root / "bundle")
    photos = root / "photos"
    photos.mkdir()
    for path in sorted((photos_dir / "train" / "mate-backgrounds").iterdir())[:3]:
        Image.open(path).convert("RGB").save(photos / f"{path.stem}.png")
    report = add_contrast_floor(bundle, photos, rate=2.0, variant="fp32")
    return bundle, photos, report


def test_the_floor_is_the_lowest_contrast_of_the_photos_and_fades_below_it(plain: Path,
                                                                           floored: tuple[Path, Path, dict]) -> None:
    bundle, photos, report = floored
    contrasts = {p.name: _log_contrast(Image.open(p).convert("RGB")) for p in sorted(photos.iterdir())}
    lowest = min(contrasts, key=contrasts.__getitem__)
    assert report["floor"] == pytest.approx(contrasts[lowest], abs=2e-3)  # the graph's float32 statistic
    assert Path(report["lowest_photo"]).name == lowest and report["photos"] == 3 and report["index"] == 53
    assert report["floor_std"] == pytest.approx(np.exp(report["floor"]))
    loaded = load_bundle(bundle)  # every hash checked, the rewritten heads' included
    unfloored = load_bundle(plain)
    assert loaded.manifest.default_head == "quality" and loaded.heads["rank"].floor is None
    for name in ("quality", "level"):
        head, before = loaded.heads[name], unfloored.heads[name]
        assert before.floor is None
        assert (head.floor.index, head.floor.value, head.floor.rate, head.floor.name) == (
            53, report["floor"], 2.0, CONTRAST_NAME)
        assert head.coef.tobytes() == before.coef.tobytes() and head.fade == before.fade
        assert head.format_version == 5 and "Below the lowest global contrast" in head.info.description

    floored_scorer = QualityScorer.from_pretrained(bundle, variant="fp32")
    plain_scorer = QualityScorer.from_pretrained(plain, variant="fp32")
    photo = Image.open(sorted(photos.iterdir())[0]).convert("RGB")
    keep = float(np.exp(report["floor"] - _log_contrast(photo))) / 4  # a quarter of the floor's contrast
    versions = [photo, _washed_out(photo, keep)]
    old, new = plain_scorer.score_many(versions), floored_scorer.score_many(versions)
    assert new[0].score == old[0].score and new[0].note is None  # above the floor: nothing changes
    assert new[1].score == pytest.approx(old[1].score / 16, rel=0.05)  # a quarter of the contrast keeps 1/16
    assert "global contrast" in new[1].note and "worst end" in new[1].note and old[1].note is None
    level = floored_scorer.score(versions[1], head="level")
    assert level == pytest.approx(5 - (5 - plain_scorer.score(versions[1], head="level")) / 16, rel=0.05)


def test_a_floor_needs_statistics_a_proxy_head_and_a_positive_rate(floored: tuple[Path, Path, dict],
                                                                   tiny_bundle_dir: Path, tmp_path: Path) -> None:
    bundle, photos, _ = floored
    before = (bundle / "contrique.json").read_bytes()
    with pytest.raises(ProxyError, match="no natural-scene statistics"):
        add_contrast_floor(shutil.copytree(tiny_bundle_dir, tmp_path / "tiny"), photos, heads=["quality"])
    with pytest.raises(ProxyError, match="head 'rank' cannot take a floor"):
        add_contrast_floor(bundle, photos, heads=["rank"])
    with pytest.raises(ProxyError, match="rate must be a finite number above 0; got 0"):
        add_contrast_floor(bundle, photos, rate=0.0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"not a png")
    shutil.copy(next(photos.iterdir()), tmp_path / "bad" / "b.png")
    with pytest.raises(ProxyError, match=r"1 of 2 photos failed, the first .*a\.png"):
        add_contrast_floor(bundle, tmp_path / "bad")
    assert (bundle / "contrique.json").read_bytes() == before  # nothing written
    with pytest.raises(ProtocolError, match="packaged"):
        add_contrast_floor(location.DEFAULT_BUNDLE, tmp_path / "bad")  # before any photo is read


def test_cli_floor(plain: Path, floored: tuple[Path, Path, dict], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    _, photos, report = floored
    bundle = shutil.copytree(plain, tmp_path / "bundle")
    assert main(["floor", "--bundle", str(bundle), "--photos", str(photos), "--rate", "3", "--head", "quality",
                 "--variant", "fp32"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (result["floor"], result["rate"], result["heads"]) == (report["floor"], 3.0, ["quality"])
    assert "given to quality" in err
    heads = load_bundle(bundle).heads
    assert heads["quality"].floor.rate == 3.0 and heads["level"].floor is None
    assert main(["floor", "--bundle", str(bundle), "--photos", str(photos), "--rate", "0"]) == 2
    assert "--rate" in capsys.readouterr().err
