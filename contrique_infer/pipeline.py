"""The batching pipeline behind ``QualityScorer.iter_scores`` and its relatives.

Images are decoded and resized in a thread pool while the encoder runs; images of the same size
are batched together (one encoder run per batch and scale); outcomes come out in input order.
Whatever the input's length, the pipeline holds a bounded number of images and outcomes:
at most ``2 * workers`` decodes in flight, fewer than ``batch_size`` prepared images waiting for
a batch, and at most ``batch_size + 2 * workers`` finished outcomes waiting for an earlier input
(the batch holding the earliest unfinished image is then run early, whatever its size).
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .arguments import positive_count
from .decoding import ImageInput, describe, is_stream, is_unloaded_image, read_stream, snapshot
from .errors import ImageDecodeError, ImageError, PathError
from .preprocessing import PreparedImage


@dataclass(frozen=True, eq=False)
class Encoded:
    """An input's feature, with what a result reports of the image (its pixels are released)."""

    source: str
    width: int
    height: int
    feature: np.ndarray
    thumbnail: bytes | None = None


Outcome = Encoded | PathError
"""What the pipeline yields for one input: its feature, or why it has none (an :class:`ImageError`,
or the :class:`PathError` the input already was)."""


def check_arguments(images: Iterable[ImageInput | PathError], batch_size: int, workers: int | None) -> int:
    """Check the pipeline's arguments; returns the number of decoding threads.

    A 4-D NumPy array is a stack of images (N x H x W x C): it is iterated, each image a view of it.
    An array of other dimensions is one image (an HxWx3 image and a stack of grey images look alike).

    Raises:
        TypeError: ``images`` is a single image, or not iterable at all.
        ValueError: ``batch_size`` or ``workers`` is not a positive integer.
    """
    single = (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray, Image.Image)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return check_batching(batch_size, workers)
    if isinstance(images, io.TextIOBase):
        raise TypeError("iter_scores, score_many and features_many take an iterable of images, and a text file "
                        "object is none: to score the paths it lists, one a line, pass (line.rstrip('\\n') for line "
                        "in file)")
    if isinstance(images, single) or is_stream(images):
        raise TypeError("iter_scores, score_many and features_many take an iterable of images; "
                        "use score() or features() for a single image (a 4-D NumPy array, N x H x W x C, "
                        "is taken as N images)")
    if not isinstance(images, Iterable) and not hasattr(images, "__getitem__"):
        raise TypeError(f"iter_scores, score_many and features_many take an iterable of images (a list, a "
                        f"generator, ...); got {type(images).__name__}, which cannot be iterated")
    return check_batching(batch_size, workers)


def check_batching(batch_size: int, workers: int | None, workers_name: str = "workers") -> int:
    """Check ``batch_size`` and ``workers`` (decoding threads, an argument called ``workers_name``);
    returns the number of decoding threads.

    Raises:
        ValueError: ``batch_size`` or ``workers`` is not a positive integer.
    """
    positive_count(batch_size, "batch_size")
    count = positive_count(workers, workers_name, optional=True)
    return min(4, os.cpu_count() or 1) if count is None else count


