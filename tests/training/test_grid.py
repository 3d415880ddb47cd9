"""``contrique-distortions``: the labelled grid of every type and level."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from broken_stderr import broken_stderrs, broken_stdouts
from PIL import Image

from contrique_training.distortions import distort_image
from contrique_training.grid import main, square


def test_grid_has_every_type_and_level(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).resize((50, 60)).save(photo)
    out = tmp_path / "grid.png"
    assert main([str(photo), "-o", str(out), "--size", "32"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    grid = Image.open(out)
    assert grid.size == (270 + 6 * 32, 26 + 25 * 32)
    tile = square(Image.open(photo).convert("RGB"), 32)
    # row 11 (white noise), level 3 is that distortion of the tile
    expected = np.asarray(distort_image(tile, "white_noise", 3, "kadid", seed=0))
    cell = np.asarray(grid.convert("RGB"))[26 + 10 * 32 : 26 + 11 * 32, 270 + 3 * 32 : 270 + 4 * 32]
    assert np.array_equal(cell, expected)


def test_grid_errors(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.png"), "-o", str(tmp_path / "g.png")]) == 1
    assert main([str(tmp_path / "missing.png")]) == 2
    assert main([str(tmp_path / "missing.png"), "-o", "g.png", "--size", "4"]) == 2


def test_grid_refuses_seeds_and_tile_sizes_out_of_range(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40)).save(photo)
    out = str(tmp_path / "g.png")
    # a seed torch refuses was a ValueError traceback; a 40000 px tile a MemoryError (a 2.6 TB grid)
    for args, said in ((["--seed", str(2**64)], f"argument --seed: expected an integer from 0 to {2**32 - 1}"),
                       (["--seed", "-1"], "argument --seed: expected an integer from 0"),
                       (["--size", "40000"], "--size must be from 16 to 1024")):
        assert main([str(photo), "-o", out, *args]) == 2
        assert said in capsys.readouterr().err
    assert not Path(out).exists()


def test_grid_refuses_to_overwrite_the_photo_and_other_formats(tmp_path: Path, capsys) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), "red").save(photo)
    before = photo.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    # -o the photo (or a link to it) replaced the photo with the grid; -o x.jpg wrote PNG bytes to it
    for out, said in ((photo, "is the photo"), (link, "is the photo"), (tmp_path / "g.jpg", "ending in .png")):
        assert main([str(photo), "-o", str(out), "--size", "16"]) == 2
        assert said in capsys.readouterr().err
    assert photo.read_bytes() == before and not (tmp_path / "g.jpg").exists()


def test_grid_keeps_a_linked_output_a_link(tmp_path: Path) -> None:
    photo, target, link = tmp_path / "photo.png", tmp_path / "target.png", tmp_path / "link.png"
    Image.new("RGB", (40, 40)).save(photo)
    link.symlink_to(target)
    assert main([str(photo), "-o", str(link), "--size", "16"]) == 0
    assert link.is_symlink() and Image.open(target).format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "photo.png", "target.png"]


@broken_stderrs
def test_a_stderr_that_cannot_be_written_sends_nothing_to_stdout(tmp_path: Path, capsys, monkeypatch,
                                                                 stderr: object) -> None:
    """With stderr closed (``2>&-``) a usage error's usage line went to stdout, where the grid's name goes;
    the exit codes are those of a working stderr."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40)).save(photo)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main([str(photo), "-o", str(tmp_path / "g.jpg"), "--size", "16"]) == 2  # fail(..., parser)
    assert main([str(photo), "-o", str(tmp_path / "g.png"), "--size", "x"]) == 2  # argparse's own
    assert main([str(tmp_path / "missing.png"), "-o", str(tmp_path / "g.png"), "--size", "16"]) == 1
    assert main([str(photo), "-o", str(tmp_path / "g.png"), "--size", "16"]) == 0
    monkeypatch.undo()
    assert capsys.readouterr() == (f"{tmp_path / 'g.png'}\n", "")


@broken_stdouts
def test_a_stdout_that_fails_ends_the_command_quietly_with_the_grid_written(tmp_path: Path, capsys, monkeypatch,
                                                                           stdout: object) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40)).save(photo)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main([str(photo), "-o", str(tmp_path / "g.png"), "--size", "16"]) == 1
    monkeypatch.undo()
    assert capsys.readouterr().err.startswith("contrique-distortions: error: cannot write the results to stdout (")
    assert Image.open(tmp_path / "g.png").size[0] > 16
