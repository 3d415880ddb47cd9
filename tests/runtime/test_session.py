"""Tests of contrique_infer.session: lazy import, providers, and the graph checks."""

from __future__ import annotations

import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import CHANNELS, reference_feature

from contrique_infer import session
from contrique_infer.errors import (
    BundleError,
    DependencyError,
    GraphMismatchError,
    HashMismatchError,
    ImageTooLargeError,
    InferenceError,
    ProviderError,
)
from contrique_infer.manifest import Manifest
from contrique_infer.session import CPU, CUDA, Encoder, provider_tuple, resolve_providers, uses_gpu


@pytest.fixture()
def manifest(tiny_bundle_dir: Path) -> Manifest:
    return Manifest.load(tiny_bundle_dir)


@pytest.fixture()
def fresh_import():
    """Forget the cached onnxruntime import before and after the test."""
    session.onnxruntime.cache_clear()
    yield
    session.onnxruntime.cache_clear()


def _graph(path: Path, *, input_name="image", input_type=None, input_shape=("n", 3, "h", "w"),
           output_name="feature", body="pool", opset=17, ir_version=8) -> Path:
    """A small graph with configurable declared input and output.

    ``body``: ``pool`` = mean over H, W then a 3 x 8 matrix ([N, 8]); ``pool5`` the same with
    3 x 5 ([N, 5]); ``rank3`` = mean over W only ([N, 3, H]); ``flatten`` = [N, 3*H*W].
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    in_type = TensorProto.FLOAT if input_type is None else input_type
    nodes, inits, x = [], [], input_name
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [x], ["xf"], to=TensorProto.FLOAT))
        x = "xf"
    if body in ("pool", "pool5"):
        inits.append(numpy_helper.from_array(np.ones((3, CHANNELS if body == "pool" else 5), np.float32), "W"))
        nodes += [helper.make_node("ReduceMean", [x], ["m"], axes=[-2, -1], keepdims=0),
                  helper.make_node("MatMul", ["m", "W"], [output_name])]
    elif body == "rank3":
        nodes.append(helper.make_node("ReduceMean", [x], [output_name], axes=[-1], keepdims=0))
    else:
        nodes.append(helper.make_node("Flatten", [x], [output_name], axis=1))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(input_name, in_type, list(input_shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, None)], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.save(model, path)
    return path


def test_import_is_light() -> None:
    code = (
        "import sys, contrique_infer, contrique_infer.cli, contrique_infer.scorer\n"
        "print(sorted(m for m in ('onnxruntime', 'torch', 'onnx', 'huggingface_hub') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_default_providers_and_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "available_providers", lambda: ["AzureExecutionProvider", CPU])
    assert resolve_providers() == [CPU]
    assert resolve_providers(device="cpu") == [CPU]
    with pytest.warns(RuntimeWarning, match="no CUDA"):
        assert resolve_providers(device="cuda") == [CPU]
    monkeypatch.setattr(session, "available_providers", lambda: [CUDA, CPU])
    assert resolve_providers() == [CUDA, CPU]
    assert resolve_providers(device="cuda") == [CUDA, CPU]
    assert resolve_providers(device="cpu") == [CPU]
    assert uses_gpu(resolve_providers()) and not uses_gpu([CPU])


def test_explicit_providers() -> None:
    assert resolve_providers([CPU]) == [CPU]
    assert resolve_providers([(CPU, {})]) == [(CPU, {})]
    with pytest.raises(ProviderError, match=r"\['CUDAExecutionProvider'\] not available.*available: .*CPUExec"):
        resolve_providers([CUDA, CPU])
    with pytest.raises(ProviderError):
        resolve_providers([])
    with pytest.raises(ValueError, match="not both"):
        resolve_providers([CPU], device="cpu")
    with pytest.raises(ValueError, match="device must be one of cpu, cuda"):
        resolve_providers(device="gpu")


def test_providers_must_be_a_list_not_one_provider() -> None:
    """providers="CPUExecutionProvider" was taken letter by letter: "execution provider(s) ['C', 'P', 'U', ...]
    not available"; one (name, options) pair, or an entry of another form, failed inside the check."""
    assert provider_tuple(None) is None
    assert provider_tuple([CPU, (CUDA, {"device_id": 0})]) == (CPU, (CUDA, {"device_id": 0}))
    for one in (CPU, CPU.encode(), (CUDA, {"device_id": 0})):
        with pytest.raises(TypeError, match=r"^providers must be a list of onnxruntime providers, such as "
                                            r"\['CPUExecutionProvider'\] .*; got the single .*: put it in a list$"):
            provider_tuple(one)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"each a name or a \(name, options\) pair; got 5 \(int\) among them$"):
        provider_tuple([CPU, 5])  # type: ignore[list-item]


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch, fresh_import) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(DependencyError, match=r'contrique-infer\[cpu\]".*contrique-infer\[gpu\]'):
        session.onnxruntime()
    with pytest.raises(ImportError):  # DependencyError is also an ImportError
        resolve_providers()


