"""The bundle manifest ``contrique.json``: the records that describe a bundle, validated on load.

A bundle is a folder (local, or a Hugging Face Hub model repository) holding an ONNX encoder per
variant, one JSON file per linear head, and the manifest that describes them. The format is
specified in ``docs/bundle.md``; this module is its only implementation, used both by the
runtime (to load) and by ``contrique_export`` (to write).

Every record here is a frozen dataclass with ``from_dict``/``to_dict`` that validates on load: a
problem raises a :class:`~contrique_infer.errors.BundleError` subclass naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomicfile import replace_file
from .errors import BundleFileError, HeadNotFoundError, ManifestError, VariantNotFoundError
from .jsonfile import read_json
from .paths import check_relpath, inside
from .records import FieldReader, JsonRecord, to_float

FORMAT_VERSION = 2
"""The newest manifest format this runtime reads and writes (2 added ``input.max_side``)."""
FORMAT_VERSIONS = (1, 2)
"""Manifest formats this runtime reads; a bundle is written at the oldest one that holds it."""
MANIFEST_NAME = "contrique.json"
VARIANTS = ("fp32", "fp16", "int8")
HEAD_KINDS = ("nr", "fr")
RESIZE_FILTERS = ("bicubic",)
MIN_VALUE_SPAN = 1e-3
"""The least ``input.value_range`` span accepted (bundles map pixels to spans of 1 or 255; a span of 1e-30 scored
every image 0)."""
MAX_VALUE = 1e6
"""The largest magnitude of an ``input.value_range`` end."""
MAX_NAME_LENGTH = 256
"""The longest model ``name`` (it is written into every result row)."""
DIGEST_LENGTH = 16
"""The hex digits of :meth:`Manifest.digest`."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a bundle's ``name`` (1 to :data:`MAX_NAME_LENGTH` characters), or None if it can."""
    if 0 < len(name) <= MAX_NAME_LENGTH:
        return None
    return f"must be 1 to {MAX_NAME_LENGTH} characters, got {len(name):,}"


@dataclass(frozen=True)
class Scale(JsonRecord):
    """One input scale: the image is resized to ``(w // divisor, h // divisor)`` (1 = as is)."""

    name: str
    divisor: int

    @classmethod
    def from_dict(cls, r: FieldReader) -> Scale:
        return cls(name=r.string("name"), divisor=r.integer("divisor", minimum=1))


@dataclass(frozen=True)
class InputContract(JsonRecord):
    """How an image becomes the ONNX input: RGB, scales, resize filter, value range, no mean/std.

    The default is the official CONTRIQUE computation: full scale and half scale (PIL bicubic to
    ``(w // 2, h // 2)``), ``ToTensor`` values in [0, 1], NCHW float32, no normalisation.
    ``max_side`` (manifest format 2; None = the image as it is): an image whose longer side is
    longer is first downscaled to fit (bicubic, each side ``max(1, round(side * max_side /
    longer side))``) after the whole image is decoded (a JPEG too: no reduced-scale decode); the
    scales are then taken of the downscaled image.
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
    max_side: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``max_side`` only when set (format 1 has no such field)."""
        out = super().to_dict()
        if self.max_side is None:
            del out["max_side"]
        return out

    @property
    def format_version(self) -> int:
        """The oldest manifest format that can hold this contract."""
        return 2 if self.max_side is not None else 1

    @classmethod
    def from_dict(cls, r: FieldReader) -> InputContract:
        color = r.choice("color", ("RGB",))
        layout = r.choice("layout", ("NCHW",))
        dtype = r.choice("dtype", ("float32",))
        value_range = _floats(r, "value_range", 2)
        low, high = value_range
        if not (high - low >= MIN_VALUE_SPAN and max(abs(low), abs(high)) <= MAX_VALUE):
            raise r.fail(f"field 'value_range' must be [low, high] with high - low >= {MIN_VALUE_SPAN:g} and both "
                         f"within +-{MAX_VALUE:g}, got {list(value_range)}: pixels would map to one value, upside down, "
                         "or beyond what float32 keeps apart; export the bundle again")
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
        min_size, max_side = r.integer("min_size", minimum=1), r.integer("max_side", optional=True, minimum=1)
        smallest = max(min_size, max(s.divisor for s in scales))  # what preprocessing.min_side asks of an image
        if max_side is not None and max_side < smallest:
            raise r.fail(f"field 'max_side' {max_side} is below the {smallest} pixels every side must keep "
                         "(min_size, and the largest scale divisor): no image could be scored")
        return cls(
            color=color,
            layout=layout,
            dtype=dtype,
            value_range=(value_range[0], value_range[1]),
            mean=mean,  # type: ignore[arg-type]
            std=std,  # type: ignore[arg-type]
            scales=scales,
            resize=r.choice("resize", RESIZE_FILTERS),
            min_size=min_size,
            input_name=r.string("input_name"),
            output_name=r.string("output_name"),
            max_side=max_side,
        )


