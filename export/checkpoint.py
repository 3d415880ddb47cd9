"""Checkpoints: the project's format, the official plain state dict, and reading both safely.

Reading never runs code (``torch.load(weights_only=True)``), and when torch refuses a file, its
advice to retry with ``weights_only=False`` is never passed on. Every reader of a checkpoint
(``contrique-export``, ``contrique-train --resume``, the probe) reads through this module.

The project's format (written by :func:`contrique_training.checkpoint.save_checkpoint`) is a dict::

    {"format": "contrique-checkpoint", "format_version": 1,
     "model_config": <ModelConfig.to_dict()>, "model": <ContriqueNet state dict>,
     "config": <TrainConfig.to_dict()>, "step": int, "epoch": int,
     "optimizer": <optimizer state dict>, "scheduler": {...}, "scaler": <GradScaler state dict>,
     "rng": {"torch", "cuda", "numpy", "python", "sampler"},
     "data": {"description": str, "license": str},
     # optional: "trainer" and "ema" (state dicts resuming restores), "head": {"coef", "intercept"},
     # "run_id": str (drawn when the run began, kept by every resume; since 2026-12-08),
     # "photos": {"pristine"|"authentic": {"count", "digest"}} (what a resume must train on; since 2026-12-08)}

Export needs ``model_config`` and ``model`` and checks them against
:class:`~contrique_export.model.ContriqueNet` (every missing, unexpected or wrongly shaped key is
listed in the error; a weight that is NaN or infinite is refused), and ``config.max_side`` when it
is set; resuming needs every field of :data:`TRAINING_FIELDS`. The official checkpoint is a plain
state dict; ``module.`` prefixes of DistributedDataParallel are removed.

Before ``torch.load`` reads a file, its zip directory is checked: ``torch.save`` stores every
record uncompressed, so a compressed record (which could inflate to far more memory than the file
takes) or records claiming more bytes than the file holds are refused as a crafted or damaged file.
Only that zip format (``torch.save``'s since PyTorch 1.6) is read: torch allocates the tensors of its
legacy format at the sizes the file declares, before reading their data, so a file of 300 bytes can
claim gigabytes; such a file is refused, and so is any other file that does not begin as a zip archive.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from contrique_infer.bundle import sha256_file
from contrique_infer.regularfile import NotRegularFileError, open_regular

from .errors import CheckpointError, ModelConfigError
from .model import ContriqueNet
from .model_config import ARCHITECTURES, ModelConfig, check_max_side

FORMAT = "contrique-checkpoint"
FORMAT_VERSION = 1
TRAINING_FIELDS = (
    "model_config", "model", "config", "step", "epoch", "optimizer", "scheduler", "scaler", "rng", "data"
)
"""The fields contrique-train writes into every checkpoint and resuming reads."""
OFFICIAL_TRAINING_DATA = "KADIS-700k + authentic images: AVA, COCO, CERTH-Blur, VOC2012 (official CONTRIQUE release)"
_DDP_PREFIX = "module."
_LISTED = 12  # how many offending keys an error message names
_INTEGERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
"""The integer dtypes a weight may have (``num_batches_tracked`` is int64)."""
_ZIP_START = b"PK\x03\x04"  # a zip archive's first local file header: how torch.save output begins
_LEGACY_STARTS = tuple(pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=p)
                       for p in range(pickle.HIGHEST_PROTOCOL + 1))
"""How a file of torch's legacy (non-zip) format begins: its magic number, in each pickle protocol."""


