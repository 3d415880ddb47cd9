"""Any accepted input in, a loaded RGB image out: opening, decoding, RGB conversion and the size guards.

Accepted inputs (:data:`ImageInput`): a path (``str`` or ``os.PathLike``), ``bytes``, a binary
file object, a PIL image, or a uint8 NumPy array of shape HxW, HxWx1, HxWx3 or HxWx4. Conversion to RGB:

- grayscale ``L``/``1``: replicated to three channels (PIL ``convert("RGB")``);
- 16-bit grayscale ``I;16*`` (PNG, TIFF): the high byte of each sample (``v >> 8``), as Pillow reads
  16-bit colour PNGs and TIFFs, so that a grey file and the same grey stored in colour decode alike;
  ``I`` (32-bit: 16-bit PGM, integer TIFF), read as 0..65535: ``round(v / 257)``, as Pillow scales
  16-bit PPM; both give ``v`` for an 8-bit value stored as ``v * 257``;
- ``F`` (float): PIL's conversion (values taken as 0..255, clipped); NaN values are refused;
- palette ``P``/``PA`` (with or without transparency), ``RGBA``, ``LA``: the alpha channel is
  dropped, as ``convert("RGB")`` does (transparent pixels keep their stored colour); premultiplied
  ``RGBa`` and ``La`` are unpremultiplied first, as Pillow converts them;
- ``CMYK``, ``YCbCr`` and other modes: PIL ``convert("RGB")``.

An embedded colour profile (ICC) is not applied, as ``convert("RGB")`` and the official code do not:
the stored values are used whatever colour space the profile gives them.

Animated and multi-page files (GIF, TIFF, ...) use their first frame; a PIL image is used at
the frame it is on. EXIF orientation is ignored unless ``apply_exif=True`` (the official code
ignores it), with one exception: Pillow itself turns a TIFF upright by its orientation tag as it
loads it, so a TIFF with orientation 2 to 8 is decoded (and its size reported) upright either way.
That is kept, not undone: the official code's ``Image.open(path).convert("RGB")`` gets the same
upright pixels from Pillow, so TIFFs score as there. With ``apply_exif=True`` every format gives
exactly the upright image: the tag is read once the image is loaded (Pillow drops the tag of a turn
it made itself).

Files, bytes and file objects are opened only as the raster formats of
:data:`~contrique_infer.inputs.IMAGE_EXTENSIONS` (a camera's multi-picture JPEG, MPO, included):
an EPS file, which Pillow would hand to Ghostscript, is refused like any other non-image. A PIL
image is never changed: it is loaded (under a lock, so that one lazy image can be passed many
times in one batch) and used at its full size. Every input is decoded whole before any
``max_side`` downscaling, a JPEG file too: Pillow's reduced-scale JPEG decode (``draft``) gives
pixels that score differently (a 1024x768 JPEG 15 to 22 points lower on the default model's 0-100
``quality``) from the same file given as a PIL image or array, and from how models are trained.

Size guards: ``max_pixels`` is checked on the file header, before any pixel is decoded; images
that also exceed Pillow's own decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about
179 MP for its error) are reported as :class:`ImageTooLargeError` too. Pillow still prints its
``DecompressionBombWarning`` for images above its warning limit (about 89 MP) that are then
refused; :func:`allow_pixels` raises Pillow's limit when ``max_pixels`` is set above it. A TIFF whose
tiles are far larger than its image (a file of 199 bytes can declare a 2 GB tile, which libtiff sets
aside before decoding it) is refused from its header too, as are other files whose structure
decoding would not survive well (:mod:`contrique_infer.filechecks`).
:func:`check_header` makes every check done before decoding (the file, its format, its header, the
size guards) and decodes nothing, to check many files cheaply before work on them starts.

A file that starts with the signature of JPEG, PNG, GIF, WebP, TIFF or BMP but whose header Pillow
cannot read is called that format's damaged file (with the reason Pillow's plugin for it gives),
not a file of no format read; or, where that reason is a variant of the format Pillow does not decode
(a 12-bit JPEG), a file of a kind Pillow cannot decode.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageDecodeError, ImageError, ImageTooLargeError, ImageTooSmallError, ImageTypeError
from .filechecks import refuse_bad_layout, refuse_header_flood, refuse_many_scans
from .inputs import IMAGE_EXTENSIONS, is_url, misspelt_path_hint
from .regularfile import NotRegularFileError, kind, open_regular

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image | np.ndarray
"""Everything :func:`decode_rgb` accepts as an image."""

DEFAULT_MAX_PIXELS = 25_000_000
"""The default ``max_pixels`` guard: about a 6000 x 4000 photo (a 25 MP image needs ~400 MB of floats)."""

_PIL_LIMIT_LOCK = threading.Lock()
_PIL_INPUT_LOCK = threading.Lock()
"""Held while a caller's PIL image is loaded: Pillow's lazy loading is not thread-safe."""
_DECODING = threading.local()


def describe(image: Any) -> str:
    """A short name for an input, used as ``source`` in errors and results; never raises.

    A path gives the path itself (a path of bytes decoded as :func:`os.fsdecode` does), a named file
    object its name (likewise); other inputs a description: ``<bytes 123>``, ``<file object>``, ``<PIL image>``,
    ``<array (480, 640, 3)>``; its type, such as ``<NoneType>``, for an object that is no image input at
    all, and for an input whose own code fails as it is named (an ``os.PathLike`` whose ``__fspath__``
    raises or gives no path, a released ``memoryview``, a file object whose ``name`` property raises).
    """
    try:
        return _name(image)
    except Exception:  # the input's own code (__fspath__, name, ...): anything
        return f"<{type(image).__name__}>"


def _name(image: Any) -> str:
    """:func:`describe`'s name for ``image``, which may raise what the input's own methods raise."""
    if isinstance(image, (str, os.PathLike)):
        return os.fsdecode(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<bytes {len(image)}>"
    if isinstance(image, Image.Image):
        return "<PIL image>"
    if isinstance(image, np.ndarray):
        return f"<array {image.shape}>"
    if not hasattr(image, "read"):
        return f"<{type(image).__name__}>"
    name = getattr(image, "name", None)
    if isinstance(name, bytes):  # open(b"/photos/caf\xe9.jpg", "rb"): named as its path of bytes is
        return os.fsdecode(name)
    return name if isinstance(name, str) else "<file object>"


def decoding_source() -> str | None:
    """The input the calling thread is decoding now (its :func:`describe` name), else None: lets a
    warning hook name the image a Pillow warning (corrupt EXIF data, say) is about."""
    return getattr(_DECODING, "source", None)


def allow_pixels(max_pixels: int | None) -> None:
    """Raise Pillow's process-wide decompression-bomb limit so that it does not refuse images
    that ``max_pixels`` allows (Pillow checks its own limit while decoding; it is only raised,
    never lowered, and only when ``max_pixels`` is None or above it)."""
    with _PIL_LIMIT_LOCK:
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and (max_pixels is None or max_pixels > limit):
            Image.MAX_IMAGE_PIXELS = max_pixels


def fit_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``size`` scaled down so that its longer side is at most ``max_side`` (unchanged when it fits or None).

    Each side becomes ``max(1, round(side * max_side / longer side))``: the rule of an input
    contract's ``max_side``.
    """
    w, h = size
    if max_side is None or max(w, h) <= max_side:
        return size
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode_rgb(image: ImageInput, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, apply_exif: bool = False,
               min_size: int = 1, max_side: int | None = None, too_large_advice: str | None = None) -> Image.Image:
    """Decode any accepted input into an RGB PIL image.

    Args:
        image: A path, bytes, binary file object, PIL image or uint8 NumPy array.
        max_pixels: Refuse images with more pixels (checked on the file header, before the pixels
            are decoded); None disables the guard. See :func:`allow_pixels` for Pillow's own limit.
        apply_exif: Rotate/flip the image as its EXIF orientation tag says (Pillow turns a TIFF
            whether or not this is set).
        min_size: Refuse images whose shorter side is below this many pixels (checked on the
            file's own size).
        max_side: Downscale the image so that its longer side is at most this (:func:`fit_size`,
            bicubic) after the whole image is decoded.
        too_large_advice: What to do about an image refused as too large, ending the
            :class:`ImageTooLargeError` message (None: raise ``max_pixels``).

    Returns:
        A loaded RGB image.

    Raises:
        ImageDecodeError: The input is missing, empty, truncated, not an image, or an unsupported
            array or mode.
        ImageTooLargeError: More than ``max_pixels`` pixels.
        ImageTooSmallError: A side is shorter than ``min_size``.
        ImageTypeError: ``image`` is of a type that is not an image input at all (a ``TypeError`` too).
    """
    return decode_with_size(image, max_pixels=max_pixels, apply_exif=apply_exif, min_size=min_size,
                            max_side=max_side, too_large_advice=too_large_advice)[0]


