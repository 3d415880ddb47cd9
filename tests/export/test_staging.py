"""The staging folder and its publication (:mod:`contrique_export.staging`): which outputs are refused
before any work, and that no failure, however late, leaves anything behind (the tiny bundle, no torch)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from contrique_export.errors import ExportError
from contrique_export.staging import Steps, check_output, publish, staging_folder
from contrique_infer.manifest import Manifest


@pytest.mark.parametrize("name", [".", "..", "", "sub/..", "/"])
def test_the_current_parent_or_root_folder_is_refused(tmp_path, monkeypatch, name):
    # `--out .` in an empty folder did the whole export, then failed to move it there (OSError: Invalid argument)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    with pytest.raises(ExportError, match="is the current, the parent or the root folder, which the bundle cannot "
                                          "replace; name a new folder"):
        check_output(Path(name))


def test_symbolic_links_are_refused(tmp_path):
    # a link to an empty folder, and a dangling one, failed after the export with NotADirectoryError
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    for link, target in (("link", "target"), ("dangling", "nowhere/x")):
        with pytest.raises(ExportError, match=f"{link}: is a symbolic link; name the folder itself "
                                              f"\\({tmp_path / target}\\) or a new one"):
            check_output(tmp_path / link)
    check_output(tmp_path / "target")  # empty: accepted
    check_output(tmp_path / "new")


def test_a_folder_that_cannot_be_created_is_refused_before_the_work(tmp_path):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    with pytest.raises(ExportError, match=r"out: cannot create a folder next to it \(.*\); choose an output folder"):
        with staging_folder(tmp_path / "file.txt" / "out"):
            pytest.fail("the block must not run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_failure_removes_the_staging_folder_and_the_parents_it_created(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with staging_folder(tmp_path / "new" / "sub" / "out") as staging:
            assert staging.parent == tmp_path / "new" / "sub" and staging.name.startswith(".out.partial-")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_an_output_that_gains_a_file_during_the_export_is_left_as_it_is(tiny_bundle_dir, tmp_path):
    # was: OSError: [Errno 39] Directory not empty, after the whole export
    out = tmp_path / "out"
    out.mkdir()  # empty when the export starts: accepted
    check_output(out)
    with pytest.raises(ExportError, match=r"out: cannot move the finished bundle there \(Directory not empty\); it "
                                          r"changed during the export .*nothing was written: choose a new output"):
        with staging_folder(out) as staging:
            shutil.copytree(tiny_bundle_dir, staging, dirs_exist_ok=True)
            (out / "notes.txt").write_text("user data")  # another program, during the export
            publish(staging, out, Manifest.load(staging), image_sets={}, notes="", log=Steps(False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_publish_moves_the_bundle_into_an_empty_folder(tiny_bundle_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with staging_folder(out) as staging:
        shutil.copytree(tiny_bundle_dir, staging, dirs_exist_ok=True)
        publish(staging, out, Manifest.load(staging), image_sets={}, notes="", log=Steps(False))
    assert (out / "README.md").is_file() and os.listdir(tmp_path) == ["out"]


def test_staging_folders_left_by_a_killed_export_are_named(tiny_bundle_dir, tmp_path, capsys):
    """A SIGKILL'd export leaves its ``.out.partial-*`` folder; a later export to the same folder neither
    removed nor named it. It is named now, not removed: it may be another export at work."""
    left = tmp_path / ".out.partial-abc123"
    left.mkdir()
    (tmp_path / ".other.partial-x").mkdir()  # another output's: not named
    with staging_folder(tmp_path / "out") as staging:
        shutil.copytree(tiny_bundle_dir, staging, dirs_exist_ok=True)
        publish(staging, tmp_path / "out", Manifest.load(staging), image_sets={}, notes="", log=Steps(False))
    assert capsys.readouterr().err == (f"contrique-export: note: .out.partial-abc123 beside {tmp_path / 'out'}: the "
                                       "staging folder(s) of an earlier export to it that was killed (or of one still "
                                       "running); remove them once no export to it runs\n")
    assert left.is_dir() and (tmp_path / "out" / "README.md").is_file()
