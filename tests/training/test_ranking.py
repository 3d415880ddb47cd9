"""The ranking objective: the loss against a loop, pair accuracy, and the folded linear head."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from contrique_export.model import ContriqueNet, ModelConfig
from contrique_export.model_config import NSS_DIM
from contrique_training.ranking import SERIES_LENGTH, SeriesModel, cross_photo_loss, proxy_targets, ranking_loss

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


@pytest.mark.parametrize("learned_only", [False, True])
def test_linear_head_folds_the_standardisation(learned_only: bool) -> None:
    torch.manual_seed(0)
    model = SeriesModel(ContriqueNet(ModelConfig("resnet18", 16, stages=1, nss=True)), projections=True,
                        learned_only=learned_only)
    full, half = torch.rand(12, 3, 32, 32), torch.rand(12, 3, 16, 16)
    calls: list[int] = []
    hook = model.net.nss.register_forward_hook(lambda *_: calls.append(1))
    scores, z = model(full, half)  # train mode: updates the running statistics
    assert scores.shape == (12,) and z.shape == (2 * 12 * 4, 16)
    model.eval()
    with torch.no_grad():
        scores, _ = model(full, half)
        hook.remove()
        assert len(calls) == (0 if learned_only else 4)  # learned_only: the statistics are not even computed
        features = torch.cat((model.net(full), model.net(half)), dim=1).double()
    coef, intercept = model.linear_head()
    assert coef.shape == (2 * (64 + NSS_DIM),)
    torch.testing.assert_close(features @ coef + intercept, scores.double(), atol=1e-4, rtol=1e-5)
    statistics = torch.cat((coef[64:64 + NSS_DIM], coef[-NSS_DIM:]))
    assert bool((statistics == 0).all()) == learned_only  # learned_only: the head never reads the statistics


def test_cross_photo_loss_equals_a_weighted_loop_over_pairs() -> None:
    g = torch.Generator().manual_seed(1)
    scores, targets = torch.randn(7, generator=g), torch.rand(7, generator=g)
    targets[3] = targets[5]  # a tie: weight 0
    loss, accuracy = cross_photo_loss(scores, targets)
    pairs = list(itertools.combinations(range(7), 2))
    weights = [abs(float(targets[i] - targets[j])) for i, j in pairs]
    better = [(i, j) if targets[i] > targets[j] else (j, i) for i, j in pairs]
    expected = sum(w * F.softplus(scores[b] - scores[a]) for w, (a, b) in zip(weights, better)) / sum(weights)
    torch.testing.assert_close(loss, expected)
    right = sum(w for w, (a, b) in zip(weights, better) if scores[a] > scores[b])
    assert float(accuracy) == pytest.approx(right / sum(weights))


def test_proxy_targets_rank_pristine_first_and_compare_across_photos() -> None:
    """Two photos, each a series of rising noise: the pristine views rank top, every series falls, and
    a lightly distorted image of one photo outranks a heavily distorted one of the other."""
    g = torch.Generator().manual_seed(2)
    photos = F.interpolate(torch.rand(2, 3, 16, 16, generator=g), size=64, mode="bicubic").clamp(0, 1)
    series = []
    for photo in photos:
        for level in range(SERIES_LENGTH):
            sigma = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)[level]
            series.append((photo + sigma * torch.randn(photo.shape, generator=g)).clamp(0, 1))
    full = torch.stack(series)
    targets = proxy_targets(full, F.avg_pool2d(full, 2))
    assert targets.shape == (2 * SERIES_LENGTH,) and float(targets.min()) >= 0 and float(targets.max()) <= 1
    for s in range(2):
        t = targets[s * SERIES_LENGTH : (s + 1) * SERIES_LENGTH]
        assert all(float(a) > float(b) for a, b in zip(t, t[1:])), t
    assert float(targets[1]) > float(targets[SERIES_LENGTH + SERIES_LENGTH - 1])