def check_header(image: ImageInput, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, min_size: int = 1,
                 too_large_advice: str | None = None) -> tuple[int, int]:
    """Check an input as :func:`decode_rgb` does before it decodes any pixel, and decode none: the
    file is opened and its header read (format, size, layout), cheap enough to check a whole folder
    before work on it starts. A file whose pixel data is damaged still passes.

    Args:
        image: A path, bytes, binary file object, PIL image or uint8 NumPy array.
        max_pixels: As :func:`decode_rgb`'s.
        min_size: As :func:`decode_rgb`'s.
        too_large_advice: As :func:`decode_rgb`'s.

    Returns:
        The image's size as its header gives it, ``(width, height)``.

    Raises:
        ImageError: What :func:`decode_rgb` raises before decoding (see there).
    """
    with _checked(image, describe(image), max_pixels, min_size, too_large_advice) as img:
        return img.size


@contextmanager
def _checked(image: ImageInput, source: str, max_pixels: int | None, min_size: int,
             too_large_advice: str | None) -> Iterator[Image.Image]:
    """Yield the opened (not yet decoded) image once its header passed the checks made before any
    pixel is decoded; Pillow's own decompression-bomb limit, met on opening or decoding it inside
    the block, is reported as :class:`ImageTooLargeError`."""
    _DECODING.source = source
    try:
        with _opened(image, source) as img:
            _check_size(img.size, source, max_pixels, min_size, too_large_advice)
            refuse_bad_layout(img, source)
            yield img
    except Image.DecompressionBombError as exc:  # Pillow's own limit, on opening the file or decoding it
        raise _too_large(source, None, None, exc, too_large_advice) from exc
    finally:
        _DECODING.source = None


