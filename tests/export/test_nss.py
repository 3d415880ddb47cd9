"""Natural-scene statistics: values against a NumPy/SciPy reference, behaviour, and ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from contrique_export.model_config import NSS_DIM, NSS_PAIRS, ModelConfig, orientation_permutations, statistics_dim
from contrique_export.nss import (
    PRODUCT_DEAD_ZONE,
    REFERENCE_MEAN,
    REFERENCE_SCALE,
    VARIANCE_FLOOR,
    NaturalSceneStatistics,
)
from contrique_export.errors import ModelConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference(rgb: np.ndarray) -> np.ndarray:
    """The 25 statistics with scipy.ndimage (float64), written from the module's table."""
    y = rgb.astype(np.float64) / 255 @ np.array([0.299, 0.587, 0.114])
    t = np.arange(7) - 3.0
    g = np.exp(-(t**2) / (2 * (7 / 6) ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu = ndimage.correlate(y, w, mode="nearest")
    sigma = np.sqrt(np.maximum(ndimage.correlate(y * y, w, mode="nearest") - mu * mu - VARIANCE_FLOOR, 0))
    m = (y - mu) / (sigma + 1 / 255)
    eps = 1e-10

    def shape(x: np.ndarray) -> float:
        return np.abs(x).mean() ** 2 / ((x * x).mean() + eps)

    m2 = (m * m).mean()
    out = [np.log(m2 + eps), shape(m), np.log((m**4).mean() / (m2 * m2 + eps) + eps),
           np.log(sigma.mean() + eps), y.mean(), 0.5 * np.log(((y - y.mean()) ** 2).mean() + eps)]
    for p in (m[:, :-1] * m[:, 1:], m[:-1, :] * m[1:, :], m[:-1, :-1] * m[1:, 1:], m[:-1, 1:] * m[1:, :-1]):
        neg, pos = p < -PRODUCT_DEAD_ZONE, p > PRODUCT_DEAD_ZONE
        out += [p.mean(), np.log((p[neg] ** 2).sum() / (neg.sum() + 1) + eps),
                np.log((p[pos] ** 2).sum() / (pos.sum() + 1) + eps), shape(p)]
    out += [np.log((y > 0.98).mean() + 1e-3), np.log((y < 0.02).mean() + 1e-3), (y.mean() - 0.5) ** 2]
    return np.array(out)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def photo(photos_dir: Path) -> np.ndarray:
    image = Image.open(photos_dir / "val" / "skimage" / "chelsea.png").convert("RGB")
    return np.asarray(image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC))


def test_statistics_equal_the_scipy_reference(photo: np.ndarray) -> None:
    got = NaturalSceneStatistics()(_tensor(photo))[0].double().numpy()
    assert got.shape == (NSS_DIM,)
    np.testing.assert_allclose(got, reference(photo), rtol=2e-3, atol=2e-4)


def test_flat_areas_do_not_make_rounding_decide(photo: np.ndarray, tmp_path: Path) -> None:
    """A clipped sky: float32 torch, the exported graph and float64 scipy agree on every statistic."""
    import onnxruntime as ort

    sky = photo.copy()
    sky[: sky.shape[0] // 2] = 255
    nss = NaturalSceneStatistics().eval()
    got = nss(_tensor(sky))[0].double().numpy()
    np.testing.assert_allclose(got, reference(sky), rtol=2e-3, atol=2e-4)
    path = tmp_path / "nss.onnx"
    torch.onnx.export(nss, (_tensor(sky),), input_names=["image"], dynamo=True).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"image": _tensor(sky).numpy()})[0][0], got, rtol=2e-3, atol=2e-4)


