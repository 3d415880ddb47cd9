"""Model bundles: the manifest ``contrique.json``, linear heads, and their validation.

A bundle is a folder (local, or a Hugging Face Hub model repository) holding an ONNX encoder per
variant, one JSON file per linear head, and the manifest that describes them. The format is
specified in ``docs/bundle.md``; this module is its only implementation, used both by the
runtime (to load) and by ``contrique_export`` (to write).

Every dataclass here is frozen, has ``from_dict``/``to_dict``, and validates on load: a problem
raises a :class:`~contrique_infer.errors.BundleError` subclass naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .errors import (
    BundleFileError,
    HashMismatchError,
    HeadError,
    HeadNotFoundError,
    ManifestError,
    VariantNotFoundError,
)
from .jsonfile import read_json
from .regularfile import NotRegularFileError, check_regular, open_regular

FORMAT_VERSION = 1
MANIFEST_NAME = "contrique.json"
HEAD_FORMAT_VERSION = 1
VARIANTS = ("fp32", "fp16", "int8")
HEAD_KINDS = ("nr", "fr")
RESIZE_FILTERS = ("bicubic",)


# --- field readers: type-checked access to parsed JSON ------------------------------------------


class _Reader:
    """Reads typed fields from a JSON object, raising ``error_cls(path, ...)`` on any problem."""

    def __init__(self, data: Any, path: str, where: str, error_cls: type[ManifestError] | type[HeadError]):
        self.path, self.where, self.error_cls = path, where, error_cls
        if not isinstance(data, Mapping):
            raise self.fail(f"must be a JSON object, got {type(data).__name__}")
        self.data = data

    def fail(self, reason: str) -> ManifestError | HeadError:
        prefix = f"{self.where}: " if self.where else ""
        return self.error_cls(self.path, prefix + reason)

    def section(self, key: str) -> _Reader:
        """A required nested object."""
        return _Reader(self._get(key, False), self.path, self._name(key), self.error_cls)

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, optional: bool, default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            if optional:
                return default
            raise self.error_cls(self.path, f"missing required field '{self._name(key)}'")
        return self.data[key]

    def typed(self, key: str, types: type | tuple[type, ...], *, optional: bool = False, default: Any = None) -> Any:
        value = self._get(key, optional, default)
        if value is default and optional:
            return value
        # bool is an int subclass: never accept it where a number is wanted, and vice versa.
        wants_bool = types is bool or (isinstance(types, tuple) and bool in types)
        if isinstance(value, bool) != wants_bool or not isinstance(value, types):
            expected = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise self.error_cls(
                self.path, f"field '{self._name(key)}' must be {expected}, got {type(value).__name__}"
            )
        return value

    def string(self, key: str, *, optional: bool = False, default: str | None = None) -> Any:
        return self.typed(key, str, optional=optional, default=default)

    def integer(self, key: str, *, optional: bool = False, default: int | None = None, minimum: int = 0) -> Any:
        value = self.typed(key, int, optional=optional, default=default)
        if value is not None and value < minimum:
            raise self.error_cls(self.path, f"field '{self._name(key)}' must be >= {minimum}, got {value}")
        return value

    def number(self, key: str, *, optional: bool = False, default: float | None = None) -> Any:
        value = self.typed(key, (int, float), optional=optional, default=default)
        if value is not None:
            value = _to_float(value)
            if not math.isfinite(value):
                raise self.error_cls(self.path, f"field '{self._name(key)}' must be finite, got {value}")
        return value

    def boolean(self, key: str, *, optional: bool = False, default: bool | None = None) -> Any:
        return self.typed(key, bool, optional=optional, default=default)

    def choice(self, key: str, choices: Sequence[str], *, optional: bool = False, default: str | None = None) -> Any:
        value = self.string(key, optional=optional, default=default)
        if value is not None and value not in choices:
            raise self.error_cls(
                self.path, f"field '{self._name(key)}' must be one of {', '.join(choices)}; got {value!r}"
            )
        return value

    def strings(self, key: str, *, optional: bool = False) -> tuple[str, ...]:
        value = self.typed(key, list, optional=optional, default=[])
        if not all(isinstance(v, str) for v in value):
            raise self.error_cls(self.path, f"field '{self._name(key)}' must be a list of strings")
        return tuple(value)

    def objects(self, key: str, *, optional: bool = False) -> list[_Reader]:
        value = self.typed(key, list, optional=optional, default=[])
        return [_Reader(v, self.path, f"{self._name(key)}[{i}]", self.error_cls) for i, v in enumerate(value)]

    def mapping(self, key: str, *, optional: bool = False) -> dict[str, Any]:
        return dict(self.typed(key, dict, optional=optional, default={}))


def _to_float(value: int | float) -> float:
    """``float(value)``, except that an integer too large for a float (JSON allows any number of
    digits) becomes an infinity, which the finiteness checks then refuse, instead of raising
    ``OverflowError``."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _check_relpath(path: str, rel: str, what: str) -> str:
    """Return ``rel`` if it is a plain relative POSIX path inside the bundle, else raise."""
    pure = PurePosixPath(rel)
    if (
        not rel
        or "\\" in rel
        or (len(rel) > 1 and rel[1] == ":")
        or any(part in ("..", "") for part in rel.split("/"))
        or rel != str(pure)
    ):
        raise BundleFileError(path, f"{what} {rel!r} is not a plain relative path inside the bundle folder")
    return rel


