"""Does batching buy speed on a CPU? Encoder time per image alone and in batches (prints figures; asserts nothing).

The measurement behind ``Encoder.batches`` (``contrique_infer.session``): on a CPU each image runs
alone, so that its score never depends on the other images (docs/reliability.md). For each
variant of a bundle and each image size, ``--images`` random images are prepared beforehand;
then, round after round, they are run through the bundle's encoder session (the runtime's own
``Encoder``, with its CPU memory policy) one by one and as one batch, alternating, so that both
see the same machine load. Reported per (variant, size): the median seconds per image of each
way, the ratio alone / batched (above 1: batching is faster), and the largest feature difference
between the two ways (0 would mean batching changes nothing).

Usage:
    python benchmarks/bench_batch.py [--bundle DIR] [--variants int8 fp32] [--sizes 512x384 1024x768]
        [--images 8] [--rounds 5] [--threads N] [--json PATH]

Without ``--bundle``: the default model installed with the package.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(bundle: Path, variant: str, size: tuple[int, int], args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per image alone and batched, alternating round by round, and the feature difference."""
    from contrique_infer.bundle import load_bundle
    from contrique_infer.session import CPU, Encoder

    loaded = load_bundle(bundle, variant=variant, heads=[])
    encoder = Encoder(loaded.model_path, loaded.manifest, providers=[CPU], threads=args.threads)
    w, h = size
    batch = np.random.default_rng(0).random((args.images, 3, h, w), dtype=np.float32)
    encoder.run(batch[:1])
    encoder.run(batch)  # warm-up: the first run of a shape plans its memory
    alone_s, batched_s = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        alone = np.concatenate([encoder.run(batch[i : i + 1]) for i in range(args.images)])
        alone_s.append((time.perf_counter() - start) / args.images)
        start = time.perf_counter()
        batched = encoder.run(batch)
        batched_s.append((time.perf_counter() - start) / args.images)
    one, many = statistics.median(alone_s), statistics.median(batched_s)
    return {"variant": variant, "size": f"{w}x{h}", "images": args.images, "rounds": args.rounds,
            "alone_s_per_image": one, "batched_s_per_image": many, "alone_over_batched": one / many,
            "max_feature_difference": float(np.abs(alone - batched).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle folder (default: the packaged default model)")
    parser.add_argument("--variants", nargs="+", default=["int8", "fp32"])
    parser.add_argument("--sizes", nargs="+", default=["512x384", "1024x768"])
    parser.add_argument("--images", type=int, default=8, help="images per size, and the batch size (default 8)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    from contrique_infer.location import DEFAULT_BUNDLE

    bundle = args.bundle or DEFAULT_BUNDLE
    print(f"CPU: {cpu_name()}; threads: {args.threads or 'onnxruntime default'}; bundle: {bundle}")
    print(f"{'variant':8} {'size':>10} {'alone s/img':>12} {'batch s/img':>12} {'alone/batch':>12} {'max diff':>10}")
    rows = []
    for variant in args.variants:
        for text in args.sizes:
            w, h = (int(v) for v in text.split("x"))
            row = measure(bundle, variant, (w, h), args)
            rows.append(row)
            print(f"{variant:8} {row['size']:>10} {row['alone_s_per_image']:12.4f} {row['batched_s_per_image']:12.4f} "
                  f"{row['alone_over_batched']:12.3f} {row['max_feature_difference']:10.2e}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "threads": args.threads, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
