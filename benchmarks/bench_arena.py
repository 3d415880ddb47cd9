"""onnxruntime's CPU allocator options: peak memory, speed, features per option set (prints figures; asserts nothing).

The experiment behind the memory policy of ``contrique_infer.session`` (docs/performance.md). For
each variant of a bundle and each option set below, an onnxruntime CPU session is opened on the
encoder and runs the two scales of one image, the way ``QualityScorer`` does:

- peak RSS: a fresh process per (variant, option set, size) scores the image twice and reports
  ``ru_maxrss`` (Linux; it includes Python, onnxruntime and the decoded image);
- speed: one process per variant holds a session per option set and alternates between them,
  image after image, for ``--runs`` rounds on the small size (ratios to ``default`` in that process);
- features: every option set's features are compared with ``default``'s (the largest absolute
  difference; 0 means bit-identical).

Option sets: ``default`` (onnxruntime's defaults: CPU arena and memory pattern on), ``no-arena``
(``SessionOptions.enable_cpu_mem_arena = False``: tensors come from malloc/free and go back when
freed), ``no-pattern`` (``enable_mem_pattern = False``: no single block planned for all
intermediate tensors of a shape), ``neither`` (both off).

Usage:
    python benchmarks/bench_arena.py BUNDLE [--variants fp32 int8] [--large IMAGE] [--small IMAGE]
        [--runs 10] [--threads N] [--json PATH]

Without ``--large``/``--small``: a 4000x3000 JPEG made by bench_speed.py (``--work``) and the official
sample ``womanhat.bmp``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import OFFICIAL

OPTION_SETS: dict[str, dict[str, bool]] = {
    "default": {},
    "no-arena": {"enable_cpu_mem_arena": False},
    "no-pattern": {"enable_mem_pattern": False},
    "neither": {"enable_cpu_mem_arena": False, "enable_mem_pattern": False},
}


def open_session(bundle: Path, variant: str, options: dict[str, bool], threads: int | None) -> Any:
    """An onnxruntime CPU session on the bundle's encoder ``variant`` with these SessionOptions."""
    import onnxruntime as ort

    from contrique_infer.manifest import Manifest

    so = ort.SessionOptions()
    for name, value in options.items():
        setattr(so, name, value)
    if threads:
        so.intra_op_num_threads = threads
    path = bundle / Manifest.load(bundle).variant(variant).file
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def features(session: Any, scales: tuple[np.ndarray, ...]) -> np.ndarray:
    """The concatenated per-scale features (one run per scale, batch 1)."""
    return np.concatenate([session.run(None, {"image": x[None]})[0][0] for x in scales])


def prepared(bundle: Path, image: Path) -> tuple[np.ndarray, ...]:
    from contrique_infer.manifest import Manifest
    from contrique_infer.preprocessing import prepare

    return prepare(image, Manifest.load(bundle).input, max_pixels=None).scales


def child(args: argparse.Namespace) -> None:
    """Peak RSS of one (variant, option set, image) in this fresh process; one JSON line on stdout."""
    session = open_session(args.bundle, args.variant, OPTION_SETS[args.options], args.threads)
    scales = prepared(args.bundle, args.image)
    features(session, scales)
    start = time.perf_counter()
    out = features(session, scales)
    print(json.dumps({"seconds": time.perf_counter() - start, "feature": out.tolist(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6}))


def alternate(args: argparse.Namespace) -> None:
    """Median seconds per option set, alternating between them in this process; one JSON line."""
    sessions = {name: open_session(args.bundle, args.variant, opts, args.threads) for name, opts in OPTION_SETS.items()}
    scales = prepared(args.bundle, args.image)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for name, session in sessions.items():
        features(session, scales)  # warm-up
    for i in range(args.runs):
        names = list(sessions)
        for name in names[i % len(names):] + names[: i % len(names)]:  # rotate the order every round
            start = time.perf_counter()
            features(sessions[name], scales)
            times[name].append(time.perf_counter() - start)
    print(json.dumps({name: statistics.median(t) for name, t in times.items()}))


def run_child(args: argparse.Namespace, mode: str, variant: str, image: Path, options: str = "default") -> Any:
    cmd = [sys.executable, __file__, str(args.bundle), mode, "--variant", variant, "--image", str(image),
           "--options", options, "--runs", str(args.runs)] + (["--threads", str(args.threads)] if args.threads else [])
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout  # stderr passes through
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("mode", nargs="?", default="main", choices=("main", "child", "alternate"), help=argparse.SUPPRESS)
    p.add_argument("--variants", nargs="+", default=["fp32", "int8"])
    p.add_argument("--large", type=Path, default=Path.home() / "contrique-bench" / "images" / "4000x3000" / "0.jpg")
    p.add_argument("--small", type=Path, default=OFFICIAL / "sample_images" / "womanhat.bmp")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--options", default="default", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode != "main":
        (child if args.mode == "child" else alternate)(args)
        return 0
    report: dict[str, Any] = {"bundle": str(args.bundle), "large": str(args.large), "small": str(args.small),
                              "runs": args.runs, "variants": {}}
    print("| variant | options | peak RSS MB, large | peak RSS MB, small | max feature diff vs default, large "
          "| speed vs default, small (median of alternated runs) |\n| --- | --- | ---: | ---: | ---: | ---: |")
    for variant in args.variants:
        speed = run_child(args, "alternate", variant, args.small)
        rows = {}
        for name in OPTION_SETS:
            large = run_child(args, "child", variant, args.large, name)
            small = run_child(args, "child", variant, args.small, name)
            rows[name] = {"peak_rss_mb_large": large["peak_rss_mb"], "peak_rss_mb_small": small["peak_rss_mb"],
                          "seconds_large": large["seconds"], "seconds_small_median": speed[name],
                          "feature": np.asarray(large["feature"])}
        base = rows["default"]["feature"]
        for row in rows.values():
            row["max_feature_diff"] = float(np.abs(row.pop("feature") - base).max())
        for name, row in rows.items():
            print(f"| {variant} | {name} | {row['peak_rss_mb_large']:.0f} | {row['peak_rss_mb_small']:.0f} | "
                  f"{row['max_feature_diff']:.2e} | {speed['default'] / speed[name]:.3f}x |")
        report["variants"][variant] = rows
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