# --- manifest parts -----------------------------------------------------------------------------


class _Record:
    """``to_dict`` for dataclasses whose JSON form is their fields, in order."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready data (tuples as lists, as ``json.loads`` gives them back)."""
        return _plain(asdict(self))  # type: ignore[call-overload]


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Scale(_Record):
    """One input scale: the image is resized to ``(w // divisor, h // divisor)`` (1 = as is)."""

    name: str
    divisor: int

    @classmethod
    def from_dict(cls, r: _Reader) -> Scale:
        return cls(name=r.string("name"), divisor=r.integer("divisor", minimum=1))


@dataclass(frozen=True)
class InputContract(_Record):
    """How an image becomes the ONNX input: RGB, scales, resize filter, value range, no mean/std.

    The default is the official CONTRIQUE computation: full scale and half scale (PIL bicubic to
    ``(w // 2, h // 2)``), ``ToTensor`` values in [0, 1], NCHW float32, no normalisation.
    """

    color: str = "RGB"
    layout: str = "NCHW"
    dtype: str = "float32"
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    scales: tuple[Scale, ...] = (Scale("full", 1), Scale("half", 2))
    resize: str = "bicubic"
    min_size: int = 32
    input_name: str = "image"
    output_name: str = "feature"

    @classmethod
    def from_dict(cls, r: _Reader) -> InputContract:
        color = r.choice("color", ("RGB",))
        layout = r.choice("layout", ("NCHW",))
        dtype = r.choice("dtype", ("float32",))
        value_range = _floats(r, "value_range", 2)
        mean = _floats(r, "mean", 3, optional=True)
        std = _floats(r, "std", 3, optional=True)
        if std is not None and any(s <= 0 for s in std):
            raise r.fail("field 'std' must be positive")
        scales = tuple(Scale.from_dict(s) for s in r.objects("scales"))
        if not scales:
            raise r.fail("field 'scales' must list at least one scale")
        names = [s.name for s in scales]
        if len(set(names)) != len(names):
            raise r.fail(f"scale names must be unique, got {names}")
        return cls(
            color=color,
            layout=layout,
            dtype=dtype,
            value_range=(value_range[0], value_range[1]),
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            scales=scales,
            resize=r.choice("resize", RESIZE_FILTERS),
            min_size=r.integer("min_size", minimum=1),
            input_name=r.string("input_name"),
            output_name=r.string("output_name"),
        )


def _floats(r: _Reader, key: str, n: int, *, optional: bool = False) -> tuple[float, ...] | None:
    value = r.typed(key, list, optional=optional)
    if value is None:
        return None
    if len(value) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise r.fail(f"field '{key}' must be a list of {n} numbers")
    if not all(math.isfinite(_to_float(v)) for v in value):
        raise r.fail(f"field '{key}' must hold finite numbers")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class FeatureSpec(_Record):
    """The feature vector: ``per_scale_dim`` values per scale, concatenated in ``layout`` order."""

    dim: int = 4096
    per_scale_dim: int = 2048
    layout: tuple[str, ...] = ("full", "half")
    normalization: str = "l2"

    @classmethod
    def from_dict(cls, r: _Reader) -> FeatureSpec:
        return cls(
            dim=r.integer("dim", minimum=1),
            per_scale_dim=r.integer("per_scale_dim", minimum=1),
            layout=r.strings("layout"),
            normalization=r.choice("normalization", ("l2",)),
        )