def decode_with_size(image: ImageInput, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, apply_exif: bool = False,
                     min_size: int = 1, max_side: int | None = None,
                     too_large_advice: str | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """:func:`decode_rgb`, and the image's own size (before any ``max_side`` downscaling, upright when
    it was turned), which the decoded image no longer tells.

    Args:
        image, max_pixels, apply_exif, min_size, max_side, too_large_advice: As for :func:`decode_rgb`.

    Returns:
        The RGB image and ``(width, height)``.

    Raises:
        ImageError, ImageTypeError: As :func:`decode_rgb`.
    """
    source = describe(image)
    with _checked(image, source, max_pixels, min_size, too_large_advice) as img:
        size = img.size
        target = fit_size(size, max_side)
        opened = _opened_file(img) if img is image else None
        try:
            with _PIL_INPUT_LOCK if img is image else nullcontext():  # the caller's PIL image: never changed
                if img is image:
                    _refuse_closed_file(img, source)
                refuse_many_scans(img, source)
                img.load()
            if apply_exif:
                # Read once loaded, as exif_transpose reads it: a turn Pillow made itself (a TIFF's) is no
                # longer tagged.
                turn = _upright_turn(img)
                if turn is not None:
                    img = img.transpose(turn)
                    if turn in _QUARTER_TURNS:
                        size, target = size[::-1], target[::-1]
            rgb = _to_rgb(img, source)
            return (rgb if rgb.size == target else rgb.resize(target, Image.Resampling.BICUBIC)), size
        except (ImageError, Image.DecompressionBombError):
            raise
        except MemoryError as exc:
            raise out_of_memory(source, "decode", exc, too_large_advice) from exc
        except Exception as exc:  # any failure of Pillow's decoders on this input's bytes
            if isinstance(image, Image.Image) and str(exc) == "Operation on closed image":
                raise ImageDecodeError(source, "is a closed PIL image: score it before closing it (or its with "
                                               "block ends), or open the file again") from exc
            changed = _changed_file(img, *opened) if opened else None
            raise ImageDecodeError(source, changed or f"cannot be decoded, the file is truncated or corrupt ({exc})") from exc


# --- internals ----------------------------------------------------------------------------------


@contextmanager
def _opened(image: Any, source: str) -> Iterator[Image.Image]:
    """Yield a (lazily decoded) PIL image for ``image``; closes any file it opened itself."""
    if isinstance(image, Image.Image):
        yield image
    elif isinstance(image, np.ndarray):
        yield _from_array(image, source)
    elif isinstance(image, (str, os.PathLike)):
        path = _fspath(image, source)
        try:
            if os.path.isdir(path):
                raise ImageDecodeError(source, "is a directory, not an image file")
            fh = open_regular(path)  # a FIFO or a device is refused, never waited on
        except FileNotFoundError as exc:
            raise ImageDecodeError(source, f"no such file{_missing_hint(source)}") from exc
        except NotRegularFileError as exc:
            raise ImageDecodeError(source, str(exc)) from None
        except OSError as exc:
            raise ImageDecodeError(source, f"cannot be opened ({exc.strerror or exc})") from exc
        except ValueError as exc:  # a NUL character, or text the file system cannot encode
            raise ImageDecodeError(source, f"is not a usable file path ({exc})") from None
        with fh:
            yield _open_stream(fh, source)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        try:
            data = bytes(image)
        except ValueError as exc:  # a released memoryview
            raise ImageDecodeError(source, f"cannot be read ({exc})") from exc
        yield _open_stream(io.BytesIO(data), source)
    elif hasattr(image, "read"):
        yield _open_stream(image if isinstance(image, _StreamCopy) else read_stream(image), source, stream=True)
    else:
        raise ImageTypeError(
            source, f"cannot use {type(image).__name__} as an image{_type_hint(image)}: pass a path, bytes, a "
            "binary file object, a PIL image or a uint8 NumPy array"
        )


def _type_hint(image: Any) -> str:
    """What a value of a type that is no image input may be meant as, and how to pass it."""
    if isinstance(image, (list, set, frozenset, Iterator)):
        return " (a list of images is scored by score_many, each image by score)"
    if hasattr(image, "__array__") or hasattr(image, "__array_interface__"):  # a torch tensor, a JAX array, ...
        return " (an array of another library: pass numpy.asarray(x), uint8 values 0..255 laid out H x W x C)"
    return ""


def _fspath(image: str | os.PathLike[Any], source: str) -> str | bytes:
    """``os.fspath(image)``.

    Raises:
        ImageTypeError: ``image`` is an ``os.PathLike`` whose ``__fspath__`` raises, or gives neither
            str nor bytes: no path at all.
    """
    try:
        return os.fspath(image)
    except Exception as exc:  # the caller's __fspath__: anything
        raise ImageTypeError(
            source, f"cannot use {type(image).__name__} as an image path: its __fspath__() failed "
            f"({type(exc).__name__}: {exc}); pass the path as a str or a pathlib.Path"
        ) from exc


class _StreamCopy(io.BytesIO):
    """The bytes a caller's file object held, under the object's :func:`describe` name; ``start``: the
    position it was read from, and ``passed``: the format of the file that begins at its start when that
    is not where it was read from (:func:`_passed_format`), else None."""

    def __init__(self, data: bytes, name: str, start: int = 0, passed: str | None = None) -> None:
        super().__init__(data)
        self.name = name
        self.start = start
        self.passed = passed


def is_stream(image: Any) -> bool:
    """Whether ``image`` is a file object (something with ``read``), which :func:`read_stream` takes."""
    return hasattr(image, "read") and not isinstance(image, os.PathLike)


def is_unloaded_image(image: Any) -> bool:
    """Whether ``image`` is a PIL image whose pixels are still in its file (opened, not yet loaded):
    decoding it reads that file, which its owner may close."""
    return isinstance(image, Image.Image) and bool(getattr(image, "tile", None))


def snapshot(image: Any) -> Any:
    """``image`` as it is now, where it is an in-memory input its owner can change (a NumPy array, a
    ``bytearray`` or ``memoryview``, a loaded PIL image): a copy, for an input used later than it is
    given (decoded in another thread while its owner fills the same buffer with its next image). Other
    inputs, and one whose copy fails (a closed PIL image, a released ``memoryview``: decoding it says so),
    come back as they are."""
    try:
        if isinstance(image, np.ndarray):
            return np.array(image)
        if isinstance(image, (bytearray, memoryview)):
            return bytes(image)
        if isinstance(image, Image.Image) and not is_unloaded_image(image):
            with _PIL_INPUT_LOCK:  # not while another thread loads it
                return image.copy()
    except Exception:  # the input's own state (closed, released): left for decoding to name
        return image
    return image


def read_stream(image: Any) -> io.BytesIO:
    """The bytes of a caller's file object, from where it is to its end, as an in-memory file of the
    same :func:`describe` name (Pillow would seek to its start; threads could interleave its reads).

    Raises:
        ImageDecodeError: It cannot be read (closed, or its ``read`` fails), it is a text file object, or
            it reads a device (``/dev/zero``, a terminal), whose reading may never end.
    """
    source = describe(image)
    if getattr(image, "closed", False) is True:
        raise ImageDecodeError(source, "cannot be read (I/O operation on closed file); open it again")
    if isinstance(image, io.TextIOBase):
        raise ImageDecodeError(source, _TEXT_STREAM)
    _refuse_device(image, source)
    start = _position(image)
    try:
        data = image.read()
    except io.UnsupportedOperation as exc:
        raise ImageDecodeError(source, "is not open for reading; open the file in binary mode ('rb')") from exc
    except Exception as exc:  # a stream whose read fails
        raise ImageDecodeError(source, f"cannot be read ({exc})") from exc
    if isinstance(data, str):
        raise ImageDecodeError(source, _TEXT_STREAM)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageDecodeError(source, f"read() gave {type(data).__name__}, not bytes; pass a binary file object")
    return _StreamCopy(bytes(data), source, start, _passed_format(image, start))


_TEXT_STREAM = "is a text file object; open the file in binary mode ('rb')"


def _refuse_device(image: Any, source: str) -> None:
    """Raise if a caller's file object reads a character or block device: ``/dev/zero`` or
    ``/dev/urandom`` never end (read whole, they fill the memory), a terminal waits for input. Pipes and
    sockets end when their writer does, and are read; objects without a file descriptor are not checked.

    Raises:
        ImageDecodeError: It is such a device.
    """
    try:
        mode = os.fstat(image.fileno()).st_mode
    except Exception:  # no file descriptor (BytesIO, a caller's own object): nothing to check
        return
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise ImageDecodeError(source, f"is {kind(mode)}, whose reading may never end (/dev/zero) or wait for "
                                       "input (a terminal), so it is not read; pass an image file, or its bytes")


def _passed_format(image: Any, start: int) -> str | None:
    """The format (:func:`_signature_format`) of the file a caller's file object, read from ``start`` to its
    end, holds from its beginning, where ``start`` is past it (the caller read its first bytes, say); else
    None. The object is left at its end, where reading it left it."""
    if start <= 0:
        return None
    try:
        end = image.tell()
        image.seek(0)
        head = image.read(12)
        image.seek(end)
    except Exception:  # the caller's object: not seekable after all, or failing
        return None
    return _signature_format(head) if isinstance(head, bytes) else None


def _position(image: Any) -> int:
    """Where a caller's file object is (``tell()``), 0 where it cannot tell (a pipe, an object without ``tell``)."""
    try:
        position = image.tell()
    except Exception:  # not seekable, or no tell at all
        return 0
    return position if isinstance(position, int) else 0


_CHANGED_HEADER_BYTES = 1 << 20
"""How much of a file :func:`_changed_file` reads to find what it holds now: past the largest EXIF block."""


def _refuse_closed_file(img: Image.Image, source: str) -> None:
    """Raise if a caller's PIL image, not loaded yet, lost its file: ``Image.open(f)`` reads the pixels from
    ``f`` only when they are needed, and ``f`` was closed since (its ``with`` block ended).

    Raises:
        ImageDecodeError: Its pixels are in a file object that is closed.
    """
    if is_unloaded_image(img) and getattr(getattr(img, "fp", None), "closed", False) is True:
        raise ImageDecodeError(source, "is a PIL image whose file was closed before its pixels were read "
                                       "(Image.open reads them only when needed): score it before the file is "
                                       "closed, call its load() first, or open the file again")


def _opened_file(img: Image.Image) -> tuple[str, tuple[int, int]] | None:
    """The path and the file (device, inode) of a caller's PIL image opened from a path and not loaded yet,
    taken before it is loaded (Pillow closes the file when loading fails); else None."""
    fp, name = getattr(img, "fp", None), getattr(img, "filename", "")
    if not is_unloaded_image(img) or not name or fp is None:
        return None
    try:
        st = os.fstat(fp.fileno())
    except Exception:  # no descriptor (a file object of the caller's): nothing to check later
        return None
    return os.fsdecode(name), (st.st_dev, st.st_ino)


def _changed_file(img: Image.Image, path: str, identity: tuple[int, int]) -> str | None:
    """Why a caller's PIL image from :func:`_opened_file` failed to decode, where its file was written over
    in place after ``Image.open`` (Pillow then reads the pixels at the offsets the old content had, which
    reads as damage): told by the header the same file holds now, where that is not the one opened
    (another format, size or mode, or none). Else None: a file damaged as it was opened, a path that names
    another file now (renamed over: the old one was read), or one written over with an image of the same
    kind, which cannot be told from damage."""
    opened = f"a {img.size[0]}x{img.size[1]} {img.format} ({img.mode})"
    try:
        with open_regular(path) as fh:  # never blocks: the path may name a FIFO by now
            st = os.fstat(fh.fileno())
            if (st.st_dev, st.st_ino) != identity:
                return None
            head = fh.read(_CHANGED_HEADER_BYTES)
    except OSError:  # removed since, or unreadable: the decoder's words say enough
        return None
    try:
        with Image.open(io.BytesIO(head), formats=image_formats()) as now:
            held = f"a {now.size[0]}x{now.size[1]} {now.format} ({now.mode})"
    except Exception:  # no header Pillow reads: not what was opened
        held = f"no image header ({len(head)} bytes at its start)" if head else "nothing (0 bytes)"
    if held == opened:
        return None
    return (f"is a PIL image whose file {path} was written over after Image.open, before its pixels were read: it "
            f"was opened as {opened}, and the file now holds {held}; open it again (or call load() before the "
            "file can change)")


def _missing_hint(path: str) -> str:
    """Why a path that names no file may have been meant otherwise: a URL, or a path misspelt as
    :func:`~contrique_infer.inputs.misspelt_path_hint` tells."""
    if is_url(path):
        return " (a URL: images are read from local files only; download it, and pass the file or its bytes)"
    return misspelt_path_hint(path)


def _open_stream(fh: IO[bytes], source: str, *, stream: bool = False) -> Image.Image:
    """Open ``fh`` (a file, or ``stream``: the bytes read from a caller's file object) as an image."""
    try:
        head = fh.read(1)
        if not head:
            if stream:
                raise ImageDecodeError(source, "has no bytes left to read (empty, or already read to its end: "
                                               "seek(0) or open it again)")
            raise ImageDecodeError(source, "is empty (0 bytes)")
        fh.seek(-1, os.SEEK_CUR)
        refuse_header_flood(fh, source)
        return Image.open(fh, formats=image_formats())
    except (ImageError, Image.DecompressionBombError):  # too large: reported by _checked
        raise
    except UnidentifiedImageError as exc:
        raise _read_from(fh, _unidentified(fh, source)) from exc
    except Exception as exc:  # Pillow's format plugins raise many types on malformed headers
        raise _read_from(fh, ImageDecodeError(source, f"cannot be read as an image ({exc})")) from exc


def _read_from(fh: IO[bytes], error: ImageDecodeError) -> ImageDecodeError:
    """``error``, saying where a caller's file object was read from when a file of an image format begins
    at its start, before that: a file object whose first bytes were read already (to check its type, say)
    holds no image from there."""
    passed, start = getattr(fh, "passed", None), getattr(fh, "start", 0)
    if passed is None:
        return error
    return ImageDecodeError(error.source, f"{error.reason}; it was read from byte {start}, where the file object "
                                          f"was, and a {passed} file begins at its start: seek(0) before scoring it")


def _signature_format(head: bytes) -> str | None:
    """The format whose signature ``head`` (a file's first 12 bytes or more) starts with: ``JPEG``
    (FF D8 FF), ``PNG``, ``GIF``, ``WEBP`` (RIFF....WEBP), ``TIFF`` (II*\\0, MM\\0*) or ``BMP`` (BM);
    else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in _SIGNATURES if head.startswith(sig)), None)


_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"II*\0", "TIFF"),
               (b"MM\0*", "TIFF"), (b"BM", "BMP"))
_PILLOW_NO_SIZE = "not identified by this driver"
"""What Pillow's plugins say of a header that gives no size, a size of 0 or no colour mode."""
_PILLOW_UNSUPPORTED = re.compile(r"cannot handle [1-9]|unsupported|not yet supported|unknown pixel mode", re.IGNORECASE)
"""What Pillow's plugins say of a header they read that declares a variant of their format they do not
decode: a 12-bit JPEG (``cannot handle 12-bit layers``), a BMP of another compression (``Unsupported BMP
compression (4)``), a TIFF of 12-bit or floating-point RGB samples (``unknown pixel mode``)."""


def _unidentified(fh: IO[bytes], source: str) -> ImageDecodeError:
    """The error of a file Pillow identifies as no format: when its first bytes are the signature of a
    format images are opened as, a variant of it that Pillow cannot decode or a damaged header (with the
    reason its Pillow plugin gives), else not an image."""
    fh.seek(0)  # where Pillow read it from
    fmt = _signature_format(fh.read(12))
    if fmt is None or fmt not in image_formats() or fmt not in Image.OPEN:
        return ImageDecodeError(
            source, f"is not an image file in a format contrique-infer reads ({', '.join(image_formats())})"
        )
    fh.seek(0)
    try:
        Image.OPEN[fmt][0](fh, "")  # the plugin alone: Image.open keeps its reason to itself
        reason = f"Pillow's {fmt} reader does not recognise it"
    except Exception as exc:  # what the plugin raises on a malformed header
        reason = "it gives no image size, a size of 0, or no colour mode" if str(exc) == _PILLOW_NO_SIZE else str(exc)
    if _PILLOW_UNSUPPORTED.search(reason):
        return ImageDecodeError(source, f"is a {fmt} file of a kind Pillow cannot decode ({reason}); convert it to "
                                        "an 8-bit PNG or JPEG with another tool, and score that")
    return ImageDecodeError(source, f"is a {fmt} file (by its first bytes) whose header cannot be read: {reason}; "
                                    "the file is damaged")


_RAISE_LIMIT = "raise max_pixels (None: no limit; on the command line --max-pixels N or none)"
_ORIENTATION = 0x0112
"""The EXIF orientation tag."""
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
"""For each EXIF orientation that turns or flips, the transpose that makes the stored image upright: the
pixels of ``ImageOps.exif_transpose``, which also writes the EXIF data out again without the tag (and
fails on EXIF data Pillow reads but cannot write, such as an entry whose type does not fit its value)."""
_QUARTER_TURNS = frozenset(_UPRIGHT[o] for o in (5, 6, 7, 8))
"""The transposes of the orientations that turn by 90 degrees (and so swap width and height)."""


def _upright_turn(img: Image.Image) -> Image.Transpose | None:
    """The transpose that makes a loaded image upright by its EXIF orientation (:data:`_UPRIGHT`), None for
    none: orientation 1, a value no orientation is (9, a list a caller set), or EXIF data that cannot be read
    at all (a PNG's eXIf chunk or a WebP's EXIF chunk that is no TIFF structure), which scores the image as
    stored, with a warning, as a JPEG's unreadable EXIF block does."""
    try:
        orientation = img.getexif().get(_ORIENTATION, 1)
    except Exception as exc:  # Pillow's EXIF parser on the image's bytes: anything
        warnings.warn(f"its EXIF data cannot be read ({exc}), so its orientation is unknown: it is scored as stored, "
                      "not turned", UserWarning, stacklevel=2)
        return None
    try:
        return _UPRIGHT.get(orientation)
    except TypeError:  # unhashable: no orientation
        return None


@functools.cache
def image_formats() -> tuple[str, ...]:
    """The Pillow formats images are opened as: those of the scanned file extensions (a camera's
    multi-picture JPEG, MPO, opens as JPEG). Training photos open as these too."""
    by_extension = Image.registered_extensions()
    return tuple(sorted({by_extension[ext] for ext in IMAGE_EXTENSIONS if ext in by_extension}))


def _from_array(array: np.ndarray, source: str) -> Image.Image:
    if array.dtype != np.uint8:
        raise ImageDecodeError(source, f"array dtype {array.dtype} is not supported; pass uint8 values 0..255")
    encoded = _encoded_format(array)
    if encoded is not None:
        raise ImageDecodeError(source, f"holds the bytes of a {encoded} file (as cv2.imencode or numpy.frombuffer "
                                       "give them), not pixels: pass array.tobytes()")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array))  # L, RGB or RGBA: Pillow 11.3 warns at a named mode
    raise ImageDecodeError(source, f"array shape {array.shape} is not an image{_shape_hint(array.shape)}; expected "
                                   "HxW, HxWx1, HxWx3 or HxWx4")


