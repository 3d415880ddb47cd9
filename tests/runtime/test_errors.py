"""The error hierarchy: one base, one (path, reason) base for single inputs, picklable errors."""

from __future__ import annotations

import pickle

import pytest

from contrique_export import errors as export_errors
from contrique_infer import errors
from contrique_training.evaluation import errors as eval_errors

PATH_ERRORS = [
    errors.ImageDecodeError, errors.ImageTooSmallError, errors.ImageTooLargeError, errors.ImageTypeError,
    errors.NonFiniteError, errors.ScanError, errors.LinkLoopError,
    errors.NoMatchError, errors.ManifestError, errors.BundleFileError, errors.HashMismatchError, errors.HeadError,
    errors.GraphMismatchError, export_errors.CheckpointError, export_errors.HeadFileError,
    export_errors.UnsafePickleError, export_errors.ImageSetError, eval_errors.DatasetFileError,
    eval_errors.DatasetFormatError,
]


@pytest.mark.parametrize("cls", PATH_ERRORS)
def test_path_errors_share_one_base_and_cross_processes(cls: type[errors.PathError]) -> None:
    error = cls("photos/a.jpg", "cannot be read as an image")
    assert isinstance(error, errors.PathError) and isinstance(error, errors.ContriqueError)
    assert str(error) == "photos/a.jpg: cannot be read as an image"
    copy = pickle.loads(pickle.dumps(error))  # what multiprocessing and Ray do with a worker's error
    assert type(copy) is cls and (copy.path, copy.reason, str(copy)) == (error.path, error.reason, str(error))


def test_image_errors_name_their_source() -> None:
    error = errors.ImageDecodeError("<bytes 12>", "is empty")
    assert error.source == error.path == "<bytes 12>"
    assert pickle.loads(pickle.dumps(error)).source == "<bytes 12>"


def test_a_checkpoint_error_is_an_input_file_error() -> None:
    assert issubclass(export_errors.CheckpointError, export_errors.InputFileError)