def _floats(r: FieldReader, key: str, n: int, *, optional: bool = False) -> tuple[float, ...] | None:
    value = r.typed(key, list, optional=optional)
    if value is None:
        return None
    if len(value) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise r.fail(f"field '{key}' must be a list of {n} numbers")
    if not all(math.isfinite(to_float(v)) for v in value):
        raise r.fail(f"field '{key}' must hold finite numbers")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class FeatureSpec(JsonRecord):
    """The feature vector: ``per_scale_dim`` values per scale, concatenated in ``layout`` order."""

    dim: int = 4096
    per_scale_dim: int = 2048
    layout: tuple[str, ...] = ("full", "half")
    normalization: str = "l2"

    @classmethod
    def from_dict(cls, r: FieldReader) -> FeatureSpec:
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
    def from_dict(cls, r: FieldReader) -> Fidelity:
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
    def from_dict(cls, r: FieldReader, name: str) -> VariantInfo:
        return cls(
            name=name,
            file=check_relpath(r.path, r.string("file"), f"variant {name} file"),
            fidelity=Fidelity.from_dict(r.section("fidelity")) if r.data.get("fidelity") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file}
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity.to_dict()
        return out


@dataclass(frozen=True)
class Parity(JsonRecord):
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
    def from_dict(cls, r: FieldReader) -> Parity:
        return cls(max_abs_diff=r.number("max_abs_diff"), images=r.integer("images"), inputs=r.integer("inputs"),
                   tolerance=r.number("tolerance"), provider=r.string("provider"), reference=r.string("reference"))


@dataclass(frozen=True)
class HeadInfo(JsonRecord):
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
    def from_dict(cls, r: FieldReader) -> HeadInfo:
        name = r.string("name")
        return cls(
            name=name,
            file=check_relpath(r.path, r.string("file"), f"head {name} file"),
            kind=r.choice("kind", HEAD_KINDS),
            dataset=r.string("dataset"),
            score_scale=r.string("score_scale"),
            higher_is_better=r.boolean("higher_is_better"),
            description=r.string("description", optional=True, default=""),
        )


@dataclass(frozen=True)
class FileEntry(JsonRecord):
    """The sha256 (hex) and size in bytes of one bundle file."""

    sha256: str
    size: int

    @classmethod
    def from_dict(cls, r: FieldReader) -> FileEntry:
        digest = r.string("sha256").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise r.fail("field 'sha256' must be 64 hexadecimal characters")
        return cls(sha256=digest, size=r.integer("size"))


