"""The ranking objective: one photo region at every wide level of one distortion, ordered by a linear head.

A *series* is one crop of one photo, pristine and at the 5 wide levels of one distortion type
(:func:`~contrique_training.distortions.distort`), so the only thing that differs inside a
series is the distortion: content cannot explain a difference the loss sees. Every image is seen
as the runtime sees a whole photo: the crop at full scale and the same crop halved (bicubic,
antialiased), each pooled and L2-normalised (+ NSS), concatenated. A linear head on that
feature scores each image; the loss asks every less distorted image of a series to score above
every more distorted one (RankNet: ``softplus(s_worse - s_better)``, averaged over the 15 pairs).

The head standardises the feature with fixed running statistics (``BatchNorm1d`` without affine
parameters) before its linear layer, so :meth:`SeriesModel.linear_head` folds both into the plain
``feature @ coef + intercept`` of a bundle head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrique_export.model import ContriqueNet

from .distortions import LEVELS
from .loss import project_patches

SERIES_LENGTH = LEVELS + 1  # pristine + the 5 wide levels


class SeriesModel(nn.Module):
    """Wraps a :class:`ContriqueNet` for series training: views -> (scores, patch projections).

    Args:
        net: The network.
        grid: Patch grid of the contrastive projections.
        projections: Also return patch projections of both views (for the contrastive loss).
        learned_only: The head reads only the pooled CNN feature of each scale, not the natural-scene
            statistics after it, so the encoder must learn to rank on its own.
    """

    def __init__(self, net: ContriqueNet, grid: int = 2, projections: bool = False, learned_only: bool = False) -> None:
        super().__init__()
        self.net, self.grid, self.projections, self.learned_only = net, grid, projections, learned_only
        per, kept = net.config.feature_dim, net.config.channels if learned_only else net.config.feature_dim
        self.register_buffer("columns", torch.cat([torch.arange(s * per, s * per + kept) for s in range(2)]),
                             persistent=False)
        self.norm = nn.BatchNorm1d(self.columns.numel(), affine=False)
        self.head = nn.Linear(self.columns.numel(), 1)

    def forward(self, full: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Full views (N, 3, S, S) and half views (N, 3, S/2, S/2) -> scores (N,) and projections or None."""
        # learned only: the statistics are neither computed nor read (the pooled maps are the columns, in order)
        fmap_full, feature_full = self.net.features(full, statistics=not self.learned_only)
        fmap_half, feature_half = self.net.features(half, statistics=not self.learned_only)
        feature = torch.cat((feature_full, feature_half), dim=1)
        if not self.learned_only:
            feature = feature[:, self.columns]
        scores = self.head(self.norm(feature)).squeeze(1)
        if not self.projections:
            return scores, None
        z = torch.cat((project_patches(self.net, fmap_full, self.grid), project_patches(self.net, fmap_half, self.grid)))
        return scores, z

    @torch.no_grad()
    def linear_head(self) -> tuple[torch.Tensor, float]:
        """The head as ``(coef, intercept)`` on the whole raw feature (standardisation folded in; 0 for
        the columns it does not read), float64."""
        scale = (self.norm.running_var.double() + self.norm.eps).rsqrt()
        weight = self.head.weight.double().squeeze(0)
        read = weight * scale
        intercept = float(self.head.bias.double() - (read * self.norm.running_mean.double()).sum())
        coef = torch.zeros(2 * self.net.config.feature_dim, dtype=torch.float64, device=read.device)
        coef[self.columns] = read
        return coef, intercept


def proxy_targets(full: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """A full-reference quality proxy per image of whole series, pristine first in each series.

    GMSD on the full views (B * L, 3, S, S) and MDSI on the half views (the cheaper scale for the
    costlier metric; piq, data range 1), each against its series' pristine view, each turned into
    ranks over the batch, then averaged: in [0, 1], higher is better, comparable across photos.
    """
    import piq  # the train extra

    def against_pristine(metric, views: torch.Tensor) -> torch.Tensor:
        x = views.detach().float().clamp(0, 1)
        series = x.view(-1, SERIES_LENGTH, *x.shape[1:])
        ref = series[:, :1].expand_as(series).reshape_as(x)
        return metric(x, ref, data_range=1.0, reduction="none")

    worse = [against_pristine(piq.gmsd, full), against_pristine(piq.mdsi, half)]
    ranks = [(-metric).argsort().argsort().float() for metric in worse]
    return torch.stack(ranks).mean(dim=0) / max(1, full.shape[0] - 1)


def cross_photo_loss(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RankNet over every pair of a batch, photos mixed, ordered by ``targets`` and weighted by their gap.

    Args:
        scores: Head scores (N,), higher = better.
        targets: Proxy quality (N,) in [0, 1], higher = better (:func:`proxy_targets`).

    Returns:
        ``(loss, pair_accuracy)`` over the pairs whose targets differ.
    """
    i, j = torch.triu_indices(scores.shape[0], scores.shape[0], offset=1, device=scores.device)
    gap = targets[i] - targets[j]
    weight = gap.abs()
    margin = (scores[i] - scores[j]) * gap.sign()
    loss = (F.softplus(-margin) * weight).sum() / weight.sum().clamp(min=1e-12)
    accuracy = ((margin > 0).float() * weight).sum() / weight.sum().clamp(min=1e-12)
    return loss, accuracy.detach()


def ranking_loss(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RankNet loss of series scores, shape (B, L) with level increasing along L (higher = better).

    Returns:
        ``(loss, pair_accuracy)``: the mean of ``softplus(s_j - s_i)`` over pairs i < j, and the
        share of pairs already ordered (no gradient).
    """
    i, j = torch.triu_indices(scores.shape[1], scores.shape[1], offset=1, device=scores.device)
    margin = scores[:, i] - scores[:, j]
    return F.softplus(-margin).mean(), (margin > 0).float().mean().detach()
