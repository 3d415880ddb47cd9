"""onnxruntime sessions: the lazy import, execution-provider choice, and the graph check.

onnxruntime is imported only when a session is opened, so ``import contrique_infer`` stays light
and works without it; it comes from the ``cpu`` extra (``onnxruntime``) or the ``gpu`` extra
(``onnxruntime-gpu``). Those two distributions install the same ``onnxruntime`` package and
overwrite each other, so having both installed is warned about.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .arguments import positive_count
from .decoding import out_of_memory
from .errors import (
    BundleError,
    BundleFileError,
    DependencyError,
    GraphMismatchError,
    HashMismatchError,
    InferenceError,
    ProviderError,
)
from .manifest import Manifest
from .onnxfile import MalformedModelError, external_locations
from .regularfile import NotRegularFileError, open_regular

if TYPE_CHECKING:
    from .preprocessing import PreparedImage

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("cpu", "cuda")
GPU_PROVIDERS = (CUDA, "TensorrtExecutionProvider")
"""Providers that run the graph on an NVIDIA GPU (they make variant "auto" choose fp16)."""

Provider = str | tuple[str, dict[str, Any]]
"""An onnxruntime provider: a name, or ``(name, options)``."""
MAX_THREADS = 1024
"""The most onnxruntime intra-op threads a session may be given: onnxruntime's Python binding refuses
2**31 with a bare ``TypeError``, and sets out to make 2**31 - 1 threads until ``std::bad_alloc``."""


def thread_count(threads: object) -> int | None:
    """``threads`` (onnxruntime intra-op threads) as an ``int``, or None (onnxruntime chooses).

    Raises:
        ValueError: It is not an integer from 1 to :data:`MAX_THREADS` or None.
    """
    return positive_count(threads, "threads", optional=True, maximum=MAX_THREADS)


LARGE_IMAGE_PIXELS = 2_500_000
"""On CPU, the first image (one scale of it) with more pixels than this turns onnxruntime's memory arena
off (see :class:`Encoder`): a 12-megapixel photo's half scale has 3 MP, a Full HD frame 2.07 MP."""


@functools.cache
def onnxruntime() -> ModuleType:
    """Import onnxruntime (once), warning if both onnxruntime and onnxruntime-gpu are installed.

    Raises:
        DependencyError: onnxruntime is not installed (the message names the extra to install).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DependencyError(
            'onnxruntime is not installed; install the runtime with pip install "contrique-infer[cpu]" '
            '(or "contrique-infer[gpu]" for NVIDIA GPUs)'
        ) from exc
    from importlib import metadata  # here: importing it costs ~90 ms that only opening a session needs

    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.distribution(dist)
            installed.append(dist)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) == 2:
        warnings.warn(
            "both onnxruntime and onnxruntime-gpu are installed; they overwrite each other's files, so "
            "which one runs is unpredictable. Uninstall both, then install only one "
            '(pip install "contrique-infer[cpu]" or "contrique-infer[gpu]")',
            RuntimeWarning,
            stacklevel=2,
        )
    return ort


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers."""
    return list(onnxruntime().get_available_providers())


def provider_tuple(providers: Sequence[Provider] | None) -> tuple[Provider, ...] | None:
    """The caller's ``providers`` argument as a tuple (None stays None), checked for its form.

    Raises:
        TypeError: ``providers`` is one name (a ``str``, which would be taken letter by letter) or one
            ``(name, options)`` pair rather than a list of them, or holds an entry of neither form.
    """
    if providers is None:
        return None
    example = f"such as [{CPU!r}] or [({CUDA!r}, {{'device_id': 0}}), {CPU!r}]"
    if isinstance(providers, (str, bytes)) or _is_pair(providers):
        raise TypeError(f"providers must be a list of onnxruntime providers, {example}; got the single "
                        f"{type(providers).__name__} {providers!r}: put it in a list")
    listed = tuple(providers)
    for entry in listed:
        if not isinstance(entry, str) and not _is_pair(entry):
            raise TypeError(f"providers must be a list of onnxruntime providers, {example}: each a name or a "
                            f"(name, options) pair; got {entry!r} ({type(entry).__name__}) among them")
    return listed