def test_statistics_follow_noise_blur_and_contrast(photo: np.ndarray) -> None:
    nss = NaturalSceneStatistics()
    rng = np.random.default_rng(0)
    noisy = np.clip(photo + rng.normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    blurred = ndimage.gaussian_filter(photo, sigma=(3, 3, 0))
    flat = (128 + (photo.astype(np.float64) - 128) * 0.3).astype(np.uint8)
    base, n, b, f = (nss(_tensor(x))[0].numpy() for x in (photo, noisy, blurred, flat))
    assert n[6] < 0 < base[6]  # noise decorrelates neighbouring MSCN coefficients
    assert n[0] > base[0] > b[0]  # MSCN energy: up with noise, down with blur
    assert b[3] < base[3] - 0.5  # blur lowers the local contrast
    assert f[5] < base[5] - 1.0  # global contrast: log std falls by log(1 / 0.3) = 1.2
    assert f[4] == pytest.approx(base[4] * 0.3 + 128 / 255 * 0.7, abs=0.01)  # mean luminance
    bright = np.clip(photo.astype(np.float64) * 2.5, 0, 255).astype(np.uint8)
    dark = (photo * 0.1).astype(np.uint8)
    over, under = (nss(_tensor(x))[0].numpy() for x in (bright, dark))
    assert over[22] > base[22] + 2 and under[23] > base[23] + 2  # clipped highlights, crushed shadows
    assert under[24] > base[24] and over[24] > base[24]


def test_batch_and_onnx_export_agree(photo: np.ndarray, tmp_path: Path) -> None:
    import onnxruntime as ort

    nss = NaturalSceneStatistics().eval()
    x = torch.cat((_tensor(photo[:120, :100]), _tensor(photo[20:140, 30:130])))
    expected = nss(x)
    torch.testing.assert_close(nss(x[1:]), expected[1:], atol=1e-5, rtol=1e-5)
    path = tmp_path / "nss.onnx"
    program = torch.onnx.export(nss, (x,), input_names=["image"], output_names=["nss"], dynamo=True,
                                dynamic_shapes={"x": {0: torch.export.Dim("n"), 2: torch.export.Dim("h", min=8),
                                                      3: torch.export.Dim("w", min=8)}})
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    odd = _tensor(photo[:57, :91])
    np.testing.assert_allclose(session.run(None, {"image": odd.numpy()})[0], nss(odd).numpy(), atol=1e-4, rtol=1e-4)


# --- pairwise products (nss_pairs) ---------------------------------------------------------------

def test_pairs_are_the_standardised_products_after_the_statistics(photo: np.ndarray) -> None:
    x = torch.cat((_tensor(photo[:120, :100]), _tensor(photo[20:140, 30:130])))
    plain = NaturalSceneStatistics()(x).double().numpy()
    got = NaturalSceneStatistics(pairs=True)(x).double().numpy()
    assert got.shape == (2, NSS_DIM + NSS_PAIRS) and NSS_PAIRS == 325
    np.testing.assert_array_equal(got[:, :NSS_DIM], plain)
    z = (plain - np.array(REFERENCE_MEAN)) / np.array(REFERENCE_SCALE)
    i, j = np.triu_indices(NSS_DIM)  # row-major, i <= j: (0, 0), (0, 1) .. (0, 24), (1, 1) ..
    np.testing.assert_allclose(got[:, NSS_DIM:], z[:, i] * z[:, j], rtol=1e-4, atol=1e-4)
    assert got[0, NSS_DIM + 1] == pytest.approx(z[0, 0] * z[0, 1], rel=1e-4)
    assert got[0, NSS_DIM + NSS_DIM] == pytest.approx(z[0, 1] ** 2, rel=1e-4)


def test_pairs_let_a_linear_function_rise_on_both_sides_of_natural(photo: np.ndarray) -> None:
    # The reason for the products: noise pushes the MSCN energy (statistic 0) up and blur pushes it
    # down, so no linear function of it grows with both; the square of its standardised value (a
    # pair column) does.
    nss = NaturalSceneStatistics(pairs=True)
    rng = np.random.default_rng(0)
    noisy = np.clip(photo + rng.normal(0, 25, photo.shape), 0, 255).astype(np.uint8)
    blurred = ndimage.gaussian_filter(photo, sigma=(3, 3, 0))
    base, n, b = (nss(_tensor(x))[0].numpy() for x in (photo, noisy, blurred))
    assert n[0] > base[0] > b[0]
    square = NSS_DIM  # the first pair: (0, 0)
    assert min(n[square], b[square]) > base[square]


def test_pairs_in_the_model_config() -> None:
    config = ModelConfig(arch="mobilenet_v3_small", stages=3, nss=True, nss_pairs=True)
    assert config.name == "mobilenet_v3_small-3stages+nss2"
    assert config.feature_dim == 48 + NSS_DIM + NSS_PAIRS
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert ModelConfig.from_dict({"arch": "resnet18", "nss": True}).nss_pairs is False  # older checkpoints
    assert [statistics_dim(n) for n in (config.name, "resnet18-3stages+nss", "resnet50")] == [350, 25, 0]
    with pytest.raises(ModelConfigError, match="nss_pairs needs nss"):
        ModelConfig(arch="resnet18", nss_pairs=True)


def test_pairs_through_the_exporter_match_torch(photo: np.ndarray, tmp_path: Path) -> None:
    import onnxruntime as ort

    from contrique_export.model import ContriqueNet
    from contrique_export.onnx_export import export_onnx

    torch.manual_seed(4)
    net = ContriqueNet(ModelConfig(arch="resnet18", stages=1, nss=True, nss_pairs=True, projection_dim=8)).eval()
    path = export_onnx(net, tmp_path / "encoder.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _tensor(photo[:57, :91])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == (1, 64 + NSS_DIM + NSS_PAIRS)
    with torch.no_grad():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-4)


# --- flat images through a real export ----------------------------------------------------------

FLAT_LIMIT = np.array(
    # A flat image has no texture and no contrast: every log of a moment is log(1e-10), every shape
    # ratio and product mean 0 (indices 4, 22, 23, 24 depend on its colour and are checked apart).
    [np.log(1e-10), 0, np.log(1e-10), np.log(1e-10), np.nan, 0.5 * np.log(1e-10)]
    + [0, np.log(1e-10), np.log(1e-10), 0] * 4 + [np.nan] * 3
)


@pytest.fixture(scope="module")
def exported_nss_net(tmp_path_factory: pytest.TempPathFactory):
    """A ResNet-18 (1 stage) + NSS network, exported by contrique-export's own ``export_onnx``."""
    from contrique_export.model import ContriqueNet
    from contrique_export.model_config import ModelConfig
    from contrique_export.onnx_export import export_onnx

    torch.manual_seed(3)
    net = ContriqueNet(ModelConfig(arch="resnet18", stages=1, nss=True, projection_dim=8)).eval()
    return net, export_onnx(net, tmp_path_factory.mktemp("nss") / "encoder.onnx")


def _flat(colour: tuple[int, int, int], height: int, width: int) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = colour
    return image


@pytest.mark.parametrize(("colour", "size"), [((0, 0, 0), (32, 32)), ((255, 255, 255), (40, 56)),
                                              ((128, 128, 128), (97, 65)), ((255, 0, 0), (33, 130)),
                                              ((10, 200, 30), (64, 48))])
def test_flat_images_have_finite_statistics_in_the_exported_graph(exported_nss_net, colour, size) -> None:
    # The exporter's optimiser once removed every "+ 1e-10" as adding zero: log(0) and 0/0 in ONNX.
    import onnxruntime as ort

    net, path = exported_nss_net
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _tensor(_flat(colour, *size))
    got = session.run(None, {"image": x.numpy()})[0][0, -NSS_DIM:]
    with torch.inference_mode():
        expected = net(x)[0, -NSS_DIM:].numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    known = ~np.isnan(FLAT_LIMIT)
    np.testing.assert_allclose(got[known], FLAT_LIMIT[known], atol=1e-4)  # the same for every colour
    luma = np.dot(colour, (0.299, 0.587, 0.114)) / 255
    assert got[4] == pytest.approx(luma, abs=1e-6) and got[24] == pytest.approx((luma - 0.5) ** 2, abs=1e-6)


def test_one_changed_pixel_and_fp16_stay_finite(exported_nss_net, tmp_path: Path) -> None:
    import onnxruntime as ort

    from contrique_export.quantize import convert_fp16

    net, path = exported_nss_net
    dot = _flat((0, 0, 0), 48, 64)
    dot[20, 30] = 255
    x = np.concatenate([_tensor(dot).numpy(), _tensor(_flat((255, 255, 255), 48, 64)).numpy()])
    fp32 = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    with torch.inference_mode():
        np.testing.assert_allclose(fp32, net(torch.from_numpy(x)).numpy(), atol=1e-4, rtol=1e-4)
    fp16_path = convert_fp16(path, tmp_path / "encoder.fp16.onnx")
    fp16 = ort.InferenceSession(str(fp16_path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    assert np.isfinite(fp32).all() and np.isfinite(fp16).all()


def test_flat_images_get_finite_scores_from_a_freshly_exported_bundle(exported_nss_net, tmp_path: Path) -> None:
    """The runtime end to end (both scales, a linear head) on a bundle around the exported graph."""
    from contrique_infer.bundle import file_table
    from contrique_infer.head import Head
    from contrique_infer.manifest import FeatureSpec, HeadInfo, InputContract, Manifest, Provenance, VariantInfo
    from contrique_infer.scorer import QualityScorer

    net, path = exported_nss_net
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "encoder.onnx").write_bytes(path.read_bytes())
    dim = net.config.feature_dim
    info = HeadInfo("quality", "heads/quality.json", "nr", "synthetic", "0..100", True, "test head")
    Head(info, np.random.default_rng(0).standard_normal(2 * dim) / dim, 50.0).save(folder / info.file)
    Manifest(name="nss-test", architecture=net.config.name, input=InputContract(),
             feature=FeatureSpec(dim=2 * dim, per_scale_dim=dim), variants={"fp32": VariantInfo("fp32", "encoder.onnx")},
             heads=(info,), default_head="quality", files=file_table(folder, ["encoder.onnx", info.file]),
             provenance=Provenance("none", "0" * 64, "none", "MIT")).save(folder)
    scorer = QualityScorer.from_pretrained(folder)
    colours = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (255, 0, 0), (10, 200, 30)]
    sizes = [(32, 32), (40, 300), (97, 65), (64, 48), (33, 130)]
    images = [_flat(colour, h, w) for colour, (w, h) in zip(colours, sizes)]
    results = scorer.score_many(images)
    assert all(r.ok and np.isfinite(r.score) for r in results), results  # type: ignore[arg-type]
    assert [r.score for r in results] == [scorer.score(image) for image in images]


def test_mirroring_flipping_and_turning_move_the_statistics_as_orientation_permutations_says(photo: np.ndarray) -> None:
    """Orientation-invariant proxy heads rest on this: the changed photo's statistics are the moved statistics,
    and its products are those of the moved statistics (each standardised by its own reference values, so
    the products move only nearly as the permutation says)."""
    nss = NaturalSceneStatistics(pairs=True).eval()
    original = nss(_tensor(photo))[0].numpy()
    identity, diagonals, axes, both = orientation_permutations("mobilenet_v3_small-3stages+nss2", 48 + NSS_DIM + NSS_PAIRS, 1)
    np.testing.assert_array_equal(identity, np.arange(48 + NSS_DIM + NSS_PAIRS))
    i, j = np.triu_indices(NSS_DIM)
    for changed, move in ((photo[:, ::-1], diagonals), (photo[::-1], diagonals), (np.rot90(photo), both),
                          (photo.transpose(1, 0, 2), axes)):
        got = nss(_tensor(np.ascontiguousarray(changed)))[0].numpy()
        moved = original[move[48:48 + NSS_DIM] - 48]
        np.testing.assert_allclose(got[:NSS_DIM], moved, rtol=1e-4, atol=1e-5)
        z = (moved - np.array(REFERENCE_MEAN)) / np.array(REFERENCE_SCALE)
        np.testing.assert_allclose(got[NSS_DIM:], (z[:, None] * z[None, :])[i, j], rtol=1e-3, atol=1e-4)
    assert not np.allclose(original[diagonals[48:48 + NSS_DIM] - 48], original[:NSS_DIM], rtol=1e-3)  # not symmetric