@dataclass(frozen=True)
class Fidelity:
    """How closely a reduced-precision variant (int8, fp16) agrees with fp32, measured at export on
    held-out images: feature cosine similarities, the largest feature difference, and each
    no-reference head's Spearman correlation between the two variants' scores."""

    images: int
    cosine_mean: float
    cosine_min: float
    feature_max_abs_diff: float
    spearman: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, r: _Reader) -> Fidelity:
        images = r.number("images")
        if images < 0 or images != int(images):
            raise r.fail("field 'images' must be a whole number")
        spearman = {}
        for key in r.data:
            if key.startswith("spearman_"):
                spearman[key.removeprefix("spearman_")] = r.number(key)
            elif key not in ("images", "cosine_mean", "cosine_min", "feature_max_abs_diff"):
                raise r.fail(f"unknown field {key!r}")
        return cls(images=int(images), cosine_mean=r.number("cosine_mean"), cosine_min=r.number("cosine_min"),
                   feature_max_abs_diff=r.number("feature_max_abs_diff"), spearman=spearman)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's flat form: ``spearman_<head>`` keys after the other figures."""
        out: dict[str, Any] = {"images": self.images, "cosine_mean": self.cosine_mean, "cosine_min": self.cosine_min,
                               "feature_max_abs_diff": self.feature_max_abs_diff}
        out.update({f"spearman_{head}": rho for head, rho in self.spearman.items()})
        return out


@dataclass(frozen=True)
class VariantInfo:
    """One ONNX encoder file, with its measured agreement with fp32 (int8/fp16; None for fp32)."""

    name: str
    file: str
    fidelity: Fidelity | None = None

    @classmethod
    def from_dict(cls, r: _Reader, name: str) -> VariantInfo:
        return cls(
            name=name,
            file=_check_relpath(r.path, r.string("file"), f"variant {name} file"),
            fidelity=Fidelity.from_dict(r.section("fidelity")) if r.data.get("fidelity") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file}
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity.to_dict()
        return out


@dataclass(frozen=True)
class Parity(_Record):
    """The parity check at export: the largest absolute difference between the fp32 graph's features
    under onnxruntime (``provider``) and the source model's (``reference``, e.g. ``torch 2.14.1``),
    over ``inputs`` runs (``images`` images at every scale), and the tolerance it had to meet."""

    max_abs_diff: float
    images: int
    inputs: int
    tolerance: float
    provider: str
    reference: str

    @classmethod
    def from_dict(cls, r: _Reader) -> Parity:
        return cls(max_abs_diff=r.number("max_abs_diff"), images=r.integer("images"), inputs=r.integer("inputs"),
                   tolerance=r.number("tolerance"), provider=r.string("provider"), reference=r.string("reference"))


@dataclass(frozen=True)
class HeadInfo(_Record):
    """A linear head's metadata, as listed in the manifest and repeated in the head file.

    ``kind`` is ``nr`` (no-reference: applied to the feature) or ``fr`` (full-reference: applied to
    ``abs(feature(reference) - feature(distorted))``). ``higher_is_better`` is False for DMOS heads.
    """

    name: str
    file: str
    kind: str
    dataset: str
    score_scale: str
    higher_is_better: bool
    description: str = ""

    @classmethod
    def from_dict(cls, r: _Reader) -> HeadInfo:
        name = r.string("name")
        return cls(
            name=name,
            file=_check_relpath(r.path, r.string("file"), f"head {name} file"),
            kind=r.choice("kind", HEAD_KINDS),
            dataset=r.string("dataset"),
            score_scale=r.string("score_scale"),
            higher_is_better=r.boolean("higher_is_better"),
            description=r.string("description", optional=True, default=""),
        )


@dataclass(frozen=True)
class FileEntry(_Record):
    """The sha256 (hex) and size in bytes of one bundle file."""

    sha256: str
    size: int

    @classmethod
    def from_dict(cls, r: _Reader) -> FileEntry:
        digest = r.string("sha256").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise r.fail("field 'sha256' must be 64 hexadecimal characters")
        return cls(sha256=digest, size=r.integer("size"))


@dataclass(frozen=True)
class Provenance(_Record):
    """Where the weights came from: source checkpoint and its hash, training data, licence."""

    source_checkpoint: str
    source_checkpoint_sha256: str
    training_data: str
    license: str
    created_by: str = ""
    notes: str = ""

    @classmethod
    def from_dict(cls, r: _Reader) -> Provenance:
        return cls(
            source_checkpoint=r.string("source_checkpoint"),
            source_checkpoint_sha256=r.string("source_checkpoint_sha256"),
            training_data=r.string("training_data"),
            license=r.string("license"),
            created_by=r.string("created_by", optional=True, default=""),
            notes=r.string("notes", optional=True, default=""),
        )


