"""The HTML report at scale: its size, how fast chromium opens it, and what it adds to scoring (prints figures).

1. Writes N generated images (default 10,000; 320x240 JPEGs of smooth random scenes, each with a
   random blur, noise and JPEG quality so that the scores spread, plus 10 broken files) and
   scores them all with ``contrique-score DIR --format html -o report.html`` (the default model
   unless --model), in one run: images/s, the page's size, ``report_files/``'s size.
2. Opens the report in headless chromium (tests/browser.py: Debian's chromium and chromedriver,
   selenium) --loads times, each in a fresh tab state: milliseconds from the start of navigation
   to the page's ``report-ready`` mark (data parsed, first cards built, laid out and painted).
   Then how long the page takes to answer (input event to the next painted frame): typing in
   the path search, setting a score range, sorting by path, and appending cards while scrolling.
3. Time added to scoring: ``--format jsonl`` and ``--format html`` on the same images, alternated
   --rounds times in this process (same model load), on --subset of the generated images and on
   the shared training photos (276, up to 1024 px) where present: the ratio of the medians.

With --screenshot PATH it instead writes a demonstration report of the validation photos (each
also blurred, noised and JPEG-compressed, plus a broken file and a file with an HTML name),
scored by the default model, and saves a screenshot of it (a 1280x1000 window) to PATH (docs/images/report.png).

Usage:
    python benchmarks/bench_report.py [--images 10000] [--subset 500] [--rounds 3] [--loads 5]
        [--model BUNDLE] [--keep DIR]
    python benchmarks/bench_report.py --screenshot docs/images/report.png
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import PHOTOS, REPO
from PIL import Image, ImageFilter

sys.path.insert(0, str(REPO / "tests"))
import browser  # noqa: E402  (tests/browser.py: the one way this project drives chromium)

from contrique_infer import cli  # noqa: E402
from contrique_infer.inputs import list_images  # noqa: E402
from contrique_infer.report import files_folder, make_thumbnail  # noqa: E402


def cpu_name() -> str:
    with open("/proc/cpuinfo") as fh:
        return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "unknown")


def distort(image: Image.Image, rng: np.random.Generator, strength: float) -> bytes:
    """``image`` blurred, noised and JPEG-compressed by ``strength`` (0 none .. 1 severe), as JPEG bytes."""
    if strength > 0.1:
        image = image.filter(ImageFilter.GaussianBlur(4 * strength * rng.random()))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + rng.normal(0, 30 * strength * rng.random(), pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG",
                                                                    quality=int(95 - 85 * strength * rng.random()))
    return buffer.getvalue()


def write_images(folder: Path, count: int) -> None:
    """``count`` generated 320x240 JPEGs in subfolders of 1,000, and 10 broken files."""
    rng = np.random.default_rng(0)
    for i in range(count):
        sub = folder / f"batch{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (int(rng.integers(3, 9)), int(rng.integers(4, 12)), 3), dtype=np.uint8)
        scene = Image.fromarray(coarse, "RGB").resize((320, 240), Image.Resampling.BICUBIC)
        (sub / f"img{i:05d}.jpg").write_bytes(distort(scene, rng, float(rng.random())))
    for i in range(10):
        (folder / f"broken{i}.jpg").write_bytes(b"not a JPEG " * i)


def score(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) that ``contrique-score ARGV -q`` takes here."""
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):
        code = cli.main([*argv, "-q"])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    if code not in (0, 1):
        raise SystemExit(f"contrique-score {' '.join(argv)} exited {code}")
    return seconds, cpu_seconds


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def respond(chrome: object, action: str) -> float:
    """Milliseconds from running ``action`` (JavaScript that changes the page) to the next painted frame."""
    return float(chrome.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[arguments.length - 1]; const t0 = performance.now();"
        f"{action};"
        "requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));"))


def set_value(element_id: str, value: str, event: str = "input") -> str:
    return (f"const e = document.getElementById('{element_id}'); e.value = '{value}';"
            f"e.dispatchEvent(new Event('{event}'))")


