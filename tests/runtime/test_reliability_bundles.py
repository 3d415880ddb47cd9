"""Reliability: hostile and damaged model files, Hub faults end to end, and unwritable ``-o`` outputs.

Model files go through the public API (``QualityScorer.from_pretrained``, contrique-score and
contrique-export); the field-by-field validation of the format is tested in test_manifest.py,
test_head.py and test_bundle.py, and the Hub's fault handling in test_hub.py, which this module only
completes. The outcomes are tabulated in docs/reliability.md.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_hub import HUB_REPO as REPO
from fake_hub import FakeHub, Fault
from PIL import Image
from tiny_bundle import edit_manifest, encoder_model, rehash

from contrique_infer import atomicfile, cli, regularfile, session
from contrique_infer.errors import (
    BundleError,
    BundleFileError,
    GraphMismatchError,
    HashMismatchError,
    HeadError,
    ManifestError,
)
from contrique_infer.bundle import file_table
from contrique_infer.manifest import MANIFEST_NAME, Manifest
from contrique_infer.report import ReportHeader
from contrique_infer.scorer import QualityScorer


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


class _Command:
    """Pickles as a call of ``os.system(command)``: what a hostile pickle does when loaded."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


@pytest.fixture()
def evil(tmp_path: Path) -> tuple[bytes, Path]:
    """A pickle that creates a marker file when unpickled, and that marker's path (checked to work)."""
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Command(f"touch {marker}"), protocol=2)
    pickle.loads(data)  # control: plain unpickling does run the command
    assert marker.exists()
    marker.unlink()
    return data, marker


def check_refused(
    capsys: pytest.CaptureFixture[str], folder: Path, error: type[BundleError], path: Path, reason: str
) -> None:
    """from_pretrained raises ``error`` naming ``path``; contrique-score exits 2 with the same message."""
    with pytest.raises(error) as info:
        QualityScorer.from_pretrained(folder)
    assert type(info.value) is error
    named = Path(info.value.path)
    assert named.parent.resolve() / named.name == path.parent.resolve() / path.name
    assert reason in info.value.reason
    image = folder.parent / "image.png"
    Image.new("RGB", (20, 20), (90, 120, 30)).save(image)
    code = cli.main([str(image), "--model", str(folder)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"contrique-score: error: {info.value}\n"


# --- files altered after the manifest was written --------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "alter", "reason"),
    [
        ("encoder.onnx", lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], "sha256"),
        ("encoder.onnx", lambda b: b + b"\0", "size"),
        ("encoder.onnx", lambda b: b[:-10], "size"),
        ("heads/quality.json", lambda b: b.replace(b'"intercept": ', b'"intercept": -'), "size"),
        ("heads/quality.json", lambda b: b.replace(b'"alpha": 0.1,', b'"alpha": 0.2,'), "sha256"),
    ],
    ids=["onnx-byte-flipped", "onnx-appended", "onnx-truncated", "head-longer", "head-same-size"],
)
def test_altered_files_are_refused(
    capsys, tiny_bundle_dir: Path, tmp_path: Path, rel: str, alter: Callable[[bytes], bytes], reason: str
) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    before = (folder / rel).read_bytes()
    (folder / rel).write_bytes(alter(before))
    assert (folder / rel).read_bytes() != before
    check_refused(capsys, folder, HashMismatchError, folder / rel, f"{reason} ")


# --- hostile files with a consistent manifest (an attacker who rewrites the hashes too) ------------


def test_pickle_as_head_is_never_unpickled(capsys, tiny_bundle_dir: Path, tmp_path: Path, evil) -> None:
    data, marker = evil
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    (folder / "heads" / "quality.json").write_bytes(data)
    rehash(folder)
    check_refused(capsys, folder, HeadError, folder / "heads" / "quality.json", "cannot be read as JSON")
    assert not marker.exists()


def test_pickle_as_onnx_is_never_unpickled(capsys, tiny_bundle_dir: Path, tmp_path: Path, evil) -> None:
    data, marker = evil
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    (folder / "encoder.onnx").write_bytes(data)
    rehash(folder)
    check_refused(capsys, folder, BundleError, folder / "encoder.onnx", "is not an ONNX model (wire type")
    assert not marker.exists()


# --- manifests that name files outside the bundle, have wrong types or miss fields -----------------


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


