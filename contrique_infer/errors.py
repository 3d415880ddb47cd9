"""The exceptions of contrique-infer: one base class, one subclass per kind of failure.

Every error the library raises on bad input, a bad model bundle or a failed download is a
:class:`ContriqueError`, so callers can catch one type. Messages name the file or item involved,
say what is wrong and, where there is one, what to do next.
"""

from __future__ import annotations

import os


class ContriqueError(Exception):
    """Base class of every error raised by contrique-infer."""


class DependencyError(ContriqueError, ImportError):
    """A package the requested feature needs is not installed (the message names the extra)."""


class PathError(ContriqueError):
    """A problem with one named input: ``path`` names it (a file, a folder or a description such as
    ``<bytes 123>``), ``reason`` says what is wrong. Base of every error about a single input."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[PathError], tuple[str, str]]:
        """Pickle as ``(path, reason)``, so that the error crosses to other processes (multiprocessing,
        Ray workers) as itself."""
        return type(self), (self.path, self.reason)


# --- images -------------------------------------------------------------------------------------


class ImageError(PathError):
    """An image could not be used. ``source`` (the same as ``path``) names the input."""

    @property
    def source(self) -> str:
        """The input's path, or a description such as ``<bytes 123>``."""
        return self.path


class ImageDecodeError(ImageError):
    """The input is not a readable image (missing, empty, truncated, not an image format)."""


class ImageTooSmallError(ImageError):
    """The image is smaller than the model's minimum side length."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured ``max_pixels`` guard allows, or than the memory
    left can hold while it is decoded or run through the model."""


class ImageTypeError(ImageError, TypeError):
    """The input is not of a type that can be an image (None, a number...). A ``TypeError`` too:
    ``score`` raises it, ``score_many`` and ``iter_scores`` give it as that input's result."""


class NonFiniteError(ImageError):
    """The model gave this image a feature or a score that is not a finite number (NaN or infinity):
    no result is better than a wrong one. The message says which values and what to do."""


class ThumbnailError(ImageError):
    """The ``thumbnail`` hook given to ``iter_scores`` / ``score_many`` failed on this decoded image, or
    gave something other than bytes or None: the caller's hook, not the image, is at fault."""


class ScanError(PathError):
    """A folder could not be listed (unreadable, a symbolic-link loop) or holds no image files."""


class LinkLoopError(ScanError):
    """A folder link leads back to a folder being walked: passed over (its files are listed through
    the folder itself), reported so that the skip is seen."""


class NoMatchError(ScanError):
    """A command-line folder holds no image files, or a glob pattern matches no file."""


# --- model bundles ------------------------------------------------------------------------------


class BundleError(PathError):
    """A model bundle is missing, malformed or inconsistent. ``path`` names the offending file."""


class ManifestError(BundleError):
    """The manifest ``contrique.json`` is missing fields, has wrong types or unsupported values."""


class BundleFileError(BundleError):
    """A file named by the manifest is missing, or lies outside the bundle folder."""


class HashMismatchError(BundleError):
    """A bundle file's sha256 differs from the manifest (altered, truncated or corrupted)."""


class HeadError(BundleError):
    """A linear head file is malformed or does not fit the bundle's feature."""


class GraphMismatchError(BundleError):
    """The ONNX graph's inputs or outputs do not match the manifest's contract."""


class HeadNotFoundError(ContriqueError, KeyError):
    """A head name that the bundle does not contain (the message lists the available heads)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class VariantNotFoundError(ContriqueError, KeyError):
    """A model variant (fp32, int8, fp16) that the bundle does not contain."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class HeadKindError(ContriqueError, ValueError):
    """A head of the wrong kind for the call: an ``fr`` head where ``nr`` is needed, or vice versa."""


class NoDefaultModelError(ContriqueError):
    """No model name was given and no default bundle is installed with the package."""


# --- hub ----------------------------------------------------------------------------------------


class HubError(ContriqueError):
    """A bundle could not be fetched from the Hugging Face Hub (or a mirror)."""


class HubNotFoundError(HubError):
    """The repository, revision or file does not exist on the Hub (or is private or gated)."""


class HubConnectionError(HubError):
    """The Hub could not be reached, timed out or answered with a server error; retrying may work."""


class OfflineCacheMissError(HubError):
    """Offline mode (``HF_HUB_OFFLINE`` or ``local_files_only``) and the files are not cached."""


# --- execution ----------------------------------------------------------------------------------


class ProviderError(ContriqueError):
    """An onnxruntime execution provider was requested that cannot be used."""


class InferenceError(ContriqueError):
    """onnxruntime failed while running a bundle's encoder (the message names the ONNX file)."""
