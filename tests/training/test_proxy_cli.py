"""``python -m contrique_training.proxy`` (:mod:`contrique_training.proxy.cli`) and the package's names."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from broken_stderr import broken_stderrs
from PIL import Image

import contrique_training.proxy
from contrique_infer.bundle import load_bundle
from contrique_infer.manifest import Manifest
from contrique_training.proxy.cli import main


def test_package_exports_its_public_names() -> None:
    proxy = contrique_training.proxy
    assert all(hasattr(proxy, name) for name in proxy.__all__)
    assert {"make_proxy_set", "load_proxy_set", "add_proxy_heads", "ProxySet", "ProxyImage", "ProxyError", "mdsi",
            "mdsi_to_quality", "Standardiser", "PROXY_ALPHAS", "QUALITY_SCALE", "main"} <= set(proxy.__all__)


def test_cli_make_and_heads(skimage_dir: Path, tiny_bundle_dir: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "set"
    assert main(["make", "--data", str(skimage_dir), "--out", str(out), "--variants", "3", "--max-side", "72",
                 "--quiet"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["counts"]["images"] == 5 * 4 and made["folder"] == str(out)
    assert main(["make", "--data", str(skimage_dir), "--out", str(out), "--quiet"]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["make", "--data", str(skimage_dir), "--out", str(tmp_path / "alt"), "--variants", "3",
                 "--max-side", "72", "--alt-fraction", "1", "--block-fraction", "1", "--contrast-fraction", "1",
                 "--quiet"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert settings["alt_fraction"] == settings["block_fraction"] == settings["contrast_fraction"] == 1.0
    assert main(["make", "--data", str(skimage_dir), "--out", str(tmp_path / "bad"), "--alt-fraction", "1.5"]) == 2
    assert "expected a number from 0 to 1, got '1.5'" in capsys.readouterr().err
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    args = ["heads", "--bundle", str(bundle), "--proxy", str(out), "--splits", "2", "--folds", "2", "--no-cache",
            "--quiet", "--default", "level"]
    assert main(args) == 1 and "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["default_head"] == "level" and "SRCC" in captured.err
    assert Manifest.load(bundle).default_head == "level"
    assert main([*args, "--folds", "1"]) == 2
    assert main([*args, "--force", "--group-weight", "pixels=1"]) == 2  # usage: no such group
    assert "learned, statistics, squares, products" in capsys.readouterr().err
    assert main([*args, "--force", "--group-weight", "products=0.3"]) == 1  # the tiny encoder has no products
    assert "has no products columns" in capsys.readouterr().err
    assert main([*args, "--force", "--group-weight", "learned=0.5"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["group_weights"] == {"learned": 0.5} and (made["feature_clip"], made["fade"]) == ("box", [2.0, 4.0])
    assert main([*args, "--force", "--feature-clip", "ray", "--fade", "1.5", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["fade"] == [1.5, 4.0] and load_bundle(bundle).heads["level"].fade == (1.5, 4.0)
    assert main([*args, "--force", "--no-fade"]) == 0
    assert json.loads(capsys.readouterr().out)["fade"] is None and load_bundle(bundle).heads["level"].fade is None
    assert main([*args, "--force", "--fade", "0.5", "2"]) == 2
    assert "--fade: the fade must start at a finite range distance of at least 1 (the range's edge); got 0.5" in (
        capsys.readouterr().err)
    assert main([*args, "--force", "--also-max-side", "64"]) == 0  # the 72 px images again at 64 px
    heads = json.loads(capsys.readouterr().out)
    assert heads["also_max_side"] == [64] and heads["images"] == 2 * 5 * 4
    # its 5 x 6 images (one block and one contrast version each) join
    assert main([*args, "--force", "--also-proxy", str(tmp_path / "alt")]) == 0
    heads = json.loads(capsys.readouterr().out)
    assert heads["also_proxy"] == [str(tmp_path / "alt")] and heads["images"] == 5 * 4 + 5 * 6 and heads["photos"] == 5
    assert main([*args, "--force", "--also-proxy", str(tmp_path / "bad")]) == 1
    assert "bad" in capsys.readouterr().err
    assert main([*args, "--force", "--also-max-side", "8"]) == 2
    assert "argument --also-max-side: expected an integer of at least 64" in capsys.readouterr().err
    assert main([*args, "--force", "--blend", "both=1"]) == 2  # usage: not a part
    assert "PART one of nss, learned" in capsys.readouterr().err
    assert main([*args, "--force", "--blend", "nss=0.25"]) == 1  # the tiny encoder has no statistics
    assert "has no statistics" in capsys.readouterr().err
    # as if the tiny encoder's first 3 channels of each scale were statistics
    split = {"nss": np.r_[0:3, 8:11], "learned": np.r_[3:8, 11:16], "both": np.arange(16)}
    monkeypatch.setattr(contrique_training.proxy.heads, "feature_parts", lambda manifest: split)
    assert main([*args, "--force", "--blend", "nss=0.25"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["blend"] == {"nss": 0.25}
    assert "quality: blend of both 0." in captured.err and "out-of-fold SRCC" in captured.err
    assert main(["heads", "--bundle", str(bundle)]) == 2


def test_make_refuses_a_seed_numpy_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --seed -1 was a ValueError traceback ("expected non-negative integer") after the first photo
    assert main(["make", "--data", str(tmp_path), "--out", str(tmp_path / "set"), "--seed", "-1"]) == 2
    assert "argument --seed: expected an integer from 0 to 4294967295, got '-1'" in capsys.readouterr().err
    assert not (tmp_path / "set").exists()


def test_make_names_every_bad_photo_at_once_and_leaves_no_folder(skimage_dir: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # exit 1 at the first bad photo reached, a half-made --out left behind, and the rerun refused it as not empty
    photos, out = tmp_path / "photos", tmp_path / "set"
    photos.mkdir()
    for name in ("astronaut.png", "rocket.jpg"):
        shutil.copy(skimage_dir / name, photos / name)
    (photos / "c.png").write_text("x")
    (photos / "d.jpg").write_bytes(b"")
    args = ["make", "--data", str(photos), "--out", str(out), "--variants", "1", "--max-side", "64", "--quiet"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(
        f"python -m contrique_training.proxy: error: {photos}: 2 of 4 photos cannot be read, so nothing was made; "
        f"mend or remove each and run again: (1) {photos / 'c.png'}: is not an image file")
    assert f"(2) {photos / 'd.jpg'}: is empty (0 bytes); remove or replace the file\n" in captured.err
    assert not out.exists()
    (photos / "c.png").unlink()
    (photos / "d.jpg").unlink()
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["counts"]["images"] == 2 * 2


def test_make_refuses_unusable_out_folders_and_sides_before_any_work(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # --out under a file was a traceback, then "leftover could not be removed"; a 300-byte name an OSError
    # traceback; --max-side 8 exit 1 with a message about five settings
    (tmp_path / "tiny.pt").write_text("x")
    base = ["make", "--data", str(tmp_path / "none")]  # no photos: exit 1 if the run got that far
    for extra, said in ((["--out", str(tmp_path / "tiny.pt" / "sub")], "(Not a directory); choose another --out"),
                        (["--out", str(tmp_path / ("x" * 300))], "(File name too long); choose another --out"),
                        (["--out", str(tmp_path / "set"), "--max-side", "8"],
                         "argument --max-side: expected an integer of at least 64 (pixels), got '8'")):
        assert main(base + extra) == 2
        assert said in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt"]


def test_make_terminated_by_sigterm_removes_what_it_made(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # SIGTERM (a timeout) killed the run and left its images/ folder behind
    photos, out = tmp_path / "photos", tmp_path / "set"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    monkeypatch.setattr(contrique_training.proxy.make, "mdsi", lambda distorted, pristine: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["make", "--data", str(photos), "--out", str(out), "--variants", "1", "--max-side", "64",
                 "--quiet"]) == 143
    assert capsys.readouterr().err == "python -m contrique_training.proxy: terminated\n"
    assert not out.exists() and signal.getsignal(signal.SIGTERM) is previous


@broken_stderrs
def test_a_stderr_that_cannot_be_written_stops_no_command(tmp_path: Path, tiny_bundle_dir: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, stderr: object) -> None:
    """make's and heads' progress bars and the heads' lines are best-effort, as contrique-train's: a full
    stderr (``2>/dev/full``) ended either with exit 1 (heads: after it had added the heads to the bundle),
    and a closed one (``2>&-``) ended make at its bar, and sent the heads' lines to stdout before their JSON."""
    photos, out = tmp_path / "photos", tmp_path / "set"
    photos.mkdir()
    for i in range(5):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    bundle = shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["make", "--data", str(photos), "--out", str(out), "--variants", "3", "--max-side", "64"]) == 0
    made = capsys.readouterr().out
    assert main(["heads", "--bundle", str(bundle), "--proxy", str(out), "--target", "fr6", "--splits", "2", "--folds",
                 "2", "--no-cache", "--force"]) == 0  # with the bars of the six metrics and of the features
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert json.loads(made)["counts"]["images"] == 5 * 4
    assert json.loads(captured.out)["heads"].keys() == {"quality", "level"} and captured.err == ""
    assert {"quality", "level"} <= load_bundle(bundle).heads.keys()