def _drop(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return edit


def _rename_file(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    """Point the variant/head at ``new`` and move its files entry too (a self-consistent manifest)."""

    def edit(data: dict[str, Any]) -> None:
        data["files"][new] = data["files"].pop(old)
        for variant in data["variants"].values():
            if variant["file"] == old:
                variant["file"] = new
        for head in data["heads"]:
            if head["file"] == old:
                head["file"] = new

    return edit


@pytest.mark.parametrize(
    ("edit", "error", "reason"),
    [
        (_rename_file("encoder.onnx", "../encoder.onnx"), BundleFileError, "'../encoder.onnx' is not a plain relative"),
        (_rename_file("heads/quality.json", "heads/../../q.json"), BundleFileError, "is not a plain relative path"),
        (_rename_file("encoder.onnx", "/etc/passwd"), BundleFileError, "'/etc/passwd' is not a plain relative path"),
        (_set("variants", "fp32", "file", value="../encoder.onnx"), BundleFileError, "is not a plain relative path"),
        (_set("format_version", value="1"), ManifestError, "field 'format_version' must be int, got str"),
        (_set("heads", value={"quality": {}}), ManifestError, "field 'heads' must be list, got dict"),
        (_set("files", "encoder.onnx", "size", value="1234"), ManifestError, "'files.encoder.onnx.size' must be int"),
        (_set("heads", 0, "higher_is_better", value="yes"), ManifestError, "must be bool, got str"),
        (_set("input", "min_size", value=-3), ManifestError, "field 'input.min_size' must be >= 1"),
        (_set("feature", "dim", value=4096), ManifestError, "feature.dim 4096 must be per_scale_dim 8 x 2 scales"),
        (_drop("files"), ManifestError, "missing required field 'files'"),
        (_drop("variants"), ManifestError, "missing required field 'variants'"),
        (_drop("input", "scales"), ManifestError, "missing required field 'input.scales'"),
        (_drop("heads", 0, "kind"), ManifestError, "missing required field 'heads[0].kind'"),
        (_drop("files", "heads/quality.json"), ManifestError, "head quality file 'heads/quality.json' has no entry"),
        (_rename_file("heads/quality.json", "heads/q\0.json"), BundleFileError, "is not a plain relative path"),
        (_rename_file("heads/quality.json", "heads/\x1b[2Jq\n.json"), BundleFileError, "is not a plain relative"),
        (_set("heads", 1, "name", value="Quality"), ManifestError,
         "head names must be unique, ignoring case; got ['quality', 'Quality']"),
        (_set("input", "max_side", value=4), ManifestError, "'max_side' 4 is below the 8 pixels every side must keep"),
    ],
    ids=[
        "dotdot-onnx", "dotdot-head", "absolute", "unlisted-dotdot", "version-str", "heads-dict", "size-str",
        "bool-str", "min-size", "dim", "no-files", "no-variants", "no-scales", "no-kind", "unhashed-head",
        "nul-in-name", "control-in-name", "case-duplicate-head", "max-side-below-min",
    ],
)
def test_bad_manifests_are_refused(
    capsys, tiny_bundle_dir: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None],
    error: type[BundleError], reason: str,
) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    edit_manifest(folder, edit)
    check_refused(capsys, folder, error, folder / MANIFEST_NAME, reason)


def test_manifest_that_is_not_json(capsys, tiny_bundle_dir: Path, tmp_path: Path, evil) -> None:
    data, marker = evil
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    (folder / MANIFEST_NAME).write_bytes(data)
    check_refused(capsys, folder, ManifestError, folder / MANIFEST_NAME, "cannot be read as JSON")
    assert not marker.exists()


def test_symlink_out_of_the_bundle_is_refused(capsys, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """A hash-consistent head that is a symbolic link to a file outside the bundle folder."""
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    outside = tmp_path / "outside.json"
    shutil.move(folder / "heads" / "quality.json", outside)
    (folder / "heads" / "quality.json").symlink_to(outside)
    check_refused(capsys, folder, BundleFileError, folder / "heads" / "quality.json", "resolves outside the bundle")


# --- bytes that would reach onnxruntime unverified, files that cannot be read ------------------------


@pytest.mark.parametrize("listed", [False, True], ids=["unlisted", "listed"])
def test_onnx_external_data_is_refused(capsys, tiny_bundle_dir: Path, tmp_path: Path, listed: bool) -> None:
    """An encoder whose weights are in another file: refused, whether the manifest lists that file or not."""
    import onnx
    import onnxruntime

    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    onnx.save(encoder_model(), folder / "encoder.onnx", save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    manifest = Manifest.load(folder)
    extra = ["weights.bin"] if listed else []
    dataclasses.replace(manifest, files=file_table(folder, [*manifest.files, *extra])).save(folder)
    onnxruntime.InferenceSession(str(folder / "encoder.onnx"))  # control: onnxruntime reads weights.bin itself
    check_refused(capsys, folder, BundleFileError, folder / "encoder.onnx",
                  "keeps the values of 2 tensor(s) in other files (the first, 'W', in 'weights.bin'), which the "
                  "manifest does not verify")


@pytest.mark.parametrize("rel", [MANIFEST_NAME, "encoder.onnx", "heads/quality.json"])
def test_unreadable_bundle_files_are_bundle_errors(
    capsys, tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rel: str
) -> None:
    """A file of the bundle that cannot be opened (chmod 000, simulated so that it runs as root too)."""
    from contrique_infer import bundle

    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    locked = (folder / rel).resolve()
    real = regularfile.open_regular

    def refuse(path: Any) -> Any:
        if Path(path).resolve() == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    for module in (bundle, regularfile, session):  # regularfile's own: read_regular, which jsonfile uses
        monkeypatch.setattr(module, "open_regular", refuse)
    # The other files are hashed before they are parsed or opened by onnxruntime: hashing fails first.
    error = ManifestError if rel == MANIFEST_NAME else BundleFileError
    check_refused(capsys, folder, error, folder / rel, "cannot be read (Permission denied)")


def test_special_files_in_a_bundle_are_refused(capsys, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    (folder / "heads" / "quality.json").unlink()
    os.mkfifo(folder / "heads" / "quality.json")
    check_refused(capsys, folder, BundleFileError, folder / "heads" / "quality.json",
                  "is a named pipe (FIFO), not a regular file")
    (folder / MANIFEST_NAME).unlink()
    os.mkfifo(folder / MANIFEST_NAME)
    check_refused(capsys, folder, ManifestError, folder / MANIFEST_NAME, "is a named pipe (FIFO), not a regular file")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 1000 + "]" * 1000, "nested 1000 levels deep, more than the 32 allowed"),
        ('{"format_version": 1, "name": ' + "1" * 4301 + "}", "holds an integer of 4301 digits, more than the 100"),
        ('{"name": "x", "pad": "' + "a" * (16 * 1024 * 1024) + '"}', "more than the 16777216 a JSON file may have"),
    ],
    ids=["deep", "long-integer", "too-large"],
)
@pytest.mark.parametrize("rel", [MANIFEST_NAME, "heads/quality.json"])
def test_json_limits(capsys, tiny_bundle_dir: Path, tmp_path: Path, text: str, reason: str, rel: str) -> None:
    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    (folder / rel).write_text(text)
    if rel != MANIFEST_NAME:
        rehash(folder)
    check_refused(capsys, folder, ManifestError if rel == MANIFEST_NAME else HeadError, folder / rel, reason)


# --- ONNX graphs that do not match the manifest (with correct hashes) ------------------------------


def _graph(inputs: list[tuple[str, int, list[Any]]], nodes: list[Any], output: tuple[str, list[Any]]):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "mismatch",
        [helper.make_tensor_value_info(name, dtype, shape) for name, dtype, shape in inputs],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _pooled(src: str, out: str) -> list[Any]:
    """GlobalAveragePool + Flatten: [N, C, ...] -> [N, C]."""
    from onnx import helper

    return [
        helper.make_node("GlobalAveragePool", [src], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], [out], axis=1),
    ]