def _encoded_format(array: np.ndarray) -> str | None:
    """The format of the encoded file a uint8 array of one row or one column holds (its first bytes are a
    format's signature, :func:`_signature_format`), else None: such arrays are files, not pixels."""
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
        return _signature_format(array.reshape(-1)[:12].tobytes())
    return None


def _shape_hint(shape: tuple[int, ...]) -> str:
    """What an array of a shape that is no image may be instead, and what to pass."""
    if len(shape) == 4:
        return " (a stack of images: score_many(array) scores each)"
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[2] not in (1, 3, 4):
        return " (channels first, C x H x W, as torch tensors hold them: pass array.transpose(1, 2, 0))"
    if len(shape) == 1:
        return " (a file's bytes in an array? pass array.tobytes())"
    return ""


def _check_size(size: tuple[int, int], source: str, max_pixels: int | None, min_size: int,
                too_large_advice: str | None = None) -> None:
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise _too_large(source, size, max_pixels, None, too_large_advice)
    if min(w, h) < min_size:
        raise ImageTooSmallError(
            source, f"is {w}x{h} pixels; the model needs at least {min_size} pixels on each side"
        )


def out_of_memory(source: str, stage: str, detail: object, advice: str | None = None) -> ImageTooLargeError:
    """The error of an image the memory left cannot hold at one ``stage`` of its scoring (``decode``,
    ``prepare``, ``run the model on``): that image's failure, not the batch's. ``detail``: what failed,
    such as the ``MemoryError`` or onnxruntime's ``std::bad_alloc`` message; ``advice``: what to do, as
    :func:`decode_rgb`'s ``too_large_advice`` (None: score it elsewhere, or lower ``max_pixels``)."""
    shown = " ".join(str(detail).split())[:300] or type(detail).__name__
    return ImageTooLargeError(source, f"is too large for the memory left to {stage} it ({shown}); " + (
        advice or "score it where more memory is free, or lower max_pixels to refuse such images before they are "
                  "decoded"))


