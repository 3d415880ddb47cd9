"""contrique-score: score image quality from the command line (also ``python -m contrique_infer``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from .commands import (
    EXIT_FAILED,
    EXIT_USAGE,
    BestEffortStderr,
    fail,
    parse,
    positive_int,
    printable,
    run_terminable,
    say,
)
from .decoding import DEFAULT_MAX_PIXELS, decoding_source
from .errors import ContriqueError, ScanError
from .inputs import expand_inputs, lists
from .manifest import MANIFEST_NAME, VARIANTS
from .output import (
    FORMATS,
    HEAD_COLUMNS,
    PROG,
    RESULT_COLUMNS,
    STREAMED,
    OutputFileError,
    OutputLock,
    Sink,
    emit,
    format_for,
    render,
    result_columns,
)
from .results import ScoreResult
from .resume import resume
from .session import DEVICES

if TYPE_CHECKING:
    from pathlib import Path

    from .location import Location
    from .preprocessing import Thumbnailer
    from .report import ReportHeader, ReportWriter

EPILOG = """\
inputs:
  Files, directories (their image files; with --recursive also subdirectories) and glob
  patterns (expanded by contrique-score itself, so quoting them works on every shell; ** matches
  any depth; a pattern picks files: the folders it matches are not scanned). Every input appears
  in the output, with its score or its error.

