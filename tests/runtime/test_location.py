"""Where a bundle is: a name found once with its manifest, then loaded without reading it again
(contrique_infer.location), and the one pass from a name to a scorer that this makes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_hub import HUB_REPO, FakeHub
from PIL import Image

from contrique_infer import cli, location, session
from contrique_infer.errors import BundleFileError, HashMismatchError, NoDefaultModelError, OfflineCacheMissError
from contrique_infer.location import locate
from contrique_infer.manifest import MANIFEST_NAME, Manifest
from contrique_infer.scorer import QualityScorer


def count_manifest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the manifests parsed from now on (every read goes through ``Manifest.from_dict``)."""
    reads: list[str] = []
    parse = Manifest.from_dict.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Manifest], data: object, path: str | os.PathLike[str] = MANIFEST_NAME) -> Manifest:
        reads.append(os.fspath(path))
        return parse(cls, data, path)

    monkeypatch.setattr(Manifest, "from_dict", classmethod(counted))
    return reads


def lookups(hub: FakeHub) -> int:
    """The Hub revision lookups so far: the metadata requests (HEAD) for the manifest at a branch
    (the manifest of a commit already resolved is read from the cache without a request)."""
    return sum(r.method == "HEAD" and r.path == MANIFEST_NAME for r in hub.log)