def _renamed_input():
    model = encoder_model()
    model.graph.input[0].name = "pixels"
    model.graph.node[0].input[0] = "pixels"
    return model


def _rank_3():
    from onnx import TensorProto, helper

    reduce = helper.make_node("ReduceMean", ["image"], ["feature"], axes=[2], keepdims=0)
    return _graph([("image", TensorProto.FLOAT, ["n", 3, "h"])], [reduce], ("feature", ["n", 3]))


def _double_input():
    from onnx import TensorProto, helper

    cast = helper.make_node("Cast", ["image"], ["image32"], to=TensorProto.FLOAT)
    return _graph([("image", TensorProto.DOUBLE, ["n", 3, "h", "w"])], [cast, *_pooled("image32", "feature")],
                  ("feature", ["n", 3]))


def _four_channels():
    from onnx import TensorProto

    four = [("image", TensorProto.FLOAT, ["n", 4, "h", "w"])]
    return _graph(four, _pooled("image", "feature"), ("feature", ["n", 4]))


def _wrong_width():
    from onnx import TensorProto

    three = [("image", TensorProto.FLOAT, ["n", 3, "h", "w"])]
    return _graph(three, _pooled("image", "feature"), ("feature", ["n", 3]))


def _other_output():
    model = encoder_model()
    model.graph.output[0].name = "embedding"
    model.graph.node[-1].output[0] = "embedding"
    return model