@dataclass(frozen=True)
class Checkpoint:
    """A validated checkpoint.

    Attributes:
        path: The file it was read from.
        sha256: The file's sha256 (hex).
        kind: ``official`` (a plain state dict) or ``contrique`` (our training format).
        config: The architecture and projection size.
        state_dict: The network weights, without ``module.`` prefixes.
        training_data: Description of the training data.
        data_license: The training data's licence, when the checkpoint records it.
        training_config: Our training configuration (empty for official checkpoints).
        trained_head: ``(coef, intercept)`` of the linear quality head trained with the
            encoder (ranking objective), on the bundle's feature; None when there is none.
        max_side: The longer side the training photos were downscaled to (``config.max_side``),
            which the bundle's input contract records; None when they were not.
    """

    path: Path
    sha256: str
    kind: str
    config: ModelConfig
    state_dict: Mapping[str, torch.Tensor]
    training_data: str
    data_license: str | None = None
    training_config: Mapping[str, Any] = field(default_factory=dict)
    trained_head: tuple[np.ndarray, float] | None = None
    max_side: int | None = None

    def with_nss_pairs(self) -> Checkpoint:
        """This checkpoint with the statistics' pairwise products (``ModelConfig.nss_pairs``) added.

        The products have no weights, so any network with the statistics can have them: the feature
        gains ``NSS_PAIRS`` values per scale after the statistics, and the trained head weighs them
        0, so it scores exactly as before.

        Raises:
            CheckpointError: The network has no statistics (``nss`` off).
        """
        if not self.config.nss:
            raise CheckpointError(self.path, f"{self.config.name} has no natural-scene statistics, so it cannot have "
                                  "their pairwise products; export it without --nss-pairs")
        config = replace(self.config, nss_pairs=True)
        head = self.trained_head
        if head is not None:
            coef = np.asarray(head[0]).reshape(-1, self.config.feature_dim)  # one row per scale
            padded = np.zeros((coef.shape[0], config.feature_dim), dtype=coef.dtype)
            padded[:, : self.config.feature_dim] = coef
            head = (padded.reshape(-1), head[1])
        return replace(self, config=config, trained_head=head)

    def build_model(self) -> ContriqueNet:
        """The network with these weights, in eval mode."""
        model = ContriqueNet(self.config)
        model.load_state_dict(dict(self.state_dict), strict=True)
        return model.eval()


def load_checkpoint(path: str | os.PathLike[str], *, arch: str | None = None) -> Checkpoint:
    """Read and validate an official or a contrique-format checkpoint.

    Args:
        path: The checkpoint file (``torch.save`` output).
        arch: The architecture of an official (plain state dict) checkpoint; default
            ``resnet50``. Our checkpoints record theirs: a different ``arch`` is an error.

    Returns:
        The validated checkpoint.

    Raises:
        CheckpointError: The file is missing, not a regular file, truncated, crafted or of torch's
            legacy format (see the module), not a checkpoint, holds objects that ``weights_only``
            loading refuses, its keys/shapes do not fit the architecture, a weight is not finite, or
            ``config.max_side`` is out of range.
    """
    path = Path(path)
    raw = _read(path)
    if isinstance(raw, Mapping) and "format" in raw:
        return _ours(path, raw, arch)
    if isinstance(raw, Mapping) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        state = _strip_ddp(raw)
        config = _official_config(path, state, arch)
        _validate(path, state, config)
        return Checkpoint(path, sha256_file(path), "official", config, state, OFFICIAL_TRAINING_DATA)
    described = f"a dict with keys {_names(list(raw))}" if isinstance(raw, Mapping) else f"a {type(raw).__name__}"
    raise CheckpointError(
        path,
        f"holds {described}, not a state dict of tensors or a {FORMAT!r} checkpoint; "
        "pass the official CONTRIQUE_checkpoint25.tar or a checkpoint written by contrique-train",
    )


def load_training_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by contrique-train whole, to resume from it (or to probe it).

    Args:
        path: The checkpoint file (``checkpoint.pt`` of a run folder).

    Returns:
        The checkpoint's dict, tensors on the CPU.

    Raises:
        CheckpointError: The file is missing or unreadable, is not of this format and version (an
            official checkpoint cannot be resumed), lacks a field of :data:`TRAINING_FIELDS`, or its
            model's weights are not all dense real tensors.
    """
    path = Path(path)
    raw = _read(path)
    if not isinstance(raw, dict) or "format" not in raw:
        raise CheckpointError(
            path, f"is not a {FORMAT!r} file; an official checkpoint cannot be resumed: pass the checkpoint.pt of a run"
        )
    _check_format(path, raw)
    missing = [key for key in TRAINING_FIELDS if key not in raw]
    if missing:
        raise CheckpointError(path, f"lacks field(s) {', '.join(missing)}, so it cannot be resumed")
    _check_types(path, raw["model"], "resume from another checkpoint")
    return raw


def _read(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of ``path`` (after :func:`_check_archive`), every failure a CheckpointError."""
    try:
        fh = open_regular(path)  # a FIFO is refused, never waited on
    except FileNotFoundError:
        raise CheckpointError(path, "no such checkpoint file; pass the path of a checkpoint (.pt/.tar/.pth)") from None
    except NotRegularFileError as exc:
        raise CheckpointError(path, f"{exc}; pass the path of a checkpoint file (.pt/.tar/.pth)") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        _check_archive(path, fh, size)
        fh.seek(0)
        return _load(path, fh, size)