def test_both_distributions_warn_once(monkeypatch: pytest.MonkeyPatch, fresh_import) -> None:
    real = metadata.distribution
    # Pretend onnxruntime-gpu is installed too (it resolves to the onnxruntime distribution).
    monkeypatch.setattr(metadata, "distribution", lambda name: real(name.replace("onnxruntime-gpu", "onnxruntime")))
    with pytest.warns(RuntimeWarning, match="both onnxruntime and onnxruntime-gpu"):
        session.onnxruntime()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session.onnxruntime()  # cached: no second warning


def test_encoder_runs_and_matches_reference(tiny_bundle_dir: Path, manifest: Manifest) -> None:
    enc = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU], threads=1)
    assert enc.providers == [CPU] and enc.device == "cpu"
    assert enc.session.get_session_options().intra_op_num_threads == 1
    batch = np.random.default_rng(0).random((3, 3, 11, 14), dtype=np.float32)
    out = enc.run(batch)
    assert out.shape == (3, CHANNELS) and out.dtype == np.float32
    for got, x in zip(out, batch):
        np.testing.assert_allclose(got, reference_feature(x), atol=1e-6)
    with pytest.raises(ValueError, match="threads"):
        Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU], threads=0)
    numpy_threads = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU], threads=np.int64(1))
    assert numpy_threads.session.get_session_options().intra_op_num_threads == 1


def test_memory_policy_on_cpu(tiny_bundle_dir: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "LARGE_IMAGE_PIXELS", 11 * 14)
    enc = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU])
    options = enc.session.get_session_options()
    assert not options.enable_mem_pattern and options.enable_cpu_mem_arena
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    rng = np.random.default_rng(1)
    small, large = rng.random((2, 3, 11, 14), dtype=np.float32), rng.random((2, 3, 12, 14), dtype=np.float32)
    arena_session = enc.session
    small_out = enc.run(small)
    assert enc.session is arena_session  # images at the limit keep the arena
    large_out = enc.run(large)
    options = enc.session.get_session_options()
    assert not options.enable_mem_pattern and not options.enable_cpu_mem_arena
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    # The same features, bit for bit, from either session; small images stay on the new one.
    np.testing.assert_array_equal(large_out, arena_session.run(["feature"], {"image": large})[0])
    np.testing.assert_array_equal(enc.run(small), small_out)
    assert not enc.session.get_session_options().enable_cpu_mem_arena


def test_session_without_arena_is_opened_once(tiny_bundle_dir: Path, manifest: Manifest,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "LARGE_IMAGE_PIXELS", 1)
    enc = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU])
    opened = []
    real_open = enc._open

    def counting_open(*, arena: bool):
        opened.append(arena)
        return real_open(arena=arena)

    monkeypatch.setattr(enc, "_open", counting_open)
    batch = np.random.default_rng(2).random((1, 3, 9, 9), dtype=np.float32)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: enc.run(batch), range(8)))
    assert opened == [False]
    for out in outs:
        np.testing.assert_array_equal(out, outs[0])