def run_pipeline(
    images: Iterable[ImageInput | PathError],
    prepare: Callable[[ImageInput], PreparedImage],
    encode: Callable[[Sequence[PreparedImage]], list[np.ndarray]],
    *,
    batch_size: int,
    workers: int,
) -> Iterator[Outcome]:
    """Decode, batch and encode ``images``; yield one outcome per input, in input order.

    Args:
        images: The inputs (any iterable, consumed once and lazily). An input that is already a
            :class:`PathError` (a folder that could not be scanned, say) is its own outcome, in its place.
        prepare: Decodes one input (runs in the decoding threads); raises :class:`ImageError` for
            any input it cannot use (an input of a type that is no image at all included). Any
            other exception it raises becomes that input's :class:`ImageDecodeError` too (naming
            the exception as a bug to report): one input never ends the batch.
        encode: The features of same-sized prepared images, one array per image; an :class:`ImageError` it
            raises (for a lone image the memory left cannot run) is the outcome of every image it was given.
        batch_size: The most images per ``encode`` call.
        workers: Decoding threads (checked by :func:`check_arguments`).

    A caller's file object is read here, in input order (each read from where it is), so that one
    object given twice gives its image once and then a clear error, the same each run. An array, a
    ``bytearray`` or ``memoryview`` and a loaded PIL image are copied here, so that a generator may
    fill one buffer again for its next image (``buf[:] = frame; yield buf``). A caller's PIL
    image that is not loaded yet is decoded here too, before the next input is asked for: its file is
    the caller's, which a generator may close as it goes on (``with Image.open(p) as im: yield im``).
    Such images are loaded one at a time anyway (:mod:`contrique_infer.decoding` loads a caller's PIL
    image under a lock); paths and loaded images are decoded in the threads.

    Yields:
        The input's :class:`Encoded` feature, or its :class:`ImageError` (or :class:`PathError`).

    Raises:
        Whatever ``encode`` raises (an inference failure ends the run), and whatever ``images``
        raises while it is iterated: after the outcomes of every input it gave before.
    """
    finished: dict[int, Outcome] = {}
    groups: dict[tuple[int, ...], list[tuple[int, PreparedImage]]] = {}
    group_of: dict[int, tuple[int, ...]] = {}  # index of each waiting image -> its group's key
    inflight: deque[tuple[int, Future[PreparedImage | PathError]]] = deque()
    max_finished = batch_size + 2 * workers
    source = iter(images)
    submitted = emitted = 0
    failure: Exception | None = None  # what iterating ``images`` raised, re-raised once the rest is out

    def attempt(image: ImageInput | PathError) -> PreparedImage | PathError:
        if isinstance(image, PathError):
            return image
        try:
            return prepare(image)
        except ImageError as exc:
            return exc
        except Exception as exc:  # a failure no check foresaw: this input's outcome, never the batch's end
            return ImageDecodeError(describe(image), f"cannot be used ({type(exc).__name__}: {exc}); this is "
                                                     "a bug in contrique-infer: please report it with the input")

    def run(key: tuple[int, ...]) -> None:
        group = groups.pop(key)
        try:
            features: list[np.ndarray | ImageError] = list(encode([p for _, p in group]))
        except ImageError as exc:  # the encoder's failure of a lone image (too large for the memory left)
            features = [exc] * len(group)
        for (index, prepared), feature in zip(group, features):
            del group_of[index]
            finished[index] = feature if isinstance(feature, ImageError) else Encoded(
                prepared.source, prepared.width, prepared.height, feature, prepared.thumbnail)

    with ThreadPoolExecutor(workers, thread_name_prefix="contrique-decode") as pool:
        try:
            while True:
                while source is not None and len(inflight) < 2 * workers:
                    try:
                        image = next(source, _END)
                    except Exception as exc:  # the caller's iterable failed: finish what it gave first
                        failure, image = exc, _END
                    if image is _END:
                        source = None
                    else:
                        image = _taken(image)
                        if is_unloaded_image(image):  # now, while its file is open (the caller may close it)
                            inflight.append((submitted, _done(attempt(image))))
                        else:
                            inflight.append((submitted, pool.submit(attempt, image)))
                        submitted += 1
                if not inflight:
                    break
                index, future = inflight.popleft()
                item = future.result()
                if isinstance(item, PathError):
                    finished[index] = item
                else:
                    key = item.scales[0].shape  # the encoder's input size
                    groups.setdefault(key, []).append((index, item))
                    group_of[index] = key
                    if len(groups[key]) >= batch_size:
                        run(key)
                    elif len(group_of) >= batch_size:  # mixed sizes: run the largest group
                        run(max(groups, key=lambda k: len(groups[k])))
                while emitted in finished:
                    yield finished.pop(emitted)
                    emitted += 1
                if len(finished) > max_finished:  # outcomes pile up behind one unfinished image
                    run(group_of[emitted])
            for key in list(groups):
                run(key)
            while emitted in finished:
                yield finished.pop(emitted)
                emitted += 1
            if failure is not None:
                raise failure
        except BaseException:  # includes GeneratorExit: the consumer stopped early
            for _, future in inflight:
                future.cancel()
            raise


_END = object()


def _taken(image: ImageInput | PathError) -> ImageInput | PathError:
    """An input as the pipeline takes it, before it asks for the next one: a caller's file object read
    (:func:`~contrique_infer.decoding.read_stream`; its error, if it cannot be), an in-memory image its
    owner can change copied (:func:`~contrique_infer.decoding.snapshot`), anything else as it is."""
    if is_stream(image):
        try:
            return read_stream(image)
        except ImageError as exc:
            return exc
    return snapshot(image)


def _done(outcome: PreparedImage | PathError) -> Future[PreparedImage | PathError]:
    """A future that already holds ``outcome``."""
    future: Future[PreparedImage | PathError] = Future()
    future.set_result(outcome)
    return future
