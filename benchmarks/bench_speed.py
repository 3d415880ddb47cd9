"""Speed and memory: the official computation in torch against the runtime's variants (prints figures; asserts nothing).

Contenders, on the same images in one run:

- (a) ``torch``: the official computation as the official demo runs it: PyTorch eager, one image at
  a time: Pillow decode, half scale with ``Image.resize`` (bicubic), ``ToTensor``, a forward pass of
  the ResNet-50 per scale, the Koniq head. The network is contrique_export's ``ContriqueNet`` with
  the RULE checkpoint (../shared/reference/contrique-official/README.md; the official model also
  runs its projector, a 2048x2048 matrix product that does not change the feature and is left out).
- (b) ``fp32``, (c) ``int8``: ``QualityScorer.score`` (``score_many`` for the batch) on the bundle
  exported from the same checkpoint with contrique_export (heads: the official four); (d) ``fp16`` on
  CUDA when onnxruntime offers it.
- The packaged default model's ``fp32`` and ``int8`` (and ``fp16`` on CUDA). It has no torch row (its
  checkpoint is not shipped); its speed-up is against (a), the official computation it replaces.

Sections (each can be resumed on its own with ``--resume``):

- ``single``: one image at a time, per size class: ``500x500`` (the 7 official sample images,
  500x500 to 720x480), ``val`` (the 13 validation photos at their own sizes, 451x300 to 1024x683:
  the int8/fp32 agreement is measured on them), ``1024x768`` (KonIQ's size), ``1080x800`` (the size
  other IQA toolboxes publish timings for) and ``4000x3000`` (a phone photo). The three fixed sizes are
  JPEG files (quality 90) made from the validation photos (cropped to the aspect ratio, resized with
  Lanczos) in ``--work``. Each timed image is decoded from disk.
- ``batch``: mixed sizes from disk (training photos, 320x240 to 1024x768), decoding included:
  ``score_many(paths)`` (decoding in threads while onnxruntime runs), torch one image after the other;
  then the model-only figure: the encoder runs alone on images decoded and prepared beforehand.
- ``cold``: wall and CPU time of ``python -c pass``, ``python -c "import contrique_infer"`` and
  ``contrique-score IMAGE`` (the default model, a 480x720 sample) in the runtime-only environment,
  alternated; and the variant ``contrique-score --format json`` reports for each model (what
  ``--variant auto`` ran).
- ``size``: installed size of the runtime-only environment (``pip install ".[cpu]"`` of this checkout
  into a venv at ``--runtime-env``, made if missing: delete it to rebuild after changes) without
  pip/setuptools/wheel, against this script's environment (the full one; with this project installed
  editable, its own files are not counted there).

Method: each contender runs in its own worker process (this script with ``--child``) that loads its
model once and times each request itself (``perf_counter`` around the work only). The parent sends
every image to every worker in turn, rotating the order from image to image, so the machine's noise
falls on all contenders alike; the workers of a section are alive together and idle while another
one works. Every section starts fresh workers, and each reports its peak RSS (``ru_maxrss``:
Python, libraries, model and that section's images, the first untimed warm-up run included).
Figures: images/s = images / total seconds; ms/image median and quartiles; speed-up = images/s over
(a)'s images/s in the same section.

Usage:
    python benchmarks/bench_speed.py --quick                 # a check: about 10 min on 2 busy cores
    python benchmarks/bench_speed.py --json speed.json       # the full run: about 35 min on 2 quiet cores
        [--work ~/contrique-bench] [--resume] [--sections single batch cold size]
        [--sizes 500x500 4000x3000] [--runtime-env PATH] [--threads N]
    python benchmarks/bench_speed.py --no-official --candidate v1=old-default --sections single \
        --sizes 1024x768 4000x3000                           # candidate default models only, no torch

``--candidate LABEL=PATH`` adds a bundle (its fp32 and int8); ``--no-official`` leaves out (a)
and the RULE bundle, and the speed-up column is then over the packaged default's fp32.

The first run exports the RULE bundle into ``--work`` (fp32, int8, fp16 with their parity and
fidelity checks: about 5 min on 2 busy cores; later runs reuse it). Each finished section is saved
in ``--work`` (``results-quick.json`` or ``results-full.json``): ``--resume`` skips those, a run
without it starts afresh. stdout: Markdown tables; progress on stderr; ``--json`` writes every
measurement, the machine and versions. Linux only (``ru_maxrss`` in KiB, /proc/cpuinfo).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np
from benchlib import OFFICIAL, OFFICIAL_HEADS, PHOTOS, REPO, cpu_name, gather, held_out_folders, rule_checkpoint
from PIL import Image, ImageOps

from contrique_export.fidelity import spearman
from contrique_infer.inputs import list_images
from contrique_infer.location import DEFAULT_BUNDLE
from contrique_infer.manifest import Manifest

SIZES = {"1024x768": (1024, 768), "1080x800": (1080, 800), "4000x3000": (4000, 3000)}
"""Size classes made from the validation photos (``500x500`` and ``val`` are files as they are)."""
SIZE_CLASSES = ("500x500", "val", *SIZES)
SECTIONS = ("single", "batch", "cold", "size")
INSTALLER_DISTRIBUTIONS = ("pip", "setuptools", "wheel")
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8")
"""The instruction sets that decide onnxruntime's (MLAS) and torch's CPU kernels."""


@dataclass(frozen=True)
class Settings:
    """How much to measure: images and rounds per size class, the batch, the cold-start runs."""

    images: dict[str, int]
    rounds: dict[str, int]
    batch: int
    batch_rounds: int
    cold_runs: int


QUICK = Settings(images={"500x500": 2, "val": 13, "1024x768": 1, "1080x800": 1, "4000x3000": 1},
                 rounds=dict.fromkeys(SIZE_CLASSES, 1), batch=16, batch_rounds=1, cold_runs=3)
FULL = Settings(images={"500x500": 7, "val": 13, "1024x768": 6, "1080x800": 6, "4000x3000": 2},
                rounds={"500x500": 3, "val": 1, "1024x768": 3, "1080x800": 3, "4000x3000": 2},
                batch=64, batch_rounds=2, cold_runs=10)


@dataclass(frozen=True)
class Contender:
    """One way of scoring: a model (``official`` or ``default``) and an engine (``torch`` or a variant)."""

    model: str
    engine: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.engine}"


# --- the worker process ------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (10^6 bytes; Linux's ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


class TorchEngine:
    """(a): the official demo's computation in PyTorch eager, one image at a time."""

    def __init__(self, ckpt: Path, bundle: Path, threads: int | None) -> None:
        import torch
        from torchvision.transforms.functional import to_tensor

        from contrique_export.checkpoint import load_checkpoint
        from contrique_infer import load_bundle

        if threads:
            torch.set_num_threads(threads)
        self._torch, self._to_tensor = torch, to_tensor
        self._model = load_checkpoint(ckpt).build_model()
        loaded = load_bundle(bundle)
        self._head = loaded.heads[loaded.manifest.default_head]
        self.variant = f"torch {torch.__version__} eager ({torch.get_num_threads()} threads)"
        self.providers: list[str] = []

    def _tensors(self, path: str) -> tuple[Any, Any]:
        image = Image.open(path).convert("RGB")  # the official code skips convert: same for RGB files
        w, h = image.size
        return self._to_tensor(image)[None], self._to_tensor(image.resize((w // 2, h // 2)))[None]

    def _features(self, tensors: tuple[Any, Any]) -> np.ndarray:
        with self._torch.no_grad():
            return np.hstack([self._model(x).numpy()[0] for x in tensors])

    def score(self, path: str) -> float:
        return float(self._head(self._features(self._tensors(path))))

    def batch(self, paths: list[str]) -> list[float]:
        return [self.score(p) for p in paths]

    def model_seconds(self, path: str) -> float:
        """Seconds of the two forward passes alone (a second run; decoding and tensors made before)."""
        tensors = self._tensors(path)
        self._features(tensors)
        start = time.perf_counter()
        self._features(tensors)
        return time.perf_counter() - start


class RuntimeEngine:
    """(b)-(d): ``QualityScorer`` with one encoder variant (fp16 on CUDA, the others on CPU)."""

    def __init__(self, model: str | None, variant: str, threads: int | None) -> None:
        from contrique_infer import QualityScorer

        self._scorer = QualityScorer.from_pretrained(model, variant=variant, threads=threads,
                                                     device="cuda" if variant == "fp16" else "cpu")
        self._threads = threads
        self._encoder: Any = None
        self.variant = self._scorer.variant
        self.providers = self._scorer.providers

    def score(self, path: str) -> float:
        return self._scorer.score(path)

    def batch(self, paths: list[str]) -> list[float]:
        return [r.score for r in self._scorer.score_many(paths)]

    def model_seconds(self, path: str) -> float:
        """Seconds of the encoder runs alone (a second run, on an image prepared before), in a second session."""
        from contrique_infer.preprocessing import prepare
        from contrique_infer.session import Encoder

        manifest = self._scorer.manifest
        if self._encoder is None:
            self._encoder = Encoder(self._scorer.bundle_dir / manifest.variant(self.variant).file, manifest,
                                    providers=self.providers, threads=self._threads)
        scales = [x[None] for x in prepare(path, manifest.input, max_pixels=None).scales]
        for x in scales:
            self._encoder.run(x)
        start = time.perf_counter()
        for x in scales:
            self._encoder.run(x)
        return time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    """Serve requests (JSON lines on stdin) for one contender; replies are JSON lines on the original stdout."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the replies

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps({**message, "peak_rss_mb": peak_rss_mb()}) + "\n")

    start = time.perf_counter()
    engine: TorchEngine | RuntimeEngine = (
        TorchEngine(args.ckpt, args.bundle, args.threads) if args.engine == "torch"
        else RuntimeEngine(None if args.bundle is None else str(args.bundle), args.engine, args.threads)
    )
    reply({"variant": engine.variant, "providers": engine.providers, "load_seconds": time.perf_counter() - start})
    for line in sys.stdin:
        request = json.loads(line)
        op, paths = request["op"], request.get("paths", [])
        if op == "exit":
            reply({})
            return
        if op == "score":
            seconds, scores = [], []
            for path in paths:
                start = time.perf_counter()
                scores.append(engine.score(path))
                seconds.append(time.perf_counter() - start)
            reply({"seconds": seconds, "scores": scores})
        elif op == "batch":
            start = time.perf_counter()
            scores = engine.batch(paths)
            reply({"seconds": [time.perf_counter() - start], "scores": scores})
        else:  # "model"
            reply({"seconds": [sum(engine.model_seconds(p) for p in paths)]})


# --- the parent: workers, sections -------------------------------------------------------------


class Worker:
    """A ``--child`` process for one contender."""

    def __init__(self, contender: Contender, args: argparse.Namespace, bundles: dict[str, Path | None]) -> None:
        cmd = [sys.executable, __file__, "--child", "--engine", contender.engine]
        bundle = bundles[contender.model]
        cmd += ["--bundle", str(bundle)] if bundle is not None else []
        cmd += ["--ckpt", str(args.work / "CONTRIQUE_checkpoint25.tar")] if contender.engine == "torch" else []
        cmd += ["--threads", str(args.threads)] if args.threads else []
        self.contender = contender
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.contender.label} exited with code {self._proc.wait()} (see stderr)")
        return json.loads(line)

    def ask(self, op: str, paths: list[str] | None = None) -> dict[str, Any]:
        if self.ready is None:
            self.ready = self._read()
        stdin: IO[str] = self._proc.stdin  # type: ignore[assignment]
        stdin.write(json.dumps({"op": op, "paths": paths or []}) + "\n")
        stdin.flush()
        return self._read()

    def close(self) -> float:
        """Stop the worker; its peak RSS in MB."""
        peak = self.ask("exit")["peak_rss_mb"]
        self._proc.wait()
        return peak


def rotated(items: list[Any], k: int) -> list[Any]:
    return items[k % len(items):] + items[: k % len(items)]


def run_section(contenders: list[Contender], args: argparse.Namespace, bundles: dict[str, Path | None],
                warm_up: list[str], rounds: list[tuple[str, list[str]]],
                after: Callable[[dict[Contender, Worker]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Fresh workers; an untimed warm-up request each; then every round's request to every worker, rotating.

    Returns per contender: variant, providers, per-request seconds and scores, peak RSS (taken
    before ``after``, whose extra measurements are merged in).
    """
    workers = {c: Worker(c, args, bundles) for c in contenders}
    data: dict[str, dict[str, Any]] = {c.label: {"seconds": [], "scores": []} for c in contenders}
    for worker in workers.values():
        worker.ask("score", warm_up)
        data[worker.contender.label].update(variant=worker.ready["variant"], providers=worker.ready["providers"],
                                            load_seconds=worker.ready["load_seconds"])
    for k, (op, paths) in enumerate(rounds):
        for contender in rotated(contenders, k):
            answer = workers[contender].ask(op, paths)
            data[contender.label]["seconds"] += answer["seconds"]
            data[contender.label]["scores"].append(answer["scores"])
            data[contender.label]["peak_rss_mb"] = answer["peak_rss_mb"]
        progress(f"  round {k + 1}/{len(rounds)} done")
    extra = after(workers) if after else {}
    for contender, worker in workers.items():
        worker.close()
        data[contender.label].update(extra.get(contender.label, {}))
    return data


def single_section(size: str, images: list[str], settings: Settings, contenders: list[Contender],
                   args: argparse.Namespace, bundles: dict[str, Path | None]) -> dict[str, Any]:
    rounds = [("score", [image]) for _ in range(settings.rounds[size]) for image in images]
    data = run_section(contenders, args, bundles, images[:1], rounds)
    for entry in data.values():  # keep the last round's score of each image
        entry["scores"] = dict(zip(images, [s[0] for s in entry["scores"][-len(images):]]))
    return {"images": images, "rounds": settings.rounds[size], "contenders": data}


def batch_section(paths: list[str], settings: Settings, contenders: list[Contender], args: argparse.Namespace,
                  bundles: dict[str, Path | None]) -> dict[str, Any]:
    def model_only(workers: dict[Contender, Worker]) -> dict[str, Any]:
        return {c.label: {"model_seconds": w.ask("model", paths)["seconds"][0]} for c, w in workers.items()}

    rounds = [("batch", paths)] * settings.batch_rounds
    data = run_section(contenders, args, bundles, paths[:2], rounds, model_only)
    for entry in data.values():
        entry["scores"] = dict(zip(paths, entry["scores"][-1]))
    sizes = [Image.open(p).size for p in paths]
    return {"images": paths, "rounds": settings.batch_rounds, "megapixels": sum(w * h for w, h in sizes) / 1e6,
            "min_size": min(sizes, key=lambda s: s[0] * s[1]), "max_size": max(sizes, key=lambda s: s[0] * s[1]),
            "contenders": data}


def cold_section(settings: Settings, bundles: dict[str, Path | None], env: Path) -> dict[str, Any]:
    """Start-up commands of the runtime-only environment, alternated: wall and CPU time; and the
    variant ``contrique-score --format json`` reports for each model."""
    python, score = str(env / "bin" / "python"), str(env / "bin" / "contrique-score")
    image = str(OFFICIAL / "sample_images" / "womanhat.bmp")
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import contrique_infer'": [python, "-c", "import contrique_infer"],
        "contrique-score IMAGE (default model)": [score, image],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for k in range(settings.cold_runs):
        for name in rotated(list(commands), k):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(commands[name], check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    variants = {}
    for model, bundle in bundles.items():
        cmd = [score, image, "--format", "json"] + (["--model", str(bundle)] if bundle is not None else [])
        variants[model] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["variant"]
    return {"environment": str(env), "image": image, "seconds": times, "cpu_seconds": cpu, "auto_variant": variants}


def env_size(prefix: Path) -> dict[str, Any]:
    """Bytes of files under a Python environment, in all and per distribution (files not followed through links)."""
    total = sum(p.lstat().st_size for p in prefix.rglob("*") if p.is_file() or p.is_symlink())
    code = "import json, site; print(json.dumps(site.getsitepackages()))"
    site = json.loads(subprocess.run([str(prefix / "bin" / "python"), "-c", code], check=True, capture_output=True,
                                     text=True).stdout)
    per_dist: dict[str, int] = {}
    for dist in metadata.distributions(path=site):
        files = [Path(dist.locate_file(f)) for f in dist.files or []]
        per_dist[dist.metadata["Name"]] = sum(f.lstat().st_size for f in files if f.is_file())
    installers = sum(per_dist.get(name, 0) for name in INSTALLER_DISTRIBUTIONS)
    return {"prefix": str(prefix), "bytes": total, "bytes_without_installers": total - installers,
            "distributions": dict(sorted(per_dist.items(), key=lambda kv: -kv[1]))}


def runtime_env(path: Path) -> Path:
    """The runtime-only environment (a venv with ``pip install ".[cpu]"`` of this checkout), made if missing."""
    if not (path / "bin" / "contrique-score").exists():
        progress(f"making the runtime-only environment {path} (pip install '{REPO}[cpu]')")
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", f"{REPO}[cpu]"], check=True)
    return path


# --- preparation -------------------------------------------------------------------------------


def official_bundle(work: Path) -> Path:
    """The RULE checkpoint and its bundle (fp32, int8, fp16; the official heads) in ``work``, made once."""
    ckpt, bundle = work / "CONTRIQUE_checkpoint25.tar", work / "official-rule"
    if not ckpt.is_file():
        rule_checkpoint(ckpt)
    if (bundle / "contrique.json").is_file():
        return bundle
    from contrique_export.exporter import export_bundle

    progress("exporting the RULE checkpoint's bundle (once)")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        held_out = gather(held_out_folders(), Path(tmp) / "held-out")
        export_bundle(ckpt, bundle, heads={n: OFFICIAL / "regressors" / f"{n}.save" for n in OFFICIAL_HEADS},
                      variants=("int8", "fp16"), calibration=PHOTOS / "train" / "mate-backgrounds",
                      parity_images=held_out, name="contrique-official-rule")
    return bundle


def size_class_images(work: Path, size: str, count: int) -> list[str]:
    """``count`` images of a size class (made in ``work`` from the validation photos if needed)."""
    if size == "500x500":
        return [str(p) for p in sorted((OFFICIAL / "sample_images").glob("*.bmp"))[:count]]
    if size == "val":
        return [str(p) for p in list_images(PHOTOS / "val")[:count]]
    folder = work / "images" / size
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, photo in enumerate(list_images(PHOTOS / "val")[:count]):
        path = folder / f"{i}.jpg"
        if not path.is_file():
            with Image.open(photo) as im:
                ImageOps.fit(im.convert("RGB"), SIZES[size], Image.Resampling.LANCZOS).save(path, quality=90)
        paths.append(str(path))
    return paths


def batch_images(count: int) -> list[str]:
    """``count`` training photos spread evenly over the sorted list (mixed sizes and folders)."""
    photos = list_images(PHOTOS / "train")
    step = len(photos) / count
    return [str(photos[int(i * step)]) for i in range(count)]


def machine() -> dict[str, Any]:
    import onnxruntime

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = cpu_name()
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    versions = {}
    for dist in ("onnxruntime", "onnxruntime-gpu", "torch", "torchvision", "numpy", "pillow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": model, "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "instruction_sets": [f for f in CPU_FLAGS if f in flags],
            "providers": onnxruntime.get_available_providers(),
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (how busy the machine was)."""
    return [round(x, 2) for x in os.getloadavg()]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- report ------------------------------------------------------------------------------------


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def speed_rows(section: dict[str, Any], reference: str, key: str = "seconds",
               per_value: int = 1) -> list[dict[str, Any]]:
    """Per contender: images/s, ms/image quartiles, peak RSS, speed-up over ``reference``'s images/s.

    ``entry[key]`` holds seconds (a list, or one number) for ``per_value`` images each.
    """
    rows = []
    for label, entry in section["contenders"].items():
        values = entry[key] if isinstance(entry[key], list) else [entry[key]]
        rows.append({"contender": label, "variant": entry["variant"],
                     "images_per_s": len(values) * per_value / sum(values),
                     "ms": [1000 * q / per_value for q in quartiles(values)], "peak_rss_mb": entry["peak_rss_mb"]})
    ref = next((r["images_per_s"] for r in rows if r["contender"] == reference), None)
    for row in rows:
        row["speedup"] = row["images_per_s"] / ref if ref else None
    return rows


def report(results: dict[str, Any], contenders: list[Contender]) -> tuple[str, dict[str, Any]]:
    """The Markdown tables and the summary of targets (speed-ups over the first contender: (a) when it runs)."""
    reference = contenders[0].label
    out: list[str] = []
    m = results["machine"]
    out.append(f"Machine: {m['cpu']}, {m['cpus_usable']} usable CPUs of {m['cpus']}, {m['memory_gib']:.0f} GiB; "
               f"instruction sets: {' '.join(m['instruction_sets'])}; onnxruntime "
               f"{m['versions'].get('onnxruntime') or m['versions'].get('onnxruntime-gpu')} "
               f"({', '.join(m['providers'])}); "
               f"torch {m['versions'].get('torch')}; Python {m['python']}; mode {results['mode']}; "
               f"load average at start {results['load_average_start']}, at end {results.get('load_average_end')}.\n")
    summary: dict[str, Any] = {}
    sections = results["sections"]
    singles = [s for s in SIZE_CLASSES if f"single:{s}" in sections]
    if singles:
        out.append("| size | contender | variant ran | images/s | ms/image median (p25-p75) | peak RSS MB "
                   "| speed-up over (a) |")
        out.append("| --- | --- | --- | ---: | ---: | ---: | ---: |")
        for size in singles:
            section = sections[f"single:{size}"]
            for row in speed_rows(section, reference):
                lo, med, hi = row["ms"]
                up = f"{row['speedup']:.2f}x" if row["speedup"] else "-"
                out.append(f"| {size} ({len(section['images'])} x {section['rounds']}) | {row['contender']} | "
                           f"{row['variant']} | {row['images_per_s']:.3g} | {med:.0f} ({lo:.0f}-{hi:.0f}) | "
                           f"{row['peak_rss_mb']:.0f} | {up} |")
                summary[f"{size} {row['contender']}"] = {k: row[k] for k in ("images_per_s", "speedup", "peak_rss_mb")}
        out.append("")
    if "batch" in sections:
        section = sections["batch"]
        out.append(f"Batch: {len(section['images'])} training photos from disk ({section['megapixels']:.1f} MP in all, "
                   f"{section['min_size'][0]}x{section['min_size'][1]} to {section['max_size'][0]}x"
                   f"{section['max_size'][1]}), {section['rounds']} round(s); model-only: the encoder alone on "
                   "images prepared beforehand.\n")
        out.append("| contender | images/s from disk | model-only images/s | from disk / model-only | peak RSS MB "
                   "| speed-up over (a) |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        n = len(section["images"])
        model = {r["contender"]: r for r in speed_rows(section, reference, "model_seconds", n)}
        for row in speed_rows(section, reference, per_value=n):
            only = model[row["contender"]]["images_per_s"]
            up = f"{row['speedup']:.2f}x" if row["speedup"] else "-"
            out.append(f"| {row['contender']} | {row['images_per_s']:.3g} | {only:.3g} | "
                       f"{row['images_per_s'] / only:.2f} | {row['peak_rss_mb']:.0f} | {up} |")
            summary[f"batch {row['contender']}"] = {"images_per_s": row["images_per_s"], "speedup": row["speedup"],
                                                   "model_only_images_per_s": only}
        out.append("")
    agreement = []
    for key in [f"single:{s}" for s in singles] + (["batch"] if "batch" in sections else []):
        entries = sections[key]["contenders"]
        for c in contenders:
            fp32 = entries.get(Contender(c.model, "fp32").label)
            if c.engine == "fp32" or fp32 is None or c.label not in entries:
                continue
            images = list(fp32["scores"])
            a, b = [fp32["scores"][i] for i in images], [entries[c.label]["scores"][i] for i in images]
            rho = spearman(a, b) if len(images) >= 3 else None
            diff = max(abs(x - y) for x, y in zip(a, b))
            agreement.append((key.split(":")[-1], c.label, len(images), rho, diff))
            if key == "single:val":
                summary[f"spearman val {c.label} vs fp32"] = rho
    if agreement:
        out.append("| images | contender vs the same model's fp32 | images | Spearman of scores "
                   "| max abs score difference |")
        out.append("| --- | --- | ---: | ---: | ---: |")
        out += [f"| {k} | {label} | {n} | {'-' if rho is None else f'{rho:.4f}'} | {diff:.3g} |"
                for k, label, n, rho, diff in agreement]
        out.append("")
    if "cold" in sections:
        cold = sections["cold"]
        base = statistics.median(cold["seconds"]["python -c pass"])
        cpu_base = statistics.median(cold["cpu_seconds"]["python -c pass"])
        out.append(f"Start-up, {len(cold['seconds']['python -c pass'])} alternated runs of each command "
                   "(CPU time: user + system of the process, less sensitive to a busy machine):\n")
        out.append("| command | wall ms, median | wall ms, min | wall ms over `python -c pass` "
                   "| CPU ms over `python -c pass` |")
        out.append("| --- | ---: | ---: | ---: | ---: |")
        for name, seconds in cold["seconds"].items():
            med, cpu = statistics.median(seconds), statistics.median(cold["cpu_seconds"][name])
            out.append(f"| `{name}` | {1000 * med:.0f} | {1000 * min(seconds):.0f} | {1000 * (med - base):.0f} | "
                       f"{1000 * (cpu - cpu_base):.0f} |")
            summary[f"cold {name}"] = med - base
        out.append("\n`contrique-score --format json` (variant auto) ran: "
                   + ", ".join(f"{k}: {v}" for k, v in cold["auto_variant"].items()) + "\n")
    if "size" in sections:
        size = sections["size"]
        rt, full = size["runtime"], size["full"]
        top = ", ".join(f"{k} {v / 1e6:.0f}" for k, v in list(rt["distributions"].items())[:6])
        out.append("| environment | MB | MB without pip, setuptools, wheel |\n| --- | ---: | ---: |")
        for name, env in (('runtime only (`pip install ".[cpu]"`)', rt), ("full (this environment)", full)):
            out.append(f"| {name} | {env['bytes'] / 1e6:.0f} | {env['bytes_without_installers'] / 1e6:.0f} |")
        out.append(f"\nLargest distributions of the runtime environment, MB: {top}.\n")
        summary["runtime env MB without installers"] = rt["bytes_without_installers"] / 1e6
    return "\n".join(out), summary


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few images and rounds: a check that everything runs")
    p.add_argument("--work", type=Path, default=Path.home() / "contrique-bench",
                   help="cache of the exported bundle, the generated images and partial results")
    p.add_argument("--resume", action="store_true", help="skip sections already measured in this mode (in --work)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--sizes", nargs="+", choices=SIZE_CLASSES, default=list(SIZE_CLASSES))
    p.add_argument("--runtime-env", type=Path, help="runtime-only venv to measure (default: WORK/runtime-env)")
    p.add_argument("--threads", type=int, help="torch and onnxruntime intra-op threads (default: theirs)")
    p.add_argument("--json", type=Path, help="write every measurement here")
    p.add_argument("--candidate", action="append", default=[], metavar="LABEL=PATH",
                   help="also measure this bundle folder (fp32 and int8), e.g. a candidate default model")
    p.add_argument("--no-official", action="store_true",
                   help="leave out (a) and the RULE bundle (no torch, no export): compare the bundles alone")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--bundle", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--ckpt", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    import onnxruntime

    mode = "quick" if args.quick else "full"
    settings = QUICK if args.quick else FULL
    args.work.mkdir(parents=True, exist_ok=True)
    state_path = args.work / f"results-{mode}.json"
    resume = args.resume and state_path.is_file()
    sections: dict[str, Any] = json.loads(state_path.read_text())["sections"] if resume else {}
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "argv": sys.argv, "mode": mode,
               "settings": settings.__dict__, "machine": machine(), "load_average_start": load_average(),
               "sections": sections}
    bundles: dict[str, Path | None] = {} if args.no_official else {"official": official_bundle(args.work)}
    bundles["default"] = None
    for spec in args.candidate:
        label, sep, path = spec.partition("=")
        if not sep or not label or not (Path(path) / "contrique.json").is_file():
            p.error(f"--candidate {spec!r}: expected LABEL=PATH of a bundle folder")
        bundles[label] = Path(path)
    engines = ["fp32", "int8"] + (["fp16"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else [])
    contenders = [] if args.no_official else [Contender("official", "torch")]
    contenders += [Contender(m, e) for m, path in bundles.items() for e in engines  # a bundle may lack int8
                   if e in Manifest.load(DEFAULT_BUNDLE if path is None else path).variants]

    def measure(key: str, run: Callable[[], dict[str, Any]]) -> None:
        if key in sections:
            progress(f"{key}: measured before (--resume)")
            return
        progress(f"{key} ...")
        start = time.perf_counter()
        sections[key] = {**run(), "wall_seconds": time.perf_counter() - start}
        state_path.write_text(json.dumps({"sections": sections}, indent=1) + "\n")

    if "single" in args.sections:
        for size in args.sizes:
            images = size_class_images(args.work, size, settings.images[size])
            measure(f"single:{size}", lambda: single_section(size, images, settings, contenders, args, bundles))
    if "batch" in args.sections:
        paths = batch_images(settings.batch)
        measure("batch", lambda: batch_section(paths, settings, contenders, args, bundles))
    env = args.runtime_env or args.work / "runtime-env"
    if "cold" in args.sections:
        measure("cold", lambda: cold_section(settings, bundles, runtime_env(env)))
    if "size" in args.sections:
        measure("size", lambda: {"runtime": env_size(runtime_env(env)), "full": env_size(Path(sys.prefix))})
    results["load_average_end"] = load_average()
    text, results["summary"] = report(results, contenders)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
