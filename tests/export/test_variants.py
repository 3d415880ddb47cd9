"""derive_variants / contrique-export --from-bundle: a bundle's int8 and fp16 rebuilt from its fp32 graph."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from tiny_bundle import write_photos, write_tiny_bundle

from contrique_export.cli import main
from contrique_export.errors import ExportError
from contrique_export.variants import derive_variants
from contrique_infer.bundle import load_bundle
from contrique_infer.errors import HashMismatchError
from contrique_infer.manifest import Manifest, Parity
from contrique_infer.scorer import QualityScorer

PARITY = Parity(max_abs_diff=1e-6, images=5, inputs=10, tolerance=1e-4, provider="CPUExecutionProvider",
                reference="torch 2.14.1")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("derive")
    folder = write_tiny_bundle(root / "source")
    manifest = dataclasses.replace(Manifest.load(folder), parity=PARITY)
    manifest.save(folder)
    (folder / "README.md").write_text("the source's card")
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    return write_photos(root / "calibration", 4, 1), write_photos(root / "held-out" / "sub", 5, 2).parent


@pytest.fixture(scope="module")
def derived(source, photos, tmp_path_factory):
    calibration, held_out = photos
    out = tmp_path_factory.mktemp("derived") / "bundle"
    return derive_variants(source, out, variants=("int8", "fp16"), calibration=calibration, parity_images=held_out,
                           name="tiny-int8", card_notes="## Notes\n\nRe-quantized.", progress=False)


def test_fp32_graph_heads_and_parity_are_the_sources(source, derived):
    before, after = Manifest.load(source), Manifest.load(derived)
    for file in ["encoder.onnx", "heads/quality.json", "heads/fr_quality.json"]:
        assert (derived / file).read_bytes() == (source / file).read_bytes()
        assert after.files[file] == before.files[file]
    assert after.parity == PARITY
    assert (after.name, after.architecture, after.heads, after.default_head) == (
        "tiny-int8", before.architecture, before.heads, before.default_head)
    assert after.provenance.source_checkpoint == before.provenance.source_checkpoint
    assert after.provenance.license == "MIT" and after.provenance.created_by == "tests"
    assert "fp16, int8 variant(s) rebuilt from the fp32 graph by contrique-export" in after.provenance.notes
    assert list(Manifest.load(source).variants) == ["fp32"]  # the source is untouched


def test_variants_carry_their_fidelity_and_run(derived, photos):
    manifest = Manifest.load(derived)
    assert list(manifest.variants) == ["fp32", "fp16", "int8"]  # VARIANTS order
    for variant in ("int8", "fp16"):
        fidelity = manifest.variants[variant].fidelity
        assert fidelity.images == 5  # the held-out folder, found recursively
        assert 0.99 < fidelity.cosine_min <= fidelity.cosine_mean <= 1.0
        assert set(fidelity.spearman) == {"quality"}  # no-reference heads only
        bundle = load_bundle(derived, variant=variant)
        assert bundle.model_path.name == manifest.variants[variant].file
    scorer = QualityScorer.from_pretrained(str(derived), variant="int8")
    reference = QualityScorer.from_pretrained(str(derived), variant="fp32")
    image = next(photos[1].rglob("*.png"))
    assert scorer.score(image) == pytest.approx(reference.score(image), abs=1.0)
    card = (derived / "README.md").read_text(encoding="utf-8")
    assert "## Notes\n\nRe-quantized." in card and "the source's card" not in card
    assert "as recorded when the fp32 graph was exported" in card
    assert "int8 calibration images: the 4 images of `calibration/`" in card


def test_without_calibration_half_the_held_out_images_calibrate(source, photos, tmp_path):
    out = derive_variants(source, tmp_path / "b", parity_images=photos[1], progress=False)
    manifest = Manifest.load(out)
    assert list(manifest.variants) == ["fp32", "int8"]
    assert manifest.variants["int8"].fidelity.images == 2  # 5 images: 3 calibrate, 2 measure


def test_refusals_leave_nothing_behind(source, photos, tmp_path):
    with pytest.raises(ExportError, match="need real images to measure fidelity: pass --parity-images DIR"):
        derive_variants(source, tmp_path / "a", variants=("int8",), parity_images=None, progress=False)
    with pytest.raises(ExportError, match="unknown variant"):
        derive_variants(source, tmp_path / "a", variants=("int4",), parity_images=photos[1], progress=False)
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    for path in source.rglob("*"):
        if path.is_file():
            (tampered / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (tampered / path.relative_to(source)).write_bytes(path.read_bytes())
    with (tampered / "encoder.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(HashMismatchError, match="encoder.onnx"):
        derive_variants(tampered, tmp_path / "a", parity_images=photos[1], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tampered"]


def test_cli_from_bundle_without_torch(source, photos, tmp_path):
    calibration, held_out = photos
    out = tmp_path / "cli"
    code = ("import sys; from contrique_export.cli import main; "
            f"code = main(['--from-bundle', {str(source)!r}, '--out', {str(out)!r}, '--variants', 'int8', "
            f"'--calibration', {str(calibration)!r}, '--parity-images', {str(held_out)!r}]); "
            "print(code, 'torch' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stderr.strip().endswith("0 False"), result.stderr
    assert result.stdout.strip() == str(out)
    assert "contrique-export: quantizing int8 (calibration on 4 images): done in" in result.stderr
    assert json.loads((out / "contrique.json").read_text())["variants"]["int8"]["fidelity"]["images"] == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--head", "a=b.json", "--license", "MIT"], "--head, --license only apply to --ckpt"),
        (["--ckpt", "c.tar"], "argument --ckpt: not allowed with argument --from-bundle"),
    ],
)
def test_cli_usage_errors(extra, message, capsys, tmp_path):
    assert main(["--from-bundle", str(tmp_path), "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err
