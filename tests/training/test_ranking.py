"""The ranking objective: the loss against a loop, pair accuracy, and the folded linear head."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from contrique_export.model import ContriqueNet, ModelConfig
from contrique_export.model_config import NSS_DIM
from contrique_training.ranking import SERIES_LENGTH, SeriesModel, ranking_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ranking_loss_equals_a_loop_over_pairs() -> None:
    scores = torch.randn(3, SERIES_LENGTH, generator=torch.Generator().manual_seed(0))
    loss, accuracy = ranking_loss(scores)
    pairs = [(b, i, j) for b in range(3) for i, j in itertools.combinations(range(SERIES_LENGTH), 2)]
    expected = sum(F.softplus(scores[b, j] - scores[b, i]) for b, i, j in pairs) / len(pairs)
    torch.testing.assert_close(loss, expected)
    assert float(accuracy) == pytest.approx(sum(bool(scores[b, i] > scores[b, j]) for b, i, j in pairs) / len(pairs))
    ordered = torch.arange(SERIES_LENGTH, 0, -1).float().repeat(2, 1) * 10  # falls with the level: all pairs right
    loss, accuracy = ranking_loss(ordered)
    assert float(accuracy) == 1.0 and float(loss) < 1e-4
    assert float(ranking_loss(-ordered)[1]) == 0.0


def test_linear_head_folds_the_standardisation() -> None:
    torch.manual_seed(0)
    model = SeriesModel(ContriqueNet(ModelConfig("resnet18", 16, stages=1, nss=True)), projections=True)
    full, half = torch.rand(12, 3, 32, 32), torch.rand(12, 3, 16, 16)
    scores, z = model(full, half)  # train mode: updates the running statistics
    assert scores.shape == (12,) and z.shape == (2 * 12 * 4, 16)
    model.eval()
    with torch.no_grad():
        scores, _ = model(full, half)
        features = torch.cat((model.net(full), model.net(half)), dim=1).double()
    coef, intercept = model.linear_head()
    assert coef.shape == (2 * (64 + NSS_DIM),)
    torch.testing.assert_close(features @ coef + intercept, scores.double(), atol=1e-4, rtol=1e-5)