def _is_pair(value: object) -> bool:
    """Whether ``value`` is a provider's ``(name, options)`` pair."""
    return (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], dict))


def resolve_providers(providers: Sequence[Provider] | None = None, device: str | None = None) -> list[Provider]:
    """The provider list to open sessions with.

    Args:
        providers: An explicit list (names or ``(name, options)``); it wins, and every name must
            be available.
        device: ``"cpu"`` or ``"cuda"`` when ``providers`` is None. ``"cuda"`` asks for CUDA with CPU
            fallback (a warning says so if CUDA is not available). None: CUDA if available, else CPU.

    Raises:
        ProviderError: An explicit provider is not available (the message lists those that are).
        ValueError: ``device`` is not ``"cpu"``/``"cuda"``, or both arguments are given.
    """
    available = available_providers()
    if providers is not None:
        if device is not None:
            raise ValueError("pass either providers or device, not both")
        names = [_provider_name(p) for p in providers]
        missing = [n for n in names if n not in available]
        if not names or missing:
            raise ProviderError(
                f"execution provider(s) {missing or '[]'} not available in this onnxruntime; "
                f"available: {', '.join(available)}"
            )
        return list(providers)
    if device not in (None, *DEVICES):
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        warnings.warn(
            f"device='cuda' was requested but this onnxruntime offers no CUDA ({', '.join(available)}); "
            'running on CPU. Install "contrique-infer[gpu]" (onnxruntime-gpu) and the CUDA libraries',
            RuntimeWarning,
            stacklevel=2,
        )
    return [CPU]


def uses_gpu(providers: Sequence[Provider]) -> bool:
    """Whether a provider list asks for an NVIDIA GPU provider."""
    return any(_provider_name(p) in GPU_PROVIDERS for p in providers)


