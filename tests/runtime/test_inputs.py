"""Finding images: extensions, folder walks, export/training listings and CLI inputs (contrique_infer.inputs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contrique_infer.errors import LinkLoopError, NoMatchError, ScanError
from contrique_infer.inputs import (
    IMAGE_EXTENSIONS,
    expand_inputs,
    file_url_path,
    is_image_name,
    is_url,
    iter_images,
    list_images,
    lists,
)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """root/{b.png, a.JPG, notes.txt, sub/{c.webp, deeper/d.tif}, sub.png, empty/}"""
    root = tmp_path / "root"
    for rel in ("b.png", "a.JPG", "notes.txt", "sub/c.webp", "sub/deeper/d.tif", "sub.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "empty").mkdir()
    return root


def test_extensions() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".ppm"} <= IMAGE_EXTENSIONS
    assert is_image_name("X.JPEG") and is_image_name("a.b.png") and not is_image_name("notes.txt")
    assert not is_image_name("png")


def test_walks_in_sorted_path_order(tree: Path) -> None:
    flat = list(iter_images(tree))
    assert flat == [str(tree / "a.JPG"), str(tree / "b.png"), str(tree / "sub.png")]
    deep = list(iter_images(tree, recursive=True))
    expected = [tree / "a.JPG", tree / "b.png", tree / "sub/c.webp", tree / "sub/deeper/d.tif", tree / "sub.png"]
    assert deep == [str(p) for p in expected] == [str(p) for p in sorted(expected)]
    assert list_images(tree) == expected and list_images(tree, recursive=False) == expected[:2] + expected[4:]


def test_list_images_refuses_missing_and_imageless_folders(tree: Path) -> None:
    with pytest.raises(ScanError, match="is not a folder"):
        list_images(tree / "b.png")
    with pytest.raises(ScanError, match="is not a folder"):
        list_images(tree / "nowhere")
    with pytest.raises(ScanError, match=r"holds no image files in it or below it \(looked for .*\.jpg"):
        list_images(tree / "empty")


def test_unreadable_folders_and_loops_are_reported_not_raised(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "sub" / "loop").symlink_to(tree, target_is_directory=True)
    real_scandir = os.scandir

    def scandir(path: str):  # noqa: ANN202
        if Path(path).name == "deeper":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(iter_images(tree, recursive=True))
    problems = [i for i in items if isinstance(i, ScanError)]
    assert [(type(p), p.path, p.reason) for p in problems] == [
        (ScanError, str(tree / "sub" / "deeper"), "cannot read directory (Permission denied)"),
        (LinkLoopError, str(tree / "sub" / "loop"), "symbolic link loop: the directory contains itself; skipped"),
    ]
    assert str(tree / "sub.png") in items  # the walk went on
    with pytest.raises(ScanError, match="deeper: cannot read directory"):
        list_images(tree)  # export and training refuse a folder they cannot fully read


def test_a_tree_deeper_than_the_recursion_limit_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree about 1,000 folders deep ended --recursive and ** scans with a RecursionError traceback (one
    generator frame a level), and every result was lost, the images above it too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "top.png").write_bytes(b"x")
    deep = "d"
    for _ in range(1100):  # relative: the absolute path would pass PATH_MAX first (and mkdir(parents=True) recurses)
        os.mkdir(deep)
        deep = os.path.join(deep, "d")
    bottom = os.path.join(os.path.dirname(deep), "bottom.png")
    Path(bottom).write_bytes(b"x")
    try:
        assert list(iter_images(".", recursive=True)) == [os.path.join(".", bottom), os.path.join(".", "top.png")]
        assert list(expand_inputs(["**/*.png"])) == [bottom, "top.png"]  # a pattern's matches in sorted order
    finally:  # pytest's own clean-up of old temporary folders (shutil.rmtree) recurses, and would fail on it
        os.unlink(bottom)
        folder = os.path.dirname(bottom)
        while folder:
            os.rmdir(folder)
            folder = os.path.dirname(folder)


def test_folder_links_to_one_folder_are_walked_once(tmp_path: Path) -> None:
    """Two links to the next folder in each of 12 folders: the one image at the bottom was listed 4,096
    times (2**30 at 30 levels: a scan that never ends); the loop check caught only links to a folder above."""
    for level in range(12):
        (tmp_path / f"L{level}").mkdir()
        for name in ("a", "b"):
            (tmp_path / f"L{level}" / name).symlink_to(tmp_path / f"L{level + 1}", target_is_directory=True)
    (tmp_path / "L12").mkdir()
    (tmp_path / "L12" / "p.png").write_bytes(b"x")
    once = str(tmp_path / "L0" / Path(*(["a"] * 12)) / "p.png")
    assert list(iter_images(tmp_path / "L0", recursive=True)) == [once]
    assert list(expand_inputs([str(tmp_path / "L0" / "**" / "*.png")])) == [once]


def test_list_images_lists_each_file_once_and_passes_over_a_loop(tree: Path) -> None:
    """A photo set of contrique-train, proxy make or contrique-export held one file twice through a link (the
    count in a checkpoint's provenance wrong, one authentic photo a negative of itself), and a folder link
    back to a folder above it stopped the run with a message that said "skipped"."""
    expected = list_images(tree)
    (tree / "0link.png").symlink_to(tree / "b.png")
    os.link(tree / "sub" / "c.webp", tree / "sub" / "hard.webp")
    (tree / "alias").symlink_to(tree / "sub", target_is_directory=True)
    (tree / "sub" / "deeper" / "up").symlink_to(tree, target_is_directory=True)
    (tree / "dangling.png").symlink_to(tree / "nowhere.png")
    listed = list_images(tree)
    assert len(listed) == len(expected) + 1  # the dangling link, for its reader to refuse
    assert len({p.resolve() for p in listed if p.exists()}) == len(listed) - 1
    assert {p.resolve() for p in listed if p.exists()} == {p.resolve() for p in expected}
    assert listed[:2] == [tree / "0link.png", tree / "a.JPG"] and tree / "b.png" not in listed  # the first name


def test_expand_inputs(tree: Path) -> None:
    missing = str(tree / "missing.png")
    items = list(expand_inputs([str(tree / "empty"), str(tree / "sub"), missing, str(tree / "*.png"),
                                str(tree / "*.gif")]))
    assert isinstance(items[0], NoMatchError) and "add --recursive" in items[0].reason
    assert items[1:5] == [str(tree / "sub/c.webp"), missing, str(tree / "b.png"), str(tree / "sub.png")]
    assert isinstance(items[5], NoMatchError) and items[5].reason == "no files match this pattern"
    assert len(items) == 6
    recursive = list(expand_inputs([str(tree / "sub"), str(tree / "**" / "*.tif")], recursive=True))
    assert recursive == [str(tree / "sub/c.webp"), str(tree / "sub/deeper/d.tif"), str(tree / "sub/deeper/d.tif")]


def test_lists_tells_whether_a_file_is_among_the_inputs(tree: Path, tmp_path: Path) -> None:
    b, d = str(tree / "b.png"), str(tree / "sub" / "deeper" / "d.tif")
    (tmp_path / "link.png").symlink_to(tree / "b.png")
    assert lists([b], b) and lists([str(tmp_path / "link.png")], b)  # the same file, however named
    assert lists([os.path.relpath(b)], b) and lists([str(tree / "sub" / ".." / "b.png")], b)
    assert lists([str(tree)], b) and not lists([str(tree)], d) and lists([str(tree)], d, recursive=True)
    assert not lists([str(tree)], str(tree / "notes.txt"))  # scans list image names only
    assert lists([str(tree / "*.png")], b) and lists([str(tree / "**" / "*.tif")], d)
    assert not lists([str(tree / "*.jpg")], b) and not lists([str(tree / "a.JPG")], b)
    assert not lists([b], str(tree / "new.png"))  # a file that does not exist yet is no file argument
    # ... but a scan would meet it once it is written, and a missing file argument is that file
    assert lists([str(tree)], str(tree / "new.png")) and not lists([str(tree)], str(tree / "new.csv"))
    assert lists([str(tree / "gone.jpg")], str(tree / "gone.jpg"))


def test_a_skipped_folder_is_left_out_of_scans(tree: Path) -> None:
    everything = list(expand_inputs([str(tree)], recursive=True))
    assert list(expand_inputs([str(tree)], recursive=True, skip=tree / "sub")) == [
        p for p in everything if not p.startswith(str(tree / "sub") + os.sep)]
    (tree / "alias").symlink_to(tree / "sub")  # by identity: another name for it is left out too
    assert list(iter_images(tree, recursive=True, skip=tree / "sub")) == [
        str(tree / "a.JPG"), str(tree / "b.png"), str(tree / "sub.png")]
    assert list(iter_images(tree, skip=tree / "missing")) == list(iter_images(tree))


def test_a_recursive_pattern_skips_symbolic_link_loops(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "sub" / "again").symlink_to(tree / "sub", target_is_directory=True)  # two loops: 2**40 paths through glob
    (tree / "sub" / "deeper" / "up").symlink_to(tree, target_is_directory=True)
    (tree / "elsewhere").mkdir()
    (tree / "elsewhere" / "e.tif").write_bytes(b"x")
    (tree / "sub" / "side").symlink_to(tree / "elsewhere", target_is_directory=True)  # not a loop, but walked already
    (tree / ".hidden").mkdir()
    (tree / ".hidden" / "h.tif").write_bytes(b"x")
    items = list(expand_inputs([str(tree / "**" / "*.tif")]))
    assert items[:-2] == [str(tree / "elsewhere/e.tif"), str(tree / "sub/deeper/d.tif")]  # e.tif once
    assert [(i.path, i.reason) for i in items[-2:]] == [
        (str(tree / "sub/again"), "symbolic link loop: the directory contains itself; skipped"),
        (str(tree / "sub/deeper/up"), "symbolic link loop: the directory contains itself; skipped"),
    ]
    monkeypatch.chdir(tree)  # relative patterns, and the glob module's rules for hidden names and "**" twice
    assert list(expand_inputs(["**/*.tif"]))[:-2] == ["elsewhere/e.tif", "sub/deeper/d.tif"]
    assert list(expand_inputs(["**/**/*.tif"]))[:3] == ["elsewhere/e.tif", "sub/deeper/d.tif", "sub/side/e.tif"]
    assert list(expand_inputs([".hidden/*.tif", "*/*.webp", "s?b/[c]*"])) == [
        ".hidden/h.tif", "sub/c.webp", "sub/c.webp"]


def test_a_pattern_that_matches_only_folders_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'photos/*' quoted, over a folder of dated subfolders, gave "no files match this pattern", though the
    shell's own expansion of the same pattern (unquoted) scans those folders."""
    for day in ("2024", "2025"):
        (tmp_path / "photos" / day).mkdir(parents=True)
        (tmp_path / "photos" / day / "p.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    [refused] = expand_inputs(["photos/*"])
    assert isinstance(refused, NoMatchError) and refused.path == "photos/*"
    assert refused.reason == ("no files match this pattern, only folders (photos/2024, photos/2025), and a pattern's "
                              "folders are not scanned: give the folders themselves (with --recursive for their "
                              "subfolders), or a pattern of their files such as 'photos/*/*'")
    assert list(expand_inputs(["photos/*/*"])) == ["photos/2024/p.png", "photos/2025/p.png"]  # as the message says
    [nothing] = expand_inputs(["photos/*.jpg"])
    assert nothing.reason == "no files match this pattern"


def test_a_file_url_names_its_local_path_and_is_no_remote_url() -> None:
    """Spark's binaryFile source and input_file_name() write paths as file:/p/a.png: "no such file" said
    nothing of it, and file:///p/a.png was told to be downloaded."""
    cases = {"file:/p/a.png": "/p/a.png", "file:///p/a b.png": "/p/a b.png", "FILE://localhost/p/x%20y.png": "/p/x y.png",
             "file:/p/caf%E9.png": os.fsdecode(b"/p/caf\xe9.png"), "file://host/p/a.png": None, "file:a.png": None,
             "/p/a.png": None, "https://example.com/a.png": None}
    for text, local in cases.items():
        assert file_url_path(text) == local, text
    assert [is_url(text) for text in cases] == [False, False, False, False, True, False, False, True]
