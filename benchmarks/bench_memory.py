"""Memory of ``QualityScorer.score_many`` over many images: is it flat? (prints figures; asserts nothing)

Scores N small images (32..64 px, 64 sizes, decoded from PNG files that the input generator
cycles through, so the input itself costs no memory) for N = 1,000 and 10,000, each in a fresh
process, and prints for each run:

- the resident memory (RSS) after loading the model and scoring a warm-up batch (baseline),
- the peak RSS of the process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its growth
  over the baseline,
- in a second fresh process, the peak of Python/NumPy allocations during ``score_many`` only
  (``tracemalloc``; onnxruntime's own allocations are not traced),

then the ratios 10,000 / 1,000. A ratio near 1 means memory is flat in the number of images.
The returned list of results is O(N) by design (about 0.3 kB per ``ScoreResult``) and is part of
the tracemalloc figure.

Usage:
    python benchmarks/bench_memory.py [--model BUNDLE] [--counts 1000 10000] [--batch-size 8]
        [--workers N] [--threads N] [--no-trace]

Without --model the tiny test bundle of testkit/tiny_bundle.py is built in a temporary folder
(needs onnx): the figures then measure the pipeline (decoding, batching, bookkeeping), not a
ResNet-50's activations. Linux only (reads /proc/self/statm; ru_maxrss is in KiB there).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

N_FILES = 64


def write_images(folder: Path) -> list[str]:
    """64 PNG files of 64 different sizes between 32 and 64 px."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N_FILES):
        h, w = 32 + (i * 5) % 33, 32 + (i * 13) % 33
        path = folder / f"{i:02d}-{w}x{h}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def cycle(paths: list[str], n: int) -> Iterator[str]:
    return (paths[i % len(paths)] for i in range(n))


def rss_mib() -> float:
    """The current resident set size (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    from contrique_infer.scorer import QualityScorer

    scorer = QualityScorer.from_pretrained(args.model, threads=args.threads)
    paths = write_images(Path(args.work) / "images")
    scorer.score_many(cycle(paths, 2 * N_FILES), batch_size=args.batch_size, workers=args.workers)  # warm-up
    baseline = rss_mib()
    if args.trace:
        tracemalloc.start()
    start = time.perf_counter()
    results = scorer.score_many(cycle(paths, args.count), batch_size=args.batch_size, workers=args.workers)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if args.trace else None
    assert len(results) == args.count and all(r.ok for r in results)
    print(json.dumps({
        "count": args.count, "seconds": seconds, "baseline_mib": baseline,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "tracemalloc_peak_mib": traced,
    }))


def measure(args: argparse.Namespace, count: int, trace: bool, work: str) -> dict:
    cmd = [sys.executable, __file__, "--child", "--count", str(count), "--model", args.model, "--work", work,
           "--batch-size", str(args.batch_size)]
    cmd += ["--trace"] if trace else []
    cmd += ["--workers", str(args.workers)] if args.workers else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="bundle folder (default: the tiny test bundle, built here)")
    p.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int)
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    p.add_argument("--no-trace", action="store_true", help="skip the tracemalloc runs (they take as long again)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as work:
        if args.model is None:
            import benchlib  # noqa: F401 - puts testkit/ on sys.path
            from tiny_bundle import write_tiny_bundle

            args.model = str(write_tiny_bundle(Path(work) / "tiny-bundle"))
            print("model: tiny test bundle (testkit/tiny_bundle.py): pipeline memory, not ResNet-50 activations")
        else:
            print(f"model: {args.model}")
        print(f"batch size {args.batch_size}, workers {args.workers or 'default'}, {N_FILES} PNG files of 32..64 px "
              f"cycled, each run in a fresh process\n")
        print(f"{'images':>8} {'time s':>8} {'img/s':>8} {'baseline RSS MiB':>17} {'peak RSS MiB':>13} "
              f"{'growth MiB':>11} {'tracemalloc peak MiB':>21}")
        rows = []
        for count in args.counts:
            rss = measure(args, count, False, work)
            traced = None if args.no_trace else measure(args, count, True, work)
            growth = rss["peak_rss_mib"] - rss["baseline_mib"]
            rows.append((rss, traced))
            print(f"{count:>8} {rss['seconds']:>8.1f} {count / rss['seconds']:>8.0f} {rss['baseline_mib']:>17.1f} "
                  f"{rss['peak_rss_mib']:>13.1f} {growth:>11.1f} "
                  f"{'-' if traced is None else format(traced['tracemalloc_peak_mib'], '.2f'):>21}")
        if len(rows) >= 2:
            (a, ta), (b, tb) = rows[0], rows[-1]
            ratio = b["peak_rss_mib"] / a["peak_rss_mib"]
            print(f"\nratio {args.counts[-1]} / {args.counts[0]} images: peak RSS {ratio:.3f}")
            if ta is not None and tb is not None:
                extra = (tb["tracemalloc_peak_mib"] - ta["tracemalloc_peak_mib"]) * 2**20 / (b["count"] - a["count"])
                print(f"tracemalloc peak ratio {tb['tracemalloc_peak_mib'] / ta['tracemalloc_peak_mib']:.3f} "
                      f"({extra:.0f} bytes per extra image: the returned list of results)")


if __name__ == "__main__":
    main()
