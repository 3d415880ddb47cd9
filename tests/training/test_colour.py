"""Colour-space conversions and the paper's colour augmentations, against known values."""

from __future__ import annotations

import torch

from contrique_training.colour import (
    AUGMENTATIONS,
    augment_colour,
    hsv_to_rgb,
    lab_to_rgb,
    rgb_to_hsv,
    rgb_to_lab,
    rgb_to_ycbcr,
    ycbcr_to_rgb,
)


def _pixels(*rgb: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(rgb, dtype=torch.float32).T.reshape(1, 3, 1, len(rgb))


def test_lab_of_primaries_matches_cie_values() -> None:
    lab = rgb_to_lab(_pixels((1, 0, 0), (1, 1, 1), (0, 0, 1))).reshape(3, 3).T
    torch.testing.assert_close(lab[0], torch.tensor([53.24, 80.09, 67.20]), atol=0.02, rtol=0)
    torch.testing.assert_close(lab[1], torch.tensor([100.0, 0.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(lab[2], torch.tensor([32.30, 79.19, -107.86]), atol=0.02, rtol=0)


def test_round_trips() -> None:
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(x)), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5, rtol=0)


def test_hsv_and_ycbcr_known_values() -> None:
    hsv = rgb_to_hsv(_pixels((0, 1, 0), (0.5, 0.25, 0.25))).reshape(3, 2).T
    torch.testing.assert_close(hsv[0], torch.tensor([1 / 3, 1.0, 1.0]))
    torch.testing.assert_close(hsv[1], torch.tensor([0.0, 0.5, 0.5]))
    ycbcr = rgb_to_ycbcr(_pixels((1, 1, 1))).flatten() * 255
    torch.testing.assert_close(ycbcr, torch.tensor([235.0, 128.0, 128.0]), atol=1e-3, rtol=0)


def test_augmentations_per_image() -> None:
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    out = augment_colour(x, torch.arange(5))
    assert AUGMENTATIONS == ("grayscale", "lab", "hsv", "mscn", "none")
    assert torch.equal(out[0, 0], out[0, 1]) and torch.equal(out[0, 1], out[0, 2])  # grayscale
    torch.testing.assert_close(out[1, 0], rgb_to_lab(x[1:2])[0, 0] / 100)  # LAB, L/100
    torch.testing.assert_close(out[2], rgb_to_hsv(x[2:3])[0])  # HSV
    mscn = out[3].flatten(1)
    assert torch.all(mscn.min(1).values.abs() < 1e-6) and torch.all(mscn.max(1).values > 0.99)  # min-max scaled
    assert torch.equal(out[4], x[4])  # none
    assert float(out.min()) >= 0 and float(out.max()) <= 1