def test_a_model_file_changed_after_loading_is_never_run(tiny_bundle_dir: Path, manifest: Manifest, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "LARGE_IMAGE_PIXELS", 11 * 14)
    path = tmp_path / "encoder.onnx"
    path.write_bytes((tiny_bundle_dir / "encoder.onnx").read_bytes())
    enc = Encoder(path, manifest, providers=[CPU], sha256=manifest.files["encoder.onnx"].sha256)
    small = np.random.default_rng(1).random((1, 3, 11, 14), dtype=np.float32)
    before = enc.run(small)
    large = np.random.default_rng(2).random((1, 3, 12, 14), dtype=np.float32)
    verified = enc.run(large)
    enc = Encoder(path, manifest, providers=[CPU], sha256=manifest.files["encoder.onnx"].sha256)
    _graph(path, body="pool")  # another graph of the same interface, swapped in after the load
    with pytest.warns(RuntimeWarning, match=r"was changed after the bundle was loaded; load the bundle again; large "
                                            r"images go on running on the session opened before"):
        out = enc.run(large)  # the first large image would open a second session: the verified one runs it
    np.testing.assert_array_equal(out, verified)
    np.testing.assert_array_equal(enc.run(small), before)  # the verified session is still the one that runs
    with pytest.raises(HashMismatchError, match="differs from the manifest's"):
        Encoder(path, manifest, providers=[CPU], sha256=manifest.files["encoder.onnx"].sha256)


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available:UserWarning")
def test_gpu_requested_but_cpu_session_warns(tiny_bundle_dir: Path, manifest: Manifest) -> None:
    with pytest.warns(RuntimeWarning, match="GPU provider was requested"):
        enc = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CUDA, CPU])
    assert enc.device == "cpu"
    assert enc.session.get_session_options().enable_mem_pattern  # GPU sessions keep onnxruntime's defaults


def test_corrupt_model_is_a_bundle_error(tmp_path: Path, manifest: Manifest) -> None:
    path = tmp_path / "encoder.onnx"
    path.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(BundleError, match="is not an ONNX model") as info:
        Encoder(path, manifest, providers=[CPU])
    assert info.value.path == str(path)


@pytest.mark.parametrize("versions", [{"ir_version": 99}, {"opset": 99}])
def test_a_model_newer_than_onnxruntime_is_not_called_damaged(tmp_path: Path, manifest: Manifest, versions) -> None:
    """onnxruntime 1.17 could not load the packaged models (ONNX IR version 10), and said the file was
    damaged: download or export the bundle again, which could not help."""
    import onnxruntime

    path = _graph(tmp_path / "g.onnx", **versions)
    with pytest.raises(BundleError) as info:
        Encoder(path, manifest, providers=[CPU])
    assert info.value.reason.endswith(f"; the model needs a newer onnxruntime than the installed "
                                      f"{onnxruntime.__version__}: upgrade onnxruntime (or onnxruntime-gpu)")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_name": "pixels"}, "exactly one input named 'image'"),
        ({"input_shape": ("n", 3, "h", "w", "t")}, "needs float32 \\[N, 3, H, W\\]"),
        ({"input_shape": ("n", 3, "h"), "body": "flatten"}, "needs float32 \\[N, 3, H, W\\]"),
        ({"input_shape": ("n", 4, "h", "w"), "body": "flatten"}, "needs float32 \\[N, 3, H, W\\]"),
        ({"input_type": 11}, "is tensor\\(double\\)"),
        ({"output_name": "embedding"}, "do not include 'feature'"),
        ({"body": "pool5"}, f"is tensor\\(float\\) \\['n', 5\\]; the manifest needs float32 \\[N, {CHANNELS}\\]"),
        ({"body": "rank3"}, "needs float32"),
    ],
)
def test_graph_mismatch(tmp_path: Path, manifest: Manifest, kwargs, message: str) -> None:
    path = _graph(tmp_path / "g.onnx", **kwargs)
    with pytest.raises(GraphMismatchError, match=message) as info:
        Encoder(path, manifest, providers=[CPU])
    assert info.value.path == str(path)


