"""Tests of contrique_infer.distributed: Ray Data scoring on a local 2-worker cluster against
QualityScorer.score_many in one process, the Spark recipe of docs/scale-out.md (where pyspark is
installed), batch columns, and the missing-extra errors."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fake_hub import HUB_REPO, FakeHub
from tiny_bundle import write_tiny_bundle
from contrique_infer.errors import BundleError, DependencyError, HeadNotFoundError, VariantNotFoundError
from contrique_infer.scorer import QualityScorer

N_IMAGES = 200
SIZES = ((24, 32), (40, 30), (33, 47))
SPARK_COLUMNS = "source string, score double, width long, height long, error string, error_type string, note string"
SKIP_REASON = 'Ray Data is not installed: pip install "contrique-infer[ray]"'
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),  # Ray's own deprecated settings
    pytest.mark.slow,  # the module's local Ray cluster takes about 10 s to start
]


@pytest.fixture(scope="module")
def ray() -> Any:
    ray = pytest.importorskip("ray", reason=SKIP_REASON)
    pytest.importorskip("ray.data", reason=SKIP_REASON)
    return ray


@pytest.fixture(scope="module")
def cluster(ray: Any) -> Iterator[None]:
    """A local Ray cluster with 2 CPUs, so at most 2 worker actors; shut down after the module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    yield
    ray.shutdown()