def _provider_name(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


class Encoder:
    """An onnxruntime session on a bundle's encoder, checked against the manifest.

    ``run`` is safe to call from many threads at once (onnxruntime sessions are).

    Memory policy on CPU (features are bit-identical either way; docs/performance.md has the
    measurements behind it): the session runs without onnxruntime's memory pattern (a block planned
    per input shape, which raises the peak on large inputs and saves no measurable time), and the
    first image with more than :data:`LARGE_IMAGE_PIXELS` pixels replaces the session by one without
    the CPU memory arena, which the encoder keeps from then on. Its worker threads sleep as soon as a
    run ends instead of spinning (``session.intra_op.allow_spinning`` 0): spinning threads took the
    cores from the next image's decoding and from any other session in the process (two scorers
    alternated ran at half speed). The arena grows in powers of two and
    never gives memory back, so a large photo would leave far more memory taken than it needs; but
    it is faster for the sizes most images have, so sessions keep it until such a photo comes. GPU
    sessions keep onnxruntime's defaults.

    Every session is made from the file's bytes as read at that moment (each check below is on
    those bytes, not on a path that might be changed in between), so that the session made for the
    first large image runs the same verified graph as the first.

    Args:
        model_path: The ONNX file.
        manifest: The bundle's manifest (input contract and feature size).
        providers: Providers from :func:`resolve_providers`.
        threads: onnxruntime intra-op threads; None lets onnxruntime choose.
        sha256: The file's expected sha256 (the manifest's entry), checked on the bytes of every
            session; None checks nothing (the caller verified the file).

    Raises:
        BundleError: The file is not ONNX, or onnxruntime cannot load it (damaged).
        HashMismatchError: The bytes differ from ``sha256`` (the file was changed since the bundle
            was verified).
        BundleFileError: The file cannot be read, or keeps tensors in other files (ONNX external
            data, which the manifest would not verify).
        GraphMismatchError: The graph's input/output do not match the manifest.
        ValueError: ``threads`` is not an integer from 1 to :data:`MAX_THREADS` (or None).
    """

    def __init__(self, model_path: str | os.PathLike[str], manifest: Manifest, *,
                 providers: Sequence[Provider], threads: int | None = None, sha256: str | None = None) -> None:
        threads = thread_count(threads)
        self.path = Path(model_path)
        self._input = manifest.input.input_name
        self._output = manifest.input.output_name
        self._dim = manifest.feature.per_scale_dim
        self._requested = list(providers)
        self._threads = threads
        self._cpu = not uses_gpu(providers)
        self._arena = self._cpu  # whether the CPU session is still to be replaced by one without its arena
        self._sha256 = sha256
        self._lock = threading.Lock()
        self.session = self._open(arena=self._arena)
        self.providers: list[str] = list(self.session.get_providers())
        if uses_gpu(providers) and not uses_gpu(self.providers):
            warnings.warn(
                f"a GPU provider was requested but the session on {self.path.name} runs on {', '.join(self.providers)} "
                "(onnxruntime could not start CUDA: check the CUDA/cuDNN libraries onnxruntime-gpu needs)",
                RuntimeWarning,
                stacklevel=2,
            )
        self._check_graph()

    def _open(self, *, arena: bool) -> Any:
        """A session on the model's bytes (:meth:`_read`), with the memory options of the class docstring."""
        model = self._read()
        ort = onnxruntime()
        options = ort.SessionOptions()
        if self._threads is not None:
            options.intra_op_num_threads = self._threads
        if self._cpu:
            options.enable_mem_pattern = False
            options.enable_cpu_mem_arena = arena
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(model, sess_options=options, providers=self._requested)
        except Exception as exc:  # onnxruntime's own exception types do not share a useful base
            if re.search(r"Unsupported model IR version|Opset \d+ is under development", str(exc)):
                advice = (f"the model needs a newer onnxruntime than the installed {ort.__version__}: upgrade "
                          "onnxruntime (or onnxruntime-gpu)")
            else:
                advice = "the file is damaged or not an ONNX model: download or export the bundle again"
            raise BundleError(self.path, f"onnxruntime cannot load this model ({exc}); {advice}") from exc

    def _read(self) -> bytes:
        """The model file's bytes, checked against the expected sha256 and refused if the graph keeps
        tensors in other files (:mod:`contrique_infer.onnxfile`): the manifest verifies only the
        files it lists."""
        try:
            with open_regular(self.path) as fh:
                model = fh.read()
        except NotRegularFileError as exc:
            raise BundleFileError(self.path, str(exc)) from None
        except OSError as exc:
            raise BundleFileError(self.path, f"cannot be read ({exc.strerror or exc})") from exc
        if self._sha256 is not None and (digest := hashlib.sha256(model).hexdigest()) != self._sha256:
            raise HashMismatchError(
                self.path, f"sha256 {digest[:12]}... differs from the manifest's {self._sha256[:12]}...: the file "
                "was changed after the bundle was loaded; load the bundle again",
            )
        try:
            external = external_locations(model)
        except MalformedModelError as exc:
            raise BundleError(
                self.path, f"is not an ONNX model ({exc}); the file is damaged or not an ONNX model: download or "
                "export the bundle again",
            ) from exc
        if external:
            name, location = external[0]
            raise BundleFileError(
                self.path, f"keeps the values of {len(external)} tensor(s) in other files (the first, {name!r}, in "
                f"{location!r}), which the manifest does not verify; a bundle's graphs must hold their weights: "
                "export the graph again with its weights embedded (contrique-export does)",
            )
        return model

    def _session_for(self, batch: np.ndarray) -> Any:
        """The session for a batch; the first large image on CPU replaces it by one without the arena.

        Where that session cannot be made, because the file was changed or removed since it was verified
        (a bundle exported again into its folder, a Hub cache cleaned), the verified session goes on running
        every image, large ones too, with a warning: the same features, only the memory a large image takes
        is kept by the arena. The file as it is now is never run.
        """
        if self._arena and batch.ndim == 4 and batch.shape[2] * batch.shape[3] > LARGE_IMAGE_PIXELS:
            with self._lock:
                if self._arena:
                    try:
                        self.session = self._open(arena=False)
                    except BundleError as exc:
                        warnings.warn(f"{exc}; large images go on running on the session opened before, whose "
                                      "memory arena keeps the memory they take", RuntimeWarning, stacklevel=2)
                    self._arena = False
        return self.session

    @property
    def device(self) -> str:
        """``"cuda"`` if the session runs on an NVIDIA GPU provider, else ``"cpu"``."""
        return "cuda" if uses_gpu(self.providers) else "cpu"

    @property
    def batches(self) -> bool:
        """Whether several images go into one run: on a GPU only. On a CPU onnxruntime computes an
        image's feature differently in a batch (its vectorised element-wise kernels, such as ``Log``,
        round differently from their scalar tails: about 1e-7 of a feature), and batching bought
        little speed (docs/reliability.md has the figures), so each image is run alone and its score
        does not depend on the other images."""
        return self.device == "cuda"

    def _check_graph(self) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != self._input:
            raise GraphMismatchError(
                self.path, f"graph inputs {[i.name for i in inputs]} must be exactly one input named {self._input!r}"
            )
        shape, kind = inputs[0].shape, inputs[0].type
        if kind != "tensor(float)" or len(shape) != 4 or not _fits(shape[1], 3):
            raise GraphMismatchError(
                self.path, f"input {self._input!r} is {kind} {shape}; the manifest needs float32 [N, 3, H, W]"
            )
        outputs = {o.name: o for o in self.session.get_outputs()}
        if self._output not in outputs:
            raise GraphMismatchError(
                self.path, f"graph outputs {list(outputs)} do not include {self._output!r} named by the manifest"
            )
        out = outputs[self._output]
        if out.type != "tensor(float)" or len(out.shape) != 2 or not _fits(out.shape[1], self._dim):
            raise GraphMismatchError(
                self.path,
                f"output {self._output!r} is {out.type} {out.shape}; the manifest needs float32 [N, {self._dim}]",
            )

    def features(self, prepared: Sequence[PreparedImage]) -> list[np.ndarray]:
        """The features of same-sized prepared images: one run per scale, the scales' outputs
        concatenated in the input contract's order (the manifest's feature layout). A lone image is
        passed as a view, not copied (144 MB saved at 4000x3000).

        Raises:
            ImageTooLargeError: A lone image for which the memory left does not suffice (onnxruntime could
                not allocate what the run needs): that image's failure, after which others still run.
            InferenceError: See :meth:`run`.
        """

        def batch(i: int) -> np.ndarray:
            return prepared[0].scales[i][None] if len(prepared) == 1 else np.stack([p.scales[i] for p in prepared])

        try:
            per_scale = [self.run(batch(i)) for i in range(len(prepared[0].scales))]
            return list(np.concatenate(per_scale, axis=1))
        except (InferenceError, MemoryError) as exc:
            if len(prepared) == 1 and (isinstance(exc, MemoryError) or _OUT_OF_MEMORY.search(str(exc))):
                raise out_of_memory(prepared[0].source, "run the model on", exc.__cause__ or exc) from exc
            raise

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Features of a float32 batch ``[N, 3, H, W]``: float32 ``[N, per_scale_dim]``.

        Raises:
            InferenceError: onnxruntime failed, or the output has the wrong shape.
        """
        session = self._session_for(batch)
        try:
            (out,) = session.run([self._output], {self._input: batch})
        except Exception as exc:  # onnxruntime's exception types do not share a useful base
            raise InferenceError(f"{self.path}: onnxruntime failed on a batch of shape {batch.shape}: {exc}") from exc
        if out.shape != (batch.shape[0], self._dim):
            raise InferenceError(
                f"{self.path}: output {self._output!r} has shape {out.shape}, expected ({batch.shape[0]}, {self._dim})"
            )
        return np.asarray(out, dtype=np.float32)


_OUT_OF_MEMORY = re.compile(r"bad_alloc|bad allocation|failed to allocate|out of memory|alloc_failed", re.IGNORECASE)
"""What onnxruntime's errors say where an allocation failed (``std::bad_alloc`` on a CPU, ``Failed to allocate
memory`` from its arena, CUDA's ``out of memory``): a run too large for the memory left, not a broken model."""


def _fits(dim: Any, expected: int) -> bool:
    """A graph dimension matches ``expected`` if it equals it or is dynamic (a name or None)."""
    return not isinstance(dim, int) or dim == expected
