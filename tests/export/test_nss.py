"""Natural-scene statistics: values against a NumPy/SciPy reference, behaviour, and ONNX export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from contrique_export.model_config import NSS_DIM
from contrique_export.nss import NaturalSceneStatistics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference(rgb: np.ndarray) -> np.ndarray:
    """The 25 statistics with scipy.ndimage (float64), written from the module's table."""
    y = rgb.astype(np.float64) / 255 @ np.array([0.299, 0.587, 0.114])
    t = np.arange(7) - 3.0
    g = np.exp(-(t**2) / (2 * (7 / 6) ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mu = ndimage.correlate(y, w, mode="nearest")
    sigma = np.sqrt(np.maximum(ndimage.correlate(y * y, w, mode="nearest") - mu * mu, 0))
    m = (y - mu) / (sigma + 1 / 255)
    eps = 1e-10

    def shape(x: np.ndarray) -> float:
        return np.abs(x).mean() ** 2 / ((x * x).mean() + eps)

    m2 = (m * m).mean()
    out = [np.log(m2 + eps), shape(m), np.log((m**4).mean() / (m2 * m2 + eps) + eps),
           np.log(sigma.mean() + eps), y.mean(), 0.5 * np.log(((y - y.mean()) ** 2).mean() + eps)]
    for p in (m[:, :-1] * m[:, 1:], m[:-1, :] * m[1:, :], m[:-1, :-1] * m[1:, 1:], m[:-1, 1:] * m[1:, :-1]):
        neg, pos = p < 0, p > 0
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
