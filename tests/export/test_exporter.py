"""export_bundle: the session's ResNet-18 bundle with every variant (tests/conftest.py) checked end to end,
and the export's refusals and failures."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_bundle import write_photos

from contrique_export import exporter, images, variants
from contrique_export.card import hub_license
from contrique_export.errors import ExportError, HeadFileError, ImageSetError, ModelConfigError, OptionError
from contrique_export.exporter import export_bundle
from contrique_export.model import build_model
from contrique_infer.bundle import load_bundle
from contrique_infer.errors import GraphMismatchError, ScanError
from contrique_infer.head import Head
from contrique_infer.manifest import HeadInfo, InputContract, Manifest
from contrique_infer.preprocessing import prepare
from contrique_infer.scorer import QualityScorer


def test_manifest(resnet18, resnet18_bundle):
    bundle = resnet18_bundle
    manifest = Manifest.load(bundle)
    assert manifest.name == "r18-step10" and manifest.architecture == "resnet18"
    assert (manifest.feature.dim, manifest.feature.per_scale_dim, manifest.feature.layout) == (1024, 512, ("full", "half"))
    assert manifest.input.min_size == 32 and manifest.input.input_name == "image"
    assert list(manifest.variants) == ["fp32", "fp16", "int8"]
    assert [h.name for h in manifest.heads] == ["mos", "dmos", "pair"]
    assert manifest.default_head == "mos"
    assert sorted(manifest.files) == sorted(
        ["README.md", "encoder.onnx", "encoder.fp16.onnx", "encoder.int8.onnx",
         "heads/mos.json", "heads/dmos.json", "heads/pair.json"]
    )
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        ["README.md", "contrique.json", "encoder.onnx", "encoder.fp16.onnx", "encoder.int8.onnx", "heads"]
    )
    p = manifest.provenance
    assert p.source_checkpoint == "r18-step10.pt"
    assert p.source_checkpoint_sha256 == hashlib.sha256(resnet18.checkpoint.read_bytes()).hexdigest()
    assert p.training_data == resnet18.data["description"] and p.license == "Apache-2.0"
    assert "contrique-export" in p.created_by and "torch" in p.created_by
    assert manifest.parity.max_abs_diff < 1e-4 and manifest.parity.images == 3 + 4
    assert manifest.parity.reference == f"torch {torch.__version__} in float64" and manifest.parity.tolerance == 1e-4


def test_fidelity_recorded(resnet18_bundle):
    manifest = Manifest.load(resnet18_bundle)
    assert manifest.variants["fp32"].fidelity is None
    for name, floor in (("int8", 0.99), ("fp16", 0.9999)):
        fidelity = manifest.variants[name].fidelity
        assert fidelity.images == 4  # all of val/: calibration used calib/
        assert floor < fidelity.cosine_min <= fidelity.cosine_mean <= 1.0
        assert set(fidelity.spearman) == {"mos", "dmos"}  # no-reference heads only: not the fr head "pair"


def test_every_variant_loads_and_matches_torch(resnet18, resnet18_bundle):
    bundle, model = resnet18_bundle, resnet18.model
    image = resnet18.root / "val" / "a" / "p1.png"
    prepared = prepare(image, Manifest.load(bundle).input)
    with torch.inference_mode():
        expected = np.concatenate([model(torch.from_numpy(a[None])).numpy()[0] for a in prepared.scales])
    for variant, tolerance in (("fp32", 1e-5), ("fp16", 2e-3), ("int8", 0.05)):
        loaded = load_bundle(bundle, variant=variant)
        assert set(loaded.heads) == {"mos", "dmos", "pair"}
        scorer = QualityScorer.from_pretrained(bundle, variant=variant)
        features = scorer.features(image)
        assert np.max(np.abs(features - expected)) < tolerance, variant
    head = load_bundle(bundle).heads["mos"]
    assert QualityScorer.from_pretrained(bundle, variant="fp32").score(image) == pytest.approx(float(head(expected)), abs=1e-4)


def test_model_card(resnet18, resnet18_bundle):
    bundle = resnet18_bundle
    card = (bundle / "README.md").read_text()
    front = card.split("---")[1]
    assert "library_name: contrique-infer" in front and "license: apache-2.0" in front
    assert "- image-quality-assessment" in front and "- onnx" in front and "- contrique" in front
    manifest = json.loads((bundle / "contrique.json").read_text())
    assert f"{manifest['parity']['max_abs_diff']:.2e}" in card
    assert "| mos | no-reference | synthetic | MOS | higher | yes |" in card
    assert "| dmos | no-reference | synthetic | MOS | lower |  |" in card
    assert f"{manifest['variants']['int8']['fidelity']['cosine_mean']:.5f}" in card
    assert "r18-step10.pt" in card and resnet18.data["description"] in card


def test_package_exposes_the_api():
    import contrique_export

    assert contrique_export.export_bundle is export_bundle
    assert contrique_export.derive_variants is variants.derive_variants
    with pytest.raises(AttributeError):
        contrique_export.no_such_thing  # noqa: B018


def test_hub_license_field():
    assert hub_license("MIT") == ("mit", None)
    assert hub_license("CC-BY-4.0") == ("cc-by-4.0", None)
    assert hub_license("terms of the CONTRIQUE authors") == ("other", "terms-of-the-contrique-authors")


def test_int8_default_calibration_splits_parity_images(resnet18):
    root = resnet18.root
    sets = images.image_sets(["fp32", "int8"], InputContract(min_size=exporter.MIN_SIZE), root / "val", None)
    parity, calibration, fidelity, described = sets
    assert [Path(p.source).relative_to(root / "val").as_posix() for p in calibration] == ["a/p0.png", "b/p0.png"]
    assert [Path(p.source).relative_to(root / "val").as_posix() for p in fidelity] == ["a/p1.png", "b/p1.png"]
    assert len(parity) == 3 + 4 and "every other image" in described["calibration"]


def test_refusals_leave_nothing_behind(resnet18, tmp_path):
    ckpt, heads = resnet18.checkpoint, resnet18.heads
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="need real images to measure fidelity: pass --parity-images DIR"):
        export_bundle(ckpt, out, variants=("int8",), progress=False)
    with pytest.raises(HeadFileError, match="has 4096 coefficients|is not an official head"):
        export_bundle(ckpt, out, heads={"mine": heads["mos"].with_name("x.save")}, progress=False)
    with pytest.raises(ScanError, match="holds no image files in it or below it"):
        export_bundle(ckpt, out, parity_images=tmp_path, progress=False)
    with pytest.raises(ExportError, match="given more than once"):
        export_bundle(ckpt, out, heads={"a": heads["mos"], "A": heads["mos"]}, progress=False)
    with pytest.raises(ExportError, match="unknown variant"):
        export_bundle(ckpt, out, variants=("int4",), progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="exists and is not an empty folder"):
        export_bundle(ckpt, tmp_path / "full", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_default_head_and_card_notes(resnet18, reuse_resnet18_graph, tmp_path):
    ckpt, heads = resnet18.checkpoint, resnet18.heads
    out = export_bundle(ckpt, tmp_path / "b", heads=heads, default_head="dmos",
                        card_notes="## How it was made\n\nTrained on nothing at all.", progress=False)
    assert Manifest.load(out).default_head == "dmos"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## How it was made\n\nTrained on nothing at all.\n\n## Usage" in card
    with pytest.raises(ExportError, match="default head 'nope' is not among the heads"):
        export_bundle(ckpt, tmp_path / "c", heads=heads, default_head="nope", progress=False)
    assert not (tmp_path / "c").exists()


def test_failure_after_staging_removes_it(resnet18, tmp_path, monkeypatch):
    ckpt = resnet18.checkpoint

    def broken(model, path, **kwargs):
        path.write_bytes(b"partial")
        raise ExportError("simulated exporter failure")

    monkeypatch.setattr(exporter, "export_onnx", broken)
    with pytest.raises(ExportError, match="simulated exporter failure"):
        export_bundle(ckpt, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_variant_the_runtime_refuses_fails_the_export(resnet18, reuse_resnet18_graph, tmp_path, monkeypatch):
    # Every variant is opened by contrique_infer's own session code before it is measured: a graph
    # that does not fit the manifest (an "fp16" file with 8 features instead of 512) stops the export.
    import onnx
    from tiny_bundle import encoder_model

    ckpt = resnet18.checkpoint
    monkeypatch.setattr(variants, "convert_fp16", lambda source, path: onnx.save(encoder_model(), path))
    with pytest.raises(GraphMismatchError, match=r"encoder.fp16.onnx: output 'feature' .* needs float32 \[N, 512\]"):
        export_bundle(ckpt, tmp_path / "out", variants=("fp16",), parity_images=write_photos(tmp_path / "val", 2, 3),
                      progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["val"]


def test_progress_on_stderr(resnet18, tmp_path, monkeypatch, capsys):
    ckpt = resnet18.checkpoint
    monkeypatch.setattr(exporter, "export_onnx", lambda *a, **k: (_ for _ in ()).throw(ExportError("stop")))
    with pytest.raises(ExportError):
        export_bundle(ckpt, tmp_path / "out")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "contrique-export: reading checkpoint: done in" in captured.err
    assert "contrique-export: exporting ONNX (resnet18) ..." in captured.err


@pytest.mark.slow
def test_checkpoint_trained_at_max_side_records_it_in_the_input_contract(tmp_path):
    """A model trained on photos downscaled to max_side (MobileNetV3-small + NSS here) is scored so too."""
    torch.manual_seed(5)
    model = build_model("mobilenet_v3_small", projection_dim=16, stages=3, nss=True).eval()
    ckpt = tmp_path / "m.pt"
    torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": model.config.to_dict(),
                "model": model.state_dict(), "config": {"max_side": 96}, "step": 1, "epoch": 0,
                "data": {"description": "a random MobileNetV3-small for this test", "license": "CC0-1.0"}}, ckpt)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i, size in enumerate([(200, 150), (150, 240)]):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(small, "RGB").resize(size, Image.BICUBIC).save(photos / f"p{i}.png")
    out = export_bundle(ckpt, tmp_path / "bundle", parity_images=photos, progress=False)
    manifest = Manifest.load(out)
    assert manifest.format_version == 2 and manifest.input.max_side == 96
    assert manifest.architecture == "mobilenet_v3_small-3stages+nss"
    # the statistics' logarithms (around -3 to -23) against torch's float64: relative 1e-4 (export passed), not absolute
    assert manifest.parity.max_abs_diff < 1e-3
    photo = sorted(photos.iterdir())[0]
    scorer = QualityScorer.from_pretrained(out, variant="fp32")
    feature = scorer.features(photo)
    prepared = prepare(photo, manifest.input)
    assert max(prepared.scales[0].shape[1:]) == 96
    with torch.no_grad():
        expected = torch.cat([model(torch.from_numpy(x)[None]) for x in prepared.scales], dim=1)[0].numpy()
    np.testing.assert_allclose(feature, expected, atol=1e-4)

    # another contract for the same network: photos seen at up to 160 px, or at their own size
    larger = export_bundle(ckpt, tmp_path / "larger", max_side=160, progress=False)
    own = export_bundle(ckpt, tmp_path / "own", max_side=0, progress=False)
    assert Manifest.load(larger).input.max_side == 160 and Manifest.load(own).input.max_side is None
    assert Manifest.load(own).format_version == 1
    assert max(prepare(photo, Manifest.load(larger).input).scales[0].shape[1:]) == 160
    assert max(prepare(photo, Manifest.load(own).input).scales[0].shape[1:]) == 200
    with pytest.raises(ModelConfigError, match="must be 0 .photos not downscaled. or an integer from 32"):
        export_bundle(ckpt, tmp_path / "bad", max_side=20, progress=False)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_nss_pairs_added_at_export_keep_the_trained_head(tmp_path):
    """``nss_pairs`` adds the statistics' products to a network trained without them: the feature grows
    by 325 values per scale after the statistics, and the trained ``rank`` head scores as before."""
    from contrique_export.checkpoint import load_checkpoint
    from contrique_export.errors import CheckpointError
    from contrique_export.model_config import NSS_PAIRS

    torch.manual_seed(6)
    model = build_model("mobilenet_v3_small", projection_dim=16, stages=2, nss=True).eval()
    dim = model.config.feature_dim
    coef = torch.randn(2 * dim, dtype=torch.float64)
    ckpt = tmp_path / "m.pt"
    torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": model.config.to_dict(),
                "model": model.state_dict(), "config": {"max_side": 96}, "step": 1, "epoch": 0,
                "head": {"coef": coef, "intercept": 0.5},
                "data": {"description": "a random MobileNetV3-small for this test", "license": "CC0-1.0"}}, ckpt)
    photos = tmp_path / "photos"
    write_photos(photos, 2, seed=4)
    plain = export_bundle(ckpt, tmp_path / "plain", progress=False)
    pairs = export_bundle(ckpt, tmp_path / "pairs", nss_pairs=True, progress=False)
    manifest = Manifest.load(pairs)
    assert manifest.architecture == "mobilenet_v3_small-2stages+nss2"
    assert manifest.feature.per_scale_dim == dim + NSS_PAIRS and manifest.feature.dim == 2 * (dim + NSS_PAIRS)
    photo = sorted(photos.iterdir())[0]
    a, b = (QualityScorer.from_pretrained(p, variant="fp32") for p in (plain, pairs))
    fa, fb = a.features(photo), b.features(photo)
    for scale in range(2):  # each scale's block: the old feature, then the products
        np.testing.assert_allclose(fb[scale * (dim + NSS_PAIRS):][:dim], fa[scale * dim:][:dim], atol=1e-5)
    assert b.score(photo, head="rank") == pytest.approx(a.score(photo, head="rank"), abs=1e-4)

    # a third, quarter-size scale: the same graph on one more input; the trained head weighs it 0
    three = export_bundle(ckpt, tmp_path / "three", nss_pairs=True, scales=3, parity_images=photos, progress=False)
    manifest3 = Manifest.load(three)
    assert [(s.name, s.divisor) for s in manifest3.input.scales] == [("full", 1), ("half", 2), ("quarter", 4)]
    assert manifest3.feature.layout == ("full", "half", "quarter") and manifest3.feature.dim == 3 * (dim + NSS_PAIRS)
    c = QualityScorer.from_pretrained(three, variant="fp32")
    fc = c.features(photo)
    np.testing.assert_array_equal(fc[: fb.size], fb)
    full, _, quarter = prepare(photo, manifest3.input).scales
    assert quarter.shape[1:] == (full.shape[1] // 4, full.shape[2] // 4)
    with torch.no_grad():
        expected = load_checkpoint(ckpt).with_nss_pairs().build_model().eval()(torch.from_numpy(quarter)[None])[0]
    np.testing.assert_allclose(fc[fb.size:], expected.numpy(), atol=1e-4)
    assert c.score(photo, head="rank") == pytest.approx(b.score(photo, head="rank"), abs=1e-4)
    assert "half and quarter size" in (three / "README.md").read_text(encoding="utf-8")
    # and a fourth, eighth-size scale
    four = export_bundle(ckpt, tmp_path / "four", nss_pairs=True, scales=4, progress=False)
    manifest4 = Manifest.load(four)
    assert manifest4.feature.layout == ("full", "half", "quarter", "eighth")
    fd = QualityScorer.from_pretrained(four, variant="fp32").features(photo)
    np.testing.assert_array_equal(fd[: fc.size], fc)
    eighth = prepare(photo, manifest4.input).scales[3]
    assert eighth.shape[1:] == (full.shape[1] // 8, full.shape[2] // 8)
    with torch.no_grad():
        expected = load_checkpoint(ckpt).with_nss_pairs().build_model().eval()(torch.from_numpy(eighth)[None])[0]
    np.testing.assert_allclose(fd[fc.size:], expected.numpy(), atol=1e-4)
    assert "half, quarter and eighth size" in (four / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ExportError, match="scales must be 2"):
        export_bundle(ckpt, tmp_path / "five", scales=5, progress=False)
    plain_ckpt = tmp_path / "plain.pt"
    torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": {"arch": "resnet18"},
                "model": build_model("resnet18").state_dict(), "config": {}, "step": 1, "epoch": 0,
                "data": {"description": "no statistics", "license": "CC0-1.0"}}, plain_ckpt)
    with pytest.raises(CheckpointError, match="has no natural-scene statistics.*without --nss-pairs"):
        load_checkpoint(plain_ckpt).with_nss_pairs()


def test_checkpoints_with_features_or_weights_that_are_not_finite_are_refused(tmp_path):
    # both exported with exit 0 and "parity": {"max_abs_diff": 0.0}
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", projection_dim=8, stages=1)
    overflowing = {k: v * 1e30 if v.is_floating_point() and "running_var" not in k else v
                   for k, v in model.state_dict().items()}  # finite weights, features that overflow float32
    damaged = {**model.state_dict(), "encoder.0.0.weight": torch.full((16, 3, 3, 3), float("nan"))}
    for name, state in (("overflowing", overflowing), ("damaged", damaged)):
        torch.save({"format": "contrique-checkpoint", "format_version": 1, "model_config": model.config.to_dict(),
                    "model": state}, tmp_path / f"{name}.pt")
    with pytest.raises(ExportError, match=r"synthetic-97x65 scale 0: the checkpoint's network computes \d+ of 16 "
                                          r"feature values that are not finite"):
        export_bundle(tmp_path / "overflowing.pt", tmp_path / "out", progress=False)
    with pytest.raises(ExportError, match="damaged.pt: 432 of the 432 weights of encoder.0.0.weight are NaN"):
        export_bundle(tmp_path / "damaged.pt", tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.pt", "overflowing.pt"]


def test_head_that_cannot_score_is_refused(resnet18, reuse_resnet18_graph, tmp_path):
    # was: exported (exit 0), then every image scored NonFiniteError
    info = HeadInfo("huge", "heads/huge.json", "nr", "x", "0..1", True, "")
    head = Head(info, np.full(1024, 1e308), 0.5).save(tmp_path / "huge.json")
    with pytest.raises(ExportError, match="head 'huge' scores 3 of 3 parity images NaN or infinite"):
        export_bundle(resnet18.checkpoint, tmp_path / "out", heads={"huge": head}, progress=False)
    assert not (tmp_path / "out").exists()


def test_full_reference_default_head_is_refused(resnet18, tmp_path):
    # was: accepted, and contrique-score then failed on every image
    with pytest.raises(OptionError, match="default head 'pair' is a full-reference head.*name a no-reference head "
                       r"\(mos, dmos\) or omit --default-head"):
        export_bundle(resnet18.checkpoint, tmp_path / "out", heads=resnet18.heads, default_head="pair", progress=False)


def test_unusable_parity_images_say_to_remove_or_replace_them(tmp_path, monkeypatch):
    # was: a decompression bomb was told to "raise max_pixels (... --max-pixels N ...)", which contrique-export lacks
    write_photos(tmp_path, 1, 5)
    photo = next(tmp_path.iterdir())
    (tmp_path / "notes.jpg").write_text("not an image")
    contract = InputContract(min_size=exporter.MIN_SIZE)
    with pytest.raises(ImageSetError, match="notes.jpg: is not an image file .*; every image of the folder "
                       r"\(subfolders included\) is used: remove the file from it or replace it$"):
        images.prepare_files([tmp_path / "notes.jpg"], contract)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageSetError, match="is larger than Pillow's decompression-bomb limit .*remove the file from "
                       "it or replace it with a smaller copy$") as caught:
        images.prepare_files([photo], contract)
    assert "max_pixels" not in str(caught.value)