def png(h: int, w: int, seed: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """200 image paths in three sizes; 14 are broken: empty, truncated, not an image, too small, missing."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(N_IMAGES):
        path = folder / f"{i:03d}.png"
        data = png(*SIZES[i % len(SIZES)], seed=i)
        if i % 50 == 7:
            data = b""
        elif i % 50 == 23:
            data = data[: len(data) // 2]
        elif i % 50 == 41:
            path = folder / f"{i:03d}.txt"
            data = b"not an image\n"
        elif i == 99:
            data = png(4, 4, seed=i)
        if i != 150:  # a path that does not exist
            path.write_bytes(data)
        paths.append(str(path))
    return paths


def test_score_images_on_2_workers_equals_score_many(
    cluster: None, tiny_bundle_dir: Path, image_paths: list[str]
) -> None:
    from contrique_infer.distributed import score_images

    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(image_paths)
    got = score_images(image_paths, tiny_bundle_dir, workers=2, rows_per_call=16)

    assert [r.source for r in got] == [r.source for r in expected] == image_paths
    assert [(r.error, r.error_type, r.width, r.height) for r in got] == [
        (r.error, r.error_type, r.width, r.height) for r in expected
    ]
    assert {r.error_type for r in expected if not r.ok} == {"ImageDecodeError", "ImageTooSmallError"}
    assert sum(not r.ok for r in expected) == 14
    ok = [i for i, r in enumerate(expected) if r.ok]
    np.testing.assert_allclose([got[i].score for i in ok], [expected[i].score for i in ok], rtol=0, atol=1e-6)
    assert all(got[i].score is None for i in range(N_IMAGES) if i not in ok)


def test_batch_scorer_opens_one_scorer_per_worker_and_keeps_columns(
    cluster: None, ray: Any, tiny_bundle_dir: Path, image_paths: list[str], tmp_path: Path
) -> None:
    from contrique_infer.distributed import BatchScorer

    log = tmp_path / "opened.log"

    class LoggingScorer(BatchScorer):
        """Logs each scorer opening: one line per worker process."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

    picked = image_paths[::4]
    rows = ray.data.from_items([{"id": i, "path": p} for i, p in enumerate(picked)]).map_batches(
        LoggingScorer, fn_constructor_kwargs={"model": str(tiny_bundle_dir), "column": "path"}, batch_size=5,
        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1,
    ).take_all()
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(picked)

    opened = log.read_text().split()
    # 50 images in 10 calls, one scorer per worker process (at most the pool's 2; Ray Data may hand every
    # batch to the actor that started first when the machine is busy)
    assert len(opened) == len(set(opened)) and 1 <= len(opened) <= 2
    rows.sort(key=lambda row: row["id"])
    assert [row.pop("id") for row in rows] == list(range(len(picked)))
    assert_rows_equal(rows, expected)


def assert_rows_equal(rows: list[dict[str, Any]], expected: list[Any]) -> None:
    """``rows`` hold the fields of ``expected`` (ScoreResults), scores within 1e-6."""
    assert len(rows) == len(expected)
    for row, result in zip(rows, expected):
        want = result.to_dict()
        assert row.pop("score") == (None if want["score"] is None else pytest.approx(want["score"], abs=1e-6))
        del want["score"]
        assert row == want


def test_score_dataset_on_files_read_by_ray(cluster: None, ray: Any, tiny_bundle_dir: Path,
                                             image_paths: list[str]) -> None:
    """A dataset with a read stage: the 2 workers must leave CPU for it (num_cpus < 1 by default)."""
    from contrique_infer.distributed import score_dataset

    folder = Path(image_paths[0]).parent
    dataset = ray.data.read_binary_files(str(folder), include_paths=True, file_extensions=["png"])
    rows = sorted(score_dataset(dataset, tiny_bundle_dir, workers=2, column="bytes").take_all(),
                  key=lambda row: row["path"])
    paths = sorted(str(p) for p in folder.glob("*.png"))
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(Path(p).read_bytes() for p in paths)

    assert [row.pop("path") for row in rows] == paths
    assert_rows_equal(rows, expected)


@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_map_in_arrow_recipe(tiny_bundle_dir: Path, image_paths: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The Spark recipe of docs/scale-out.md: BatchScorer in a mapInArrow function, one per task."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: the Spark recipe is tested only where it is")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java, and java is not on PATH")
    pa = pytest.importorskip("pyarrow", reason=SKIP_REASON)
    from pyspark.sql import SparkSession

    from contrique_infer.distributed import BatchScorer

    from contrique_infer.location import locate

    model = str(tiny_bundle_dir)
    digest = locate(model).manifest.digest()

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = BatchScorer(model, column="path", threads=1, bundle_digest=digest)  # once per task, not per batch
        for batch in batches:
            yield from scorer(pa.Table.from_batches([batch])).to_batches()

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    picked = image_paths[::5]
    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        frame = spark.createDataFrame(list(enumerate(picked)), "id long, path string").repartition(2)
        rows = [row.asDict() for row in frame.mapInArrow(score_partition, "id long, " + SPARK_COLUMNS).collect()]
    finally:
        spark.stop()
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(picked)

    rows.sort(key=lambda row: row["id"])
    assert [row.pop("id") for row in rows] == list(range(len(picked)))
    assert_rows_equal(rows, expected)


def test_batch_scorer_in_process_on_bytes(tiny_bundle_dir: Path, image_paths: list[str]) -> None:
    pa = pytest.importorskip("pyarrow", reason=SKIP_REASON)
    from contrique_infer.distributed import BatchScorer, result_schema

    scorer = BatchScorer(tiny_bundle_dir, threads=1)
    images = [png(30, 40, 1), b"junk"]
    out = scorer(pa.table({"image": images, "key": ["a", "b"]}))
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(images)
    assert out.schema.names == ["key", *expected[0].to_dict()] == ["key", *result_schema().names]
    assert out.to_pylist() == [{"key": k, **r.to_dict()} for k, r in zip("ab", expected)]
    assert expected[1].error_type == "ImageDecodeError"
    with pytest.raises(ValueError, match="no column 'image'.*column=NAME"):
        scorer(pa.table({"path": image_paths[:1]}))
    with pytest.raises(ValueError, match="columns score would be overwritten"):
        scorer(pa.table({"image": image_paths[:1], "score": [1.0]}))


def test_score_images_refuses_other_inputs(cluster: None, ray: Any) -> None:
    from contrique_infer.distributed import score_images

    with pytest.raises(TypeError, match="paths or bytes; got ndarray"):
        score_images([np.zeros((8, 8, 3), np.uint8)])
    assert score_images([]) == []
    # Arrow made one column of both: the paths became bytes of their names, each "not an image file"
    with pytest.raises(TypeError, match="one kind per call: image 0 is a path and image 1 is not"):
        score_images(["a.png", png(30, 40, 1), "b.png"])
    with pytest.raises(TypeError, match="image 0 is bytes and image 2 is not"):
        score_images([png(30, 40, 1), bytearray(b"x"), "b.png"])
    # the dataset made here has its own column: "no column 'path' in the dataset (columns: image, index)"
    with pytest.raises(TypeError, match=r"score_images takes no column: .*score_dataset\(dataset, column=NAME\)"):
        score_images(["a.png"], column="path")


def test_a_name_that_is_not_utf8_is_scored_with_the_others(
    cluster: None, tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    """Arrow text must be UTF-8: the result row of caf\\xe9.png made the whole batch (and job) fail."""
    from contrique_infer.distributed import score_images

    good = tmp_path / "good.png"
    good.write_bytes(png(30, 40, 1))
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.png")
    (tmp_path / os.fsdecode(b"caf\xe9.png")).write_bytes(png(30, 40, 2))
    missing = os.fsdecode(os.fsencode(str(tmp_path)) + b"/gone\xe9.png")
    images = [str(good), odd, missing]
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(images)
    assert [r.ok for r in expected] == [True, True, False]

    results = score_images(images, tiny_bundle_dir, workers=1)
    assert [r.source for r in results] == images  # the paths as given
    assert [r.score for r in results] == [r.score for r in expected]
    assert (results[2].error, results[2].error_type) == (expected[2].error, "ImageDecodeError")


def test_unknown_option_fails_before_any_worker_starts(cluster: None, ray: Any) -> None:
    from contrique_infer.distributed import score_dataset

    with pytest.raises(TypeError, match="revison"):
        score_dataset(ray.data.from_items([{"image": "a.png"}]), revison="v1")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        score_dataset(ray.data.from_items([{"image": "a.png"}]), workers=0)
    # these failed only in the workers, once Ray had started them (a RayTaskError with their traceback)
    for bad, match in (({"batch_size": 0}, "batch_size must be a positive integer; got 0"),
                       ({"decode_workers": 0}, "decode_workers must be a positive integer or None; got 0"),
                       ({"rows_per_call": 0}, "rows_per_call must be a positive integer; got 0"),
                       ({"threads": 0}, "threads must be an integer from 1 to 1,024 or None; got 0"),
                       ({"max_pixels": 0}, "max_pixels must be a positive integer or None; got 0")):
        with pytest.raises(ValueError, match=match):
            score_dataset(ray.data.from_items([{"image": "a.png"}]), **bad)
    with pytest.raises(TypeError, match=r"apply_exif must be True or False; got 'no' \(str\)"):
        score_dataset(ray.data.from_items([{"image": "a.png"}]), apply_exif="no")
    # Ray's own words came late or said little ("must be real number, not str"; NaN: "cannot convert float NaN")
    for bad in ("1", float("nan"), 0, True):
        with pytest.raises(ValueError, match="num_cpus must be a positive number or None; got "):
            score_dataset(ray.data.from_items([{"image": "a.png"}]), num_cpus=bad)


def test_a_hub_branch_is_pinned_to_its_commit_for_the_workers(hub: FakeHub, tiny_bundle_dir: Path,
                                                               tmp_path: Path) -> None:
    """Each worker resolved revision="main" itself: a commit pushed while a job ran gave its later workers
    (and workers restarted by Ray) the new model. The driver resolves it once; the workers open that commit."""
    from contrique_infer.distributed import _pinned

    first = hub.add_commit(HUB_REPO, tiny_bundle_dir)
    digest = QualityScorer.from_pretrained(tiny_bundle_dir).bundle_digest
    assert _pinned(HUB_REPO, {"revision": "main"}) == {"bundle_digest": digest, "revision": first}
    assert _pinned(tiny_bundle_dir, {}) == {"bundle_digest": digest}  # a folder: its digest only
    assert _pinned(tmp_path / "absent", {}) == {}  # not found here: the workers report their own error


def test_a_head_or_variant_the_bundle_lacks_fails_before_any_worker_starts(cluster: None, ray: Any,
                                                                           tiny_bundle_dir: Path) -> None:
    """Each worker failed as it started, and Ray retried starting them: an ActorDiedError holding the
    HeadNotFoundError after some 20 s."""
    from contrique_infer.distributed import score_dataset

    dataset = ray.data.from_items([{"image": "a.png"}])
    with pytest.raises(HeadNotFoundError, match="'nope'.*available heads: quality, fr_quality"):
        score_dataset(dataset, tiny_bundle_dir, head="nope")
    with pytest.raises(VariantNotFoundError, match="int8"):
        score_dataset(dataset, tiny_bundle_dir, variant="int8")
    score_dataset(dataset, tiny_bundle_dir, head="QUALITY", variant="fp32")  # names as from_pretrained takes them


def test_more_cpus_per_worker_than_any_node_has_warns_at_once(cluster: None, ray: Any, tiny_bundle_dir: Path) -> None:
    """num_cpus=3 on the 2-CPU cluster: no worker could start, and the job waited for ever (Ray Data warned after
    a minute that it "may hang forever unless the cluster scales up")."""
    from contrique_infer.distributed import score_dataset

    with pytest.warns(RuntimeWarning, match=r"num_cpus=3 is more CPUs than any node of the Ray cluster has "
                                            r"\(at most 2\): no worker can start .*pass num_cpus of at most 2"):
        score_dataset(ray.data.from_items([{"image": "a.png"}]), tiny_bundle_dir, workers=1, num_cpus=3)


def test_a_missing_or_clashing_column_fails_before_any_worker_starts(cluster: None, ray: Any) -> None:
    """Where the dataset's schema is known without running it: these failed only in the workers, once
    Ray had started them and they had opened the model (a RayTaskError holding the ValueError)."""
    from contrique_infer.distributed import score_dataset

    with pytest.raises(ValueError, match=r"no column 'image' in the dataset \(columns: img\); pass column=NAME"):
        score_dataset(ray.data.from_items([{"img": "a.png"}]))
    with pytest.raises(ValueError, match="input columns score would be overwritten by the scores"):
        score_dataset(ray.data.from_items([{"image": "a.png", "score": 1.0}]))
    with pytest.raises(TypeError, match=r"column must be the name of the column .*; got 5 \(int\)"):
        score_dataset(ray.data.from_items([{"image": "a.png"}]), column=5)
    score_dataset(ray.data.from_items([{"source": "a.png"}]), column="source")  # the image column is dropped


def test_score_images_takes_numpy_paths_bytes_path_likes_and_relative_paths(
    cluster: None, tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A numpy.str_ beside a str was "a mix of paths and bytes"; a path-like whose __fspath__ gives bytes was
    scored as the bytes of its name; a relative path was looked up in the workers' folder (no such file), and
    so was a relative bundle folder (every worker failed to start: no such bundle folder)."""
    from contrique_infer.distributed import score_images

    class BytesPath:
        def __fspath__(self) -> bytes:
            return os.fsencode(tmp_path / "b.png")

    (tmp_path / "a.png").write_bytes(png(30, 40, 1))
    (tmp_path / "b.png").write_bytes(png(30, 40, 2))
    monkeypatch.chdir(tmp_path)  # the workers' folder is where Ray started, not here
    images = [np.array([str(tmp_path / "a.png")])[0], "a.png", BytesPath(), "~/a.png"]
    expected = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(images)
    assert [r.ok for r in expected] == [True, True, True, False]

    shutil.copytree(tiny_bundle_dir, tmp_path / "bundle")
    results = score_images(images, "bundle", workers=1)  # a bundle folder relative to here, too
    assert [r.source for r in results] == [r.source for r in expected]
    assert [r.score for r in results] == [r.score for r in expected]
    assert results[3].error == expected[3].error  # a path that names nothing keeps its hint (~ not expanded)


def test_a_bundle_changed_after_the_job_was_built_is_refused_by_its_workers(
    cluster: None, ray: Any, tmp_path: Path, image_paths: list[str]
) -> None:
    """score_dataset is lazy: a bundle exported again into its folder before (or while) the job ran was
    opened by the workers without a word, and a job could score with two models."""
    from contrique_infer.distributed import BatchScorer, score_dataset

    bundle = write_tiny_bundle(tmp_path / "bundle")
    digest = QualityScorer.from_pretrained(bundle).bundle_digest
    scored = score_dataset(ray.data.from_items([{"image": image_paths[0]}]), bundle, workers=1)
    shutil.rmtree(bundle)
    write_tiny_bundle(bundle, name="exported-again")
    with pytest.raises(Exception, match=f"is not the bundle this job began with \\(bundle_digest '{digest}' then"):
        scored.take_all()
    with pytest.raises(BundleError, match="leave the bundle as it is while a job runs"):
        BatchScorer(bundle, threads=1, bundle_digest=digest)
    assert BatchScorer(bundle, threads=1, bundle_digest=None).scorer.manifest.name == "exported-again"


def test_import_does_not_import_ray() -> None:
    code = "import sys, contrique_infer, contrique_infer.distributed; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_missing_ray_or_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch, tiny_bundle_dir: Path) -> None:
    from contrique_infer.distributed import BatchScorer, require_ray, score_images

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(DependencyError, match=r'Ray Data is not installed.*pip install "contrique-infer\[ray\]"'):
        require_ray()
    with pytest.raises(DependencyError, match="Ray Data is not installed"):
        score_images(["a.png"])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(DependencyError, match=r'pyarrow is not installed.*pip install "contrique-infer\[ray\]"'):
        BatchScorer(tiny_bundle_dir, threads=1)
