"""Score images across processes and machines: Ray Data (``pip install "contrique-infer[ray]"``) or Spark.

:class:`BatchScorer` scores Arrow tables of image paths or bytes with a scorer it opens once, in
its constructor: it is the callable class for Ray Data's ``Dataset.map_batches`` with an actor
pool, and the per-partition function of Spark's ``DataFrame.mapInArrow``. It scores with
:meth:`QualityScorer.score_many`, so a bad image gives an error row, never a failed job.
:func:`score_dataset` builds the Ray pipeline for a dataset; :func:`score_images` runs it on a
list of paths or bytes and returns what ``score_many`` returns, in input order.

Importing this module imports neither Ray nor pyarrow; using them when they are missing raises
:class:`DependencyError`. See docs/scale-out.md.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from .arguments import positive_count, positive_number
from .errors import BundleError, ContriqueError, DependencyError
from .location import locate
from .pipeline import check_batching
from .results import ScoreResult
from .scorer import DEFAULT_BATCH_SIZE, QualityScorer, check_pretrained_arguments
from .variant_policy import choose_variant

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

DEFAULT_ROWS_PER_CALL = 32
"""Images handed to a worker per ``map_batches`` call."""
_INDEX = "index"  # the input position column of score_images
_Item = TypeVar("_Item", str, bytes)


def require_ray() -> ModuleType:
    """Import Ray (and Ray Data).

    Raises:
        DependencyError: Ray or Ray Data is not installed (the message names the extra).
    """
    try:
        import ray
        import ray.data  # noqa: F401  (Ray without its data extra has no ray.data dependencies)
    except ImportError as exc:
        raise DependencyError(
            f'Ray Data is not installed ({exc}); install it with pip install "contrique-infer[ray]"'
        ) from exc
    return ray


def result_schema() -> pa.Schema:
    """The Arrow columns of a scored batch: the fields of :meth:`ScoreResult.to_dict`, in order.

    Raises:
        DependencyError: pyarrow is not installed.
    """
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise DependencyError('pyarrow is not installed; install it with pip install "contrique-infer[ray]"') from exc
    return pa.schema([
        ("source", pa.string()),
        ("score", pa.float64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("error", pa.string()),
        ("error_type", pa.string()),
        ("note", pa.string()),
    ])


class BatchScorer:
    """Scores Arrow tables of images with a scorer opened once, when it is created.

    With Ray Data, use it with an actor pool so each worker keeps its scorer::

        ds.map_batches(BatchScorer, fn_constructor_kwargs={"model": "org/name", "revision": "v1"},
                       batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=4), num_cpus=1)

    With Spark, create it at the start of a ``mapInArrow`` function (docs/scale-out.md).

    Each output batch has the input's columns except ``column``, then ``source``, ``score``,
    ``width``, ``height``, ``error``, ``error_type`` and ``note`` as in :meth:`ScoreResult.to_dict`
    (nulls where the image failed; ``note`` null unless the head faded the score).

    Args:
        model: A bundle folder that every worker can read, a Hub id ``org/name`` (pin
            ``revision=``), or None for the packaged default model.
        column: The input column holding image paths or encoded image bytes.
        threads: onnxruntime intra-op threads of this worker; None: in a Ray worker, the CPUs
            Ray reserved for it (``num_cpus`` of ``map_batches``, at least 1), elsewhere
            onnxruntime's default (every core).
        batch_size: Images per onnxruntime run, as in :meth:`QualityScorer.score_many`.
        decode_workers: Decoding threads (``workers`` of :meth:`QualityScorer.score_many`).
        bundle_digest: The :attr:`QualityScorer.bundle_digest` the bundle must have (:func:`score_dataset`
            passes the one its driver found), so that one job never scores with two models; None: any.
        **options: Other keyword arguments of :meth:`QualityScorer.from_pretrained`
            (``revision``, ``head``, ``variant``, ``device``, ``max_pixels``, ...).

    Raises:
        DependencyError: pyarrow is not installed.
        BundleError: The bundle opened is not the one of ``bundle_digest`` (changed since the job began).
        ContriqueError: As :meth:`QualityScorer.from_pretrained` (the worker fails to start).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        column: str = "image",
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        decode_workers: int | None = None,
        bundle_digest: str | None = None,
        **options: Any,
    ) -> None:
        self.schema = result_schema()
        self.column = column
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self.scorer = QualityScorer.from_pretrained(model, threads=_ray_cpus() if threads is None else threads,
                                                    **options)
        found = self.scorer.bundle_digest
        if bundle_digest is not None and found != bundle_digest:
            raise BundleError(str(self.scorer.bundle_dir), (
                f"is not the bundle this job began with (bundle_digest {bundle_digest!r} then, {found!r} in this "
                "worker): it was changed since (exported again into its folder, another commit of its Hub branch), "
                "and the job's workers would score with two models; leave the bundle as it is while a job runs, "
                "pin a Hub commit (revision=), and start the job again"))

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Score the images of ``batch[column]``.

        Raises:
            ValueError: The batch lacks ``column``, or has a column named like a result column.
            InferenceError: onnxruntime failed (the Ray job fails, as the CLI stops).
        """
        import pyarrow as pa

        schema = self.schema
        check_columns(batch.column_names, self.column, "the batch")
        kept = batch.drop_columns([self.column])
        results = self.scorer.score_many(batch.column(self.column).to_pylist(), batch_size=self.batch_size,
                                         workers=self.decode_workers)
        scored = pa.Table.from_pylist([_arrow_row(r) for r in results], schema=schema)
        for name in schema.names:
            kept = kept.append_column(schema.field(name), scored.column(name))
        return kept


def score_dataset(
    dataset: ray.data.Dataset,
    model: str | os.PathLike[str] | None = None,
    *,
    workers: int = 2,
    threads: int | None = None,
    num_cpus: float | None = None,
    column: str = "image",
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
    batch_size: int = DEFAULT_BATCH_SIZE,
    decode_workers: int | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """Add scores to a Ray dataset with a pool of ``workers`` actors (lazy, like any ``map_batches``).

    Connects to Ray first if needed (``ray.init()``: the cluster of ``RAY_ADDRESS``, else a new
    local one). The bundle is found here first (its manifest only; for a Hub bundle, its revision resolved
    to a commit): every worker must open that bundle, at that commit, or fail (:class:`BatchScorer`'s
    ``bundle_digest``), so a bundle changed before or while the job runs never gives a job of two models.

    Args:
        dataset: A dataset with a column of image paths (readable by every worker) or bytes.
        model: See :class:`BatchScorer`; a relative folder that exists here is sent as its absolute path.
        workers: Actors in the pool, each with its own scorer.
        threads: onnxruntime threads per worker; None: the cluster's CPUs divided by
            ``workers``, at least 1 (on one machine, ``cpu_count // workers``).
        num_cpus: Logical CPUs Ray reserves per worker; None: 1, or less when the workers would
            take every CPU of the cluster, so that the dataset's read tasks can still run. More than
            any node has gives a ``RuntimeWarning`` (the workers cannot start until such a node joins).
        column, batch_size, decode_workers, **options: See :class:`BatchScorer`.
        rows_per_call: Images per ``map_batches`` call.

    Returns:
        The dataset with the columns of :class:`BatchScorer` (the image column is dropped).

    Raises:
        DependencyError: Ray Data is not installed.
        TypeError: ``column`` is not a string; ``options`` has a name :meth:`QualityScorer.from_pretrained` does not take, or a
            value of a type it refuses (``apply_exif="no"``).
        ValueError: ``workers``, ``rows_per_call``, ``batch_size`` or ``decode_workers`` is not a
            positive integer (``decode_workers`` may be None), ``num_cpus`` not a positive number or None, or ``threads`` or an option is a value
            :meth:`QualityScorer.from_pretrained` refuses (``threads=0``, ``max_pixels=0``): each
            raised before Ray starts, not in every worker. Also where the dataset's schema is known
            without running it (``from_items``, ``from_arrow``, after a ``select_columns``): it has no
            column ``column``, or a column named like a result column.
        HeadNotFoundError, VariantNotFoundError: The bundle, found here, has no such ``head`` or ``variant``.
    """
    ray = require_ray()
    workers = positive_count(workers, "workers")
    rows_per_call = positive_count(rows_per_call, "rows_per_call")
    num_cpus = positive_number(num_cpus, "num_cpus")
    check_batching(batch_size, decode_workers, "decode_workers")  # here, not in every worker once Ray has started
    check_pretrained_arguments(model, threads=threads, **options)  # fail here, not in every worker
    known = dataset.schema(fetch_if_missing=False)  # None where only running the dataset would tell
    if not isinstance(column, str) or known is not None:
        check_columns([] if known is None else known.names, column, "the dataset")
    pinned = _pinned(model, options)
    if not ray.is_initialized():
        ray.init()
    cpus = ray.cluster_resources().get("CPU", 1.0)
    if threads is None:
        threads = max(1, int(cpus // workers))
    if num_cpus is None:
        num_cpus = 1.0 if workers < cpus else max(cpus - 1, 0.5) / workers
    else:
        _warn_if_no_node_fits(ray, num_cpus)
    return dataset.map_batches(
        BatchScorer,
        fn_constructor_kwargs={"model": None if model is None else _for_workers(os.fspath(model)), "column": column,
                               "threads": threads, "batch_size": batch_size, "decode_workers": decode_workers,
                               **options, **pinned},
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
    )


def score_images(
    images: Iterable[str | os.PathLike[str] | bytes],
    model: str | os.PathLike[str] | None = None,
    *,
    workers: int = 2,
    threads: int | None = None,
    **options: Any,
) -> list[ScoreResult]:
    """Score images on a Ray actor pool: what :meth:`QualityScorer.score_many` returns, in input order.

    Args:
        images: Paths that every worker can read, or encoded image bytes (one kind, not mixed). A
            relative path that names a file here is sent to the workers as its absolute path.
        model, workers, threads, **options: See :func:`score_dataset` (``num_cpus``,
            ``rows_per_call``, ``batch_size``, ``decode_workers`` and the options of
            :meth:`QualityScorer.from_pretrained`).

    Returns:
        One :class:`ScoreResult` per image, with its score or its error.

    Raises:
        DependencyError: Ray Data is not installed.
        TypeError: An image is neither a path nor bytes, paths and bytes are mixed, an unknown
            option, or ``column`` (an option of :func:`score_dataset` only).
    """
    ray = require_ray()
    if "column" in options:  # its dataset is made here, of the images given
        raise TypeError("score_images takes no column: it scores the images given; to score a column of a "
                        "dataset, use score_dataset(dataset, column=NAME)")
    inputs = [_path_or_bytes(image) for image in images]
    if not inputs:
        return []
    kinds = {type(image) for image in inputs}
    if len(kinds) > 1:  # Arrow would make one column of them: paths became bytes, or bytes text
        first = next(i for i, image in enumerate(inputs) if type(image) is not type(inputs[0]))
        raise TypeError(f"score_images takes paths or bytes, one kind per call: image 0 is "
                        f"{'a path' if isinstance(inputs[0], str) else 'bytes'} and image {first} is not; "
                        "score the paths and the bytes in two calls")
    items = [{"image": _for_workers(image), _INDEX: i} for i, image in enumerate(inputs)]
    scored = score_dataset(ray.data.from_items(items), model, workers=workers, threads=threads, **options)
    rows = sorted(scored.take_all(), key=lambda row: row[_INDEX])
    results = [ScoreResult(**{name: row[name] for name in result_schema().names}) for row in rows]
    # a path's source is the path as given (the worker's copy had text Arrow cannot hold escaped)
    return [dataclasses.replace(r, source=image) if isinstance(image, str) and r.source != image else r
            for r, image in zip(results, inputs)]


def check_columns(names: Iterable[str], column: str, where: str) -> None:
    """Check that ``names`` (the columns of ``where``: a batch, a dataset) hold the image column
    ``column`` and no column named like a result column (the image column may be one: it is dropped).

    Raises:
        TypeError: ``column`` is not a string.
        ValueError: There is no column ``column``, or another column would be overwritten by the scores.
    """
    if not isinstance(column, str):
        raise TypeError(f"column must be the name of the column holding image paths or bytes, a str; "
                        f"got {column!r} ({type(column).__name__})")
    names = list(names)
    if column not in names:
        raise ValueError(f"no column {column!r} in {where} (columns: {', '.join(names)}); "
                         "pass column=NAME of the column holding image paths or bytes")
    clash = sorted((set(names) - {column}) & set(result_schema().names))
    if clash:
        raise ValueError(f"input columns {', '.join(clash)} would be overwritten by the scores; "
                         "rename or drop them before scoring")


def _pinned(model: str | os.PathLike[str] | None, options: dict[str, Any]) -> dict[str, Any]:
    """What pins the workers to the bundle found here: its ``bundle_digest``, and for a Hub bundle the
    commit its ``revision`` resolved to (a branch may move while the job runs). Nothing where the bundle
    cannot be found here (a driver off the cluster's file system): each worker then reports its own error.

    Raises:
        HeadNotFoundError, VariantNotFoundError: The bundle found has no such ``head``, or no such ``variant``
            (other than ``auto``, which depends on the workers' device): here, not in every worker.
    """
    try:
        found = locate(model, revision=options.get("revision"), cache_dir=options.get("cache_dir"),
                       local_files_only=options.get("local_files_only", False))
    except ContriqueError:
        return {}
    head, variant = options.get("head"), options.get("variant", "auto")
    heads = None if head is None else [found.manifest.head_info(head).name]
    if variant != "auto":
        choose_variant(variant, found.manifest, [], heads)
    pins: dict[str, Any] = {"bundle_digest": found.manifest.digest()}
    if found.revision is not None:
        pins["revision"] = found.revision
    return pins


def _warn_if_no_node_fits(ray: ModuleType, num_cpus: float) -> None:
    """Warn at once where no node of the cluster has ``num_cpus`` CPUs: no worker can start, and Ray Data
    waits until such a node joins (on a cluster that does not scale up, for ever; Ray says so after a minute)."""
    largest = max((node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")), default=0.0)
    if num_cpus > largest:
        warnings.warn(f"num_cpus={num_cpus:g} is more CPUs than any node of the Ray cluster has (at most "
                      f"{largest:g}): no worker can start until a node that large joins, and on a cluster that "
                      f"does not scale up the job waits for ever; pass num_cpus of at most {largest:g}, or leave "
                      "it out", RuntimeWarning, stacklevel=3)


def _ray_cpus() -> int | None:
    """The CPUs Ray reserved for the current worker (at least 1); None outside Ray."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))


def _for_workers(item: _Item) -> _Item:
    """A relative path that names a file or folder here (an image, a bundle folder) as its absolute path:
    the workers' working folder is not the caller's (Ray's, set when it started; another machine's). Other
    items as they are: a path that names nothing keeps the hints of its error (``~``, white space), and a
    name that is no folder here (a Hub id, a packaged model's name) is looked up by each worker."""
    if isinstance(item, str) and not os.path.isabs(item) and os.path.exists(item):
        return os.path.abspath(item)
    return item


def _arrow_row(result: ScoreResult) -> dict[str, Any]:
    """``result.to_dict()`` with text Arrow can hold: the surrogates of a name that is not UTF-8
    (``os.fsdecode(b"caf\\xe9.png")``), in its source and its error, written as ``\\udce9``."""
    return {key: value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else value
            for key, value in result.to_dict().items()}


def _path_or_bytes(image: str | os.PathLike[str] | bytes) -> str | bytes:
    """A path as plain ``str`` (a ``numpy.str_``, a path-like whose ``__fspath__`` gives bytes, as
    ``score_many`` reads them), or the image's bytes."""
    if isinstance(image, (str, os.PathLike)):
        return str(os.fsdecode(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    raise TypeError(f"score_images takes paths or bytes; got {type(image).__name__} "
                    "(score PIL images and arrays in one process with QualityScorer.score_many)")


__all__ = ["BatchScorer", "result_schema", "require_ray", "score_dataset", "score_images"]
