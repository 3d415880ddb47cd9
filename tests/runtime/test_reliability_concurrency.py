"""Reliability: one scorer shared by many threads, and the memory bound of score_many.

Pickling a scorer and scoring in a ``spawn`` multiprocessing pool is tested in
tests/runtime/test_scorer.py (test_pickle_and_spawn_pool). The memory of ``score_many`` over 1,000 and
10,000 images is measured by benchmarks/bench_memory.py (figures, not assertions); here the
deterministic property behind it is checked: the pipeline never holds more than a bounded number
of decoded images, however many it scores.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer import scorer as scorer_module
from contrique_infer.preprocessing import PreparedImage
from contrique_infer.results import ScoreResult
from contrique_infer.scorer import QualityScorer

N_IMAGES = 200
N_THREADS = 8


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


def image(i: int) -> Image.Image | bytes:
    """Image ``i``: 40..64 px, 24 different sizes; every 37th input is a broken file."""
    if i % 37 == 36:
        return b"\x89PNG\r\n\x1a\n broken"
    rng = np.random.default_rng(i)
    h, w = 40 + (i * 7) % 25, 40 + (i * 11) % 25
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def images() -> list[Image.Image | bytes]:
    return [image(i) for i in range(N_IMAGES)]


def test_shared_scorer_in_8_threads_gives_the_sequential_results(
    scorer: QualityScorer, images: list[Image.Image | bytes]
) -> None:
    """Threads 0-3 call score() on the images, each starting elsewhere; threads 4-7 call
    score_many() on all of them (same batches as sequentially, so the same bits)."""
    singles = [_score_or_error(scorer, img) for img in images]
    batched = scorer.score_many(images, batch_size=8, workers=2)
    for single, result in zip(singles, batched):
        assert result.score == pytest.approx(single, abs=1e-9) if result.ok else result.error_type == single
    outputs: dict[int, list] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(N_THREADS)

    def work(k: int) -> None:
        try:
            start.wait()
            if k < 4:
                offset = k * N_IMAGES // 4
                order = list(range(offset, N_IMAGES)) + list(range(offset))
                outputs[k] = [(i, _score_or_error(scorer, images[i])) for i in order]
            else:
                outputs[k] = scorer.score_many(images, batch_size=8, workers=2)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(outputs) == list(range(N_THREADS))
    for k in range(4):
        assert dict(outputs[k]) == dict(enumerate(singles))
    for k in range(4, N_THREADS):
        assert outputs[k] == batched
    assert sum(r.ok for r in batched) == N_IMAGES - N_IMAGES // 37


def _score_or_error(scorer: QualityScorer, img: Image.Image | bytes) -> float | str:
    try:
        return scorer.score(img)
    except Exception as exc:  # the broken inputs: compared by error type
        return type(exc).__name__


@pytest.mark.parametrize(("batch_size", "workers"), [(1, 1), (4, 2), (8, 4)])
def test_score_many_holds_a_bounded_number_of_decoded_images(
    scorer: QualityScorer, monkeypatch: pytest.MonkeyPatch, batch_size: int, workers: int
) -> None:
    """Counts the decoded images (PreparedImage) alive at any moment while 300 images of 24
    sizes are scored: at most ``batch_size + 2 * workers`` (+2 held by the loop), never all."""
    lock = threading.Lock()
    live = 0
    peak = 0
    made = 0
    real_prepare = scorer_module.prepare

    def released() -> None:
        nonlocal live
        with lock:
            live -= 1

    def counting_prepare(*args, **kwargs) -> PreparedImage:  # noqa: ANN002, ANN003
        nonlocal live, peak, made
        prepared = real_prepare(*args, **kwargs)
        weakref.finalize(prepared, released)
        with lock:
            live += 1
            made += 1
            peak = max(peak, live)
        return prepared

    monkeypatch.setattr(scorer_module, "prepare", counting_prepare)
    n = 300
    results = scorer.score_many((image(i) for i in range(n)), batch_size=batch_size, workers=workers)
    assert len(results) == n and all(isinstance(r, ScoreResult) for r in results)
    assert made == n - n // 37  # every decodable image went through the instrumented prepare
    assert live == 0
    assert 1 <= peak <= batch_size + 2 * workers + 2