@dataclass(frozen=True)
class Manifest:
    """The parsed ``contrique.json`` of a bundle. See ``docs/bundle.md`` for every field."""

    name: str
    architecture: str
    input: InputContract
    feature: FeatureSpec
    variants: Mapping[str, VariantInfo]
    heads: tuple[HeadInfo, ...]
    default_head: str | None
    files: Mapping[str, FileEntry]
    provenance: Provenance
    parity: Parity | None = None
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike[str] = MANIFEST_NAME) -> Manifest:
        """Validate and parse a manifest.

        Args:
            data: The parsed JSON object.
            path: The manifest's path, used in error messages.

        Raises:
            ManifestError: A field is missing, has the wrong type or an unsupported value, or
                the parts disagree (an unlisted file, an unknown default head, a bad layout).
            BundleFileError: A file is named outside the bundle folder.
        """
        path = os.fspath(path)
        r = _Reader(data, path, "", ManifestError)
        version = r.integer("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError(
                path,
                f"format_version {version} is not supported by this contrique-infer "
                f"(which reads version {FORMAT_VERSION}); upgrade contrique-infer or re-export the bundle",
            )
        files_raw = r.mapping("files")
        files = {
            _check_relpath(path, name, "file"): FileEntry.from_dict(_Reader(v, path, f"files.{name}", ManifestError))
            for name, v in files_raw.items()
        }
        variants_reader = r.section("variants")
        variants = {}
        for name, value in variants_reader.data.items():
            if name not in VARIANTS:
                raise ManifestError(path, f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}")
            variants[name] = VariantInfo.from_dict(_Reader(value, path, f"variants.{name}", ManifestError), name)
        if "fp32" not in variants:
            raise ManifestError(path, "variants must include 'fp32'")
        heads = tuple(HeadInfo.from_dict(h) for h in r.objects("heads"))
        head_names = [h.name for h in heads]
        if len(set(head_names)) != len(head_names):
            raise ManifestError(path, f"head names must be unique, got {head_names}")
        default_head = r.string("default_head", optional=True)
        if default_head is not None and default_head not in head_names:
            raise ManifestError(path, f"default_head {default_head!r} is not one of the heads {head_names}")
        contract = InputContract.from_dict(r.section("input"))
        feature = FeatureSpec.from_dict(r.section("feature"))
        scale_names = tuple(s.name for s in contract.scales)
        if feature.layout != scale_names:
            raise ManifestError(path, f"feature.layout {list(feature.layout)} must equal the input scales {list(scale_names)}")
        if feature.dim != feature.per_scale_dim * len(scale_names):
            raise ManifestError(
                path, f"feature.dim {feature.dim} must be per_scale_dim {feature.per_scale_dim} x {len(scale_names)} scales"
            )
        for what, rel in [(f"variant {v.name}", v.file) for v in variants.values()] + [
            (f"head {h.name}", h.file) for h in heads
        ]:
            if rel not in files:
                raise ManifestError(path, f"{what} file {rel!r} has no entry (sha256, size) in 'files'")
        return cls(
            name=r.string("name"),
            architecture=r.string("architecture"),
            input=contract,
            feature=feature,
            variants=variants,
            heads=heads,
            default_head=default_head,
            files=files,
            provenance=Provenance.from_dict(r.section("provenance")),
            parity=Parity.from_dict(r.section("parity")) if r.data.get("parity") else None,
            format_version=version,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "name": self.name,
            "architecture": self.architecture,
            "input": self.input.to_dict(),
            "feature": self.feature.to_dict(),
            "variants": {name: v.to_dict() for name, v in self.variants.items()},
            "heads": [h.to_dict() for h in self.heads],
            "default_head": self.default_head,
            "files": {name: e.to_dict() for name, e in sorted(self.files.items())},
            "provenance": self.provenance.to_dict(),
            "parity": None if self.parity is None else self.parity.to_dict(),
        }

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Manifest:
        """Read and validate ``folder/contrique.json``.

        Raises:
            BundleFileError: The folder or its manifest does not exist.
            ManifestError: The manifest cannot be read, is not a regular file, is not JSON within the
                limits of :mod:`contrique_infer.jsonfile`, or is not a valid manifest.
        """
        path = Path(folder) / MANIFEST_NAME
        if not path.exists():
            raise BundleFileError(
                path, "no bundle manifest here; a bundle folder holds contrique.json (make one with contrique-export)"
            )
        return cls.from_dict(read_json(path, ManifestError), path)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/contrique.json`` and return its path."""
        path = Path(folder) / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def head_info(self, name: str | None = None) -> HeadInfo:
        """The head called ``name`` (case-insensitive), or the default head when ``name`` is None.

        Raises:
            HeadNotFoundError: No such head, or no name given and the bundle has no default head.
        """
        available = ", ".join(h.name for h in self.heads) or "none"
        if name is None:
            if self.default_head is None:
                raise HeadNotFoundError(
                    f"bundle {self.name!r} has no default head; pass head=NAME (available: {available})"
                )
            name = self.default_head
        for head in self.heads:
            if head.name.lower() == name.lower():
                return head
        raise HeadNotFoundError(f"bundle {self.name!r} has no head {name!r}; available heads: {available}")

    def variant(self, name: str) -> VariantInfo:
        """The variant called ``name``.

        Raises:
            VariantNotFoundError: The bundle does not contain it.
        """
        if name not in self.variants:
            raise VariantNotFoundError(
                f"bundle {self.name!r} has no {name!r} variant; available: {', '.join(self.variants)}"
            )
        return self.variants[name]


# --- heads --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Head:
    """A linear head: ``score = feature @ coef + intercept`` (FR heads take the abs difference)."""

    info: HeadInfo
    coef: np.ndarray
    intercept: float
    alpha: float | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.kind

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Scores for features of shape ``(dim,)`` or ``(n, dim)``, computed in float64 (silently NaN or
        infinite where the numbers overflow: the scorer turns such a score into an error)."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(features, dtype=np.float64) @ self.coef.astype(np.float64) + self.intercept

    @classmethod
    def from_dict(cls, data: Any, path: str | os.PathLike[str], file: str) -> Head:
        """Parse a head file.

        Args:
            data: The parsed JSON object.
            path: The file's path, for error messages.
            file: The file's path relative to the bundle (recorded in ``info.file``).

        Raises:
            HeadError: A field is missing or malformed, or the coefficients are not finite numbers.
        """
        path = os.fspath(path)
        r = _Reader(data, path, "", HeadError)
        version = r.integer("format_version")
        if version != HEAD_FORMAT_VERSION:
            raise HeadError(path, f"head format_version {version} is not supported (expected {HEAD_FORMAT_VERSION})")
        info = HeadInfo.from_dict(_Reader({**r.data, "file": file}, path, "", HeadError))
        raw = r.typed("coef", list)
        if not raw or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            raise HeadError(path, "field 'coef' must be a non-empty list of numbers")
        coef = np.asarray([_to_float(v) for v in raw], dtype=np.float64)
        if not np.all(np.isfinite(coef)):
            raise HeadError(path, "field 'coef' holds non-finite values")
        return cls(info=info, coef=coef, intercept=r.number("intercept"), alpha=r.number("alpha", optional=True))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": HEAD_FORMAT_VERSION}
        out.update({k: v for k, v in self.info.to_dict().items() if k != "file"})
        out["intercept"] = float(self.intercept)
        if self.alpha is not None:
            out["alpha"] = float(self.alpha)
        out["coef"] = [float(v) for v in self.coef]
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the head as JSON (coefficients at full float64 precision) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")
        return path


# --- files and loading ----------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_table(folder: str | os.PathLike[str], relpaths: Iterable[str]) -> dict[str, FileEntry]:
    """Hash the given bundle files, for ``Manifest.files``."""
    folder = Path(folder)
    return {rel: FileEntry(sha256_file(folder / rel), (folder / rel).stat().st_size) for rel in relpaths}


def resolve_file(folder: str | os.PathLike[str], rel: str) -> Path:
    """The absolute path of bundle file ``rel``, refusing anything that escapes the folder.

    Raises:
        BundleFileError: ``rel`` escapes the folder (``..``, absolute, or a symlink pointing out;
            a Hugging Face cache snapshot may link into its blob store), or the file does not exist,
            cannot be examined, or is not a regular file (a FIFO, a device).
    """
    from .hub import link_roots  # imported here: hub imports this module

    root = Path(folder).resolve()
    _check_relpath(str(root / MANIFEST_NAME), rel, "file")
    target = (root / rel).resolve()
    if not any(allowed in target.parents for allowed in link_roots(root)):
        raise BundleFileError(root / rel, "resolves outside the bundle folder; refusing to read it")
    try:
        check_regular(target)
    except FileNotFoundError:
        raise BundleFileError(root / rel, "is named in the manifest but missing from the bundle folder") from None
    except OSError as exc:
        raise _unreadable(root / rel, exc) from exc
    return target


def _unreadable(path: Path, exc: OSError) -> BundleFileError:
    """The error for a bundle file that exists but cannot be read (or is a FIFO, a device...)."""
    if isinstance(exc, NotRegularFileError):
        return BundleFileError(path, str(exc))
    return BundleFileError(path, f"cannot be read ({exc.strerror or exc}); check the file and its permissions")


def verify_file(folder: str | os.PathLike[str], manifest: Manifest, rel: str) -> Path:
    """Resolve bundle file ``rel`` and check its size and sha256 against the manifest.

    Raises:
        BundleFileError: The file is missing, outside the folder, not a regular file, or unreadable.
        HashMismatchError: Its size or sha256 differs from the manifest.
    """
    path = resolve_file(folder, rel)
    entry = manifest.files[rel]
    try:
        size = path.stat().st_size
        if size != entry.size:
            raise HashMismatchError(
                path, f"size {size} bytes differs from the manifest's {entry.size}: the file is truncated or altered"
            )
        digest = sha256_file(path)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if digest != entry.sha256:
        raise HashMismatchError(
            path, f"sha256 {digest[:12]}... differs from the manifest's {entry.sha256[:12]}...: the file was altered"
        )
    return path


def load_head(folder: str | os.PathLike[str], manifest: Manifest, info: HeadInfo, *, verify: bool = True) -> Head:
    """Load and check one head of a bundle.

    Raises:
        HeadError: The file is malformed, disagrees with the manifest's entry, or its length does
            not match the bundle's feature dimension.
        HashMismatchError, BundleFileError: See :func:`verify_file`.
    """
    path = verify_file(folder, manifest, info.file) if verify else resolve_file(folder, info.file)
    head = Head.from_dict(read_json(path, HeadError), path, info.file)
    if head.info != info:
        raise HeadError(path, "metadata (name, kind, dataset, scale, direction) differs from the manifest's entry")
    if head.coef.shape != (manifest.feature.dim,):
        raise HeadError(
            path, f"has {head.coef.shape[0]} coefficients but the bundle's feature has {manifest.feature.dim} values"
        )
    return head


@dataclass(frozen=True)
class LoadedBundle:
    """A validated bundle on disk: its folder, manifest, chosen encoder file and loaded heads."""

    root: Path
    manifest: Manifest
    variant: VariantInfo
    model_path: Path
    heads: Mapping[str, Head]


def load_bundle(
    folder: str | os.PathLike[str],
    *,
    variant: str = "fp32",
    heads: Sequence[str] | None = None,
    verify: bool = True,
) -> LoadedBundle:
    """Load a bundle folder, verifying the files it uses against the manifest's hashes.

    Args:
        folder: The bundle folder (holding ``contrique.json``).
        variant: Which encoder to use: ``fp32``, ``fp16`` or ``int8``.
        heads: Head names to load; None loads them all.
        verify: Check sizes and sha256 of the files used; False only where the caller has just
            verified them (the Hub download does).

    Returns:
        The loaded bundle (the ONNX graph itself is checked when a session opens it).

    Raises:
        BundleError: Any problem with the manifest or the files (see the subclasses).
    """
    root = Path(folder)
    manifest = Manifest.load(root)
    chosen = manifest.variant(variant)
    model_path = verify_file(root, manifest, chosen.file) if verify else resolve_file(root, chosen.file)
    infos = manifest.heads if heads is None else tuple(manifest.head_info(n) for n in heads)
    loaded = {info.name: load_head(root, manifest, info, verify=verify) for info in infos}
    return LoadedBundle(root=root.resolve(), manifest=manifest, variant=chosen, model_path=model_path, heads=loaded)


def needed_files(manifest: Manifest, variant: str, heads: Sequence[str] | None = None) -> list[str]:
    """The bundle files a variant and a set of heads need (for partial downloads), manifest excluded."""
    infos = manifest.heads if heads is None else tuple(manifest.head_info(n) for n in heads)
    return [manifest.variant(variant).file] + [h.file for h in infos]
