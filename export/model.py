"""The CONTRIQUE network in torch, with the official checkpoint's key layout.

``ContriqueNet.encoder`` is a torchvision ResNet without avgpool and fc, as an ``nn.Sequential``
(``encoder.0`` .. ``encoder.7`` = conv1, bn1, relu, maxpool, layer1..layer4); ``projector`` is
Linear(C, C, no bias), BatchNorm1d(C), ReLU, Linear(C, 128, no bias), BatchNorm1d(128), so a
state dict of the official ``CONTRIQUE_checkpoint25.tar`` loads as is. Training and export both
build the network here, so a checkpoint written by one is read by the other; what describes it
(:class:`~contrique_export.model_config.ModelConfig`) lives in :mod:`contrique_export.model_config`,
which does not import torch.

Two options make smaller, CPU-friendly encoders (both off for the official network): ``stages``
keeps only the first 1..4 residual stages (distortion cues are local; each stage dropped halves
the work of the deepest part), and ``nss`` appends :class:`~contrique_export.nss.NaturalSceneStatistics`
(25 classical statistics: MSCN moments, brightness, contrast, exposure) to the pooled, L2-normalised learned feature;
``nss_pairs`` adds the statistics' 325 standardised pairwise products after them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .model_config import MOBILENET_CUTS, ModelConfig
from .nss import NaturalSceneStatistics


class ContriqueNet(nn.Module):
    """ResNet encoder (+ NSS) plus the contrastive projector (the projector is used only in training)."""

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = _trunk(config)
        self.nss = NaturalSceneStatistics(pairs=config.nss_pairs) if config.nss else None
        c = config.channels
        self.projector = nn.Sequential(
            nn.Linear(c, c, bias=False),
            nn.BatchNorm1d(c),
            nn.ReLU(inplace=True),
            nn.Linear(c, config.projection_dim, bias=False),
            nn.BatchNorm1d(config.projection_dim),
        )

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, shape (N, C, H/s, W/s) (s = 32 with 4 stages)."""
        return self.encoder(x)

    def features(self, x: torch.Tensor, statistics: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(feature_map, feature)``: the map (for training losses on patches) and :meth:`forward`'s feature,
        or with ``statistics=False`` only its learned part (the pooled map; the statistics, which have
        no weights, are not computed)."""
        fmap = self.feature_map(x)
        feature = pooled_feature(fmap)
        return fmap, feature if self.nss is None or not statistics else torch.cat((feature, self.nss(x)), dim=1)

    def stage_modules(self, stages: int) -> list[nn.Module]:
        """The trunk's modules up to the end of its first ``stages`` stages (ResNet: the stem too)."""
        return list(self.encoder)[: _stage_end(self.config.arch, stages)] if stages else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """What inference uses, shape (N, feature_dim): the L2-normalised, globally average-pooled
        feature map, followed by the NSS statistics of ``x`` when the config has ``nss``."""
        return self.features(x)[1]


def _stage_end(arch: str, stages: int) -> int:
    """How many trunk modules the first ``stages`` (1..4) stages take: MobileNetV3-small's blocks up to
    its cut, or a ResNet's stem (conv1, bn1, relu, maxpool) and residual layers."""
    return MOBILENET_CUTS[stages - 1] if arch == "mobilenet_v3_small" else 4 + stages


def _trunk(config: ModelConfig) -> nn.Sequential:
    """The convolutional trunk, cut after ``config.stages`` stages (ResNet: conv1, bn1, relu, maxpool, layers)."""
    network = getattr(torchvision.models, config.arch)(weights=None)
    modules = network.features if config.arch == "mobilenet_v3_small" else network.children()
    return nn.Sequential(*list(modules)[: _stage_end(config.arch, config.stages)])


def pooled_feature(feature_map: torch.Tensor) -> torch.Tensor:
    """Global average pool over H and W, then L2-normalise (eps 1e-12), as the official code does."""
    return F.normalize(feature_map.mean(dim=(2, 3)), dim=1, eps=1e-12)


def build_model(arch: str = "resnet50", projection_dim: int = 128, stages: int = 4, nss: bool = False,
                nss_pairs: bool = False) -> ContriqueNet:
    """Factory: a freshly initialised ``ContriqueNet``."""
    return ContriqueNet(ModelConfig(arch=arch, projection_dim=projection_dim, stages=stages, nss=nss,
                                    nss_pairs=nss_pairs))