def _two_inputs():
    from onnx import TensorProto, helper

    add = helper.make_node("Add", ["image", "bias"], ["shifted"])
    return _graph(
        [("image", TensorProto.FLOAT, ["n", 3, "h", "w"]), ("bias", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [add, *_pooled("shifted", "feature")], ("feature", ["n", 3]),
    )


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_renamed_input, "graph inputs ['pixels'] must be exactly one input named 'image'"),
        (_two_inputs, "graph inputs ['image', 'bias'] must be exactly one input named 'image'"),
        (_rank_3, "input 'image' is tensor(float) ['n', 3, 'h']; the manifest needs float32 [N, 3, H, W]"),
        (_double_input, "input 'image' is tensor(double)"),
        (_four_channels, "input 'image' is tensor(float) ['n', 4, 'h', 'w']"),
        (_wrong_width, "output 'feature' is tensor(float) ['n', 3]; the manifest needs float32 [N, 8]"),
        (_other_output, "graph outputs ['embedding'] do not include 'feature'"),
    ],
    ids=["input-name", "two-inputs", "rank", "dtype", "channels", "output-width", "output-name"],
)
def test_graph_mismatch_is_refused(capsys, tiny_bundle_dir: Path, tmp_path: Path, build, reason: str) -> None:
    pytest.importorskip("onnx")
    import onnx

    folder = copy_bundle(tiny_bundle_dir, tmp_path / "b")
    onnx.save(build(), folder / "encoder.onnx")
    rehash(folder)
    check_refused(capsys, folder, GraphMismatchError, folder / "encoder.onnx", reason)


# --- contrique-export: hostile pickles never run (needs torch) -------------------------------------


