"""Training data: folders, samples, views on the device, and resumable distributed batching."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile

from contrique_infer.errors import ImageDecodeError, ImageTooLargeError
from contrique_infer.inputs import list_images
from contrique_infer.decoding import decode_rgb
from contrique_training.alternates import ALTERNATES, BLOCK_SIZES, block_image
from contrique_training.data import (
    MAX_EPOCH_SAMPLES,
    BatchStream,
    ContrastiveDataset,
    SeriesDataset,
    check_photo,
    grouped_batches,
    load_rgb,
    make_series,
    make_views,
    random_region,
)
from contrique_training.config import TrainConfig
from contrique_training.distortions import NUM_CLASSES, TYPE_INDEX, WIDE_TYPES, class_id
from contrique_training.ranking import SERIES_LENGTH
from contrique_training.errors import ConfigError, DataError


def _photo(path: Path, size: tuple[int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 4 + 1, size[0] // 4 + 1, 3), dtype=np.uint8)
    Image.fromarray(base).resize(size, Image.Resampling.BICUBIC).save(path)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "photos" / "nested").mkdir(parents=True)
    _photo(tmp_path / "photos" / "a.jpg", (90, 70), 0)
    _photo(tmp_path / "photos" / "nested" / "b.png", (41, 33), 1)  # odd and smaller than the regions
    _photo(tmp_path / "photos" / "c.PNG", (64, 64), 2)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    return tmp_path / "photos"


def test_small_images_are_upscaled_to_fit() -> None:
    image = Image.new("RGB", (41, 33), (10, 20, 30))
    region = random_region(image, 64, np.random.default_rng(0))
    assert region.size == (64, 64)
    assert np.asarray(region)[5, 5].tolist() == [10, 20, 30]


def test_synthetic_samples(folder: Path) -> None:
    paths = list_images(folder)
    data = ContrastiveDataset(paths, crop_size=16, seed=0, synthetic=True)
    assert len(data) == 3 * NUM_CLASSES
    sample = data[NUM_CLASSES + 7]  # photo 1, class 7
    assert sample["distortion"] == 7 and sample["label"] == 7
    assert sample["full"].shape == (3, 16, 16) and sample["full"].dtype == torch.uint8
    assert sample["half"].shape == (3, 32, 32)
    assert sample["colour"].shape == (2,) and sample["flip"].shape == (2,)
    again = data[NUM_CLASSES + 7]
    assert all(torch.equal(torch.as_tensor(sample[k]), torch.as_tensor(again[k])) for k in sample)
    data.set_epoch(1)
    assert not torch.equal(data[NUM_CLASSES + 7]["half"], sample["half"])  # other crops in another epoch
    random_classes = ContrastiveDataset(paths, 16, 0, True, variants_per_image=5)
    assert len(random_classes) == 15 and 0 <= random_classes[3]["distortion"] < NUM_CLASSES


def test_codec_is_applied_in_the_worker(folder: Path) -> None:
    data = ContrastiveDataset(list_images(folder), crop_size=16, seed=0, synthetic=True)
    jpeg = class_id(9, 4)  # quality 4
    index = jpeg  # photo 0
    sample = data[index]
    rng = np.random.default_rng([0, 0, index, 1])
    region = random_region(Image.open(folder / "a.jpg").convert("RGB"), 16, rng)
    buffer = io.BytesIO()
    region.save(buffer, format="JPEG", quality=4)
    expected = torch.from_numpy(np.asarray(Image.open(buffer).convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(sample["full"], expected)


def test_authentic_samples_have_unique_labels(folder: Path) -> None:
    data = ContrastiveDataset(list_images(folder), crop_size=16, seed=0, synthetic=False)
    assert len(data) == 3
    assert [data[i]["label"] for i in range(3)] == [126, 127, 128]
    assert all(data[i]["distortion"] == 0 for i in range(3))


def test_contrastive_samples_are_cut_from_photos_downscaled_to_max_side(tmp_path: Path) -> None:
    """``--max-side`` was recorded (and exported as the bundle's input contract) but the contrastive
    samples were cut from the photos at their own size: only the ranking series downscaled them."""
    big = _photo(tmp_path / "big.png", (200, 150), 0)
    small = tmp_path / "small" / "big.png"
    small.parent.mkdir()
    Image.open(big).resize((80, 60), Image.Resampling.BICUBIC).save(small)  # what max_side 80 gives
    for synthetic in (True, False):
        downscaled = ContrastiveDataset([big], 16, 0, synthetic, 3, max_side=80)
        expected = ContrastiveDataset([small], 16, 0, synthetic, 3)
        full_size = ContrastiveDataset([big], 16, 0, synthetic, 3)
        for index in range(len(expected)):
            got, want = downscaled[index], expected[index]
            assert all(torch.equal(torch.as_tensor(got[k]), torch.as_tensor(want[k])) for k in want), (synthetic, index)
        assert not torch.equal(full_size[0]["half"], expected[0]["half"])


def test_make_views(folder: Path) -> None:
    data = ContrastiveDataset(list_images(folder), crop_size=16, seed=0, synthetic=True)
    batch = torch.utils.data.default_collate([data[i] for i in (0, 5, 300)])
    batch["colour"][:] = 4  # no colour-space change
    batch["flip"][:] = torch.tensor([[0, 0], [1, 0], [0, 0]])
    full, half, labels = make_views(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert full.shape == half.shape == (3, 3, 16, 16)
    assert labels.tolist() == [0, 5, 300 % NUM_CLASSES]
    pristine_full = batch["full"][0].float() / 255
    torch.testing.assert_close(full[0], pristine_full)  # class 0: untouched
    expected_half = F.interpolate(batch["half"][:1].float() / 255, scale_factor=0.5, mode="bicubic", antialias=True)
    torch.testing.assert_close(half[0], expected_half[0].clamp(0, 1))
    assert torch.equal(full[1], full[1])  # deterministic
    again, _, _ = make_views(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert torch.equal(again, full)
    assert float(full.min()) >= 0 and float(full.max()) <= 1


def _drain(stream: BatchStream, n: int) -> list[torch.Tensor]:
    return [stream.next()["label"] for _ in range(n)]


def test_stream_resumes_exactly_and_splits_processes(folder: Path) -> None:
    paths = list_images(folder)

    def make(rank: int = 0, world: int = 1) -> BatchStream:
        synthetic = ContrastiveDataset(paths, 8, 3, True, variants_per_image=4)
        authentic = ContrastiveDataset(paths, 8, 3, False)
        return BatchStream(synthetic, authentic, batch=4, authentic_fraction=0.25, rank=rank, world=world,
                           workers=0, pin=False)

    reference = _drain(make(), 9)  # 12 synthetic samples / 3 per batch: 4 batches per epoch
    assert all(len(labels) == 4 and labels[-1] >= NUM_CLASSES for labels in reference)
    first = make()
    _drain(first, 5)
    state = first.state()
    assert state["synthetic"] == {"epoch": 1, "batches_done": 1}
    resumed = make()
    resumed.restore(state)
    assert [t.tolist() for t in _drain(resumed, 4)] == [t.tolist() for t in reference[5:9]]
    # two processes see disjoint parts of an epoch: their authentic photos (unique labels) differ
    seen = [int(make(rank, 2).next()["label"][-1]) for rank in (0, 1)]
    assert seen[0] != seen[1] and set(seen) <= {126, 127, 128}
    with pytest.raises(DataError, match="cannot fill"):
        BatchStream(ContrastiveDataset(paths, 8, 0, True, 1), None, 4, 0.0, 0, 1, 0, False)


def test_an_epoch_of_too_many_samples_is_refused_before_its_order_is_drawn(tmp_path: Path) -> None:
    """--variants-per-image 1e12 made the sampler ask torch for 32 TB (a traceback); 1e8 would take ~20 GB."""
    photo_files = [tmp_path / f"p{i}.png" for i in range(3)]  # not read until a batch is drawn
    stream = BatchStream(ContrastiveDataset(photo_files, 8, 0, True, MAX_EPOCH_SAMPLES // len(photo_files)),
                         None, 4, 0.0, 0, 1, 0, False)
    assert stream.batches_per_epoch == MAX_EPOCH_SAMPLES // len(photo_files) * len(photo_files) // 4
    for dataset in (ContrastiveDataset(photo_files, 8, 0, True, 10**12),
                    SeriesDataset(photo_files, 8, 0, MAX_EPOCH_SAMPLES)):
        with pytest.raises(ConfigError, match=f"{len(photo_files)} photos x variants_per_image .* samples per epoch, "
                                              "more than the 10,000,000 .*; lower --variants-per-image"):
            BatchStream(dataset, None, 1, 0.0, 0, 1, 0, False)


def _assert_grouped(indices: np.ndarray, per_class: int) -> None:
    """Every class in the batch has exactly ``per_class`` images, of distinct photos, one group after another."""
    groups = indices.reshape(-1, per_class)
    classes = groups % NUM_CLASSES
    assert (classes == classes[:, :1]).all()  # a group is one class
    assert len(set(classes[:, 0].tolist())) == len(groups)  # no class in two groups of a batch
    assert all(len(set((group // NUM_CLASSES).tolist())) == per_class for group in groups)


def test_grouped_batches_are_class_groups_of_distinct_photos() -> None:
    plan = grouped_batches(photos=7, per_class=3, groups=4, batches=63, seed=5, epoch=0)
    assert plan.shape == (63, 12) and plan.min() >= 0 and plan.max() < 7 * NUM_CLASSES
    for batch in plan:
        _assert_grouped(batch, 3)
    assert len(np.unique(plan)) == plan.size  # 756 of the 882 samples (2 groups per class), none twice
    assert np.array_equal(plan, grouped_batches(7, 3, 4, 63, 5, 0))  # deterministic
    assert not np.array_equal(plan, grouped_batches(7, 3, 4, 63, 5, 1))  # another epoch, another plan
    # 100 classes per batch: the class rounds of 126 straddle batches without repeating a class in one
    for batch in grouped_batches(photos=4, per_class=4, groups=100, batches=9, seed=0, epoch=0):
        _assert_grouped(batch, 4)


def test_grouped_stream_splits_processes_and_resumes_exactly(folder: Path) -> None:
    paths = list_images(folder)

    def make(rank: int = 0, world: int = 1) -> BatchStream:
        return BatchStream(ContrastiveDataset(paths, 8, 1, True), None, batch=8 // world, authentic_fraction=0.0,
                           rank=rank, world=world, workers=0, pin=False, images_per_class=2)

    whole = make()
    assert whole.batches_per_epoch == 47  # 3 photos x 126 classes / 8
    reference = [whole.next() for _ in range(3)]
    for batch in reference:  # 4 classes x 2 images
        groups = batch["label"].view(4, 2)
        assert (groups[:, 0] == groups[:, 1]).all() and len(set(groups[:, 0].tolist())) == 4
        assert torch.equal(batch["label"], batch["distortion"])
    # two processes hold two whole groups each; gathered in rank order they are the same batch
    ranks = [make(rank, 2) for rank in (0, 1)]
    for expected in reference:
        parts = [stream.next() for stream in ranks]
        assert torch.equal(torch.cat([p["label"] for p in parts]), expected["label"])
        assert torch.equal(torch.cat([p["full"] for p in parts]), expected["full"])
    # resume: from a saved position (also across the end of an epoch) the batches continue identically
    interrupted = make()
    interrupted.next()
    resumed = make()
    resumed.restore(interrupted.state())
    assert all(torch.equal(resumed.next()["half"], batch["half"]) for batch in reference[1:])
    straight = make()
    straight.restore({"synthetic": {"epoch": 0, "batches_done": 45}, "authentic": None})
    continuous = [straight.next()["label"] for _ in range(4)]
    assert straight.state()["synthetic"] == {"epoch": 1, "batches_done": 2}
    first = make()
    first.restore({"synthetic": {"epoch": 0, "batches_done": 45}, "authentic": None})
    first.next()
    second = make()
    second.restore(first.state())
    assert [t.tolist() for t in [second.next()["label"] for _ in range(3)]] == [t.tolist() for t in continuous[1:]]


def test_grouped_stream_errors(folder: Path) -> None:
    paths = list_images(folder)
    with pytest.raises(DataError, match="groups of images_per_class 3"):
        BatchStream(ContrastiveDataset(paths, 8, 0, True), None, 8, 0.0, 0, 1, 0, False, images_per_class=3)
    with pytest.raises(DataError, match="3 photos cannot give 4 images per class"):
        BatchStream(ContrastiveDataset(paths, 8, 0, True), None, 8, 0.0, 0, 1, 0, False, images_per_class=4)
    with pytest.raises(DataError, match="variants_per_image 126"):
        BatchStream(ContrastiveDataset(paths, 8, 0, True, 5), None, 4, 0.0, 0, 1, 0, False, images_per_class=2)


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not really a jpeg")
    data = ContrastiveDataset([bad], crop_size=8, seed=0, synthetic=True)
    with pytest.raises(DataError, match="broken.jpg"):
        data[0]


def test_series_samples_and_views(folder: Path) -> None:
    paths = list_images(folder)
    dataset = SeriesDataset(paths, 32, seed=0, variants_per_image=4)
    assert len(dataset) == 12
    sample = dataset[5]
    assert sample["series"].shape == (SERIES_LENGTH, 3, 32, 32) and sample["series"].dtype == torch.uint8
    assert torch.equal(dataset[5]["series"], sample["series"])  # deterministic from (seed, epoch, index)
    jpeg = TYPE_INDEX["jpeg"]
    blur = TYPE_INDEX["gaussian_blur"]
    batch = {"series": torch.stack([sample["series"][0].repeat(SERIES_LENGTH, 1, 1, 1)] * 2),
             "type": torch.tensor([blur, jpeg]), "flip": torch.tensor([0, 1]), "hosted": torch.tensor([0, 0])}
    full, half, labels = make_series(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert full.shape == (12, 3, 32, 32) and half.shape == (12, 3, 16, 16)
    pristine = batch["series"][0, 0].float() / 255
    assert torch.equal(full[0], pristine) and torch.equal(full[6], pristine.flip(-1))
    # blur: every level differs from the last, and moves further from the pristine crop
    errors = [float((full[i] - pristine).abs().mean()) for i in range(SERIES_LENGTH)]
    assert errors == sorted(errors) and len(set(errors)) == SERIES_LENGTH
    # codec types are encoded in the worker: make_series leaves those crops as they came
    assert all(torch.equal(full[6 + i], pristine.flip(-1)) for i in range(SERIES_LENGTH))
    assert labels.tolist() == [0] + [class_id(blur, l) for l in range(5)] + [0] + [class_id(jpeg, l) for l in range(5)]
    torch.testing.assert_close(half[0], F.interpolate(full[:1], scale_factor=0.5, mode="bicubic", antialias=True)[0].clamp(0, 1))


def test_series_codec_levels_are_encoded_in_the_dataset(folder: Path) -> None:
    dataset = SeriesDataset(list_images(folder), 32, seed=0, variants_per_image=50)
    sample = next(dataset[i] for i in range(len(dataset)) if dataset[i]["type"] == TYPE_INDEX["jpeg"])
    pristine = sample["series"][0].float()
    errors = [float((sample["series"][i].float() - pristine).abs().mean()) for i in range(SERIES_LENGTH)]
    assert errors[0] == 0 and errors[1:] == sorted(errors[1:]) and errors[1] > 0


def test_chain_series_are_made_in_the_dataset(folder: Path) -> None:
    paths = list_images(folder)
    chains = SeriesDataset(paths, 32, seed=0, variants_per_image=4, chain_fraction=1.0)
    plain = SeriesDataset(paths, 32, seed=0, variants_per_image=4)
    first_chain = len(WIDE_TYPES)
    assert all(chains[i]["type"] >= first_chain for i in range(6))
    assert all(plain[i]["type"] < first_chain for i in range(len(plain)))
    sample = chains[2]
    pristine = sample["series"][0].float()
    errors = [float((sample["series"][i].float() - pristine).abs().mean()) for i in range(SERIES_LENGTH)]
    assert errors[0] == 0 and errors[1:] == sorted(errors[1:]) and errors[1] > 0
    with pytest.raises(ConfigError, match="chain_fraction"):
        TrainConfig(data="x", chain_fraction=0.5)  # needs series training


def test_alternate_series_are_rendered_in_the_dataset_and_left_alone_on_the_device(folder: Path) -> None:
    paths = list_images(folder)
    alt = SeriesDataset(paths, 32, seed=0, variants_per_image=50, alt_fraction=1.0)
    plain = SeriesDataset(paths, 32, seed=0, variants_per_image=50)
    samples = [alt[i] for i in range(len(alt))]
    hosted = [s for s in samples if s["hosted"]]
    assert hosted and all(WIDE_TYPES[s["type"]].name in ALTERNATES for s in hosted)
    assert all(WIDE_TYPES[s["type"]].name not in ALTERNATES for s in samples if not s["hosted"])
    assert not any(plain[i]["hosted"] for i in range(len(plain)))
    sample = next(s for s in hosted if WIDE_TYPES[s["type"]].name == "gaussian_blur")
    batch = {key: value[None] if isinstance(value, torch.Tensor) else torch.tensor([value]) for key, value in sample.items()}
    full, _, labels = make_series(batch, torch.device("cpu"), torch.Generator().manual_seed(0))
    expected = sample["series"].float() / 255
    torch.testing.assert_close(full, expected.flip(-1) if sample["flip"] else expected)  # not blurred twice
    errors = [float((full[i] - full[0]).abs().mean()) for i in range(SERIES_LENGTH)]
    assert errors[0] == 0 and errors[1:] == sorted(errors[1:]) and errors[1] > 0
    assert labels.tolist() == [0] + [class_id(sample["type"], l) for l in range(5)]
    with pytest.raises(ConfigError, match="alt_fraction"):
        TrainConfig(data="x", alt_fraction=0.5)  # needs series training
    with pytest.raises(ConfigError, match="alt_fraction"):
        TrainConfig(data="x", rank_weight=1.0, batch_size=48, alt_fraction=1.5)


def test_block_pixelation_renders_the_pixelation_series_and_leaves_the_others_alone(folder: Path) -> None:
    paths = list_images(folder)
    blocks = SeriesDataset(paths, 32, seed=0, variants_per_image=80, block_fraction=1.0)
    plain = SeriesDataset(paths, 32, seed=0, variants_per_image=80)
    pixelate = TYPE_INDEX["pixelate"]
    pixelation = [i for i in range(len(plain)) if plain[i]["type"] == pixelate]
    assert pixelation and all(blocks[i]["hosted"] and not plain[i]["hosted"] for i in pixelation)
    for i in range(len(plain)):  # no draw for the other types: their series are those of a run without blocks
        if i not in pixelation:
            assert all(torch.equal(blocks[i][key], value) if isinstance(value, torch.Tensor) else blocks[i][key] == value
                       for key, value in plain[i].items())
    sample = blocks[pixelation[0]]
    series = sample["series"].permute(0, 2, 3, 1).numpy()
    pristine = Image.fromarray(series[0])
    errors = [float(np.abs(series[level].astype(float) - series[0]).mean()) for level in range(1, 6)]
    assert errors == sorted(errors) and errors[0] > 0
    for level in range(1, len(BLOCK_SIZES) + 1):  # each level is block_image's rendering at one of the grid phases
        renderings = {np.asarray(block_image(pristine, level, seed)).tobytes() for seed in range(600)}
        assert series[level].tobytes() in renderings
    with pytest.raises(ConfigError, match="block_fraction"):
        TrainConfig(data="x", block_fraction=0.5)  # needs series training
    with pytest.raises(ConfigError, match="block_fraction"):
        TrainConfig(data="x", rank_weight=1.0, batch_size=48, block_fraction=-0.1)


def test_phase_jitter_cuts_each_series_at_its_offset_after_every_distortion(folder: Path) -> None:
    paths = list_images(folder)
    jitter = SeriesDataset(paths, 32, seed=0, variants_per_image=50, phase_jitter=8)
    plain = SeriesDataset(paths, 32, seed=0, variants_per_image=50)
    samples = [jitter[i] for i in range(len(jitter))]
    assert all(s["series"].shape == (SERIES_LENGTH, 3, 40, 40) for s in samples)
    offsets = {tuple(s["offset"].tolist()) for s in samples}
    assert all(0 <= top < 8 and 0 <= left < 8 for top, left in offsets) and len(offsets) > 20
    assert all(plain[i]["offset"].tolist() == [0, 0] for i in range(len(plain)))
    assert all(samples[i]["type"] == plain[i]["type"] for i in range(len(plain)))  # drawn before the region

    def batch_of(sample: dict, flip: int) -> dict:
        return {**{key: torch.tensor([sample[key]]) for key in ("type", "hosted")}, "flip": torch.tensor([flip]),
                "series": sample["series"][None], "offset": sample["offset"][None]}

    cpu = torch.device("cpu")
    # a codec series is encoded in the worker on the whole region: its 8x8 grid starts `offset` before the crop
    jpeg = next(s for s in samples if s["type"] == TYPE_INDEX["jpeg"] and s["offset"].min() > 0)
    top, left = jpeg["offset"].tolist()
    full, half, _ = make_series(batch_of(jpeg, 1), cpu, torch.Generator().manual_seed(0), crop_size=32)
    assert full.shape == (SERIES_LENGTH, 3, 32, 32) and half.shape == (SERIES_LENGTH, 3, 16, 16)
    torch.testing.assert_close(full, (jpeg["series"][:, :, top : top + 32, left : left + 32].float() / 255).flip(-1))
    # a device type is applied to the whole region too, and then cut
    blur = next(s for s in samples if s["type"] == TYPE_INDEX["gaussian_blur"] and not s["hosted"])
    top, left = blur["offset"].tolist()
    cut, _, _ = make_series(batch_of(blur, 0), cpu, torch.Generator().manual_seed(0), crop_size=32)
    whole, _, _ = make_series(batch_of(blur, 0), cpu, torch.Generator().manual_seed(0))
    assert whole.shape[-1] == 40
    torch.testing.assert_close(cut, whole[:, :, top : top + 32, left : left + 32])
    assert not torch.equal(cut, whole[:, :, :32, :32]) or (top, left) == (0, 0)
    with pytest.raises(ConfigError, match="phase_jitter"):
        TrainConfig(data="x", phase_jitter=8)  # needs series training
    with pytest.raises(ConfigError, match="phase_jitter"):
        TrainConfig(data="x", rank_weight=1.0, batch_size=48, crop_size=64, phase_jitter=65)


def test_series_photos_are_downscaled_to_max_side(tmp_path: Path) -> None:
    _photo(tmp_path / "big.png", (400, 300), 4)
    _photo(tmp_path / "small.png", (90, 70), 5)
    paths = list_images(tmp_path)
    data = SeriesDataset(paths, 32, seed=0, variants_per_image=1, max_side=200)
    assert data.photo(0).size == (200, 150) and data.photo(1).size == (90, 70)  # big.png first: sorted paths
    assert SeriesDataset(paths, 32, seed=0).photo(0).size == (400, 300)
    assert data[0]["series"].shape == (SERIES_LENGTH, 3, 32, 32)


def test_photos_that_are_not_regular_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(DataError, match=r"pipe.jpg: is a named pipe \(FIFO\), not a regular file; only regular "
                                        r"files are read; remove or replace the file$"):
        load_rgb(tmp_path / "pipe.jpg")  # refused, not waited on


def test_empty_and_oversized_photos_are_data_errors_naming_them(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.png: is empty \(0 bytes\); remove or replace the file$"):
        load_rgb(tmp_path / "empty.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is then a decompression bomb
    with pytest.raises(DataError, match=r"big.png: is larger than Pillow's decompression-bomb limit \(.*\); "
                                        r"downscale the photo \(to the training max_side, say\), or remove it$"):
        load_rgb(tmp_path / "big.png")


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` grey pixels and holds none (Image.open reads only the header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def test_photos_above_the_pixel_limit_are_refused_before_decoding(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # 90.25 MP: above Pillow's warning limit (89.5 MP) and below its error (179 MP), so Pillow alone decodes it
    huge = _png_header(tmp_path / "huge.png", 9500, 9500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning is not what the user sees
        with pytest.raises(DataError) as caught:
            load_rgb(huge)
    assert str(caught.value) == (f"{huge}: is 9500x9500 = 90250000 pixels, more than max_pixels=89478485; "
                                 "downscale the photo (to the training max_side, say), or remove it")
    # the limit itself is allowed, and an allowed photo decodes as before
    monkeypatch.setattr("contrique_training.data.MAX_PIXELS", 64 * 48)
    edge = _photo(tmp_path / "edge.png", (64, 48), 3)
    with Image.open(edge) as image:
        assert np.array_equal(np.asarray(load_rgb(edge)), np.asarray(image.convert("RGB")))
    with pytest.raises(DataError, match=r"wide.png: is 65x48 = 3120 pixels, more than max_pixels=3072; downscale"):
        load_rgb(_photo(tmp_path / "wide.png", (65, 48), 3))


def test_a_bad_photo_in_a_loader_worker_is_reported_without_the_worker_traceback(folder: Path) -> None:
    paths = list_images(folder)
    paths[0].write_bytes(b"")
    stream = BatchStream(ContrastiveDataset(paths, 8, 0, True, 2), None, 2, 0.0, 0, 1, 1, False)
    with pytest.raises(DataError) as caught:
        for _ in range(stream.batches_per_epoch):
            stream.next()
    assert str(caught.value) == f"{paths[0]}: is empty (0 bytes); remove or replace the file"


def test_photos_are_opened_only_as_the_formats_contrique_score_reads(tmp_path: Path) -> None:
    # Pillow's ICO plugin decodes the PNG inside while opening, at the PNG's own size (a 300 KB file
    # declaring 256x256 decoded 10000x10000 before any check); EPS would run Ghostscript.
    icon = tmp_path / "icon.jpg"
    Image.new("RGB", (16, 16)).save(icon, "ICO")
    (tmp_path / "page.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n")
    for path in (icon, tmp_path / "page.jpg"):
        with pytest.raises(DataError, match=rf"{path.name}: is not an image file in a format contrique-infer reads "
                                            r"\(AVIF, .*, WEBP\); remove or replace the file"):
            load_rgb(path)


def test_photos_decode_through_the_runtime_whose_error_is_the_cause(tmp_path: Path) -> None:
    # one decoding path for scoring and training: decode_rgb's error is the DataError's cause, its message begins it
    (tmp_path / "empty.png").write_bytes(b"")
    Image.new("RGB", (16, 16)).save(tmp_path / "icon.jpg", "ICO")
    whole = _photo(tmp_path / "whole.png", (64, 48), 6).read_bytes()
    (tmp_path / "truncated.png").write_bytes(whole[: len(whole) // 2])
    huge = _png_header(tmp_path / "huge.png", 9500, 9500)
    for name, kind in (("empty.png", ImageDecodeError), ("icon.jpg", ImageDecodeError),
                       ("truncated.png", ImageDecodeError), ("missing.png", ImageDecodeError),
                       (huge.name, ImageTooLargeError)):
        with pytest.raises(DataError) as caught:
            load_rgb(tmp_path / name)
        assert type(caught.value.__cause__) is kind
        assert str(caught.value).startswith(f"{tmp_path / name}: {caught.value.__cause__.reason}")
    with pytest.raises(DataError, match=r"truncated.png: cannot be decoded, the file is truncated or corrupt \(.*\); "
                                        r"remove or replace the file$"):
        load_rgb(tmp_path / "truncated.png")


def test_check_photo_refuses_as_load_rgb_does_from_the_header_alone(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # proxy make checks every photo with it before making anything: load_rgb's refusals, without decoding
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not a photo")
    Image.new("RGB", (16, 16)).save(tmp_path / "icon.jpg", "ICO")
    huge = _png_header(tmp_path / "huge.png", 9500, 9500)
    for path in (tmp_path / "empty.png", tmp_path / "notes.jpg", tmp_path / "icon.jpg", huge, tmp_path / "missing.png"):
        with pytest.raises(DataError) as loaded:
            load_rgb(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow's DecompressionBombWarning is silenced as by load_rgb
            with pytest.raises(DataError) as checked:
                check_photo(path)
        assert str(checked.value) == str(loaded.value) and type(checked.value.__cause__) is type(loaded.value.__cause__)
    whole = _photo(tmp_path / "whole.png", (64, 48), 6)
    (tmp_path / "truncated.png").write_bytes(whole.read_bytes()[:200])
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("check_photo decoded pixels"))
    assert check_photo(whole) == (64, 48)
    assert check_photo(tmp_path / "truncated.png") == (64, 48)  # its header is whole; load_rgb refuses its pixels


def test_sixteen_bit_photos_are_scaled_as_scoring_scales_them(tmp_path: Path) -> None:
    # training used PIL's convert("RGB"), which clips 16-bit grayscale at 255 (a normal photo came out nearly white)
    path = tmp_path / "g16.png"
    Image.fromarray(np.array([[0, 1, 255, 256, 32768, 65535]], dtype=np.uint16)).save(path)
    assert np.asarray(load_rgb(path))[0, :, 0].tolist() == [0, 0, 0, 1, 128, 255]  # the high byte
    assert np.array_equal(np.asarray(load_rgb(path)), np.asarray(decode_rgb(path)))


def test_a_photo_too_narrow_to_upscale_to_a_region_is_refused_before_resizing(tmp_path: Path) -> None:
    # a 1x60000 PNG (320 bytes) upscaled to a 128 px crop: 128x7680000 = 2.9 GB as RGB (MemoryError)
    thin = tmp_path / "thin.png"
    Image.new("RGB", (1, 60000)).save(thin)
    with pytest.raises(DataError, match=r"thin.png: is 1x60000 pixels, so narrow that upscaling its shorter side to "
                                        r"fit makes 128x7680000 = 983,040,000 pixels, more than the 89,478,485 "
                                        r"allowed; crop the photo closer to square"):
        ContrastiveDataset([thin], 128, seed=0, synthetic=True)[0]
    with pytest.raises(DataError, match=r"thin.png: is 1x60000 pixels, so narrow"):
        SeriesDataset([thin], 128, seed=0, variants_per_image=1)[0]
    assert random_region(Image.new("RGB", (2, 300)), 16, np.random.default_rng(0)).size == (16, 16)
