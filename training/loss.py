"""The CONTRIQUE objective: multi-positive NT-Xent over 2x2 patch projections.

Every image contributes ``patch_grid**2`` patch projections per view; all patches of an image, in
both views, share the image's label. Synthetic images are labelled by distortion class (so two
different photos with the same distortion are positives); authentic images by their own unique
id. Under DDP the projections of all processes are gathered with a gather that passes gradients
back, so the loss equals the single-process loss on the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from contrique_export.model import ContriqueNet


class PatchProjections(nn.Module):
    """Wraps a :class:`ContriqueNet` for training: images -> one projection per patch.

    The feature map is average-pooled to ``grid x grid`` patches; each patch feature is
    L2-normalised and passed through the projector, as in the official training code.
    """

    def __init__(self, net: ContriqueNet, grid: int = 2) -> None:
        super().__init__()
        self.net = net
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) -> projections (N * grid**2, projection_dim), image-major order."""
        return project_patches(self.net, self.net.feature_map(x), self.grid)


def project_patches(net: ContriqueNet, fmap: torch.Tensor, grid: int) -> torch.Tensor:
    """Feature maps (N, C, h, w) -> one projection per patch of a ``grid x grid`` pooling, image-major."""
    fmap = F.adaptive_avg_pool2d(fmap, grid)
    n, c = fmap.shape[:2]
    patches = fmap.reshape(n, c, -1).transpose(1, 2).reshape(-1, c)
    return net.projector(F.normalize(patches, dim=1))


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums each slice's gradient over all processes and returns this process's."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        stacked = torch.stack(grads)
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        return stacked[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from all processes (rank order); gradients flow back to every process's slice.

    Each process computes the same loss on the gathered tensor; the backward sums those
    gradients, and DDP's gradient averaging then yields exactly the single-process gradient.
    Without an initialised process group this is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x), dim=0)


def gather_labels(labels: torch.Tensor) -> torch.Tensor:
    """Concatenate integer labels from all processes (no gradient)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return labels
    out = [torch.empty_like(labels) for _ in range(dist.get_world_size())]
    dist.all_gather(out, labels.contiguous())
    return torch.cat(out)


def multi_positive_nt_xent(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Multi-positive NT-Xent: mean over anchors of ``logsumexp_{j != i} s_ij - mean_{p in P(i)} s_ip``.

    ``s_ij = cos(z_i, z_j) / temperature``; ``P(i)`` are the other rows with the same label.

    Args:
        z: Projections, shape (N, D) (normalised here).
        labels: Integer label per row, shape (N,). Every row needs at least one positive.
        temperature: The softmax temperature.

    Returns:
        The scalar loss (float32).

    Raises:
        ValueError: A row has no positive.
    """
    z = F.normalize(z.float(), dim=1)
    sim = z @ z.T / temperature
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    positives = (labels.view(-1, 1) == labels.view(1, -1)) & ~eye
    count = positives.sum(1)
    if bool((count == 0).any()):
        raise ValueError("every row needs a positive (another row with the same label)")
    log_denominator = torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1)
    positive_mean = (sim * positives).sum(1) / count
    return (log_denominator - positive_mean).mean()


def contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """The loss over the projections of all processes (gathered with gradients under DDP).

    Args:
        z: This process's patch projections, shape (N, D).
        labels: Their labels, shape (N,); globally unique ids for authentic images.
        temperature: The softmax temperature.

    Returns:
        The scalar loss; identical on every process.
    """
    return multi_positive_nt_xent(gather_with_grad(z), gather_labels(labels), temperature)
