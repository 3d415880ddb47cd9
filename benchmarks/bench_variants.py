"""Benchmark the export of a ResNet-50 bundle and its variants (prints figures; asserts nothing).

Exports fp32, int8 and fp16 from a checkpoint, then prints: export time, file sizes, parity,
int8/fp16 fidelity against fp32 (from the manifest), and CPU time per image of each variant on
one 512x512 image (full + half scale, as QualityScorer.features runs it) with ratios to fp32
measured in the same process.

Usage:
    python benchmarks/bench_variants.py [--ckpt CONTRIQUE_checkpoint25.tar] [--calibration DIR]
        [--fidelity-images DIR ...] [--runs 10] [--threads N]

Without --ckpt the RULE checkpoint of ../shared/reference/contrique-official/README.md is built
(deterministic but untrained weights: its fidelity figures only show the method works, they are
not the fidelity of the trained official model).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import OFFICIAL, OFFICIAL_HEADS, PHOTOS, gather, held_out_folders, rule_checkpoint

from contrique_export.exporter import export_bundle
from contrique_infer.manifest import Manifest
from contrique_infer.scorer import QualityScorer


def time_features(scorer: QualityScorer, image: np.ndarray, runs: int) -> float:
    scorer.features(image)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scorer.features(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, help="checkpoint (default: the RULE checkpoint, built)")
    parser.add_argument("--calibration", type=Path, default=PHOTOS / "train" / "mate-backgrounds")
    parser.add_argument("--fidelity-images", type=Path, nargs="+", default=held_out_folders())
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as tmp:
        tmp = Path(tmp)
        ckpt = args.ckpt or rule_checkpoint(tmp / "CONTRIQUE_checkpoint25.tar")
        heads = {n: OFFICIAL / "regressors" / f"{n}.save" for n in OFFICIAL_HEADS}
        held_out = gather(args.fidelity_images, tmp / "held-out")
        start = time.perf_counter()
        export_bundle(ckpt, tmp / "fp32-only", heads=heads, parity_images=held_out, progress=False)
        fp32_seconds = time.perf_counter() - start
        start = time.perf_counter()
        bundle = export_bundle(
            ckpt, tmp / "bundle", heads=heads, variants=("int8", "fp16"),
            calibration=args.calibration, parity_images=held_out, progress=True,
        )
        all_seconds = time.perf_counter() - start
        manifest = Manifest.load(bundle)
        print(f"checkpoint: {ckpt.name} ({manifest.architecture}); torch threads {torch.get_num_threads()}")
        print(f"export fp32 only (incl. parity on {manifest.parity['images']} images): {fp32_seconds:.1f} s")
        print(f"export fp32+int8+fp16 (incl. calibration and fidelity): {all_seconds:.1f} s")
        print(f"parity max abs diff: {manifest.parity['max_abs_diff']:.3e} over {manifest.parity['inputs']} inputs")
        image = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
        base = None
        for name, info in manifest.variants.items():
            size = (bundle / info.file).stat().st_size
            scorer = QualityScorer.from_pretrained(bundle, variant=name, providers=["CPUExecutionProvider"],
                                                   threads=args.threads)
            seconds = time_features(scorer, image, args.runs)
            base = base or (size, seconds)
            fid = ", ".join(f"{k} {v:.5f}" for k, v in info.fidelity.items() if k != "images")
            print(
                f"{name}: {size / 1e6:.1f} MB ({size / base[0]:.2f}x fp32); 512x512 features "
                f"{seconds * 1000:.0f} ms median of {args.runs} ({seconds / base[1]:.2f}x fp32)"
                + (f"; fidelity on {int(info.fidelity['images'])} held-out images: {fid}" if fid else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