def _too_large(
    source: str, size: tuple[int, int] | None, max_pixels: int | None, pil_error: Exception | None,
    advice: str | None = None,
) -> ImageTooLargeError:
    if pil_error is not None:  # Pillow's own decompression-bomb limit refused it
        return ImageTooLargeError(
            source,
            f"is larger than Pillow's decompression-bomb limit ({pil_error}); "
            f"{advice or _RAISE_LIMIT + ' to allow such images'}",
        )
    w, h = size  # type: ignore[misc]
    return ImageTooLargeError(
        source,
        f"is {w}x{h} = {w * h} pixels, more than max_pixels={max_pixels}; "
        f"{advice or _RAISE_LIMIT + ' to allow it'}",
    )


def _to_rgb(img: Image.Image, source: str) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        img.load()
        return img
    if mode.startswith("I;16"):  # unsigned 16-bit samples, of either byte order
        return Image.fromarray((np.asarray(img) >> 8).astype(np.uint8)).convert("RGB")
    if mode == "I":  # 32-bit signed, in place and in 32 bits: (65535 * 255 + 32767) fits
        values = np.clip(np.asarray(img), 0, 65535)
        values *= 255
        values += 32767
        values //= 65535
        return Image.fromarray(values.astype(np.uint8)).convert("RGB")
    if mode in ("P", "PA"):
        # Via RGBA, so that palette transparency does not warn; the colours are the same.
        return img.convert("RGBA").convert("RGB")
    if mode == "La":
        # Premultiplied grey: Pillow converts it to LA only (undoing the premultiplication), as it converts
        # premultiplied RGBa to RGB, so both give the colours of the image with its alpha dropped.
        return img.convert("LA").convert("RGB")
    if mode == "F":
        _refuse_nan(img, source)
    try:
        return img.convert("RGB")
    except ValueError as exc:  # a mode Pillow cannot convert to RGB (e.g. LAB without ImageCms)
        raise ImageDecodeError(source, f"image mode {mode} cannot be converted to RGB ({exc})") from exc


def _refuse_nan(img: Image.Image, source: str) -> None:
    """Raise if a floating-point (``F``) image holds NaN values, which Pillow's conversion turns into black
    pixels without a word (infinities and values beyond 0..255 are clipped, as documented).

    Raises:
        ImageDecodeError: Some values are NaN.
    """
    nan = int(np.count_nonzero(np.isnan(np.asarray(img))))
    if nan:
        raise ImageDecodeError(source, f"is a floating-point (mode F) image holding {nan} NaN values of "
                                       f"{img.width * img.height}, which have no brightness; replace them "
                                       "(numpy.nan_to_num, say) and score it again")
