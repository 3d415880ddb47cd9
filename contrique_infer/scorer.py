"""QualityScorer: CONTRIQUE quality scores for images, with a bundle's encoder and linear heads.

The feature of an image is the encoder's output at every scale of the bundle's input contract,
concatenated in the manifest's layout order (official CONTRIQUE: full + half scale, 2 x 2048);
a no-reference (``nr``) head maps it to a score, a full-reference (``fr``) head maps
``abs(feature(reference) - feature(distorted))`` to a score.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import numpy as np

from .arguments import optional_callable, positive_count, switch
from .bundle import LoadedBundle
from .decoding import DEFAULT_MAX_PIXELS, ImageInput, allow_pixels, describe
from .errors import BundleError, HeadKindError, HeadNotFoundError, NonFiniteError, PathError
from .head import Head
from .location import Location, locate
from .manifest import MANIFEST_NAME, HeadInfo, Manifest
from .pipeline import Encoded, Outcome, check_arguments, run_pipeline
from .preprocessing import PreparedImage, Thumbnailer, prepare
from .results import FeatureResult, ScoreResult
from .session import Encoder, Provider, provider_tuple, resolve_providers, thread_count
from .variant_policy import choose_variant

DEFAULT_BATCH_SIZE = 8
_KIND_NAMES = {"nr": "no-reference", "fr": "full-reference"}


class FeatureOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`QualityScorer.iter_features`, which ``features_many`` passes on."""

    batch_size: int
    workers: int | None


class ScoreOptions(FeatureOptions, total=False):
    """The keyword arguments of :meth:`QualityScorer.iter_scores`, which ``score_many`` passes on."""

    head: str | None
    reference: ImageInput | None
    thumbnail: Thumbnailer | None


@dataclass(frozen=True)
class _Options:
    """The arguments of :meth:`QualityScorer.from_pretrained`, kept to re-open after unpickling."""

    name_or_path: str | None
    head: str | None
    revision: str | None
    variant: str
    providers: tuple[Provider, ...] | None
    threads: int | None
    cache_dir: str | None
    local_files_only: bool
    max_pixels: int | None
    apply_exif: bool
    device: str | None

    def __post_init__(self) -> None:
        """Check the options at once, before any bundle is read or downloaded; a NumPy bool
        ``apply_exif`` or ``local_files_only`` becomes a bool and a NumPy integer ``threads`` or
        ``max_pixels`` an int.

        Raises:
            ValueError: ``max_pixels`` is not a positive integer or None, ``threads`` not one up to
                :data:`~contrique_infer.session.MAX_THREADS` or None.
            TypeError: ``apply_exif`` (in a report header it must be one) or ``local_files_only`` is not
                a bool (``1``, ``"no"``, which would be taken as true).
        """
        object.__setattr__(self, "threads", thread_count(self.threads))
        object.__setattr__(self, "max_pixels", positive_count(self.max_pixels, "max_pixels", optional=True))
        object.__setattr__(self, "apply_exif", switch(self.apply_exif, "apply_exif"))
        object.__setattr__(self, "local_files_only", switch(self.local_files_only, "local_files_only"))


def _pretrained_options(*, name_or_path: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None,
                        providers: Sequence[Provider] | None, **options: Any) -> _Options:
    """The arguments of :meth:`QualityScorer.from_pretrained` as its checked options.

    Raises:
        ValueError, TypeError: As :meth:`QualityScorer.from_pretrained`, before any bundle is read.
    """
    return _Options(name_or_path=None if name_or_path is None else os.fspath(name_or_path),
                    cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                    providers=provider_tuple(providers), **options)


def check_pretrained_arguments(name_or_path: str | os.PathLike[str] | None = None, **options: Any) -> None:
    """Check arguments for :meth:`QualityScorer.from_pretrained` as it checks them, without reading any
    bundle: for callers that open the scorer elsewhere, later (:mod:`contrique_infer.distributed`'s workers).

    Raises:
        TypeError: A name ``from_pretrained`` does not take, or a value of the wrong type.
        ValueError: A value ``from_pretrained`` refuses (``threads=0``, ``max_pixels=0``).
    """
    bound = inspect.signature(QualityScorer.from_pretrained).bind(name_or_path, **options)
    bound.apply_defaults()
    _pretrained_options(**bound.arguments)


