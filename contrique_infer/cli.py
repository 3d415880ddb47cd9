"""contrique-score: score image quality from the command line (also ``python -m contrique_infer``)."""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import ContriqueError, HeadKindError, HeadNotFoundError, ImageError
from .preprocessing import DEFAULT_MAX_PIXELS

IMAGE_EXTENSIONS = frozenset({
    ".avif", ".bmp", ".dib", ".gif", ".j2k", ".jfif", ".jp2", ".jpe", ".jpeg", ".jpg", ".jpx", ".pbm", ".pgm",
    ".png", ".pnm", ".ppm", ".tga", ".tif", ".tiff", ".webp",
})
"""File extensions picked up when scanning directories (case-insensitive)."""

FORMATS = ("table", "csv", "jsonl", "json")
RESULT_COLUMNS = ("source", "score", "width", "height", "error", "error_type")
HEAD_COLUMNS = ("name", "kind", "dataset", "score_scale", "higher_is_better", "default", "description")
_GLOB_CHARS = re.compile(r"[*?\[]")

EPILOG = """\
inputs:
  Files, directories (their image files; with --recursive also subdirectories) and glob
  patterns (expanded by contrique-score itself, so quoting them works on every shell; ** matches
  any depth). Every input appears in the output, with its score or its error.

output formats:
  table  aligned columns for reading
  csv    columns source,score,width,height,error,error_type
  jsonl  one JSON object per image, same fields
  json   {"model", "variant", "head", "head_kind", "score_scale", "higher_is_better",
          "reference", "results": [one object per image]}

exit codes:
  0  every image was scored
  1  some images failed (their rows carry the error), or -o FILE could not be written
     (the results then go to stdout)
  2  usage error: bad arguments, unknown head, missing or invalid model, unreadable --fr reference
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of contrique-score."""
    p = argparse.ArgumentParser(
        prog="contrique-score",
        description="Score image quality with a CONTRIQUE model bundle (onnxruntime, no torch).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE", help="image files, directories or glob patterns")
    p.add_argument("-r", "--recursive", action="store_true", help="scan directories recursively")
    p.add_argument("-m", "--model", metavar="BUNDLE",
                   help="bundle folder or Hugging Face Hub repository 'org/name' (default: the packaged model)")
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit to pin")
    p.add_argument("--head", metavar="NAME", help="head to score with (default: the bundle's default head)")
    p.add_argument("--variant", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                   help="encoder variant (default auto: fp16 on CUDA if the bundle has it, else fp32)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="run on CPU or CUDA (default: CUDA if available)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="images per model run (default 8)")
    p.add_argument("--workers", type=positive_int, metavar="N", help="decoding threads (default: up to 4)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the results to FILE instead of stdout")
    p.add_argument("--fr", metavar="REFERENCE",
                   help="score each input against the REFERENCE image with a full-reference head")
    p.add_argument("--apply-exif", action="store_true", help="apply EXIF orientation (the official code does not)")
    p.add_argument("--max-pixels", type=_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images with more pixels; 'none' for no limit (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--list-heads", action="store_true", help="list the model's heads and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no per-image errors on stderr")
    p.add_argument("--version", action="version", version=f"contrique-score {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run contrique-score; returns the exit code (0 ok, 1 some images failed, 2 usage error)."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code or 0)
    if not args.inputs and not args.list_heads:
        parser.print_usage(sys.stderr)
        print("contrique-score: error: give at least one image, directory or glob (or --list-heads)", file=sys.stderr)
        return 2
    from .scorer import QualityScorer, locate_manifest

    try:
        if args.list_heads:
            manifest = locate_manifest(args.model, revision=args.revision)
            rows = [{**h.to_dict(), "default": h.name == manifest.default_head} for h in manifest.heads]
            return _emit(_render(rows, HEAD_COLUMNS, args.format, {"model": manifest.name, "heads": rows}), args.output)
        scorer = QualityScorer.from_pretrained(
            args.model, head=args.head, revision=args.revision, variant=args.variant, device=args.device,
            max_pixels=args.max_pixels, apply_exif=args.apply_exif,
        )
        head = scorer.resolve_head(args.head, kind="fr" if args.fr else "nr")
    except ContriqueError as exc:
        print(f"contrique-score: error: {exc}", file=sys.stderr)
        return 2

    items = expand_inputs(args.inputs, recursive=args.recursive)
    paths = [item for item in items if isinstance(item, str)]
    report = _Reporter(len(paths), quiet=args.quiet)
    for item in items:
        if not isinstance(item, str):
            report.error(item)
    try:
        with report:
            scored = iter(scorer.score_many(paths, head=args.head, reference=args.fr, batch_size=args.batch_size,
                                            workers=args.workers, progress=report))
    except (HeadNotFoundError, HeadKindError, ImageError) as exc:  # bad --head or --fr reference
        print(f"contrique-score: error: {exc}", file=sys.stderr)
        return 2
    except ContriqueError as exc:
        print(f"contrique-score: error: {exc}", file=sys.stderr)
        return 1
    results = [next(scored) if isinstance(item, str) else item for item in items]
    meta = {
        "model": scorer.manifest.name, "variant": scorer.variant, "head": head.name, "head_kind": head.kind,
        "score_scale": head.score_scale, "higher_is_better": head.higher_is_better, "reference": args.fr,
    }
    rows = [r.to_dict() for r in results]
    code = _emit(_render(rows, RESULT_COLUMNS, args.format, {**meta, "results": rows}), args.output)
    return code or (0 if all(r.ok for r in results) else 1)


def expand_inputs(inputs: Sequence[str], *, recursive: bool = False) -> list[Any]:
    """Files to score, in order: each input as a path, or a :class:`ScoreResult` error row.

    Directories give their image files (sorted; subdirectories with ``recursive``); glob
    patterns give their matching files. Unreadable directories, symbolic-link loops and patterns
    that match nothing become error rows; a path that does not exist is kept (scoring reports it).
    """
    from .scorer import ScoreResult

    out: list[Any] = []
    for arg in inputs:
        if os.path.isdir(arg):
            found = _scan(arg, recursive, frozenset())
            hint = "" if recursive else " (add --recursive to scan subdirectories)"
            out.extend(found or [ScoreResult(arg, None, f"no image files in this directory{hint}", "NoMatchError")])
        elif os.path.lexists(arg) or not _GLOB_CHARS.search(arg):
            out.append(arg)
        else:
            matches = [m for m in sorted(glob.glob(arg, recursive=True)) if not os.path.isdir(m)]
            out.extend(matches or [ScoreResult(arg, None, "no files match this pattern", "NoMatchError")])
    return out


def _scan(path: str, recursive: bool, ancestors: frozenset[tuple[int, int]]) -> list[Any]:
    from .scorer import ScoreResult

    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) in ancestors:
            return [ScoreResult(path, None, "symbolic link loop: the directory contains itself; skipped", "ScanError")]
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return [ScoreResult(path, None, f"cannot read directory ({exc.strerror or exc})", "ScanError")]
    out: list[Any] = []
    inner = ancestors | {(st.st_dev, st.st_ino)}
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:  # e.g. a symbolic link to itself: treat as a file, scoring reports it
            is_dir = False
        if is_dir:
            if recursive:
                out.extend(_scan(entry.path, True, inner))
        elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            out.append(entry.path)
    return out


class _Reporter:
    """Progress bar (stderr, only on a terminal and not --quiet) and per-image errors on stderr."""

    def __init__(self, total: int, *, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="img", dynamic_ncols=True)

    def __call__(self, result: Any) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if not result.ok:
            self.error(result)

    def error(self, result: Any) -> None:
        if self.quiet:
            return
        line = f"contrique-score: {result.source}: {result.error}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _render(rows: list[dict[str, Any]], columns: Sequence[str], fmt: str, document: dict[str, Any]) -> str:
    """Rows as text in an output format (``document`` is what ``json`` writes)."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        return buf.getvalue()
    return _table(rows, columns)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    if columns == RESULT_COLUMNS:
        cells = [("score", "image", "size or error")] + [
            (f"{r['score']:.4f}" if r["score"] is not None else "error", r["source"],
             f"{r['error_type']}: {r['error']}" if r["error"] else f"{r['width']}x{r['height']}")
            for r in rows
        ]
    else:
        cells = [tuple(columns)] + [tuple("" if r[c] is None else str(r[c]) for c in columns) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = []
    for row in cells:
        first = row[0].rjust(widths[0]) if columns == RESULT_COLUMNS else row[0].ljust(widths[0])
        parts = [first] + [c.ljust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _emit(text: str, output: str | None) -> int:
    """Write ``text`` to ``output`` (or stdout); if that fails, to stdout with an error. Returns 0 or 1.

    File names that are not valid UTF-8 (Python holds their bytes as lone surrogates) are written
    as their original bytes, as ``ls`` shows them, instead of failing the whole run.
    """
    if output is not None:
        try:
            with open(output, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(text)
            return 0
        except OSError as exc:
            print(f"contrique-score: error: cannot write {output} ({exc.strerror or exc}); "
                  "writing the results to stdout instead", file=sys.stderr)
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:  # stdout's strict error handler refuses such a file name
        encoding = sys.stdout.encoding or "utf-8"
        try:
            data = text.encode(encoding, "surrogateescape")
        except UnicodeEncodeError:  # characters that stdout's encoding lacks
            data = text.encode(encoding, "backslashreplace")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0 if output is None else 1


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    print(f"contrique-score: warning: {message}", file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (shared by the project's commands)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _max_pixels(text: str) -> int | None:
    return None if text.lower() == "none" else positive_int(text)
