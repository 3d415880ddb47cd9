"""The fade given to a bundle's fitted heads without fitting them again (:mod:`contrique_training.proxy.fade`)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from contrique_infer import QualityScorer, location
from contrique_infer.bundle import load_bundle
from contrique_training.evaluation.errors import ProtocolError
from contrique_training.evaluation.heads import add_head
from contrique_training.proxy import add_fade, main
from contrique_training.proxy.errors import ProxyError
from contrique_training.proxy.heads import fade_words

PACKAGED_FADE = (2.0, 4.0)


@pytest.fixture(scope="module")
def unfaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged default with the fade taken off its heads, as ``proxy heads --no-fade`` writes them."""
    bundle = shutil.copytree(location.DEFAULT_BUNDLE, tmp_path_factory.mktemp("unfaded") / "bundle")
    for head in load_bundle(bundle).heads.values():
        if head.fade is not None:
            assert head.fade == PACKAGED_FADE
            info = dataclasses.replace(head.info, description=head.info.description.replace(fade_words(head.fade), ""))
            add_head(bundle, dataclasses.replace(head, fade=None, info=info), force=True, make_default=head.name == "quality")
    return bundle


@pytest.fixture(scope="module")
def photo(photos_dir: Path) -> Image.Image:
    return Image.open(sorted((photos_dir / "train" / "mate-backgrounds").iterdir())[0]).convert("RGB")


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return shutil.copytree(bundle, tmp_path / "bundle")


def test_the_fade_given_again_scores_as_the_fitted_one(unfaded: Path, photo: Image.Image, tmp_path: Path) -> None:
    bundle = _copy(unfaded, tmp_path)
    report = add_fade(bundle)
    assert report == {"bundle": str(bundle), "fade": list(PACKAGED_FADE), "heads": {"quality": None, "level": None}}
    loaded, before = load_bundle(bundle).heads, load_bundle(unfaded).heads
    for name in ("quality", "level"):
        head = loaded[name]
        assert head.fade == PACKAGED_FADE and head.floor == before[name].floor is not None
        assert head.coef.tobytes() == before[name].coef.tobytes()
        assert all(a.tobytes() == b.tobytes() for a, b in zip(head.feature_range, before[name].feature_range))
        words = head.info.description
        assert words.count("range distance d") == 1 and "(2 / d)^4" in words
        assert words.index("contrique_training.proxy.fade") < words.index(" Below the lowest ")  # the floor's stays last
    assert loaded["rank"].fade is None and load_bundle(bundle).manifest.default_head == "quality"

    mush = photo.filter(ImageFilter.GaussianBlur(48))
    new, old, packaged = (QualityScorer.from_pretrained(b, variant="fp32") for b in (bundle, unfaded, location.DEFAULT_BUNDLE))
    for head in ("quality", "level"):
        assert new.score(photo, head=head) == old.score(photo, head=head)  # within the range: bit for bit as before
        assert new.score(mush, head=head) == packaged.score(mush, head=head)  # the fitted fade's score, exactly
    assert new.score(mush) < old.score(mush) - 5  # far outside the range the fade pulls towards the worst end
    assert "range" in new.score_many([mush])[0].note


def test_another_fade_replaces_the_words_of_the_last(unfaded: Path, tmp_path: Path) -> None:
    bundle = _copy(unfaded, tmp_path)
    add_fade(bundle)
    report = add_fade(bundle, fade=(3, 6), heads=["quality"])
    assert report["heads"] == {"quality": list(PACKAGED_FADE)}
    heads = load_bundle(bundle).heads
    assert heads["quality"].fade == (3.0, 6.0) and heads["level"].fade == PACKAGED_FADE
    words = heads["quality"].info.description
    assert words.count("range distance d") == 1 and "(3 / d)^6" in words and "(2 / d)^4" not in words
    fitted = shutil.copytree(location.DEFAULT_BUNDLE, tmp_path / "fitted")  # words written by proxy heads
    add_fade(fitted, fade=(3, 6))
    words = load_bundle(fitted).heads["quality"].info.description
    assert words.count("range distance d") == 1 and "(3 / d)^6" in words and "(2 / d)^4" not in words


def test_a_fade_needs_a_good_shape_and_a_proxy_head(unfaded: Path, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = _copy(unfaded, tmp_path)
    before = (bundle / "contrique.json").read_bytes()
    with pytest.raises(ProxyError, match="at least 1"):
        add_fade(bundle, fade=(0.5, 4))
    with pytest.raises(ProxyError, match="above 0"):
        add_fade(bundle, fade=(2, 0))
    with pytest.raises(ProxyError, match="head 'rank' cannot take a fade"):
        add_fade(bundle, heads=["rank"])
    assert (bundle / "contrique.json").read_bytes() == before  # nothing written
    with pytest.raises(ProtocolError, match="packaged"):
        add_fade(location.DEFAULT_BUNDLE)
    tiny = shutil.copytree(tiny_bundle_dir, tmp_path / "tiny")
    with pytest.raises(ProxyError, match="cannot take a fade"):
        add_fade(tiny, heads=["quality"])


def test_cli_fade(unfaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = _copy(unfaded, tmp_path)
    assert main(["fade", "--bundle", str(bundle), "--fade", "3", "6", "--head", "quality"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["fade"] == [3.0, 6.0] and "given to quality" in err
    heads = load_bundle(bundle).heads
    assert heads["quality"].fade == (3.0, 6.0) and heads["level"].fade is None
    assert main(["fade", "--bundle", str(bundle), "--fade", "0", "4"]) == 2
    assert "--fade" in capsys.readouterr().err
    assert main(["fade", "--bundle", str(location.DEFAULT_BUNDLE)]) == 1
    assert "packaged" in capsys.readouterr().err
