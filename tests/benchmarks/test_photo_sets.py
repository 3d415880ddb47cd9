"""benchmarks/photo_sets.py: the shipped manifests, and rebuilding a set from tiny .deb files made here (offline)."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "photo_sets.py"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None,
                                reason="dpkg-deb (Debian's dpkg) is not installed: these tests build .deb files")


def _load() -> ModuleType:
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_photo_sets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ps = _load()


@pytest.mark.parametrize(("name", "rows"), [("second", 14), ("third", 19)])
def test_shipped_manifests(name: str, rows: int) -> None:
    path = ps.MANIFESTS[name]
    assert path.read_text().splitlines()[0].split("\t") == list(ps.COLUMNS)
    photos = ps.read_manifest(path)
    files = [photo.file for photo in photos]
    assert len(photos) == rows
    assert len(set(files)) == rows
    assert files == sorted(files)
    assert all(re.fullmatch(r"[0-9a-f]{64}", photo.sha256) for photo in photos)
    assert all(photo.path_in_package.startswith("/usr/share/") and photo.license for photo in photos)


def test_manifest_rows_are_validated(tmp_path: Path) -> None:
    good = {"file": "a.png", "package": "p", "version": "1", "path_in_package": "/usr/share/p/a.png",
            "sha256": "0" * 64, "width_x_height": "8x6", "license": "CC0-1.0"}
    assert ps.Photo.from_dict(good).member == "usr/share/p/a.png"
    for key, value in [("sha256", "ABC"), ("file", "sub/a.png"), ("path_in_package", "usr/a.png"),
                       ("width_x_height", "8 x 6"), ("license", "")]:
        with pytest.raises(ValueError, match=key):
            ps.Photo.from_dict({**good, key: value})
    manifest = tmp_path / "m.tsv"
    _write_manifest(manifest, [good, good])
    with pytest.raises(ps.PhotoSetError, match="line 3: file a.png is listed twice"):
        ps.read_manifest(manifest)


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ps.main([]) == 2
    assert ps.main(["fourth", "--out", str(tmp_path / "out")]) == 2
    assert ps.main(["second", "--out", str(tmp_path / "out"), "--debs", str(tmp_path / "none")]) == 2
    assert "--debs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path.read_bytes()


def _build_deb(root: Path, package: str, version: str, files: dict[str, bytes], out: Path) -> Path:
    """A .deb of ``files`` (path under the root: bytes), named as apt-get names it, in ``out``."""
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: Tests <tests@example.org>\n"
        f"Description: photos for tests/benchmarks/test_photo_sets.py\n")
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{package}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    lines = ["\t".join(ps.COLUMNS)] + ["\t".join(row[c] for c in ps.COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _row(file: str, package: str, version: str, path: str, data: bytes) -> dict[str, str]:
    return {"file": file, "package": package, "version": version, "path_in_package": path,
            "sha256": hashlib.sha256(data).hexdigest(), "width_x_height": "8x6", "license": "CC0-1.0"}


@dataclass(frozen=True)
class Debs:
    """Two packages: ``psets-a`` (1.0-1: a.png, b.png) in :attr:`dir`; ``psets-b`` (2:0.5-1: c.png) in ``mirror``."""

    dir: Path
    mirror: Path
    rows: dict[str, dict[str, str]]  # file: its manifest row
    data: dict[str, bytes]  # file: its bytes


@pytest.fixture()
def debs(tmp_path: Path) -> Debs:
    """The packages of :class:`Debs`, built with dpkg-deb."""
    a = _png(tmp_path / "src" / "a.png", (8, 6), (200, 30, 30))
    b = _png(tmp_path / "src" / "b.png", (5, 4), (30, 200, 30))
    c = _png(tmp_path / "src" / "c.png", (7, 3), (30, 30, 200))
    _build_deb(tmp_path / "pkg-a", "psets-a", "1.0-1",
               {"usr/share/psets/a.png": a, "usr/share/psets/sub/b.png": b}, tmp_path / "debs")
    _build_deb(tmp_path / "pkg-b", "psets-b", "2:0.5-1", {"usr/share/psets-b/c.png": c}, tmp_path / "mirror")
    rows = {
        "a.png": _row("a.png", "psets-a", "1.0-1", "/usr/share/psets/a.png", a),
        "b.png": _row("b.png", "psets-a", "1.0-1", "/usr/share/psets/sub/b.png", b),
        "c.png": _row("c.png", "psets-b", "2:0.5-1", "/usr/share/psets-b/c.png", c),
    }
    return Debs(tmp_path / "debs", tmp_path / "mirror", rows, {"a.png": a, "b.png": b, "c.png": c})


def _no_download(package: str, version: str, folder: Path) -> None:
    raise AssertionError(f"downloaded {package}={version}")


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rows: list[dict[str, str]], debs: Path) -> int:
    manifest = tmp_path / "second.tsv"
    _write_manifest(manifest, rows)
    monkeypatch.setitem(ps.MANIFESTS, "second", manifest)
    monkeypatch.setattr(ps, "apt_download", _no_download)
    return ps.main(["second", "--out", str(tmp_path / "out"), "--debs", str(debs)])


@needs_dpkg
def test_extracts_verifies_and_skips_on_rerun(debs: Debs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = [debs.rows["a.png"], debs.rows["b.png"]]
    assert _run(monkeypatch, tmp_path, rows, debs.dir) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # no .part left
    for name in ("a.png", "b.png"):
        assert (out / name).read_bytes() == debs.data[name]
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"a.png\t{len(debs.data['a.png'])}\tCC0-1.0",
                                         f"b.png\t{len(debs.data['b.png'])}\tCC0-1.0"]
    assert "2 of 2 photos" in captured.err

    def no_extract(*args: object) -> None:
        raise AssertionError("extracted again")

    monkeypatch.setattr(ps, "extract", no_extract)
    assert _run(monkeypatch, tmp_path, rows, debs.dir) == 0
    err = capsys.readouterr().err
    assert "a.png already there (sha256 verified), skipped" in err and "b.png already there" in err


@needs_dpkg
def test_wrong_hash_fails_that_photo_only(debs: Debs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{**debs.rows["a.png"], "sha256": "f" * 64}, debs.rows["b.png"]]
    assert _run(monkeypatch, tmp_path, rows, debs.dir) == 1
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["b.png"]
    assert (out / "b.png").read_bytes() == debs.data["b.png"]
    captured = capsys.readouterr()
    assert re.search(r"error: a\.png \(psets-a=1\.0-1\): sha256 mismatch", captured.err)
    assert "1 of 2 photos" in captured.err
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == ["b.png"]


@needs_dpkg
def test_missing_member_is_reported(debs: Debs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = [debs.rows["a.png"], {**debs.rows["b.png"], "path_in_package": "/usr/share/psets/gone.png"}]
    assert _run(monkeypatch, tmp_path, rows, debs.dir) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    err = capsys.readouterr().err
    assert "error: b.png (psets-a=1.0-1): missing member: /usr/share/psets/gone.png is not in psets-a_1.0-1_all.deb" \
        in err


@needs_dpkg
def test_downloads_only_missing_packages(debs: Debs, tmp_path: Path) -> None:
    calls: list[tuple[str, str, Path]] = []

    def download(package: str, version: str, folder: Path) -> None:
        calls.append((package, version, folder))
        for deb in debs.mirror.glob(f"{package}_*.deb"):
            shutil.copy(deb, folder)

    photos = [ps.Photo.from_dict(row) for row in debs.rows.values()]
    outcomes = ps.fetch_set(photos, tmp_path / "out", debs.dir, download=download, log=lambda line: None)
    assert [(o.photo.file, o.ok) for o in outcomes] == [("a.png", True), ("b.png", True), ("c.png", True)]
    assert calls == [("psets-b", "2:0.5-1", debs.dir)]
    assert (debs.dir / "psets-b_2%3a0.5-1_all.deb").is_file()
    assert (tmp_path / "out" / "c.png").read_bytes() == debs.data["c.png"]


def test_failed_download_fails_its_photos(tmp_path: Path) -> None:
    def refuse(package: str, version: str, folder: Path) -> None:
        raise ps.PhotoSetError(f"apt-get download {package}={version} failed")

    photo = ps.Photo.from_dict(_row("c.png", "psets-b", "2:0.5-1", "/usr/share/psets-b/c.png", b"c"))
    (tmp_path / "debs").mkdir()
    [outcome] = ps.fetch_set([photo], tmp_path / "out", tmp_path / "debs", download=refuse, log=lambda line: None)
    assert not outcome.ok and outcome.reason == "apt-get download psets-b=2:0.5-1 failed"
    [outcome] = ps.fetch_set([photo], tmp_path / "out", tmp_path / "debs", download=lambda *a: None,
                             log=lambda line: None)
    assert not outcome.ok and "no psets-b_2%3a0.5-1_*.deb in" in outcome.reason