def test_export_refuses_a_hostile_head_pickle(capsys, resnet18, tmp_path: Path, evil) -> None:
    from contrique_export.cli import main as export_main

    data, marker = evil
    head = tmp_path / "Koniq.save"
    head.write_bytes(data)
    out = tmp_path / "bundle"
    code = export_main(["--ckpt", str(resnet18.official), "--arch", "resnet18", "--out", str(out),
                        "--head", f"Koniq={head}", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert f"contrique-export: error: {head}: references posix.system" in captured.err
    assert "refusing to load it" in captured.err
    assert not marker.exists() and not out.exists()


def test_export_refuses_a_hostile_checkpoint(capsys, tmp_path: Path, evil) -> None:
    torch = pytest.importorskip("torch")
    from contrique_export.cli import main as export_main

    _, marker = evil
    ckpt = tmp_path / "evil.tar"
    torch.save({"model": _Command(f"touch {marker}")}, ckpt)  # torch's zip format, a pickle inside
    out = tmp_path / "bundle"
    code = export_main(["--ckpt", str(ckpt), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    refused = "holds objects that safe loading (weights_only=True) refuses"
    assert f"contrique-export: error: {ckpt}: {refused}" in captured.err
    assert "weights_only=False" not in captured.err.replace("(weights_only=True)", "")
    assert not marker.exists() and not out.exists()
    torch.load(ckpt, weights_only=False)  # control: unrestricted loading would have run the command
    assert marker.exists()


# --- Hub faults end to end (test_hub.py covers the fault kinds on the hub module) ------------


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(path)
    return path


def test_server_errors_with_a_warm_cache_use_the_cache(
    hub: FakeHub, tiny_bundle_dir: Path, tmp_path: Path  # noqa: F811 - the imported fixture
) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    photo = _photo(tmp_path)
    want = QualityScorer.from_pretrained(tiny_bundle_dir).score(photo)
    assert QualityScorer.from_pretrained(REPO, cache_dir=tmp_path / "cache").score(photo) == want
    hub.faults.update({"contrique.json": Fault(status=500), "encoder.onnx": Fault(status=503)})
    asked = len(hub.log)
    again = QualityScorer.from_pretrained(REPO, cache_dir=tmp_path / "cache")
    assert again.score(photo) == want
    assert "contrique.json" in hub.requested()[asked:]  # the server was asked, failed, and the cache served


def test_cli_reports_hub_failures_and_recovers(
    capsys, hub: FakeHub, tiny_bundle_dir: Path, tmp_path: Path  # noqa: F811 - the imported fixture
) -> None:
    hub.add_commit(REPO, tiny_bundle_dir)
    photo = _photo(tmp_path)
    hub.faults["encoder.onnx"] = Fault(status=500)
    code = cli.main([str(photo), "--model", REPO, "--format", "csv"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "contrique-score: error: hf://contrique-test/tiny@" in err
    assert "encoder.onnx: the Hub at" in err and "answered with server error 500" in err
    hub.faults["encoder.onnx"] = Fault(truncate=True, announce_full=False)  # a consistently short file
    code = cli.main([str(photo), "--model", REPO, "--format", "csv"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and "encoder.onnx: the server announces" in err and "nothing was downloaded" in err
    hub.faults.clear()
    code = cli.main([str(photo), "--model", REPO, "--format", "csv"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert float(out.splitlines()[1].split(",")[1]) == QualityScorer.from_pretrained(tiny_bundle_dir).score(photo)


# --- -o that cannot be written: a clear error after scoring, the results on stdout ------------------


def _score_to(
    capsys, tiny_bundle_dir: Path, inputs: list[Path], output: str, fmt: str = "jsonl"
) -> tuple[int, str, str]:
    code = cli.main([*map(str, inputs), "--model", str(tiny_bundle_dir), "--format", fmt, "-o", output])
    out, err = capsys.readouterr()
    return code, out, err


def _expected_rows(tiny_bundle_dir: Path, inputs: list[Path], *, streamed: bool = False) -> list[dict[str, Any]]:
    """The results of ``inputs``; ``streamed``: as csv and jsonl rows, with what their scores were made with."""
    scorer = QualityScorer.from_pretrained(tiny_bundle_dir)
    made_with = ReportHeader.for_scorer(scorer).to_dict() if streamed else {}
    return [{**r.to_dict(), **made_with} for r in scorer.score_many(inputs)]


def _inputs(tmp_path: Path) -> list[Path]:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return [_photo(tmp_path), broken]


def test_output_on_a_full_disk(capsys, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full (a device that is always full) exists on Linux only")
    inputs = _inputs(tmp_path)
    code, out, err = _score_to(capsys, tiny_bundle_dir, inputs, "/dev/full")
    assert code == 1
    assert [json.loads(line) for line in out.splitlines()] == _expected_rows(tiny_bundle_dir, inputs, streamed=True)
    assert ("contrique-score: error: cannot write /dev/full (No space left on device); "
            "writing the remaining results to stdout instead") in err


def test_output_in_a_read_only_directory(capsys, tiny_bundle_dir: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        (locked / "probe").touch()
    except PermissionError:
        pass
    else:
        pytest.skip("running as root (or with CAP_DAC_OVERRIDE): a chmod 500 directory is still writable")
    inputs = _inputs(tmp_path)
    target = locked / "scores.jsonl"
    code, out, err = _score_to(capsys, tiny_bundle_dir, inputs, str(target))
    assert code == 1 and not target.exists()
    assert [json.loads(line) for line in out.splitlines()] == _expected_rows(tiny_bundle_dir, inputs, streamed=True)
    assert f"cannot write {target} (Permission denied); writing the results to stdout instead" in err


@pytest.mark.parametrize("failure", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_output_write_failures_simulated(
    capsys, tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: int
) -> None:
    """The same failures as a read-only file system, a full disk or a locked folder, as root too."""
    inputs = _inputs(tmp_path)
    scored: list[int] = []
    real_iter_scores = QualityScorer.iter_scores

    def iter_scores(self, images, **kwargs):  # noqa: ANN001, ANN003, ANN202
        results = list(real_iter_scores(self, images, **kwargs))
        scored.append(len(results))
        return iter(results)

    def refuse(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        assert scored == [len(inputs)], "the output is opened only after every image was scored"
        raise OSError(failure, os.strerror(failure), file)

    monkeypatch.setattr(QualityScorer, "iter_scores", iter_scores)
    monkeypatch.setattr(atomicfile, "stage", refuse)  # json replaces -o FILE through a new file
    target = tmp_path / "scores.csv"
    code, out, err = _score_to(capsys, tiny_bundle_dir, inputs, str(target), fmt="json")
    assert code == 1 and not target.exists()
    assert json.loads(out)["results"] == _expected_rows(tiny_bundle_dir, inputs)
    assert f"cannot write {target} ({os.strerror(failure)}); writing the results to stdout instead" in err