output formats (--format; without it, the one -o FILE's extension names, else table):
  table  aligned columns for reading (written at the end)
  csv    columns source,score,width,height,error,error_type, then what the score was made with:
         model,variant,head,head_kind,score_scale,higher_is_better,reference,apply_exif,
         bundle_digest,reference_digest (the fields of json below; bundle_digest identifies the
         bundle's content: 16 hex digits of the sha256 of its manifest; reference_digest the --fr
         reference's: 16 hex digits of the sha256 of the file, empty without --fr), then note
         (empty, or why the score was moved: the head faded the score of an image far outside
         the images it was fitted on, or below its floor on global contrast, also said on
         stderr); one row per image, written as it is done
  jsonl  one JSON object per image, same fields (written as it is done; no --fr: null)
  json   {"model", "variant", "head", "head_kind", "score_scale", "higher_is_better",
          "reference", "apply_exif", "bundle_digest", "reference_digest",
          "results": [one object per image]} (written at the end)
  html   a report to open in a browser (needs -o FILE.html): thumbnails worst first, score
         filter, path search, histogram, the failed images. Its rows and thumbnails go to the
         folder FILE_files/ as each image is done; the page is written at the end.

resuming:
  With --resume, images that -o FILE (csv or jsonl; for html, FILE_files/) already holds a score
  for are skipped and the new rows are appended. A half-written last line left by a killed run is
  removed first; rows with an error are removed too, so those images are tried again. A file
  whose scores were made with another --model, --head, --variant, --fr or --apply-exif, with
  a bundle changed since under the same name (another bundle_digest), or against a --fr file
  replaced since by another image at the same path (another reference_digest), is refused
  (each csv or jsonl row records them; a report, in FILE_files/header.json), and so is a file
  of an earlier contrique-score, whose rows do not record them all. A refused file is left as it
  was. If FILE is a symbolic link, the file (for html, the page and its _files/ folder) it
  points to is used.

exit codes:
  0  every image was scored
  1  some images failed (their rows carry the error), onnxruntime failed, or -o FILE could not
     be written (the results then go to stdout)
  2  usage error: bad arguments, unknown head, missing or invalid model, unreadable --fr
     reference, -o FILE naming one of the inputs or a file of the model bundle, or a folder, a
     current folder that was removed, a --resume file that is not contrique-score
     output, holds scores made with another --model, --head, --variant, --fr, --apply-exif,
     bundle content or reference content (or does not record them) or cannot be repaired (it
     is then left as it was), or (html) a FILE_files/ folder that cannot be written or is not
     a report's
  130  interrupted (Ctrl-C); 143  terminated (SIGTERM: timeout, a scheduler, a container's stop)
       and 129  hung up (SIGHUP: its terminal was closed), both as Ctrl-C; 141  stdout was closed
       by its reader (| head): rows written stay
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of contrique-score."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Score image quality with a CONTRIQUE model bundle (onnxruntime, no torch).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE", help="image files, directories or glob patterns")
    p.add_argument("-r", "--recursive", action="store_true", help="scan directories recursively")
    p.add_argument("-m", "--model", metavar="BUNDLE",
                   help="bundle folder, the name of a model installed with the package (default; hires: looks "
                        "at up to 1024 px instead of 512) or Hugging Face Hub repository 'org/name' (default: default)")
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit to pin")
    p.add_argument("--head", metavar="NAME", help="head to score with (default: the bundle's default head)")
    p.add_argument("--variant", choices=("auto", *VARIANTS), default="auto",
                   help="encoder variant (default auto: a bundle's int8 on CPUs and fp16 on CUDA where their "
                        "recorded fidelity to fp32 passes for the head that scores, else fp32)")
    p.add_argument("--device", choices=DEVICES, help="run on CPU or CUDA (default: CUDA if available)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="images per model run on a GPU (default 8; on a CPU each image runs alone)")
    p.add_argument("--workers", type=positive_int, metavar="N", help="decoding threads (default: up to 4)")
    p.add_argument("--format", choices=FORMATS,
                   help="output format (default: the one -o FILE's extension names, .csv, .jsonl, .json or .html; "
                        "else table)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the results to FILE instead of stdout ('-': stdout; a file named - is ./-)")
    p.add_argument("--resume", action="store_true",
                   help="skip the images -o FILE already has a score for, and append (csv, jsonl, html)")
    p.add_argument("--fr", metavar="REFERENCE",
                   help="score each input against the REFERENCE image with a full-reference head")
    p.add_argument("--apply-exif", action="store_true",
                   help="apply EXIF orientation (the official code does not; Pillow turns TIFFs upright either way)")
    p.add_argument("--max-pixels", type=_max_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images with more pixels; 'none' for no limit (default {DEFAULT_MAX_PIXELS})")
    p.add_argument("--list-heads", action="store_true", help="list the model's heads and exit")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar, no per-image errors or warnings on stderr")
    p.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run contrique-score; returns the exit code (0 ok, 1 some images failed, 2 usage error, 130
    interrupted, 141 stdout closed by its reader, 143 terminated, 129 hung up: SIGTERM, as ``timeout``, a
    scheduler or a container's stop sends it, and SIGHUP, as a closed terminal sends it, end the run as
    Ctrl-C does, its output whole)."""
    with warnings.catch_warnings(), _pillow_log_as_warnings():
        warnings.showwarning = _show_warning
        return run_terminable(PROG, lambda: _main(argv))


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Print a warning as ``PROG: warning: ...`` (best-effort), naming the image being decoded when it is about one."""
    source = decoding_source()
    say(printable(f"{PROG}: warning: {'' if source is None else source + ': '}{message}"))


def _hide_image_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """``--quiet``: warnings about one image (raised while it is decoded) are not shown; others are."""
    if decoding_source() is None:
        _show_warning(message, category, *args, **kwargs)


class _WarningHandler(logging.Handler):
    """Hands each log record to ``warnings.showwarning`` (:func:`_show_warning`, or with ``--quiet``
    :func:`_hide_image_warning`), as a Python warning of the same text is shown."""

    def emit(self, record: logging.LogRecord) -> None:
        warnings.showwarning(record.getMessage(), UserWarning, record.pathname, record.lineno)


@contextmanager
def _pillow_log_as_warnings() -> Iterator[None]:
    """While contrique-score runs, Pillow's log messages of warning level and above (``More samples per
    pixel than can be decoded: 60000``, which Python's last-resort handler would print bare) are
    shown as its warnings: named after their image, and hidden by ``--quiet``."""
    logger = logging.getLogger("PIL")
    handler = _WarningHandler(logging.WARNING)
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    warnings.showwarning = _hide_image_warning if args.quiet else _show_warning
    warnings.filterwarnings("always", module="PIL")  # one per image, each naming its image
    try:
        os.getcwd()
    except FileNotFoundError:  # every relative path, and Pillow's saving of thumbnails, would fail in its own way
        return fail(PROG, "the current folder no longer exists (it was removed after this shell entered it): cd "
                          "into a folder that exists and run again", EXIT_USAGE)
    if args.output == "":
        return fail(PROG, "-o '' names no file: give a file name, or - for stdout", EXIT_USAGE, parser)
    if args.output == "-":  # the usual name of stdout; a file called "-" is ./-
        args.output = None
    if args.format is None:
        args.format = format_for(args.output)
    if not args.inputs and not args.list_heads:
        return fail(PROG, "give at least one image, directory or glob (or --list-heads)", EXIT_USAGE, parser)
    if args.resume and (args.output is None or args.format not in (*STREAMED, "html")):
        return fail(PROG, f"--resume needs -o FILE and --format {' or '.join(STREAMED)} (or html)", EXIT_USAGE, parser)
    if args.format == "html" and (args.output is None or args.list_heads):
        return fail(PROG, "--format html writes a report of scores: give images and -o FILE.html", EXIT_USAGE, parser)
    if args.output is not None and (os.path.isdir(args.output) or args.output.endswith(("/", os.sep))):
        what = "the report is a file: give -o FILE.html" if args.format == "html" else "results go to a file: give -o FILE"
        return fail(PROG, f"-o {args.output} is a directory (or names one, ending in {os.sep}); {what}", EXIT_USAGE,
                    parser)
    if args.list_heads and (args.inputs or args.resume or args.fr is not None):
        return fail(PROG, "--list-heads lists the model's heads and scores nothing: leave out the images, --fr and "
                          "--resume", EXIT_USAGE, parser)
    if args.output is not None and lists([*args.inputs, *filter(None, [args.fr])], args.output,
                                         recursive=args.recursive):
        return fail(PROG, f"-o {args.output} is one of the images to score; refusing to overwrite it: "
                          "choose another output file", EXIT_USAGE, parser)
    with ExitStack() as claims:  # the -o file's lock (every format), held until the output is written
        try:
            lock = None if args.output is None else _claim(args.output, claims)
        except ContriqueError as exc:
            return fail(PROG, exc, EXIT_USAGE)
        return _list_heads(args) if args.list_heads else _score(args, lock)


def _claim(output: str, claims: ExitStack) -> OutputLock:
    """Claim the ``-o`` file (:class:`OutputLock`), whatever the format, until ``claims`` ends; a file
    the claim created and that is still empty then is removed (a run that fails before writing its
    output leaves no empty file).

    Raises:
        OutputFileError: Another run is writing the file.
    """
    lock = OutputLock(output)
    claims.callback(lock.discard_unused)
    return lock


def _refuse_bundle_output(found: Location, output: str | None) -> None:
    """Refuse an ``-o`` file that is a file of the local bundle ``found`` (links followed): its manifest, an
    encoder, a head or its card, which the results would replace (the packaged models' too).

    Raises:
        OutputFileError: It is.
    """
    if output is None or found.folder is None or not os.path.exists(output):
        return
    for rel in (MANIFEST_NAME, *found.manifest.files):
        path = found.folder / rel
        if os.path.exists(path) and os.path.samefile(path, output):
            raise OutputFileError(output, f"is the file {rel} of the model bundle {found.folder}; refusing to "
                                          "overwrite it: choose another output file")


def _list_heads(args: argparse.Namespace) -> int:
    """``--list-heads``: write the model's heads; returns the exit code."""
    from .location import locate

    try:
        found = locate(args.model, revision=args.revision)
        _refuse_bundle_output(found, args.output)
    except ContriqueError as exc:
        return fail(PROG, exc, EXIT_USAGE)
    manifest = found.manifest
    rows = [{**h.to_dict(), "default": h.name == manifest.default_head} for h in manifest.heads]
    return emit(render(rows, HEAD_COLUMNS, args.format, {"model": manifest.name, "heads": rows}), args.output)


def _score(args: argparse.Namespace, lock: OutputLock | None) -> int:
    """Score the inputs and write the results (``main`` once its arguments are checked and ``lock``
    claims the ``-o`` file); returns the exit code."""
    from .location import locate
    from .report import ReportHeader
    from .scorer import QualityScorer

    try:
        found = locate(args.model, revision=args.revision)  # the one manifest read and Hub revision lookup
        _refuse_bundle_output(found, args.output)
        name = args.head
        if name is None and args.fr is None:
            # Load only the head the scores come from: variant auto then weighs that head's fidelity alone.
            name = found.manifest.default_head
        scorer = QualityScorer.from_location(found, head=name, variant=args.variant, device=args.device,
                                             max_pixels=args.max_pixels, apply_exif=args.apply_exif)
        made_with = ReportHeader.for_scorer(scorer, name, args.fr)  # what every row's score is made with
        done: frozenset[str] = frozenset()
        columns = result_columns(made_with)  # a resumed csv file's own (an earlier version's may lack the note)
        if lock is not None and args.resume and args.format in STREAMED:
            resumed = resume(args.output, args.format, made_with)
            done, columns = resumed.done, resumed.columns
            lock.follow()  # the file may be a new one now, without its failed rows
        writer: ReportWriter | None = None
        thumbnail: Thumbnailer | None = None
        skip: Path | None = None
        if args.format == "html":
            from .report import files_folder
            from .report import make_thumbnail as thumbnail

            skip = files_folder(args.output)  # a report inside a scanned folder does not score its own thumbnails
        # Scan problems among the items come out as results in their place; a bad head or --fr
        # reference fails here, at once: before the report writer empties an earlier report's rows.
        items = _pending(args, skip, lambda: done if writer is None else writer.done)  # read once the writer exists
        results = scorer.iter_scores(items, head=args.head, reference=args.fr, batch_size=args.batch_size,
                                     workers=args.workers, thumbnail=thumbnail)
        if args.format == "html":
            writer = _report_writer(args, made_with)
    except ContriqueError as exc:  # a -o file this run created is not left behind empty (_claim)
        return fail(PROG, exc, EXIT_USAGE)
    try:
        with _Reporter(quiet=args.quiet) as report:
            if writer is not None:
                return _write_report(results, writer, report)
            if args.format in STREAMED:
                return _stream(results, args, report, made_with, columns)
            rows = [report(r).to_dict() for r in results]
    except ContriqueError as exc:  # onnxruntime failed; rows already written stay (see --resume)
        return fail(PROG, exc)
    code = emit(render(rows, RESULT_COLUMNS, args.format, {**made_with.to_dict(), "results": rows}), args.output)
    return code or (EXIT_FAILED if any(r["error"] is not None for r in rows) else 0)


def _pending(args: argparse.Namespace, skip: Path | None,
             done: Callable[[], AbstractSet[str]]) -> Iterator[str | ScanError]:
    """The inputs still to score, found when the first is asked for: ``done()`` (the sources the
    output already holds, read then) is left out, matching by path however spelt (``photos/a.jpg``,
    ``./photos/a.jpg``, ``/home/me/photos/a.jpg``)."""
    finished = {os.path.abspath(source) for source in done()}
    for item in expand_inputs(args.inputs, recursive=args.recursive, skip=skip):
        if not isinstance(item, str) or os.path.abspath(item) not in finished:
            yield item


def _stream(results: Iterable[ScoreResult], args: argparse.Namespace, report: _Reporter,
            made_with: ReportHeader, columns: tuple[str, ...]) -> int:
    """Write each result (csv or jsonl) as soon as it is done, with what its score was made with, in
    ``columns`` (a resumed csv file's own); returns the exit code."""
    failed = False
    recorded = made_with.to_dict()
    with Sink(args.output, append=args.resume) as sink:
        if args.format == "csv" and not sink.appending:
            sink.write(",".join(columns) + "\n")
        for result in results:
            failed |= not report(result).ok
            row = {**result.to_dict(), **recorded}
            sink.write(render([{c: row[c] for c in columns}], columns, args.format, {}, header=False))
    return sink.code or (EXIT_FAILED if failed else 0)


def _report_writer(args: argparse.Namespace, header: ReportHeader) -> ReportWriter:
    """The HTML report's writer (``--format html``), resuming it with ``--resume``.

    Raises:
        ReportError, OutputFileError: See :class:`~contrique_infer.report.ReportWriter`.
    """
    from .report import ReportWriter

    return ReportWriter(args.output, header, resume=args.resume)


def _write_report(results: Iterable[ScoreResult], writer: ReportWriter, report: _Reporter) -> int:
    """Add each result to the report as soon as it is done, then write the page (also after an
    onnxruntime failure: the page then shows the images done so far); returns the exit code."""
    failed = False
    with writer:
        for result in results:
            failed |= not report(result).ok
            writer.add(result)
    if not report.quiet:
        say(printable(f"{PROG}: wrote {writer.path} (its rows and thumbnails are in {writer.folder})"))
    return EXIT_FAILED if failed else 0


class _Reporter:
    """Progress bar (stderr, only on a terminal and not --quiet) and per-image errors on stderr, both
    best-effort: a stderr that is closed (``2>&-``: as --quiet), full or whose reader has gone loses
    them, never an image or the exit code."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet or sys.stderr is None
        self.bar = None
        self.stderr = BestEffortStderr()  # tqdm's own writes too: on a failed one it gives up only on EIO
        if not self.quiet and self.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(file=self.stderr, unit="img", dynamic_ncols=True)

    def __call__(self, result: ScoreResult) -> ScoreResult:
        """Count ``result`` and report its error or note; returns it."""
        line = None
        if not self.quiet and not result.ok:
            line = printable(f"{PROG}: {result.source}: {result.error}")
        elif not self.quiet and result.note is not None:
            line = printable(f"{PROG}: note: {result.source}: {result.note}")
        if self.bar is None:
            if line is not None:
                say(line)
            return result
        self.bar.update(1)
        if line is not None:
            self.bar.write(line, file=self.stderr)
        return result

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


class _Version(argparse.Action):
    """``--version``: looks the version up only when asked (``importlib.metadata`` costs ~90 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from . import __version__

        print(f"{PROG} {__version__}")
        parser.exit()


def _max_pixels(text: str) -> int | None:
    return None if text.lower() == "none" else positive_int(text)
