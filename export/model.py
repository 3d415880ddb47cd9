"""The CONTRIQUE network in torch, with the official checkpoint's key layout.

``ContriqueNet.encoder`` is a torchvision ResNet without avgpool and fc, as an ``nn.Sequential``
(``encoder.0`` .. ``encoder.7`` = conv1, bn1, relu, maxpool, layer1..layer4); ``projector`` is
Linear(C, C, no bias), BatchNorm1d(C), ReLU, Linear(C, 128, no bias), BatchNorm1d(128), so a
state dict of the official ``CONTRIQUE_checkpoint25.tar`` loads as is. Training and export both
build the network here, so a checkpoint written by one is read by the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .errors import ModelConfigError

# Channels of the pooled feature of each supported torchvision ResNet.
ARCHITECTURES: dict[str, int] = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


@dataclass(frozen=True)
class ModelConfig:
    """What is needed to rebuild a network: architecture and projection size."""

    arch: str = "resnet50"
    projection_dim: int = 128

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ModelConfigError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.projection_dim < 1:
            raise ModelConfigError(f"projection_dim must be >= 1, got {self.projection_dim}")

    @property
    def feature_dim(self) -> int:
        """Channels of the pooled encoder feature (per scale)."""
        return ARCHITECTURES[self.arch]

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(arch=str(data.get("arch", "resnet50")), projection_dim=int(data.get("projection_dim", 128)))

    def to_dict(self) -> dict:
        return {"arch": self.arch, "projection_dim": self.projection_dim}


class ContriqueNet(nn.Module):
    """ResNet encoder plus the contrastive projector (the projector is used only in training)."""

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        resnet = getattr(torchvision.models, config.arch)(weights=None)
        self.encoder = nn.Sequential(*list(resnet.children())[:-2])
        c = config.feature_dim
        self.projector = nn.Sequential(
            nn.Linear(c, c, bias=False),
            nn.BatchNorm1d(c),
            nn.ReLU(inplace=True),
            nn.Linear(c, config.projection_dim, bias=False),
            nn.BatchNorm1d(config.projection_dim),
        )

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, shape (N, C, H/32, W/32)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The L2-normalised, globally average-pooled feature, shape (N, C): what inference uses."""
        return pooled_feature(self.feature_map(x))


def pooled_feature(feature_map: torch.Tensor) -> torch.Tensor:
    """Global average pool over H and W, then L2-normalise (eps 1e-12), as the official code does."""
    return F.normalize(feature_map.mean(dim=(2, 3)), dim=1, eps=1e-12)


def build_model(arch: str = "resnet50", projection_dim: int = 128) -> ContriqueNet:
    """Factory: a freshly initialised ``ContriqueNet``."""
    return ContriqueNet(ModelConfig(arch=arch, projection_dim=projection_dim))