def _check_archive(path: Path, fh: BinaryIO, size: int) -> None:
    """Refuse a file that torch.load would not read as a zip archive, and a zip checkpoint with a compressed
    record or records larger than the file (see the module).

    Raises:
        CheckpointError: The file is empty, of torch's legacy format, not a checkpoint, a truncated zip
            archive, or its zip directory is damaged or crafted.
    """
    if size == 0:
        raise CheckpointError(path, "is empty (0 bytes), not a checkpoint; pass the path of a checkpoint "
                              "(.pt/.tar/.pth)")
    start = fh.read(max(map(len, _LEGACY_STARTS)))
    if start.startswith(_LEGACY_STARTS):
        raise CheckpointError(path, "is in torch's legacy (non-zip) format, which is not loaded: torch would allocate "
                              "the tensor sizes it declares before reading any data, so a small file can claim "
                              "gigabytes; load it where you trust it and save it again with torch.save (PyTorch 1.6 "
                              "and later write the zip format)")
    if not start.startswith(_ZIP_START):  # torch.load would read it as the legacy format
        raise CheckpointError(path, f"is truncated or not a PyTorch checkpoint ({size} bytes; it does not begin as "
                              "the zip archive torch.save writes); pass a checkpoint as torch.save wrote it "
                              "(.pt/.tar/.pth)")
    if not zipfile.is_zipfile(fh):
        raise CheckpointError(path, f"is truncated or damaged ({size} bytes): it begins as the zip archive torch.save "
                              "writes, but the archive's directory at its end is missing; copy or download it again")
    try:
        with zipfile.ZipFile(fh) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(path, f"is truncated or not a checkpoint ({size} bytes; its zip directory is "
                              f"unreadable: {exc})") from None
    compressed = [r.filename for r in records if r.compress_type != zipfile.ZIP_STORED]
    if compressed:
        raise CheckpointError(path, f"holds {len(compressed)} compressed record(s) ({_names(compressed)}), which "
                              "torch.save never writes: the file was re-packed or crafted, and could inflate to far "
                              "more memory than it takes; load it where you trust it and save it again with torch.save")
    declared = sum(r.file_size for r in records)
    if declared > size:
        raise CheckpointError(path, f"its records claim {declared} bytes, more than the file's {size}: the file is "
                              "damaged or crafted; pass the checkpoint as torch.save wrote it")


def _load(path: Path, fh: BinaryIO, size: int) -> Any:
    """``torch.load(weights_only=True)`` of the opened file, every failure a CheckpointError."""
    try:
        return torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for non-checkpoints: report them all alike
        text = str(exc)
        # torch's weights_only message suggests weights_only=False: never pass that advice on.
        if "WeightsUnpickler error:" in text:
            detail = text.split("WeightsUnpickler error:", 1)[1]
        elif "Trying to load unsupported GLOBAL" in text:  # a global of a blocked module (os, subprocess, ...)
            detail = text[text.index("Trying to load unsupported GLOBAL"):]
        else:
            detail = text
        detail = " ".join(detail.split("Check the documentation", 1)[0].split(" Please use", 1)[0].split())
        detail = detail or type(exc).__name__
        if "unsupported global" in detail.lower():
            raise CheckpointError(
                path, f"holds objects that safe loading (weights_only=True) refuses, so it is not loaded: {detail}"
            ) from exc
        # reading past the end says nothing more than the size does (OSError: Invalid argument, EOFError)
        said = "" if isinstance(exc, (EOFError, OSError)) else f"; {type(exc).__name__}: {detail}"
        raise CheckpointError(path, f"is truncated or not a PyTorch checkpoint ({size} bytes{said}); pass a "
                              "checkpoint as torch.save wrote it (.pt/.tar/.pth)") from exc