@dataclass(frozen=True)
class Provenance(JsonRecord):
    """Where the weights came from: source checkpoint and its hash, training data, licence."""

    source_checkpoint: str
    source_checkpoint_sha256: str
    training_data: str
    license: str
    created_by: str = ""
    notes: str = ""

    @classmethod
    def from_dict(cls, r: FieldReader) -> Provenance:
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
        r = FieldReader(data, path, "", ManifestError)
        version = r.integer("format_version")
        if version not in FORMAT_VERSIONS:
            raise ManifestError(
                path,
                f"format_version {version} is not supported by this contrique-infer "
                f"(which reads versions {', '.join(map(str, FORMAT_VERSIONS))}); upgrade contrique-infer or "
                "re-export the bundle",
            )
        files_raw = r.mapping("files")
        files = {
            check_relpath(path, name, "file"): FileEntry.from_dict(FieldReader(v, path, f"files.{name}", ManifestError))
            for name, v in files_raw.items()
        }
        variants_reader = r.section("variants")
        variants = {}
        for name, value in variants_reader.data.items():
            if name not in VARIANTS:
                raise ManifestError(path, f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}")
            variants[name] = VariantInfo.from_dict(FieldReader(value, path, f"variants.{name}", ManifestError), name)
        if "fp32" not in variants:
            raise ManifestError(path, "variants must include 'fp32'")
        heads = tuple(HeadInfo.from_dict(h) for h in r.objects("heads"))
        head_names = [h.name for h in heads]
        if len({n.lower() for n in head_names}) != len(head_names):  # heads are chosen by name, in any case
            raise ManifestError(path, f"head names must be unique, ignoring case; got {head_names}")
        default_head = r.string("default_head", optional=True)
        if default_head is not None and default_head not in head_names:
            raise ManifestError(path, f"default_head {default_head!r} is not one of the heads {head_names}")
        contract = InputContract.from_dict(r.section("input"))
        if contract.format_version > version:
            raise ManifestError(path, f"input.max_side needs format_version {contract.format_version}, got {version}")
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
        name = r.string("name")
        problem = name_problem(name)
        if problem is not None:
            raise ManifestError(path, f"field 'name' {problem}")
        return cls(
            name=name,
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

    def digest(self) -> str:
        """The identity of the bundle's content: the first :data:`DIGEST_LENGTH` hex digits of the sha256
        of this manifest's canonical JSON (``json.dumps(to_dict(), sort_keys=True, separators=(",", ":"))``,
        ASCII). The manifest records the sha256 of every bundle file and the input contract, so new
        weights, heads or preprocessing under the same name give another digest; the same manifest gives
        the same digest wherever the bundle is, however its file is laid out."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:DIGEST_LENGTH]

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
            BundleFileError: The folder or its manifest does not exist, or the manifest is a symbolic
                link to a file outside the folder (:func:`contrique_infer.paths.inside`).
            ManifestError: The manifest cannot be read, is not a regular file, is not JSON within the
                limits of :mod:`contrique_infer.jsonfile`, or is not a valid manifest.
        """
        path = Path(folder) / MANIFEST_NAME
        if not path.exists():
            raise BundleFileError(
                path, "no bundle manifest here; a bundle folder holds contrique.json (make one with contrique-export)"
            )
        inside(folder, MANIFEST_NAME)  # a link out of the folder is refused before anything is read
        return cls.from_dict(read_json(path, ManifestError), path)

    def dumps(self) -> bytes:
        """The manifest as the bytes of its JSON file."""
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode()

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/contrique.json`` (atomically: a reader sees the old manifest or the new one) and
        return its path."""
        return replace_file(Path(folder) / MANIFEST_NAME, self.dumps())

    def head_info(self, name: str | None = None) -> HeadInfo:
        """The head called ``name`` (case-insensitive), or the default head when ``name`` is None.

        Raises:
            HeadNotFoundError: No such head, or no name given and the bundle has no default head.
        """
        available = ", ".join(h.name for h in self.heads) or "none"
        if name is None:
            if not self.heads:  # a contrastive-only training run's export: features, no scores
                raise HeadNotFoundError(
                    f"bundle {self.name!r} has no heads, so it gives features but no scores: fit a head on "
                    "scored images and add it with contrique-eval run --add-head NAME --default (docs/evaluation.md)"
                )
            if self.default_head is None:
                raise HeadNotFoundError(
                    f"bundle {self.name!r} has no default head; name one (head=NAME in Python, --head NAME on "
                    f"the command line; available: {available})"
                )
            name = self.default_head
        if isinstance(name, HeadInfo):  # what scorer.head and scorer.heads give
            raise HeadNotFoundError(f"a head is named by a string, not by its HeadInfo: pass head={name.name!r} (its "
                                    f"name); available heads: {available}")
        if not isinstance(name, str):
            raise HeadNotFoundError(f"a head is named by a string, not {type(name).__name__} {name!r}; "
                                    f"available heads: {available}")
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
