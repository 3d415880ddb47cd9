"""contrique_infer.paths.new_or_empty: the folder check of the commands that create a folder of their own."""

from __future__ import annotations

from pathlib import Path

from contrique_infer.paths import new_or_empty


def test_new_or_empty(tmp_path: Path) -> None:
    assert new_or_empty(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert new_or_empty(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    assert not new_or_empty(tmp_path / "full")
    (tmp_path / "file").write_text("x")
    assert not new_or_empty(tmp_path / "file")