def _check_format(path: Path, raw: Mapping[str, Any]) -> None:
    if raw.get("format") != FORMAT:
        raise CheckpointError(path, f"has format {raw.get('format')!r}; expected {FORMAT!r}")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            path, f"format_version {version!r} is not supported (expected {FORMAT_VERSION}); upgrade contrique-infer"
        )


def _ours(path: Path, raw: Mapping[str, Any], arch: str | None) -> Checkpoint:
    _check_format(path, raw)
    for key, kind in (("model_config", Mapping), ("model", Mapping)):
        if not isinstance(raw.get(key), kind):
            raise CheckpointError(path, f"field {key!r} is missing or not a dict")
    try:
        config = ModelConfig.from_dict(dict(raw["model_config"]))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"field 'model_config' is invalid: {exc}") from exc
    if arch is not None and arch != config.arch:
        raise CheckpointError(
            path, f"records architecture {config.arch!r} but {arch!r} was requested; omit --arch for this checkpoint"
        )
    state = _strip_ddp(raw["model"])
    _validate(path, state, config)
    data = raw.get("data") if isinstance(raw.get("data"), Mapping) else {}
    description = data.get("description")
    license_ = data.get("license")
    config_dict = raw.get("config") if isinstance(raw.get("config"), Mapping) else {}
    head = _trained_head(path, raw.get("head"), 2 * config.feature_dim)
    max_side = _max_side(path, config_dict.get("max_side"))
    return Checkpoint(
        path,
        sha256_file(path),
        "contrique",
        config,
        state,
        description if isinstance(description, str) and description else "not recorded in the checkpoint",
        license_ if isinstance(license_, str) and license_ else None,
        dict(config_dict),
        head,
        max_side,
    )


def _max_side(path: Path, value: Any) -> int | None:
    """The checkpoint's ``config.max_side``, checked: None when not set (absent, None or 0).

    Raises:
        CheckpointError: It is not an integer, or not 0 and outside ``MIN_SIZE..MAX_SIDE`` (the
            bundle's input contract could not hold it).
    """
    if value is None:
        return None
    try:
        return check_max_side(value) or None
    except ModelConfigError as exc:
        raise CheckpointError(path, f"field 'config.max_side' {exc}: the checkpoint is damaged or was not written "
                              "by contrique-train") from None


def _trained_head(path: Path, raw: Any, dim: int) -> tuple[np.ndarray, float] | None:
    """The checkpoint's ``head`` entry (``{"coef": tensor (dim,), "intercept": float}``), checked, or None."""
    if raw is None:
        return None
    coef = raw.get("coef") if isinstance(raw, Mapping) else None
    intercept = raw.get("intercept") if isinstance(raw, Mapping) else None
    if not isinstance(coef, torch.Tensor) or tuple(coef.shape) != (dim,) or not isinstance(intercept, float):
        raise CheckpointError(path, f"field 'head' must hold 'coef' ({dim} values) and a float 'intercept'")
    wrong = _wrong_types({"head.coef": coef})
    if wrong:
        raise CheckpointError(path, f"field 'head' holds {wrong[0]}; its coef must be a dense real tensor on the CPU, "
                              "as contrique-train writes it: the checkpoint is damaged or was not written by "
                              "contrique-train; export another checkpoint")
    values = coef.detach().double().numpy()
    if not (np.isfinite(values).all() and np.isfinite(intercept)):
        raise CheckpointError(path, "field 'head' holds values that are not finite")
    return values, intercept


def _strip_ddp(state: Mapping[str, Any]) -> dict[str, Any]:
    """Remove a ``module.`` prefix that DistributedDataParallel adds to every key."""
    if state and all(isinstance(k, str) and k.startswith(_DDP_PREFIX) for k in state):
        return {k[len(_DDP_PREFIX) :]: v for k, v in state.items()}
    return dict(state)


def _expected(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of ContriqueNet's state dict (built on the meta device: no memory, fast)."""
    with torch.device("meta"):
        model = ContriqueNet(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatch(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]]) -> list[str]:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
             for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    problems = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            problems.append(f"{len(items)} {what}: {_names(items)}")
    return problems