def thumbnails_in_window(chrome: object) -> float:
    """Wait until the thumbnails in the window are decoded; returns milliseconds since navigation start."""
    return float(chrome.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[arguments.length - 1];"
        "const seen = [...document.images].filter(i => i.getBoundingClientRect().top < innerHeight);"
        "Promise.all(seen.map(i => i.decode().catch(() => null))).then(() => done(performance.now()))"))


def measure_page(report: Path, loads: int) -> None:
    chrome = browser.launch()
    try:
        ready, pictures = [], []
        for _ in range(loads):
            ready.append(browser.open_report(chrome, report))
            pictures.append(thumbnails_in_window(chrome))
        print(f"chromium: navigation start to report-ready: median {statistics.median(ready):.0f} ms, "
              f"max {max(ready):.0f} ms over {loads} loads ({', '.join(f'{r:.0f}' for r in ready)}); "
              f"to the thumbnails in the window decoded: median {statistics.median(pictures):.0f} ms, "
              f"max {max(pictures):.0f} ms")
        heap = chrome.execute_script("return performance.memory ? performance.memory.usedJSHeapSize : null")
        if heap:
            print(f"chromium: JS heap used after load: {heap / 2**20:.1f} MiB")
        scores = sorted(chrome.execute_script(
            "return JSON.parse(document.getElementById('report-data').textContent).rows.map(r => r[1])"))
        low, high = scores[len(scores) // 4], scores[len(scores) // 2]
        steps = [
            ("type 'img0' in the path search", set_value("search", "img0")),
            ("type 'img01' (narrower)", set_value("search", "img01")),
            ("clear the search", set_value("search", "")),
            (f"set a score range (min {low:.2f})", set_value("min", f"{low:.4f}")),
            (f"  and max {high:.2f}", set_value("max", f"{high:.4f}")),
            ("show all again", "document.getElementById('reset').click()"),
            ("sort by path", set_value("sort", "name", "change")),
            ("sort worst first", set_value("sort", "worst", "change")),
        ]
        for label, action in steps:
            took = respond(chrome, action)
            shown = chrome.execute_script("return document.getElementById('count-shown').textContent")
            print(f"page: {label}: {took:.0f} ms to the next frame ({shown} match)")
        chunks = []
        for _ in range(10):
            chunks.append(respond(chrome, "window.scrollTo(0, document.body.scrollHeight)"))
        cards = chrome.execute_script("return document.querySelectorAll('#grid .card').length")
        print(f"page: scroll to the end 10 times: median {statistics.median(chunks):.0f} ms, max {max(chunks):.0f} ms "
              f"per scroll to the next frame; {cards} cards in the page after it")
    finally:
        browser.close(chrome)


def overhead(name: str, inputs: list[str], model: list[str], rounds: int, out: Path) -> None:
    """Alternate jsonl and html runs on ``inputs``; print the medians and their ratio."""
    times: dict[str, list[tuple[float, float]]] = {"jsonl": [], "html": []}
    for _ in range(rounds):
        for fmt in ("jsonl", "html"):
            target = out / f"overhead.{fmt}"
            times[fmt].append(score([*inputs, *model, "--format", fmt, "-o", str(target)]))
    print(f"time added to scoring, {name}, jsonl vs html (thumbnails, rows, page), {rounds} alternated rounds:")
    for i, clock in enumerate(("wall-clock", "CPU")):
        jsonl = statistics.median(t[i] for t in times["jsonl"])
        html = statistics.median(t[i] for t in times["html"])
        print(f"  {clock}: medians {jsonl:.1f} s and {html:.1f} s, ratio {html / jsonl:.3f} "
              f"(jsonl {', '.join(f'{t[i]:.1f}' for t in times['jsonl'])}; "
              f"html {', '.join(f'{t[i]:.1f}' for t in times['html'])})")
    jsonl = statistics.median(t[0] for t in times["jsonl"])
    decoded = [Image.open(p).convert("RGB") for p in inputs]
    start = time.perf_counter()
    for image in decoded:
        make_thumbnail(image)
    each = (time.perf_counter() - start) / len(decoded)
    print(f"  make_thumbnail alone: {1000 * each:.2f} ms per image = {100 * each * len(inputs) / jsonl:.1f} % of "
          f"the jsonl run's time per image ({1000 * jsonl / len(inputs):.1f} ms), measured right after it")


def screenshot(path: Path) -> None:
    """A demonstration report of the validation photos and a screenshot of it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        rng = np.random.default_rng(1)
        for source in list_images(PHOTOS / "val"):
            name = Path(source).relative_to(PHOTOS / "val")
            (folder / name.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / name)
            photo = Image.open(source).convert("RGB")
            for kind, strength in (("blurred", 0.9), ("noisy", 0.7)):
                (folder / name.parent / f"{name.stem}-{kind}.jpg").write_bytes(distort(photo, rng, strength))
        (folder / "broken.jpg").write_bytes(b"<html>not a JPEG</html>")
        (folder / "<img src=x onerror=alert(1)>.jpg").write_bytes(distort(photo, rng, 0.3))
        report = Path(tmp) / "report.html"
        here = os.getcwd()
        os.chdir(tmp)  # the report shows the paths as given: photos/...
        try:
            score(["photos", "-r", "--format", "html", "-o", "report.html"])
        finally:
            os.chdir(here)
        chrome = browser.launch(1280, 1000)
        try:
            browser.open_report(chrome, report)
            thumbnails_in_window(chrome)
            path.parent.mkdir(parents=True, exist_ok=True)
            chrome.save_screenshot(str(path))
        finally:
            browser.close(chrome)
    print(f"screenshot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--subset", type=int, default=500, help="images for the time-added measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--model", help="bundle (default: the packaged model)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--screenshot", type=Path, help="write a demonstration screenshot here and stop")
    parser.add_argument("--only", choices=("page", "overhead"),
                        help="only this measurement, on the images (and report) already in --keep")
    args = parser.parse_args()
    if args.only and args.keep is None:
        parser.error("--only measures the images and report in --keep DIR: give --keep")
    reason = browser.chromium_missing()
    if reason is not None:
        raise SystemExit(reason)
    if args.screenshot is not None:
        screenshot(args.screenshot)
        return 0
    model = ["--model", args.model] if args.model else []
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; chromium: {browser.version()}")
    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        images = work / "images"
        if not images.is_dir():
            start = time.perf_counter()
            write_images(images, args.images)
            print(f"wrote {args.images} generated images in {time.perf_counter() - start:.0f} s")
        report = work / "report.html"
        if args.only != "overhead":
            if args.only is None:
                score_all(images, report, model, args.images)
            measure_page(report, args.loads)
        if args.only != "page":
            subset = sorted(str(p) for p in images.rglob("*.jpg"))[: args.subset]
            overhead(f"{len(subset)} generated 320x240 images", subset, model, args.rounds, work)
            train = PHOTOS / "train"
            if train.is_dir():
                photos = [str(p) for p in list_images(train)]
                overhead(f"{len(photos)} training photos (up to 1024 px)", photos, model, args.rounds, work)
    return 0


def score_all(images: Path, report: Path, model: list[str], count: int) -> None:
    """Score every generated image into ``report`` in one run; print the time and the report's sizes."""
    seconds, _ = score([str(images), "-r", *model, "--format", "html", "-o", str(report)])
    print(f"scored {count} images + 10 broken files into the report in {seconds:.0f} s "
          f"({count / seconds:.1f} images/s)")
    folder = files_folder(report)
    size, files = folder_size(folder)
    thumbs, _ = folder_size(folder / "thumbs")
    print(f"{report.name}: {report.stat().st_size / 2**20:.2f} MiB; {folder.name}/: {size / 2**20:.1f} MiB in "
          f"{files} files (thumbnails {thumbs / 2**20:.1f} MiB, {thumbs / count / 1024:.1f} KiB each; "
          f"rows.jsonl {(folder / 'rows.jsonl').stat().st_size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    raise SystemExit(main())