class QualityScorer:
    """Scores image quality with a CONTRIQUE model bundle on onnxruntime.

    Create one with :meth:`from_pretrained` (or :meth:`from_location`, on a bundle already found by
    :func:`contrique_infer.location.locate`). A scorer is safe to use from many threads at once,
    and picklable: unpickling re-opens the bundle (from the same local folder if it exists,
    else from the Hub at the pinned revision), so it works in multiprocessing workers; for Ray
    Data and Spark, see :mod:`contrique_infer.distributed` and ``docs/scale-out.md``.

    Args:
        bundle: A loaded bundle (:func:`contrique_infer.bundle.load_bundle`).
        head: The head :meth:`score` uses by default (case-insensitive); None: the bundle's
            default head.
        providers: onnxruntime providers (explicit list wins); see :func:`contrique_infer.session.resolve_providers`.
        device: ``"cpu"`` or ``"cuda"`` when ``providers`` is None.
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
        max_pixels: Refuse larger images (None: no limit). None or a value above Pillow's own
            decompression-bomb limit raises that process-wide limit (``PIL.Image.MAX_IMAGE_PIXELS``)
            to match, since Pillow would otherwise refuse those images.
        apply_exif: Apply the EXIF orientation of images before scoring (a bool; a NumPy bool is taken as one).

    Raises:
        ValueError: ``max_pixels`` is not a positive integer or None.
        TypeError: ``apply_exif`` is not a bool, or ``providers`` is one provider rather than a list.
        HeadNotFoundError: ``head`` is not among the bundle's loaded heads.
        BundleError: The encoder cannot be loaded or does not match the manifest.
        ProviderError, DependencyError: See :func:`contrique_infer.session.resolve_providers`.
    """

    def __init__(
        self,
        bundle: LoadedBundle,
        *,
        head: str | None = None,
        providers: Sequence[Provider] | None = None,
        device: str | None = None,
        threads: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        apply_exif: bool = False,
    ) -> None:
        self._setup(bundle, _Options(
            name_or_path=str(bundle.root), head=head, revision=None, variant=bundle.variant.name,
            providers=provider_tuple(providers), threads=threads, cache_dir=None,
            local_files_only=True, max_pixels=max_pixels, apply_exif=apply_exif, device=device,
        ))

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        *,
        head: str | None = None,
        revision: str | None = None,
        variant: str = "auto",
        providers: Sequence[Provider] | None = None,
        threads: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        apply_exif: bool = False,
        device: str | None = None,
    ) -> QualityScorer:
        """Open a bundle: a local folder, a model packaged with the library, or a Hugging Face Hub repository.

        Args:
            name_or_path: A bundle folder; else the name of a bundle installed with the package
                (``default``, ``hires``; :func:`~contrique_infer.location.packaged_models`); else an
                ``org/name`` Hub repository id; None for the default bundle.
            head: Load only this head (and download only its file) and score with it; None loads
                every head and scores with the manifest's default head.
            revision: Hub branch, tag or commit to pin (ignored for local folders).
            variant: ``fp32``, ``fp16``, ``int8``, or ``auto``: fp16 on a CUDA GPU, int8 on CPUs,
                when the bundle has that variant and its recorded fidelity passes
                :data:`~contrique_infer.variant_policy.MIN_COSINE` and ``MIN_SPEARMAN`` on at least
                ``MIN_FIDELITY_IMAGES`` images, for ``head`` if given, else for every head
                (:func:`~contrique_infer.variant_policy.variant_trusted`); else fp32.
            providers: Explicit onnxruntime providers (they win over ``device``).
            threads: onnxruntime intra-op threads (None: onnxruntime's default).
            cache_dir: Hub cache folder (None: huggingface_hub's default).
            local_files_only: Never use the network (as ``HF_HUB_OFFLINE=1``); Hub bundles must
                be cached already. A bool (a NumPy bool is taken as one).
            max_pixels: Refuse images with more pixels (None: no limit); see the class docstring
                about Pillow's own limit.
            apply_exif: Apply images' EXIF orientation (the official code does not): a bool (a NumPy
                bool is taken as one).
            device: ``"cpu"`` or ``"cuda"``, when ``providers`` is None.

        Raises:
            ValueError, TypeError: ``threads``, ``max_pixels``, ``apply_exif``, ``local_files_only`` or the
                form of ``providers`` (one name rather than a list) is bad (see the class docstring), raised
                before any bundle is read or downloaded.
            NoDefaultModelError: No name was given and no default bundle is installed.
            BundleError: The bundle is missing, malformed, altered, or its graph does not fit.
            HubError: The Hub bundle could not be fetched (or is not cached, offline).
            HeadNotFoundError, VariantNotFoundError: The bundle has no such head or variant.
            ProviderError, DependencyError: Providers unavailable, or onnxruntime missing.
        """
        options = _pretrained_options(
            name_or_path=name_or_path, head=head, revision=revision, variant=variant, providers=providers,
            threads=threads, cache_dir=cache_dir, local_files_only=local_files_only, max_pixels=max_pixels,
            apply_exif=apply_exif, device=device,
        )
        resolved = resolve_providers(options.providers, options.device)  # a bad device fails before any download
        found = locate(options.name_or_path, revision=revision, cache_dir=options.cache_dir,
                       local_files_only=local_files_only)
        return cls._open(found, options, resolved)

    @classmethod
    def from_location(
        cls,
        location: Location,
        *,
        head: str | None = None,
        variant: str = "auto",
        providers: Sequence[Provider] | None = None,
        threads: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        apply_exif: bool = False,
        device: str | None = None,
    ) -> QualityScorer:
        """Open a bundle that :func:`contrique_infer.location.locate` has found, without reading its
        manifest (or resolving its Hub revision) again: ``from_pretrained`` in two steps, for callers
        that look at the manifest first.

        Args:
            location: The bundle, as ``locate`` found it (its Hub cache and offline settings are used).
            head, variant, providers, threads, max_pixels, apply_exif, device: As for :meth:`from_pretrained`.

        Raises:
            BundleError, HubError, HeadNotFoundError, VariantNotFoundError, ProviderError,
            DependencyError: As for :meth:`from_pretrained`.
        """
        options = _Options(
            name_or_path=location.name_or_path, head=head, revision=location.revision, variant=variant,
            providers=provider_tuple(providers), threads=threads, cache_dir=location.cache_dir,
            local_files_only=location.local_files_only, max_pixels=max_pixels, apply_exif=apply_exif, device=device,
        )
        return cls._open(location, options, resolve_providers(options.providers, options.device))

    @classmethod
    def _open(cls, found: Location, options: _Options, providers: list[Provider]) -> QualityScorer:
        """A scorer on the bundle ``found``: its variant chosen for ``providers`` and the heads in use,
        then its files loaded."""
        heads = None if options.head is None else [found.manifest.head_info(options.head).name]
        variant = choose_variant(options.variant, found.manifest, providers, heads)
        bundle = found.load(variant=variant, heads=heads)
        scorer = cls.__new__(cls)
        scorer._setup(bundle, replace(options, variant=variant, revision=found.revision or options.revision),
                      providers)
        return scorer

    def _setup(self, bundle: LoadedBundle, options: _Options, providers: list[Provider] | None = None) -> None:
        """Set the scorer up on a loaded bundle; ``providers`` already resolved (None: resolve
        ``options.providers`` or ``options.device`` here)."""
        self._bundle = bundle
        self._heads = dict(bundle.heads)
        default = bundle.manifest.default_head
        self._head = (self._loaded_head(options.head) if options.head is not None
                      else self._heads.get(default) if default else None)
        if providers is None:
            providers = resolve_providers(options.providers, options.device)
        self._encoder = Encoder(bundle.model_path, bundle.manifest, providers=providers, threads=options.threads,
                                sha256=bundle.manifest.files[bundle.variant.file].sha256)
        self._max_pixels = options.max_pixels
        self._apply_exif = options.apply_exif
        allow_pixels(options.max_pixels)
        self._options = options

    # --- pickling ---------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self._options, "folder": str(self._bundle.root), "digest": self.bundle_digest}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Re-open the bundle the pickled scorer used.

        Raises:
            BundleError: The bundle found is not the one the scorer was pickled with (a bundle exported
                again into its folder, another version's packaged model): it would give other scores.
            HubError: As :meth:`from_pretrained`, where the folder is gone and the bundle is on the Hub.
        """
        options: _Options = state["options"]
        folder = Path(state["folder"])
        providers = resolve_providers(options.providers, options.device)
        if (folder / MANIFEST_NAME).is_file():  # the same folder (for a Hub bundle, its cache snapshot)
            found = locate(folder)
        else:  # e.g. on another machine: from the Hub at the pinned revision
            found = locate(options.name_or_path, revision=options.revision, cache_dir=options.cache_dir,
                           local_files_only=options.local_files_only)
        pickled, now = state.get("digest"), found.manifest.digest()  # no digest: pickled by an earlier version
        if pickled is not None and pickled != now:
            raise BundleError(options.name_or_path or str(folder), (
                f"was changed since this scorer was pickled (bundle_digest {pickled!r} then, {now!r} now), so the "
                "unpickled scorer would give other scores than the one pickled; pickle the scorer again from the "
                "bundle as it is now, or restore the bundle as it was"))
        self.__dict__.update(self._open(found, options, providers).__dict__)

    # --- properties -------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The bundle's manifest."""
        return self._bundle.manifest

    @property
    def heads(self) -> tuple[HeadInfo, ...]:
        """The heads this scorer loaded."""
        return tuple(h.info for h in self._heads.values())

    @property
    def head(self) -> HeadInfo | None:
        """The head :meth:`score` uses when none is named (None if the bundle has no default)."""
        return None if self._head is None else self._head.info

    @property
    def providers(self) -> list[str]:
        """The onnxruntime providers the session actually uses, in priority order."""
        return list(self._encoder.providers)

    @property
    def device(self) -> str:
        """``"cuda"`` or ``"cpu"``: where the encoder runs."""
        return self._encoder.device

    @property
    def variant(self) -> str:
        """The encoder variant in use: ``fp32``, ``fp16`` or ``int8``."""
        return self._bundle.variant.name

    @property
    def apply_exif(self) -> bool:
        """Whether images' EXIF orientation is applied before scoring."""
        return self._apply_exif

    @property
    def bundle_digest(self) -> str:
        """The identity of the bundle's content (:meth:`Manifest.digest <contrique_infer.manifest.Manifest.digest>`)."""
        return self.manifest.digest()

    @property
    def bundle_dir(self) -> Path:
        """The local folder the bundle was loaded from (a Hub cache snapshot for Hub bundles)."""
        return self._bundle.root

    def __repr__(self) -> str:
        head = None if self._head is None else self._head.name
        return (f"QualityScorer(bundle={self.manifest.name!r}, variant={self.variant!r}, head={head!r}, "
                f"providers={self.providers!r})")

    # --- single images ----------------------------------------------------------------------

    def features(self, image: ImageInput) -> np.ndarray:
        """The feature vector of one image (float32, ``manifest.feature.dim`` values; 4096 for ResNet-50).

        Raises:
            ImageError: The image cannot be used (see :mod:`contrique_infer.decoding`).
            NonFiniteError: The model gave it a feature with NaN or infinite values.
            InferenceError: onnxruntime failed.
        """
        prepared = self._prepare(image)
        return _finite_feature(prepared.source, self._encoder.features([prepared])[0])

    def score(self, image: ImageInput, *, head: str | None = None) -> float:
        """The quality score of one image with a no-reference head.

        Args:
            image: A path, bytes, binary file object, PIL image or uint8 NumPy array.
            head: Head name (case-insensitive); None: the scorer's head.

        Raises:
            ImageError: The image cannot be used; :class:`NonFiniteError` (an ``ImageError``) if
                its feature or score is NaN or infinite.
            HeadNotFoundError: No such head was loaded.
            HeadKindError: The head is a full-reference head (use :meth:`score_fr`).
        """
        chosen = self._select_head(head, "nr")
        return _finite_score(chosen, chosen(self.features(image)), describe(image))

    def score_fr(self, reference: ImageInput, distorted: ImageInput, *, head: str | None = None) -> float:
        """The full-reference score of ``distorted`` against ``reference``.

        Args:
            reference: The pristine image.
            distorted: The image to assess.
            head: An ``fr`` head; None: the scorer's head if it is ``fr``, else the only ``fr``
                head loaded.

        Raises:
            ImageError: An image cannot be used; :class:`NonFiniteError` (an ``ImageError``) if a
                feature or the score is NaN or infinite.
            HeadKindError: The head is a no-reference head, or no ``fr`` head can be chosen.
            HeadNotFoundError: No such head was loaded.
        """
        chosen = self._select_head(head, "fr")
        difference = np.abs(self.features(reference) - self.features(distorted))
        return _finite_score(chosen, chosen(difference), describe(distorted))

    # --- many images ------------------------------------------------------------------------

    def iter_scores(
        self,
        images: Iterable[ImageInput | PathError],
        *,
        head: str | None = None,
        reference: ImageInput | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
        thumbnail: Thumbnailer | None = None,
    ) -> Iterator[ScoreResult]:
        """Score images of any sizes as a stream; a bad image gives an error result, not an exception.

        Images are decoded and resized in a thread pool while onnxruntime runs, and on a GPU
        images of the same size are batched together (:mod:`contrique_infer.pipeline`); on a CPU
        each image has its own run, so that its score never depends on the other images
        (:attr:`Encoder.batches <contrique_infer.session.Encoder.batches>`). ``images`` is read
        lazily, and results come out in input order as they are done; however long the input,
        only about ``2 * (batch_size + 2 * workers)`` images and results are held at once. An
        image whose feature or score is NaN or infinite gets a :class:`NonFiniteError` result.

        Args:
            images: The images (any iterable, e.g. a generator of millions of paths; consumed once).
                An item that is already a :class:`~contrique_infer.errors.PathError` (such as the
                :class:`~contrique_infer.errors.ScanError` of a folder that could not be listed)
                gives its error result, in its place.
            head: Head name; None: the scorer's head (nr), or with ``reference`` the fr head as
                in :meth:`score_fr`.
            reference: Score every image against this reference with a full-reference head.
            batch_size: Images per onnxruntime run on a GPU (1 on a CPU, whatever is asked).
            workers: Decoding threads (None: up to 4, one per CPU).
            thumbnail: Called in the decoding threads with each decoded RGB image (without a
                second decode); what it returns becomes the result's ``thumbnail``, e.g.
                :func:`contrique_infer.report.make_thumbnail`. None (the default) costs nothing.

        Returns:
            An iterator of one result per input, in input order.

        Raises:
            HeadNotFoundError, HeadKindError: See :meth:`score` and :meth:`score_fr` (raised
                at once, before any image is read).
            ImageError: The ``reference`` image cannot be used (at once).
            TypeError, ValueError: ``images`` is a single image, a bad ``batch_size``/``workers``, or a
                ``thumbnail`` that cannot be called.
            InferenceError: onnxruntime failed (while iterating).
        """
        outcomes = self._outcomes(images, batch_size, workers, thumbnail)
        chosen = self._select_head(head, "nr" if reference is None else "fr")
        ref_feature = None if reference is None else self.features(reference)

        def finish(outcome: Outcome) -> ScoreResult:
            if not isinstance(outcome, Encoded):
                return ScoreResult.failed(outcome)
            feature = outcome.feature if ref_feature is None else np.abs(ref_feature - outcome.feature)
            scores, distance = chosen.scores_and_distances(feature)
            try:
                value = _finite_score(chosen, scores, outcome.source)
            except NonFiniteError as exc:
                return ScoreResult.failed(exc)
            return ScoreResult(outcome.source, value, width=outcome.width, height=outcome.height,
                               thumbnail=outcome.thumbnail, note=_fade_note(chosen, distance, feature))

        return (finish(o) for o in outcomes)

    def iter_features(
        self,
        images: Iterable[ImageInput | PathError],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> Iterator[FeatureResult]:
        """The features of images as a stream, computed as :meth:`iter_scores` computes them (same arguments).

        Returns:
            An iterator of one :class:`FeatureResult` per input, in input order.
        """
        return (FeatureResult(o.source, o.feature, width=o.width, height=o.height) if isinstance(o, Encoded)
                else FeatureResult.failed(o) for o in self._outcomes(images, batch_size, workers, None))

    def score_many(self, images: Iterable[ImageInput | PathError], *,
                   progress: Callable[[ScoreResult], None] | None = None,
                   **options: Unpack[ScoreOptions]) -> list[ScoreResult]:
        """Score many images into a list: :meth:`iter_scores`, collected (same keyword arguments).

        Args:
            progress: Called with each result as it is finished (in input order); a value that
                cannot be called is a ``TypeError`` at once.

        Returns:
            One result per input, in input order.
        """
        return _collect(self.iter_scores(images, **options), progress)

    def features_many(self, images: Iterable[ImageInput | PathError], *,
                      progress: Callable[[FeatureResult], None] | None = None,
                      **options: Unpack[FeatureOptions]) -> list[FeatureResult]:
        """The features of many images into a list: :meth:`iter_features`, collected (same keyword arguments).

        Returns:
            One :class:`FeatureResult` per input, in input order.
        """
        return _collect(self.iter_features(images, **options), progress)

    def resolve_head(self, name: str | None = None, *, kind: str = "nr") -> HeadInfo:
        """The head that :meth:`score` (``kind="nr"``) or :meth:`score_fr` (``kind="fr"``) would use.

        Raises:
            HeadNotFoundError: No such head was loaded.
            HeadKindError: The head is of the other kind, or no ``fr`` head can be chosen.
            ValueError: ``kind`` is neither ``"nr"`` nor ``"fr"``.
        """
        if kind not in _KIND_NAMES:
            raise ValueError(f"kind must be 'nr' (a no-reference head, for score) or 'fr' (a full-reference head, "
                             f"for score_fr); got {kind!r}")
        return self._select_head(name, kind).info

    # --- internals --------------------------------------------------------------------------

    def _outcomes(self, images: Iterable[ImageInput | PathError], batch_size: int, workers: int | None,
                  thumbnail: Thumbnailer | None) -> Iterator[Outcome]:
        """The pipeline's outcomes for ``images`` (arguments checked at once, images read lazily), with a
        :class:`NonFiniteError` in place of a feature that is not finite; one image per run where the
        encoder does not batch (a CPU)."""
        threads = check_arguments(images, batch_size, workers)
        optional_callable(thumbnail, "thumbnail")
        per_run = batch_size if self._encoder.batches else 1
        prepare_one = self._prepare if thumbnail is None else partial(self._prepare, thumbnail=thumbnail)
        return (_checked(o) for o in run_pipeline(images, prepare_one, self._encoder.features, batch_size=per_run,
                                                  workers=threads))

    def _prepare(self, image: ImageInput, thumbnail: Thumbnailer | None = None) -> PreparedImage:
        return prepare(image, self.manifest.input, max_pixels=self._max_pixels, apply_exif=self._apply_exif,
                       thumbnail=thumbnail)

    def _loaded_head(self, name: str | None) -> Head:
        """The loaded head called ``name`` (case-insensitive), or the manifest default for None."""
        info = self.manifest.head_info(name)
        if info.name not in self._heads:
            raise HeadNotFoundError(
                f"head {info.name!r} is in bundle {self.manifest.name!r} but this scorer loaded only "
                f"{', '.join(self._heads)}; create the scorer with head=None to load every head"
            )
        return self._heads[info.name]

    def _select_head(self, name: str | None, kind: str) -> Head:
        """The head to use for a ``kind`` (nr/fr) computation."""
        if name is not None:
            chosen = self._loaded_head(name)
        elif self._head is not None and self._head.kind == kind:
            return self._head
        elif kind == "fr":
            fr = [h for h in self._heads.values() if h.kind == "fr"]
            if len(fr) == 1:
                return fr[0]
            if fr:
                raise HeadKindError(f"the model has {len(fr)} full-reference heads: choose one with head=NAME "
                                    f"(--head NAME on the command line); loaded fr heads: {_names(fr)}")
            in_bundle = [h.name for h in self.manifest.heads if h.kind == "fr"]
            if in_bundle:
                raise HeadKindError(f"this scorer loaded none of the model's full-reference heads "
                                    f"({', '.join(in_bundle)}): create it with head=None or head=NAME")
            raise HeadKindError(f"model {self.manifest.name!r} has no full-reference head, so it cannot score "
                                "against a reference: use a model with one (the converted official CONTRIQUE "
                                "model has them, docs/convert-official.md)")
        else:
            chosen = self._head if self._head is not None else self._loaded_head(None)
        if chosen.kind != kind:  # the bundle's heads of that kind, loaded or not (the CLI loads the one it names)
            others = _names(h for h in self.manifest.heads if h.kind == kind)
            hint = ("score_fr(reference, distorted) (on the command line: with --fr REF)" if chosen.kind == "fr"
                    else "score(image) (on the command line: without --fr)")
            raise HeadKindError(
                f"head {chosen.name!r} is a {_KIND_NAMES[chosen.kind]} head: use it with {hint}, or choose "
                f"a {_KIND_NAMES[kind]} head; the model's {kind} heads: {others}"
            )
        return chosen


def _names(heads: Iterable[Head | HeadInfo]) -> str:
    return ", ".join(h.name for h in heads) or "none"


def _finite_feature(source: str, feature: np.ndarray) -> np.ndarray:
    """``feature``, if all its values are finite.

    Raises:
        NonFiniteError: Some are NaN or infinite (the message says how many and where).
    """
    bad = np.flatnonzero(~np.isfinite(feature))
    if bad.size:
        raise NonFiniteError(
            source,
            f"the model's feature is not finite ({bad.size} of {feature.size} values are NaN or infinite, the "
            f"first at index {bad[0]}), so the image has no score. Images of one flat colour do this with bundles "
            "exported before contrique-export kept their natural-scene statistics finite: re-export such a bundle "
            "with a current contrique-export",
        )
    return feature


def _checked(outcome: Outcome) -> Outcome:
    """``outcome``, or a :class:`NonFiniteError` in place of an encoded image whose feature is not finite."""
    if isinstance(outcome, Encoded):
        try:
            _finite_feature(outcome.source, outcome.feature)
        except NonFiniteError as exc:
            return exc
    return outcome


def _fade_note(head: Head, distances: np.ndarray | None, feature: np.ndarray) -> str | None:
    """Why ``head`` faded a score, given the range distance it measured for it
    (:meth:`Head.scores_and_distances`) and the feature, or None where it did not (:attr:`Head.fade`,
    :attr:`Head.floor`)."""
    reasons = []
    if head.fade is not None and distances is not None and float(distances) > head.fade[0]:
        reasons.append(f"far outside the images head {head.name!r} was fitted on (range distance {float(distances):.1f}, "
                       f"beyond {head.fade[0]:g}), as a photo blurred to mush or a flat frame is")
    if head.floor is not None and float(feature[head.floor.index]) < head.floor.value:
        reasons.append(f"its {head.floor.name} is {float(feature[head.floor.index]):.2f}, below {head.floor.value:.2f}, "
                       f"the lowest of the photos head {head.name!r} was fitted on")
    if not reasons:
        return None
    return "; ".join(reasons) + ": its score is moved towards the worst end of the scale"


def _finite_score(head: Head, value: np.ndarray | float, source: str) -> float:
    """The head's score as a float, if it is finite.

    Raises:
        NonFiniteError: It is NaN or infinite (the feature was finite: the head's numbers overflow).
    """
    score = float(value)
    if not np.isfinite(score):
        raise NonFiniteError(
            source,
            f"head {head.name!r} gives a score that is not finite ({score}) for this image's finite feature: its "
            "coefficients or intercept are too large for float64 arithmetic; fix or refit the head",
        )
    return score


_T = TypeVar("_T")


def _collect(results: Iterator[_T], progress: Callable[[_T], None] | None) -> list[_T]:
    """The results as a list, calling ``progress`` with each as it comes.

    Raises:
        TypeError: ``progress`` cannot be called (before any image is read).
    """
    optional_callable(progress, "progress")
    out = []
    for result in results:
        if progress is not None:
            progress(result)
        out.append(result)
    return out