def test_dynamic_output_size_is_checked_at_run(tmp_path: Path, manifest: Manifest) -> None:
    enc = Encoder(_graph(tmp_path / "g.onnx", body="flatten"), manifest, providers=[CPU])
    with pytest.raises(InferenceError, match=r"shape \(1, 192\), expected \(1, 8\)"):
        enc.run(np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(InferenceError, match="g.onnx: onnxruntime failed"):
        enc.run(np.zeros((1, 3, 8), np.float32))


class _OutOfMemory:
    """A session whose runs fail as onnxruntime's do where an allocation fails, on inputs at least ``height`` high;
    on smaller ones it runs the real session."""

    def __init__(self, real: object, height: int, message: str) -> None:
        self.real, self.height, self.message = real, height, message

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if next(iter(feeds.values())).shape[2] >= self.height:
            raise RuntimeError(self.message)
        return self.real.run(outputs, feeds)  # type: ignore[attr-defined]


@pytest.mark.parametrize("message", [
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv node. "
    "Name:'relu_nchwc' Status Message: std::bad_alloc",
    "[ONNXRuntimeError] : 1 : FAIL : Failed to allocate memory for requested buffer of size 8000000000",
    "CUDA failure 2: out of memory ; GPU=0",
])
def test_a_lone_image_onnxruntime_has_no_memory_for_is_that_images_error(
        tiny_bundle_dir: Path, manifest: Manifest, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """onnxruntime's std::bad_alloc on one image too large for the memory left (a 5000x5000 image on the tiny
    bundle under ulimit -v 1100000) was an InferenceError that ended iter_scores: every later image was lost."""
    from contrique_infer.preprocessing import PreparedImage

    enc = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU])
    monkeypatch.setattr(enc, "_session_for", lambda batch: _OutOfMemory(enc.session, 40, message))
    rng = np.random.default_rng(3)

    def image(name: str, height: int) -> PreparedImage:
        pixels = rng.random((3, height, 20), dtype=np.float32)
        return PreparedImage(name, 20, height, (pixels, pixels[:, ::2, ::2].copy()))

    assert enc.features([image("small", 20)])[0].shape == (2 * CHANNELS,)
    with pytest.raises(ImageTooLargeError) as refused:
        enc.features([image("big.png", 40)])
    assert refused.value.source == "big.png"
    assert refused.value.reason.startswith("is too large for the memory left to run the model on it (")
    assert refused.value.reason.endswith("); score it where more memory is free, or lower max_pixels to refuse such "
                                         "images before they are decoded")
    with pytest.raises(InferenceError):  # a batch of several names no one image: the run's failure, as before
        enc.features([image("a", 40), image("b", 40)])
    monkeypatch.setattr(enc, "_session_for", lambda batch: _OutOfMemory(enc.session, 40, "Invalid input shape"))
    with pytest.raises(InferenceError):  # not a memory failure: the model's, which ends a run
        enc.features([image("big.png", 40)])


def test_a_model_file_removed_after_loading_loses_no_large_image(
        tiny_bundle_dir: Path, manifest: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle folder removed (a Hub cache cleaned) while a scorer ran: the first image above 2.5 MP, which
    opens a session without the arena from the file, raised `BundleFileError: ... cannot be read (No such file or
    directory)`, which ended score_many, and so did every large image after it."""
    monkeypatch.setattr(session, "LARGE_IMAGE_PIXELS", 11 * 14)
    path = tmp_path / "encoder.onnx"
    path.write_bytes((tiny_bundle_dir / "encoder.onnx").read_bytes())
    enc = Encoder(path, manifest, providers=[CPU], sha256=manifest.files["encoder.onnx"].sha256)
    large = np.random.default_rng(2).random((1, 3, 12, 14), dtype=np.float32)
    want = Encoder(tiny_bundle_dir / "encoder.onnx", manifest, providers=[CPU]).run(large)
    path.unlink()
    with pytest.warns(RuntimeWarning, match=r"encoder.onnx: cannot be read \(No such file or directory\); large images "
                                            r"go on running on the session opened before, whose memory arena keeps"):
        np.testing.assert_array_equal(enc.run(large), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        np.testing.assert_array_equal(enc.run(large), want)
