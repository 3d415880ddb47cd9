"""The training loop, from one CPU to many GPUs and nodes.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 the processes join a
process group (NCCL on CUDA, gloo on CPU) and train with DistributedDataParallel, SyncBatchNorm
(CUDA only; torch has no CPU SyncBatchNorm) and a DistributedSampler. Rank 0 logs and saves.

One optimizer step: ``grad_accum`` micro-batches, each finished on the device (distortions,
views), run through the encoder and projector as one batch of both views, scored with the
multi-positive NT-Xent over all processes' patch projections; then SGD with the learning rate
of :func:`~contrique_training.schedule.learning_rate` for that step.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from contrique_export.checkpoint import load_checkpoint, load_training_checkpoint
from contrique_export.errors import CheckpointError
from contrique_export.model import ContriqueNet
from contrique_infer.atomicfile import replace_file
from contrique_infer.commands import BestEffortStderr, say
from contrique_infer.inputs import list_images
from contrique_infer.paths import new_or_empty

from .checkpoint import copy_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .data import BatchStream, ContrastiveDataset, SeriesDataset, check_photos, make_series, make_views
from .errors import ConfigError, DivergedError, RunFolderError
from .loss import PatchProjections, contrastive_loss
from .ranking import SERIES_LENGTH, SeriesModel, cross_photo_loss, proxy_targets, ranking_loss
from .runlog import CHECKPOINT_NAME, LOG_NAME, RunLog, resumed_rows
from .schedule import learning_rate


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its rank, the number of processes, and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str) -> Runtime:
    """Read the torchrun environment, pick the device and join the process group when WORLD_SIZE > 1.

    Raises:
        ConfigError: CUDA was asked for and is not available.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu or auto")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    where = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(where)
        torch.backends.cudnn.benchmark = True
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Runtime(rank, world, where)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (``None``: full precision; AMP is CUDA only)."""
    if device.type != "cuda" or amp == "none":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two SGD groups: weights of convolutions and linear layers with decay; BatchNorm and biases without."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    """Seed of the device-side randomness of one micro-batch: resuming never needs generator state."""
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) * 1_009 + micro


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """The weight-average update of :class:`~torch.optim.swa_utils.AveragedModel`: an exponential
    moving average whose decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so the average forgets the random initialisation within the first hundred steps instead of
    carrying ``decay ** step`` of it (55% after 300 steps at 0.998)."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        if not torch.is_floating_point(averaged[0]):  # counters (BatchNorm's num_batches_tracked): the latest
            torch._foreach_copy_(averaged, current)
            return
        n = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1 - min(decay, (1 + n) / (10 + n)))

    return update


