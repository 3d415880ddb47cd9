"""onnxruntime's thread spinning on CPU: the library's setting (off) against onnxruntime's default (on). Prints figures.

After each run, onnxruntime's intra-op worker threads spin for a while waiting for the next one. On
few cores they take the CPU from what runs between two model runs: the next image's decoding (in
``score`` and in ``score_many``'s decoding threads) and other sessions in the same process.
``contrique_infer.session.Encoder`` therefore opens CPU sessions with
``session.intra_op.allow_spinning`` 0. This benchmark measures that choice against onnxruntime's
default, each mode in a fresh child process (the modes alternate, ``--rounds`` times):

- ``score_many``: images per second over ``--images`` JPEGs (decoding threads beside the model);
- ``score``: median milliseconds per image, one at a time;
- ``two scorers``: median milliseconds per image when two scorers of the same bundle alternate
  image by image in one process (as a script comparing two models does).

The JPEGs are made from a validation photo resized to ``--size`` (1024x768 by default), each saved
at another JPEG quality. Run it with nothing else on the machine; it checks nothing and fails on
nothing but bad arguments.

Usage::

    python benchmarks/bench_spinning.py [--model PATH] [--threads 2] [--images 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import PHOTOS, cpu_name

PHOTO = PHOTOS / "val" / "libjxl-testdata" / "flower.png"
MODES = ("library", "spinning")


def child(mode: str, model: str | None, threads: int, folder: Path) -> dict[str, float]:
    """Measure one mode in this process (``spinning`` puts onnxruntime's default back)."""
    import onnxruntime as ort

    if mode == "spinning":
        real = ort.InferenceSession

        def spinning(model_bytes, sess_options=None, providers=None, **kwargs):  # type: ignore[no-untyped-def]
            sess_options.add_session_config_entry("session.intra_op.allow_spinning", "1")
            return real(model_bytes, sess_options=sess_options, providers=providers, **kwargs)

        ort.InferenceSession = spinning
    from contrique_infer import QualityScorer

    paths = sorted(str(p) for p in folder.glob("*.jpg"))
    first = QualityScorer.from_pretrained(model, variant="fp32", threads=threads)
    second = QualityScorer.from_pretrained(model, variant="fp32", threads=threads)
    first.score(paths[0])
    second.score(paths[0])
    started = time.perf_counter()
    list(first.score_many(paths))
    rate = len(paths) / (time.perf_counter() - started)
    one, two = [], []
    for path in paths:
        started = time.perf_counter()
        first.score(path)
        one.append(time.perf_counter() - started)
    for path in paths:
        for scorer in (first, second):
            started = time.perf_counter()
            scorer.score(path)
            two.append(time.perf_counter() - started)
    return {"score_many": rate, "score": 1000 * statistics.median(one), "two scorers": 1000 * statistics.median(two)}


def make_images(folder: Path, count: int, size: tuple[int, int]) -> None:
    """``count`` JPEGs of the validation photo at ``size``, at qualities 80 to 95."""
    from PIL import Image

    with Image.open(PHOTO) as photo:
        image = photo.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    for i in range(count):
        image.save(folder / f"{i:04d}.jpg", quality=80 + i % 16)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="bundle folder or Hub id (default: the packaged model)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (2)")
    parser.add_argument("--images", type=int, default=60, help="JPEGs per measurement (60)")
    parser.add_argument("--size", default="1024x768", help="the JPEGs' size, WxH (1024x768)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per mode, alternating (3)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.model, args.threads, Path(args.child[1]))))
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        make_images(Path(tmp), args.images, (width, height))
        for round_ in range(args.rounds):
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                command = [sys.executable, __file__, "--child", mode, tmp, "--threads", str(args.threads)]
                if args.model:
                    command += ["--model", args.model]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[mode].append(json.loads(out.strip().splitlines()[-1]))
                print(f"round {round_ + 1} {mode}: {results[mode][-1]}", file=sys.stderr)
    print(f"{cpu_name() or 'CPU'}, {args.threads} threads, {args.images} JPEGs of {args.size}, "
          f"medians of {args.rounds} child processes per mode")
    print("| measure | spinning off (library) | spinning on (onnxruntime default) | ratio |")
    print("| --- | --- | --- | --- |")
    for key, unit in (("score_many", "images/s"), ("score", "ms/image"), ("two scorers", "ms/image")):
        mine, theirs = (statistics.median(r[key] for r in results[mode]) for mode in MODES)
        print(f"| {key} | {mine:.1f} {unit} | {theirs:.1f} {unit} | {mine / theirs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