def test_locate_folders_default_and_bad_names(tiny_bundle_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    found = locate(tiny_bundle_dir)
    assert (found.name_or_path, found.folder, found.remote, found.revision) == (
        str(tiny_bundle_dir), tiny_bundle_dir, None, None)
    assert found.manifest == Manifest.load(tiny_bundle_dir)
    monkeypatch.setattr(location, "DEFAULT_BUNDLE", tiny_bundle_dir)
    default = locate()
    assert (default.name_or_path, default.folder, default.manifest.name) == (None, tiny_bundle_dir, "tiny-test-bundle")
    monkeypatch.setattr(location, "DEFAULT_BUNDLE", tmp_path / "none")
    with pytest.raises(NoDefaultModelError, match="no default model is installed.*contrique-export"):
        locate()
    with pytest.raises(BundleFileError, match="not a Hugging Face Hub repository id"):
        locate(tmp_path / "a" / "b" / "c")
    with pytest.raises(BundleFileError, match="no bundle manifest here"):
        locate(tmp_path)


def test_packaged_models_are_found_by_name_after_folders(tiny_bundle_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    for name in ("default", "hires"):
        shutil.copytree(tiny_bundle_dir, models / name)
    (models / "notes").mkdir()  # a folder without a manifest is no model
    monkeypatch.setattr(location, "MODELS", models)
    assert location.packaged_models() == ("default", "hires")
    monkeypatch.chdir(tmp_path)
    found = locate("hires")
    assert (found.name_or_path, found.folder, found.remote) == ("hires", models / "hires", None)
    assert QualityScorer.from_pretrained("hires", variant="fp32").manifest.name == "tiny-test-bundle"
    with pytest.raises(BundleFileError, match=r"no model of that name installed with the package \(default, hires\)"):
        locate("lowres")
    with pytest.raises(BundleFileError, match="no such bundle folder"):
        locate("notes")
    # a folder of that name here comes first
    shutil.copytree(tiny_bundle_dir, tmp_path / "hires")
    assert locate("hires").folder == Path("hires")
    assert location.is_packaged(models / "hires") and location.is_packaged(models / "hires" / "heads" / "..")
    assert not location.is_packaged(tmp_path / "hires") and not location.is_packaged(models / "notes")
    monkeypatch.setattr(location, "MODELS", tmp_path / "absent")
    assert location.packaged_models() == ()


def test_a_location_loads_its_files_without_reading_the_manifest_again(
    tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = locate(tiny_bundle_dir)
    reads = count_manifest_reads(monkeypatch)
    bundle = found.load(heads=["QUALITY"])
    assert reads == [] and bundle.manifest is found.manifest
    assert (bundle.root, bundle.variant.name, list(bundle.heads)) == (tiny_bundle_dir.resolve(), "fp32", ["quality"])
    altered = Path(tmp_path / "altered")
    altered.mkdir()
    for rel in (MANIFEST_NAME, "encoder.onnx", "heads/quality.json"):
        (altered / rel).parent.mkdir(exist_ok=True)
        (altered / rel).write_bytes((tiny_bundle_dir / rel).read_bytes())
    found = locate(altered)
    (altered / "heads" / "quality.json").write_text("{}")
    with pytest.raises(HashMismatchError, match="quality.json"):  # a folder's files are still verified
        found.load(heads=["quality"])


def test_one_manifest_read_and_one_revision_lookup_per_run(
    capsys: pytest.CaptureFixture[str], hub: FakeHub, tiny_bundle_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """contrique-score photo.png (a folder, then the Hub with a cold and a warm cache) and
    from_pretrained: the manifest is parsed once, the Hub revision looked up once (one HEAD of
    the manifest on the branch), the providers resolved once."""
    hub.add_commit(HUB_REPO, tiny_bundle_dir)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    reads = count_manifest_reads(monkeypatch)
    resolutions: list[None] = []
    available = session.available_providers
    monkeypatch.setattr(session, "available_providers", lambda: resolutions.append(None) or available())
    scores = []
    for model in (tiny_bundle_dir, HUB_REPO, HUB_REPO):
        reads.clear(), resolutions.clear(), hub.log.clear()
        assert cli.main([str(photo), "--model", str(model), "--format", "csv", "-q"]) == 0
        scores.append(capsys.readouterr().out)
        assert (len(reads), len(resolutions)) == (1, 1), model
        assert lookups(hub) == (0 if model == tiny_bundle_dir else 1), model
    assert scores[0] == scores[1] == scores[2]
    for model in (tiny_bundle_dir, HUB_REPO):
        reads.clear(), resolutions.clear(), hub.log.clear()
        QualityScorer.from_pretrained(model, head="quality")
        assert (len(reads), len(resolutions)) == (1, 1), model
        assert lookups(hub) == (0 if model == tiny_bundle_dir else 1), model


def test_a_mistyped_folder_that_reads_as_a_hub_id_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(OfflineCacheMissError, match=r"^models/mybundle: no such bundle folder here \(the folder "
                                                    r"models/ exists: check the name\), and as a Hub repository: "):
        locate("models/mybundle", cache_dir=tmp_path / "cache", local_files_only=True)
    with pytest.raises(OfflineCacheMissError) as caught:  # no such folder here: only the Hub's answer
        locate("org/mybundle", cache_dir=tmp_path / "cache", local_files_only=True)
    assert "no such bundle folder" not in str(caught.value)


def test_a_bundle_name_that_is_a_web_address_or_a_misspelt_path_says_so(tiny_bundle_dir: Path) -> None:
    """from_pretrained('https://huggingface.co/org/name'), ('~/bundles/b') or a folder read with its new line said
    `no such bundle folder, ... and not a Hugging Face Hub repository id 'org/name'`, with no word of why."""
    cases = {
        "https://huggingface.co/org/name": " (the web address of a Hub repository: give its id, 'org/name')",
        "https://huggingface.co/models/org/name?x=1": " (the web address of a Hub repository: give its id, 'org/name')",
        "https://example.com/bundle.zip": " (a URL: download the bundle and give its folder, or give a Hub "
                                          "repository's id)",
        "~/contrique-no-such-bundle": " (~ is not expanded to the home folder here: pass os.path.expanduser(path))",
        f"{tiny_bundle_dir}\n": " (it begins or ends with white space, such as the new line of a line read from a "
                                f"file, and {str(tiny_bundle_dir)!r} exists: strip the paths)",
        "contrique-no-such-bundle": "",
    }
    for name, hint in cases.items():
        with pytest.raises(BundleFileError) as refused:
            locate(name, local_files_only=True)
        assert refused.value.reason.endswith("and not a Hugging Face Hub repository id 'org/name'" + hint), name