def _encoder_norms(net: ContriqueNet) -> list[nn.Module]:
    """The encoder's BatchNorm layers (SyncBatchNorm too, after DistributedDataParallel's swap)."""
    return [m for m in net.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


def _describe_data(config: TrainConfig, n_pristine: int, n_authentic: int) -> str:
    if config.data_description:
        return config.data_description
    # folder names only: a bundle's provenance must not carry the build machine's paths
    text = f"{n_pristine} pristine photos (folder '{Path(config.data).name}') with on-the-fly synthetic distortions"
    return text + (f"; {n_authentic} authentic photos (folder '{Path(config.data_authentic).name}')"
                   if n_authentic else "")


def prepare_run_folder(out: Path, config: TrainConfig, resume: Path | None, resumed: dict | None,
                       create: bool) -> None:
    """Check the run folder before any work, and create it when ``create`` (the main process).

    A new run needs a new or empty folder, as ``contrique-export`` and ``proxy make`` do, so that it
    never overwrites another run's checkpoint and log. A resumed run may also write into the
    checkpoint's own folder, or into another folder of the same run (:func:`_same_run`). No run
    folder may lie inside a data folder, whose scan would read its ``loss.png`` as a photo.

    Args:
        out: The run folder (``--out``).
        config: The run's settings (their data folders).
        resume: The checkpoint continued from, or None for a new run.
        resumed: That checkpoint (as :func:`~contrique_export.checkpoint.load_training_checkpoint` reads it).
        create: Create the folder (the main process does).

    Raises:
        RunFolderError: ``out`` is not a folder, cannot be created, lies inside a data folder, or is
            not empty and holds no run that ``resume`` continues.
    """
    try:
        if out.exists() and not out.is_dir():
            raise RunFolderError(out, "exists and is not a folder; choose another --out")
        for data in filter(None, (config.data, config.data_authentic)):
            if _inside(out, Path(data)):
                raise RunFolderError(out, f"is inside the data folder {data}, whose scan would read the run's files "
                                          "(loss.png) as photos; choose an --out outside it")
        if not new_or_empty(out):  # a folder here, or nothing
            if resume is None:
                raise RunFolderError(out, _not_empty(out))
            if not (out.samefile(resume.parent) or _same_run(out, resumed)):
                raise RunFolderError(out, f"is not empty and holds no run that {resume} continues (its checkpoint.pt "
                                          "is of another run, or its config.json is missing or has other settings); "
                                          "choose a new or empty --out, or resume into the checkpoint's own folder "
                                          f"{resume.parent}")
        if create:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(out, f"cannot be created or read ({exc.strerror or exc}); choose another --out") from exc


def _inside(folder: Path, root: Path) -> bool:
    """Whether ``folder`` (which may not exist yet) is ``root`` or lies below it, by identity (links followed)."""
    if not root.is_dir():
        return False  # the data scan reports it
    path = folder.resolve()
    return any(parent.exists() and parent.samefile(root) for parent in (path, *path.parents))


def _not_empty(out: Path) -> str:
    """Why a new run refuses the folder ``out`` that is not empty, and what to do."""
    if (out / "config.json").is_file() and not (out / CHECKPOINT_NAME).exists():
        return ("holds config.json but no checkpoint.pt: what a run that failed before its first checkpoint left; "
                "delete the folder, or choose a new --out")
    return ("is not empty (it may hold another run); choose a new --out, remove the folder, or continue its run "
            f"with --resume {out / CHECKPOINT_NAME}")


def _same_run(out: Path, resumed: dict | None) -> bool:
    """Whether the run folder ``out`` holds the run that the checkpoint ``resumed`` continues.

    Checkpoints since 2026-12-08 record their run's ``run_id``, drawn when the run began: the folder's
    ``checkpoint.pt`` must hold the same. Where neither records one (older runs), its ``config.json`` must
    hold the checkpoint's settings, which two runs of one preset and seed share, whatever their photos.
    """
    resumed = resumed or {}
    held = out / CHECKPOINT_NAME
    if held.is_file():
        try:
            held_id = load_training_checkpoint(held).get("run_id")
        except CheckpointError:
            return False
        if held_id is not None or resumed.get("run_id") is not None:
            return held_id == resumed.get("run_id")
    try:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
        return isinstance(saved, dict) and (TrainConfig.from_dict(saved)
                                            == TrainConfig.from_dict(resumed.get("config") or {}))
    except (OSError, UnicodeDecodeError, ValueError):  # ConfigError is a ValueError
        return False


def _discard_unsaved(out: Path, made: bool) -> None:
    """Remove what a run that stopped before its first checkpoint wrote: the folder if it made it, else its files.

    Args:
        out: The run folder.
        made: The run created ``out``.
    """
    if (out / CHECKPOINT_NAME).exists():
        return
    if made:
        shutil.rmtree(out, ignore_errors=True)
        return
    for name in ("config.json", LOG_NAME, "loss.png"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)


def initial_weights(path: Path, config: TrainConfig) -> dict[str, torch.Tensor]:
    """The encoder weights of the checkpoint ``path`` (``--init-from``) for the network ``config`` trains.

    The natural-scene statistics and their pairwise products have no weights, so a checkpoint with or
    without them fits a network with or without them; every other architecture setting must match.

    Raises:
        CheckpointError: The checkpoint cannot be read, or is of another architecture.
    """
    ckpt = load_checkpoint(path, arch=config.arch)
    if replace(ckpt.config, nss=config.nss, nss_pairs=config.nss_pairs) != config.model_config:
        raise CheckpointError(path, f"holds a {ckpt.config.name} network (projection {ckpt.config.projection_dim}), "
                                    f"not the {config.model_config.name} (projection {config.projection_dim}) these "
                                    "settings train; give --init-from a checkpoint of this architecture, or set --arch, "
                                    "--stages, --nss and --projection-dim to the checkpoint's")
    return dict(ckpt.state_dict)


def _restore(path: Path, ckpt: dict, net: ContriqueNet, trainer: nn.Module, ema: AveragedModel | None,
             optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, stream: BatchStream, total: int) -> int:
    """Restore the training state of ``ckpt``, the checkpoint read from ``path``; returns its step.

    Raises:
        CheckpointError: Its state does not fit this run (damaged, or from a run with other settings).
    """
    if ckpt["model_config"] != net.config.to_dict():
        raise CheckpointError(path, f"model {ckpt['model_config']} differs from the config's {net.config.to_dict()}")
    step = ckpt["step"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= total:
        raise CheckpointError(path, f"field 'step' is {step!r}, not a step of this run (0..{total}); the checkpoint "
                                    "is damaged, or --steps is below its step")
    try:
        if "trainer" in ckpt:
            trainer.load_state_dict(ckpt["trainer"])
        else:
            net.load_state_dict(ckpt["model"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        stream.restore(ckpt["rng"]["sampler"])
    except (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise CheckpointError(path, f"its training state cannot be restored ({type(exc).__name__}: {detail}); the "
                                    "checkpoint is damaged, or from a run with other settings") from exc
    return step


def train(config: TrainConfig, out_dir: str | os.PathLike[str], resume: str | os.PathLike[str] | None = None,
          progress: bool = True, stop_at: int | None = None) -> Path:
    """Train (or continue training) and write ``<out_dir>/checkpoint.pt``.

    Args:
        config: The run's configuration.
        out_dir: The run folder (checkpoint, config.json, log.csv, loss.png).
        resume: A checkpoint of this run to continue from exactly.
        progress: Show a progress bar on rank 0.
        stop_at: Stop after this step with a checkpoint (the schedule still spans the whole
            run), e.g. to fit a time-limited job; ``--resume`` continues from there.

    Returns:
        The path of the last checkpoint.

    Raises:
        ConfigError, DataError, ScanError, CheckpointError: Bad settings, data (ScanError: a photo
            folder that is missing, unreadable or holds no images) or checkpoint (also: one that
            cannot be written, or a ``config.init_from`` of another architecture).
        RunFolderError: ``out_dir`` is a file, cannot be created or written, lies inside a data folder,
            or is not empty and holds no run that ``resume`` continues; or its log.csv is damaged.
        DivergedError: The loss became NaN or infinite (nothing more is saved).

    A run that stops (fails, or is interrupted) before its first checkpoint removes what it wrote: the
    folder if it made it, else its files, so that the folder can be used again.
    """
    rt = setup_runtime(config.device)
    try:
        return _train(config, Path(out_dir), None if resume is None else Path(resume), progress, rt, stop_at)
    finally:
        if rt.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, out: Path, resume: Path | None, progress: bool, rt: Runtime,
           stop_at: int | None) -> Path:
    """Check the settings against the processes and the run folder, then run; see :func:`train`."""
    micro = config.batch_size // config.grad_accum
    if micro % rt.world:
        raise ConfigError(
            f"batch_size {config.batch_size} / grad_accum {config.grad_accum} = {micro} images per micro-batch "
            f"cannot be split over {rt.world} processes; use a multiple of {rt.world * config.grad_accum}"
        )
    if config.rank_weight > 0 and (micro // rt.world) % SERIES_LENGTH:
        raise ConfigError(f"{micro // rt.world} images per process and micro-batch are not whole series of "
                          f"{SERIES_LENGTH}; use a batch_size that is a multiple of {SERIES_LENGTH * rt.world}")
    ckpt = None if resume is None else load_training_checkpoint(resume)
    if stop_at is not None and ckpt is not None and isinstance(ckpt["step"], int) and stop_at <= ckpt["step"]:
        raise ConfigError(f"--stop-at {stop_at} is not after the step {resume} was saved at ({ckpt['step']}): the run "
                          f"would train nothing; give a step above {ckpt['step']}, or leave --stop-at out")
    init = initial_weights(Path(config.init_from), config) if config.init_from and resume is None else None
    photos = _checked_photos(config, progress and rt.is_main)
    record = _photo_record(config, photos)  # what the checkpoints record, and a resume must find again
    if ckpt is not None:
        _check_same_photos(resume, ckpt, config, record)
    made = not out.exists()
    prepare_run_folder(out, config, resume, ckpt, rt.is_main)
    try:
        return _run(config, out, resume, ckpt, init, photos, record, progress, rt, stop_at)
    except BaseException:  # Ctrl-C too
        if rt.is_main:
            _discard_unsaved(out, made)
        raise


def _checked_photos(config: TrainConfig, progress: bool) -> tuple[list[Path], list[Path]]:
    """The pristine and authentic photos of ``config``, every one's header checked before any work
    (:func:`~contrique_training.data.check_photos`), so that a photo that cannot be read stops the run
    at once rather than hours in, at the step that first draws it (which a resume would meet again).

    Raises:
        ScanError: A folder holds no photos or cannot be read.
        DataError: Photos cannot be read: all of them named.
    """
    found: list[list[Path]] = []
    for folder in (config.data, config.data_authentic):
        found.append(list_images(folder) if folder else [])
        if folder:
            check_photos(Path(folder), found[-1], progress)
    return found[0], found[1]


def _photo_record(config: TrainConfig, photos: tuple[list[Path], list[Path]]) -> dict[str, dict[str, object]]:
    """What a checkpoint records of the photos its run trains on, so that a resume can tell them from others:
    per stream (``pristine``, ``authentic``), their number and a digest of their paths relative to their
    folder and their sizes (a folder moved elsewhere gives the same record)."""
    record = {}
    for name, folder, files in (("pristine", config.data, photos[0]), ("authentic", config.data_authentic, photos[1])):
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.relative_to(folder).as_posix()}\t{path.stat().st_size}\n".encode())
        record[name] = {"count": len(files), "digest": digest.hexdigest()[:16]}
    return record


def _check_same_photos(resume: Path, ckpt: dict, config: TrainConfig, now: dict[str, dict[str, object]]) -> None:
    """Refuse to resume the run of ``ckpt`` on other photos (``now``, :func:`_photo_record` of this run's) than
    it was trained on (checkpoints that record them: since 2026-12-08): the steps from there would not be that
    run's.

    Raises:
        ConfigError: The photos differ from the record.
    """
    recorded = ckpt.get("photos")
    if not isinstance(recorded, dict):
        return
    for name, flag, folder in (("pristine", "--data", config.data), ("authentic", "--data-authentic",
                                                                      config.data_authentic)):
        held = recorded.get(name)
        if now[name] == held:
            continue
        had = held.get("count", "?") if isinstance(held, dict) else "?"
        count = now[name]["count"]
        others = ", other ones (their names or sizes differ)" if count == had else ""
        raise ConfigError(f"--resume continues the run of {resume}, which trained on {had} {name} photos, and "
                          f"{flag} {folder or '(none)'} gives {count}{others}: the steps from here would not be that "
                          "run's; pass the folder it was trained on, or start a new run from its weights with "
                          "--init-from")


def _run(config: TrainConfig, out: Path, resume: Path | None, ckpt: dict | None, init: dict[str, torch.Tensor] | None,
         photos: tuple[list[Path], list[Path]], record: dict[str, dict[str, object]], progress: bool, rt: Runtime,
         stop_at: int | None) -> Path:
    """Train in the checked run folder ``out`` on ``photos`` (pristine, authentic; ``record``, what checkpoints
    record of them: :func:`_photo_record`), from ``ckpt`` (read from
    ``resume``) when given, else from the encoder weights ``init`` (``--init-from``) when given; see :func:`train`."""
    micro = config.batch_size // config.grad_accum
    torch.manual_seed(config.seed + rt.rank)

    # data: series for the ranking objective, else the paper's two-view samples
    series = config.rank_weight > 0
    pristine, authentic = photos
    if series:
        stream = BatchStream(SeriesDataset(pristine, config.crop_size, config.seed, config.variants_per_image,
                                                 config.max_side, config.chain_fraction, config.alt_fraction,
                                                 config.block_fraction, config.phase_jitter), None,
                             micro // rt.world // SERIES_LENGTH, 0.0, rt.rank, rt.world, config.workers,
                             pin=rt.device.type == "cuda")
    else:
        synthetic = ContrastiveDataset(pristine, config.crop_size, config.seed, True, config.variants_per_image,
                                       config.max_side)
        real = (ContrastiveDataset(authentic, config.crop_size, config.seed, False, max_side=config.max_side)
                if authentic else None)
        stream = BatchStream(synthetic, real, micro // rt.world, config.authentic_fraction, rt.rank, rt.world,
                             config.workers, pin=rt.device.type == "cuda", images_per_class=config.images_per_class)
    total = config.steps or max(1, config.epochs * stream.batches_per_epoch // config.grad_accum)

    # model, optimizer and weight average
    net = ContriqueNet(config.model_config)
    if init is not None:
        net.load_state_dict(init, strict=True)
    for module in net.stage_modules(config.freeze_stages):
        module.requires_grad_(False)
    trainer: nn.Module = (
        SeriesModel(net, config.patch_grid, projections=config.contrastive_weight > 0,
                    learned_only=config.rank_learned_only) if series
        else PatchProjections(net, config.patch_grid)
    ).to(rt.device)
    amp = autocast_dtype(config.amp, rt.device)
    channels_last = config.channels_last and rt.device.type == "cuda"
    if channels_last:
        trainer = trainer.to(memory_format=torch.channels_last)
    groups = param_groups(trainer, config.weight_decay)
    optimizer = (
        torch.optim.AdamW(groups, lr=config.peak_lr) if config.optimizer == "adamw"
        else torch.optim.SGD(groups, lr=config.peak_lr, momentum=config.momentum)
    )
    ema = AveragedModel(trainer, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True) \
        if config.ema_decay else None
    scaler = torch.amp.GradScaler(rt.device.type, enabled=amp == torch.float16)
    start = 0
    if resume is not None:
        start = _restore(resume, ckpt, net, trainer, ema, optimizer, scaler, stream, total)
    model = trainer
    if rt.world > 1:
        if rt.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                                        find_unused_parameters=series and not config.contrastive_weight)

    data_info = {"description": _describe_data(config, len(pristine), len(authentic)), "license": config.data_license}
    # which run a checkpoint is of, so that a resume never writes over another run's folder (_same_run)
    run_id = ckpt["run_id"] if ckpt is not None and isinstance(ckpt.get("run_id"), str) else uuid.uuid4().hex
    log = None
    if rt.is_main:
        rows = resumed_rows(out, start) if resume is not None else []  # before anything is rewritten
        try:
            replace_file(out / "config.json", (json.dumps(config.to_dict(), indent=2) + "\n").encode("utf-8"))
            log = RunLog(out, config.tensorboard, rows)
        except OSError as exc:
            advice = ("free some space (or make it writable) and resume again: its log.csv and config.json are as "
                      "they were" if resume is not None else "choose another --out")
            raise RunFolderError(out, f"cannot be written ({exc.strerror or exc}); {advice}") from exc
        say(f"training {config.arch} for {total} steps (from step {start}) on {rt.world} process(es), "
            f"device {rt.device}, batch {config.batch_size}, peak lr {config.peak_lr:.4g}")

    def save(step: int) -> Path:
        final = trainer if ema is None else ema.module  # the weights to use: the average when there is one
        extra: dict = {"trainer": _cpu(trainer.state_dict())}
        if ema is not None:
            extra["ema"] = _cpu(ema.state_dict())
        if series:
            coef, intercept = final.linear_head()
            extra["head"] = {"coef": coef.cpu(), "intercept": intercept}
        path = save_checkpoint(out / CHECKPOINT_NAME, {
            **extra,
            "model_config": net.config.to_dict(),
            "model": _cpu(final.net.state_dict()),
            "config": config.to_dict(),
            "step": step,
            "epoch": stream.epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": {"name": "warmup_cosine", "step": step, "total_steps": total,
                          "peak_lr": config.peak_lr, "warmup_fraction": config.warmup_fraction},
            "scaler": scaler.state_dict(),
            "rng": {**rng_state(), "sampler": stream.state()},
            "data": data_info,
            "run_id": run_id,
            "photos": record,
        })
        if config.keep_every and step % config.keep_every == 0:
            copy_checkpoint(path, out / f"checkpoint-{step:06d}.pt")
        return path

    generator = torch.Generator(device=rt.device)
    bar = tqdm(total=total, initial=start, file=BestEffortStderr(), disable=not (progress and rt.is_main),
               dynamic_ncols=True)
    model.train()
    for module in net.stage_modules(config.freeze_stages):  # (after SyncBatchNorm's swap) BatchNorm statistics stay
        module.eval()                                        # those of the initialisation
    if config.fixed_norm:
        for module in _encoder_norms(net):
            module.eval()
    # from this step on the BatchNorm layers inference uses (the encoder's, the ranking head's) normalise as at
    # inference, with their running statistics
    norm_frozen_at = max(start, round(config.freeze_norm_at * total)) if config.freeze_norm_at else total
    stats: dict[str, float] = {}
    t0 = t_log = time.perf_counter()
    images_since_log = 0
    saved_at = start
    end = total if stop_at is None else max(start, min(stop_at, total))
    for step in range(start, end):
        if step == norm_frozen_at:
            for module in _encoder_norms(net) + ([trainer.norm] if series else []):
                module.eval()
        lr = learning_rate(step, total, config.peak_lr, config.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=rt.device)
        for index in range(config.grad_accum):
            batch = stream.next()
            generator.manual_seed(_step_seed(config.seed, rt.rank, step, index))
            full, half, labels = (make_series(batch, rt.device, generator, config.crop_size) if series
                                  else make_views(batch, rt.device, generator))
            if channels_last:
                full, half = (v.contiguous(memory_format=torch.channels_last) for v in (full, half))
            patch_labels = labels.repeat(2).repeat_interleave(config.patch_grid**2)
            sync = model.no_sync() if rt.world > 1 and index < config.grad_accum - 1 else nullcontext()
            with sync:
                with torch.autocast(rt.device.type, dtype=amp or torch.float32, enabled=amp is not None):
                    scores, z = model(full, half) if series else (None, model(torch.cat((full, half))))
                loss = torch.zeros((), device=rt.device)
                if scores is not None:
                    rank, accuracy = ranking_loss(scores.float().view(-1, SERIES_LENGTH))
                    loss = loss + config.rank_weight * rank
                    stats = {"rank_loss": float(rank.detach()), "pair_accuracy": float(accuracy)}
                    if config.proxy_weight:
                        cross, cross_accuracy = cross_photo_loss(scores.float(), proxy_targets(full, half))
                        loss = loss + config.proxy_weight * cross
                        stats |= {"proxy_loss": float(cross.detach()), "proxy_pair_accuracy": float(cross_accuracy)}
                if z is not None:
                    loss = loss + config.contrastive_weight * contrastive_loss(z, patch_labels, config.temperature)
                loss = loss / config.grad_accum
                scaler.scale(loss).backward()
            step_loss += loss.detach()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update_parameters(trainer)
        images_since_log += config.batch_size
        bar.update(1)
        done = step + 1
        logged = done % config.log_every == 0 or done == end
        due = any(every and done % every == 0 for every in (config.checkpoint_every, config.keep_every))
        if logged or due:  # every process: one that stops alone would leave the others waiting
            value = float(step_loss)
            if not math.isfinite(value):
                raise DivergedError(
                    f"the loss is {value} at step {done}: training diverged, and stops before saving such weights; "
                    "lower --base-lr (or try --amp none) and start again, or --resume from an earlier checkpoint"
                )
        if rt.is_main and logged:
            now = time.perf_counter()
            rate = images_since_log / max(now - t_log, 1e-9)
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.3g}", img_s=f"{rate:.1f}")
            log.log({"step": done, "epoch": stream.epoch, "loss": value, "lr": lr,
                     "images_per_s": round(rate, 2), "elapsed_s": round(now - t0, 2), **stats})
            t_log, images_since_log = now, 0
        if rt.is_main and due and done < end:
            save(done)
            saved_at = done
    bar.close()
    path = out / CHECKPOINT_NAME
    if rt.is_main:
        if saved_at != end or not path.is_file():
            save(end)
        log.close()
    if rt.world > 1:
        dist.barrier()
    return path
