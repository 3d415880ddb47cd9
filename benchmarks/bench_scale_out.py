"""Images per second: ``score_many`` in one process against Ray Data with 1 and 2 workers.

Scores the same images (by default the 13 validation photos of ../shared/photos/val, cycled to
--count paths) with the same model three ways, after a warm-up of each:

- ``score_many``: one process, one scorer (onnxruntime's default threads, default decoding threads);
- ``ray, N workers``: :func:`contrique_infer.distributed.score_images` on a local Ray cluster
  with all CPUs of this machine, threads per worker ``cpu_count // N``.

End-to-end times include the start-up: loading the model for ``score_many``; for Ray, starting
the actor pool and loading the model in each worker (each run starts its own pool), measured
apart by scoring one image per worker. The table gives the rate end-to-end and after start-up.
Starting the Ray cluster itself (``ray.init``) is reported once, apart.

Usage:
    python benchmarks/bench_scale_out.py [--model BUNDLE] [--images DIR] [--count 104]
        [--workers 1 2] [--json FILE]

Without --model, the packaged default model (``QualityScorer.from_pretrained()``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchlib import PHOTOS

from contrique_infer.distributed import require_ray, score_images
from contrique_infer.inputs import list_images
from contrique_infer.scorer import QualityScorer

VAL = PHOTOS / "val"


def timed(run: Any) -> tuple[Any, float]:
    """``run()`` and its wall time in seconds."""
    start = time.perf_counter()
    value = run()
    return value, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="bundle folder or Hub id (default: the packaged default model)")
    p.add_argument("--images", type=Path, default=VAL, help=f"folder of images, searched recursively (default {VAL})")
    p.add_argument("--count", type=int, default=104, help="images to score, cycling the folder's (default 104)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts (default 1 2)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    files = [str(f) for f in list_images(args.images)]
    paths = [files[i % len(files)] for i in range(args.count)]
    cpus = os.cpu_count() or 1
    rows: list[dict[str, Any]] = []

    def row(engine: str, threads: int | str, start_s: float, total_s: float, failed: int) -> None:
        rows.append({"engine": engine, "threads": threads, "start_s": start_s, "total_s": total_s,
                     "images_per_s": args.count / total_s, "after_start_images_per_s": args.count / (total_s - start_s),
                     "failed": failed})

    QualityScorer.from_pretrained(args.model).score_many(files)  # warm-up: imports, file cache
    scorer, load_s = timed(lambda: QualityScorer.from_pretrained(args.model))
    results, run_s = timed(lambda: scorer.score_many(paths))
    row("score_many, 1 process", "default", load_s, load_s + run_s, sum(not r.ok for r in results))

    ray = require_ray()
    _, init_s = timed(lambda: ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False))
    try:
        for workers in args.workers:
            score_images(files[:workers], args.model, workers=workers)  # warm-up
            _, start_s = timed(lambda: score_images(files[:workers], args.model, workers=workers))
            results, total_s = timed(lambda: score_images(paths, args.model, workers=workers))
            row(f"Ray Data, {workers} worker{'s' if workers > 1 else ''}", max(1, cpus // workers), start_s, total_s,
                sum(not r.ok for r in results))
    finally:
        ray.shutdown()

    print(f"{args.count} images ({len(files)} files of {args.images}), model {scorer.manifest.name} "
          f"({scorer.variant}), {cpus} CPUs, Python {platform.python_version()}, Ray {ray.__version__}; "
          f"ray.init took {init_s:.1f} s (not included below)\n")
    print("| engine | onnxruntime threads per worker | start-up s | end-to-end s | images/s end-to-end "
          "| images/s after start-up | failed |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['engine']} | {r['threads']} | {r['start_s']:.1f} | {r['total_s']:.1f} | "
              f"{r['images_per_s']:.1f} | {r['after_start_images_per_s']:.1f} | {r['failed']} |")
    if args.json:
        args.json.write_text(json.dumps({"images": args.count, "files": len(files), "cpus": cpus,
                                         "model": scorer.manifest.name, "variant": scorer.variant,
                                         "ray_version": ray.__version__, "ray_init_s": init_s, "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
