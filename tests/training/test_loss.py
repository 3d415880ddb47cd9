"""The multi-positive NT-Xent loss: against a slow direct implementation, and under DDP (2 CPU processes)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from contrique_export.model import ContriqueNet, ModelConfig
from contrique_training.loss import PatchProjections, contrastive_loss, multi_positive_nt_xent


def slow_loss(z: torch.Tensor, labels: list[int], temperature: float) -> torch.Tensor:
    """The paper's loss written out with Python loops over anchors, negatives and positives."""
    n = len(labels)
    unit = [z[i] / z[i].norm() for i in range(n)]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        sims = {j: float(unit[i] @ unit[j]) / temperature for j in range(n)}
        denominator = sum(math.exp(sims[j]) for j in range(n) if j != i)
        positives = [j for j in range(n) if j != i and labels[j] == labels[i]]
        total += math.log(denominator) - sum(sims[p] for p in positives) / len(positives)
    return total / n


def test_matches_slow_direct_implementation() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(24, 16, generator=g, dtype=torch.float64)
    labels = [0, 0, 3, 3, 3, 7, 7, 130, 130, 131, 131, 0] * 2
    expected = slow_loss(z, labels, 0.1)
    got = multi_positive_nt_xent(z, torch.tensor(labels), 0.1)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    warm = multi_positive_nt_xent(z, torch.tensor(labels), 0.5)
    assert float(warm) == pytest.approx(float(slow_loss(z, labels, 0.5)), rel=1e-5)


def test_perfect_clusters_give_lower_loss() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    clustered = F.one_hot(labels, 3).float() + 0.01 * torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    mixed = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).float()
    assert float(multi_positive_nt_xent(clustered, labels)) < float(multi_positive_nt_xent(mixed, labels))
    with pytest.raises(ValueError, match="positive"):
        multi_positive_nt_xent(torch.randn(3, 4), torch.tensor([0, 1, 1]))


def test_patch_projections_pool_normalise_project() -> None:
    torch.manual_seed(0)
    net = ContriqueNet(ModelConfig("resnet18", 8)).eval()
    head = PatchProjections(net, grid=2).eval()
    x = torch.rand(2, 3, 64, 64)
    z = head(x)
    assert z.shape == (8, 8)
    fmap = net.feature_map(x)  # (2, 512, 2, 2): each patch is one cell
    patch = F.normalize(fmap[1, :, 0, 1], dim=0)  # image 1, top-right patch -> row 1 * 4 + 1
    torch.testing.assert_close(z[5], net.projector(patch[None])[0], atol=1e-5, rtol=1e-5)


class _Tiny(nn.Module):
    """A projector-like tiny model without BatchNorm (per-process BN statistics would differ)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 16)
        self.b = nn.Linear(16, 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.randn(16, 6, generator=g), torch.tensor([0, 0, 1, 1, 2, 2, 0, 0, 126, 126, 127, 127, 128, 128, 1, 1])


def _single_process() -> tuple[float, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = _Tiny()
    x, labels = _data()
    loss = contrastive_loss(model(x), labels, 0.1)
    loss.backward()
    return float(loss.detach()), {k: p.grad.clone() for k, p in model.named_parameters()}


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = DistributedDataParallel(_Tiny())
        x, labels = _data()
        part = slice(rank * 8, (rank + 1) * 8)  # each process gets half of the batch
        loss = contrastive_loss(model(x[part]), labels[part], 0.1)
        loss.backward()
        grads = {k.removeprefix("module."): p.grad.clone() for k, p in model.named_parameters()}
        # negative control: a gather that passes no gradient to the other processes' slices
        model.zero_grad()
        z = model(x[part])
        chunks = [torch.empty_like(z) for _ in range(world)]
        dist.all_gather(chunks, z.detach())
        chunks[rank] = z
        multi_positive_nt_xent(torch.cat(chunks), labels, 0.1).backward()
        naive = {k.removeprefix("module."): p.grad.clone() for k, p in model.named_parameters()}
        torch.save({"loss": float(loss.detach()), "grads": grads, "naive": naive}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_loss_and_gradients_equal_single_process(tmp_path: Path) -> None:
    expected_loss, expected_grads = _single_process()
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert result["loss"] == pytest.approx(expected_loss, rel=1e-6)
        for name, grad in expected_grads.items():
            torch.testing.assert_close(result["grads"][name], grad, atol=1e-6, rtol=1e-5)
        # without gradients through the gather, the same set-up gets other gradients
        assert not torch.allclose(result["naive"]["a.weight"], expected_grads["a.weight"], atol=1e-6, rtol=1e-5)