def _official_config(path: Path, state: Mapping[str, torch.Tensor], arch: str | None) -> ModelConfig:
    """The config of a plain state dict: ``arch`` (default resnet50), projection size from the weights."""
    projection = state.get("projector.3.weight")
    projection_dim = int(projection.shape[0]) if isinstance(projection, torch.Tensor) and projection.ndim == 2 else 128
    if arch is not None and arch not in ARCHITECTURES:
        raise CheckpointError(path, f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    try:
        return ModelConfig(arch=arch or "resnet50", projection_dim=projection_dim)
    except ModelConfigError as exc:
        raise CheckpointError(path, f"projector.3.weight does not fit the network: {exc}") from None


def _validate(path: Path, state: Mapping[str, Any], config: ModelConfig) -> None:
    """Refuse a state dict that does not fit ``config``'s network, or that has a weight that is not finite.

    Raises:
        CheckpointError: A value is not a dense real tensor on the CPU (:func:`_wrong_types`), keys or
            shapes do not fit (the error lists them and suggests an architecture they fit), or a weight
            is NaN or infinite.
    """
    _check_types(path, state, "export another checkpoint")
    problems = _mismatch(state, _expected(config))
    if not problems:
        _check_finite(path, state)
        return
    hint = ""
    for other in ARCHITECTURES:
        if other != config.arch and not _mismatch(state, _expected(ModelConfig(other, config.projection_dim))):
            hint = f"; the weights fit {other}: pass --arch {other}"
            break
    raise CheckpointError(
        path, f"does not match ContriqueNet({config.arch}): " + "; ".join(problems) + (hint or "; is this a CONTRIQUE checkpoint?")
    )


def _check_types(path: Path, state: Any, what_next: str) -> None:
    """Refuse model weights that are not a dict of dense real CPU tensors (:func:`_wrong_types`).

    Args:
        path: The checkpoint (named in the error).
        state: Its model's weights.
        what_next: What to do instead, ending the message ("export another checkpoint").

    Raises:
        CheckpointError: ``state`` is not a dict, or some of its values are of the wrong type.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(path, f"its model is a {type(state).__name__}, not a dict of weights: the checkpoint is "
                                    f"damaged or was not written by contrique-train; {what_next}")
    wrong = _wrong_types(state)
    if wrong:
        raise CheckpointError(path, f"{len(wrong)} keys of the wrong type: {_names(wrong)}; every weight must be a "
                              "dense real (floating-point or integer) tensor on the CPU, as torch.save of a network's "
                              f"state_dict() writes it: the checkpoint is damaged or was not written by contrique-train; "
                              f"{what_next}")


def _wrong_types(state: Mapping[str, Any]) -> list[str]:
    """``key (what it is)`` for each value of ``state`` that is not a dense (strided) CPU tensor of a real
    floating-point or integer dtype: a number, a string, a list, or a meta, sparse, complex or boolean tensor."""
    wrong = []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            wrong.append(f"{key} ({type(value).__name__})")
        elif (value.layout != torch.strided or value.device.type != "cpu"
              or not (value.dtype.is_floating_point or value.dtype in _INTEGERS)):
            wrong.append(f"{key} ({str(value.layout).removeprefix('torch.')} {str(value.dtype).removeprefix('torch.')} "
                         f"tensor on {value.device.type})")
    return wrong


def _check_finite(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights that are NaN or infinite (a damaged file or a diverged training), naming the first tensor.

    Raises:
        CheckpointError: A floating-point tensor holds a NaN or an infinity.
    """
    bad = [(key, int(torch.isnan(t).sum()), int(torch.isinf(t).sum())) for key, t in state.items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if not bad:
        return
    key, nans, infs = bad[0]
    counts = [f"{n} of the {state[key].numel()} weights of {key} are {kind}"
              for n, kind in ((nans, "NaN"), (infs, "infinite")) if n]
    more = f" ({len(bad) - 1} more tensors hold values that are not finite)" if len(bad) > 1 else ""
    raise CheckpointError(path, f"{' and '.join(counts)}{more}: the checkpoint is damaged or its training diverged; "
                          "export an earlier checkpoint of the run")


def _names(items: list[Any]) -> str:
    shown = ", ".join(str(i) for i in items[:_LISTED])
    return shown + (f", ... ({len(items) - _LISTED} more)" if len(items) > _LISTED else "")
