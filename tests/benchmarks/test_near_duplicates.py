"""benchmarks/near_duplicates.py: a benchmark photo that is a training photo saved again is found; other photos
are not; and bench_quality.py refuses such a photo set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import near_duplicates  # noqa: E402


def _picture(seed: int, size: tuple[int, int] = (320, 200)) -> Image.Image:
    """A photo-like image: smooth random shapes (structure at thumbnail scale) plus fine grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 12, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(coarse.filter(ImageFilter.GaussianBlur(3))) + grain, 0, 255)
                           .astype(np.uint8))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    train, bench = tmp_path / "train", tmp_path / "bench"
    train.mkdir()
    bench.mkdir()
    for seed in range(6):
        _picture(seed).save(train / f"t{seed}.png")
    # the training photo 2 saved again: smaller, as a lower-quality JPEG, a little brighter
    again = np.asarray(_picture(2).resize((131, 82), Image.Resampling.LANCZOS)).astype(np.float64) * 1.05
    Image.fromarray(np.clip(again, 0, 255).astype(np.uint8)).save(bench / "again.jpg", quality=60)
    _picture(10).save(bench / "new.png")
    _picture(4).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(bench / "mirrored.png")
    return train, bench


def test_a_training_photo_saved_again_is_the_same_picture_and_other_photos_are_not(folders: tuple[Path, Path]) -> None:
    train, bench = folders
    photos = sorted(bench.iterdir())
    found = near_duplicates.same_pictures(photos, sorted(train.iterdir()))
    assert [(m.photo.name, m.training.name) for m in found] == [("again.jpg", "t2.png")]
    assert near_duplicates.SAME_PICTURE <= found[0].correlation <= 1.0 + 1e-9
    new = near_duplicates.thumbnail(bench / "new.png")
    assert new is not None
    others = [near_duplicates.thumbnail(p) for p in sorted(train.iterdir())]
    assert max(float(new @ t) for t in others if t is not None) < 0.9  # distinct pictures are far below the threshold


def test_mirror_images_are_not_found_as_documented(folders: tuple[Path, Path]) -> None:
    train, bench = folders
    assert near_duplicates.same_pictures([bench / "mirrored.png"], sorted(train.iterdir())) == []


def test_flat_and_unreadable_files_are_left_to_the_benchmark(tmp_path: Path) -> None:
    Image.new("RGB", (64, 48), (120, 120, 120)).save(tmp_path / "grey.png")
    Image.new("RGB", (80, 60), (30, 30, 30)).save(tmp_path / "dark.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert near_duplicates.thumbnail(tmp_path / "grey.png") is None
    assert near_duplicates.thumbnail(tmp_path / "broken.jpg") is None
    # two flat frames are not "the same picture": there is no picture to compare
    assert near_duplicates.same_pictures([tmp_path / "grey.png", tmp_path / "broken.jpg"], [tmp_path / "dark.png"]) == []


def test_thumbnails_are_unit_vectors_without_mean(folders: tuple[Path, Path]) -> None:
    t = near_duplicates.thumbnail(folders[0] / "t0.png")
    assert t is not None and t.shape == (near_duplicates.THUMBNAIL**2,)
    assert abs(float(t.mean())) < 1e-12 and abs(float(np.linalg.norm(t)) - 1.0) < 1e-12


def test_bench_quality_refuses_photos_that_are_training_photos(folders: tuple[Path, Path],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    bench_quality = pytest.importorskip("bench_quality", reason="needs the bench and export extras")
    train, bench = folders
    parser = argparse.ArgumentParser(prog="bench_quality.py")
    with pytest.raises(SystemExit) as exit_info:
        bench_quality.refuse_training_pictures(sorted(bench.iterdir()), train, parser)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "1 of 3 photos are the same picture as a training photo" in message
    assert f"{bench / 'again.jpg'} is {train / 't2.png'}" in message
    # without a training folder the check is skipped, and says so
    bench_quality.refuse_training_pictures(sorted(bench.iterdir()), train / "absent", parser)
    assert "benchmark photos not checked against them" in capsys.readouterr().err
