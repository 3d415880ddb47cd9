"""Dataset readers: tiny fixtures written in each dataset's published format."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer.errors import ContriqueError
from contrique_training.evaluation.datasets import (
    DATASETS,
    Dataset,
    Item,
    load_dataset,
    read_clive,
    read_csiq,
    read_csv,
    read_kadid,
    read_koniq,
    read_live,
    read_spaq,
    read_tid2013,
)
from contrique_training.evaluation.errors import DatasetFileError, DatasetFormatError

scipy_io = pytest.importorskip("scipy.io")
openpyxl = pytest.importorskip("openpyxl")


def image(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 16, 3), value, dtype=np.uint8)).save(path)
    return path


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB 1xN cell array of strings, as the LIVE releases store names."""
    out = np.empty((1, len(strings)), dtype=object)
    out[0, :] = strings
    return out


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Sheet1") -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    book.save(path)


def test_koniq_prefers_zscore_and_checks_images(tmp_path: Path) -> None:
    root = tmp_path / "koniq"
    for name in ("a.jpg", "b.jpg"):
        image(root / "1024x768" / name)
    with open(root / "koniq10k_scores_and_distributions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"])
        w.writerow(["a.jpg", 0, 1, 2, 3, 4, 10, 3.2, 0.5, 61.5])
        w.writerow(["b.jpg", 0, 1, 2, 3, 4, 10, 2.1, 0.4, 30.25])
    ds = read_koniq(root)
    assert ds.name == "KonIQ-10k" and ds.higher_is_better and ds.score_kind == "MOS"
    assert [p.name for p in ds.paths] == ["a.jpg", "b.jpg"]
    np.testing.assert_array_equal(ds.scores, [61.5, 30.25])
    assert ds.content_ids is None
    (root / "1024x768" / "b.jpg").unlink()
    with pytest.raises(DatasetFileError, match=r"1 KonIQ-10k images .* missing .*b\.jpg"):
        read_koniq(root)


def test_missing_label_file_names_file_and_layout(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    with pytest.raises(DatasetFileError) as err:
        read_koniq(tmp_path / "k")
    assert "koniq10k_scores_and_distributions.csv" in str(err.value) and "1024x768" in str(err.value)
    assert isinstance(err.value, ContriqueError)
    with pytest.raises(DatasetFileError, match="root folder not found"):
        read_kadid(tmp_path / "nope")


def test_spaq_xlsx(tmp_path: Path) -> None:
    root = tmp_path / "spaq"
    (root / "Annotations").mkdir(parents=True)
    for name in ("00001.jpg", "00002.jpg"):
        image(root / "TestImage" / name)
    write_xlsx(
        root / "Annotations" / "MOS and Image attribute scores.xlsx",
        [["Image name", "MOS", "Brightness"], ["00001.jpg", 42.5, 50], ["00002.jpg", 77, 60]],
    )
    ds = read_spaq(root)
    np.testing.assert_array_equal(ds.scores, [42.5, 77.0])
    assert [p.name for p in ds.paths] == ["00001.jpg", "00002.jpg"]


def test_clive_mat_skips_the_seven_training_images(tmp_path: Path) -> None:
    root = tmp_path / "clive"
    names = [f"t{i}.bmp" for i in range(1, 8)] + ["10.JPG", "11.bmp"]
    for n in names[:7]:
        image(root / "Images" / "trainingImages" / n)
    for n in names[7:]:
        image(root / "Images" / n)
    (root / "Data").mkdir()
    scipy_io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cell(names).T})
    scipy_io.savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.arange(1, 10, dtype=float)[None, :]})
    ds = read_clive(root)
    assert [p.name for p in ds.paths] == ["10.JPG", "11.bmp"]
    np.testing.assert_array_equal(ds.scores, [8.0, 9.0])


def test_live_release2(tmp_path: Path) -> None:
    root = tmp_path / "live"
    counts = {"jp2k": 2, "jpeg": 1, "wn": 1, "gblur": 1, "fastfading": 2}
    refs = []
    for folder, n in counts.items():
        lines = []
        for i in range(1, n + 1):
            ref = "bikes.bmp" if i % 2 else "parrots.bmp"
            refs.append(ref)
            image(root / folder / f"img{i}.bmp")
            lines.append(f"{ref} img{i}.bmp 0.5")
        (root / folder / "info.txt").write_text("\n".join(lines) + "\n")
    dmos = np.array([[10.0, 20.0, 0.0, 30.0, 40.0, 50.0, 60.0]])
    orgs = np.array([[0, 0, 1, 0, 0, 0, 0]], dtype=float)
    scipy_io.savemat(root / "dmos.mat", {"dmos": dmos, "orgs": orgs})
    scipy_io.savemat(root / "refnames_all.mat", {"refnames_all": cell(refs)})
    ds = read_live(root)
    assert not ds.higher_is_better and ds.score_kind == "DMOS"
    np.testing.assert_array_equal(ds.scores, [10, 20, 30, 40, 50, 60])  # the orgs=1 reference is dropped
    assert [str(p.relative_to(root)) for p in ds.paths] == [
        "jp2k/img1.bmp", "jp2k/img2.bmp", "wn/img1.bmp", "gblur/img1.bmp", "fastfading/img1.bmp", "fastfading/img2.bmp"
    ]
    assert ds.content_ids == ["bikes.bmp", "parrots.bmp", "bikes.bmp", "bikes.bmp", "bikes.bmp", "parrots.bmp"]
    scipy_io.savemat(root / "dmos.mat", {"dmos": dmos[:, :6], "orgs": orgs[:, :6]})
    with pytest.raises(DatasetFormatError, match="sizes disagree"):
        read_live(root)


def test_csiq_xlsx_and_label_txt(tmp_path: Path) -> None:
    root = tmp_path / "csiq"
    image(root / "dst_imgs" / "awgn" / "1600.AWGN.1.png")
    image(root / "dst_imgs" / "jpeg2000" / "cactus.jpeg2000.3.png")
    write_xlsx(
        root / "csiq.DMOS.xlsx",
        [
            ["CSIQ DMOS"],
            [],
            ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"],
            [1600, 1, "noise", 1, 0.061, 0.062],
            ["cactus", 3, "jpeg 2000", 3, 0.05, 0.31],
        ],
        sheet="all_by_image",
    )
    ds = read_csiq(root)
    assert [p.name for p in ds.paths] == ["1600.AWGN.1.png", "cactus.jpeg2000.3.png"]
    np.testing.assert_allclose(ds.scores, [0.062, 0.31])
    assert ds.content_ids == ["1600", "cactus"] and not ds.higher_is_better

    txt_root = tmp_path / "csiq_txt"
    image(txt_root / "dst_imgs_all" / "1600.AWGN.1.png")
    image(txt_root / "dst_imgs_all" / "1600.BLUR.2.png")
    (txt_root / "csiq_label.txt").write_text("1600.AWGN.1.png 0.062\n1600.BLUR.2.png 0.2\n")
    ds = read_csiq(txt_root)
    assert ds.content_ids == ["1600", "1600"]
    np.testing.assert_allclose(ds.scores, [0.062, 0.2])


def test_tid2013_case_insensitive_names_and_content(tmp_path: Path) -> None:
    root = tmp_path / "tid"
    image(root / "distorted_images" / "i01_01_1.bmp")
    image(root / "distorted_images" / "I25_02_5.BMP")
    (root / "mos_with_names.txt").write_text("5.51429 i01_01_1.bmp\n3.5 i25_02_5.bmp\n")
    ds = read_tid2013(root)
    assert ds.content_ids == ["i01", "i25"]
    assert ds.paths[1].name == "I25_02_5.BMP"
    (root / "mos_with_names.txt").write_text("5.5 reference.bmp\n")
    with pytest.raises(DatasetFormatError, match="line 1"):
        read_tid2013(root)


def test_text_label_files_that_are_not_utf8_are_a_format_error(tmp_path: Path) -> None:
    """A Latin-1 or UTF-16 mos_with_names.txt / csiq_label.txt ended in a UnicodeDecodeError traceback."""
    tid, csiq = tmp_path / "tid", tmp_path / "csiq"
    image(tid / "distorted_images" / "i01_01_1.bmp")
    image(csiq / "dst_imgs_all" / "1600.AWGN.1.png")
    (tid / "mos_with_names.txt").write_bytes(b"5.5 i01_01_1.bmp\n4.0 caf\xe9.bmp\n")
    (csiq / "csiq_label.txt").write_text("1600.AWGN.1.png 0.06\n", encoding="utf-16")
    for reader, root, name in ((read_tid2013, tid, "mos_with_names.txt"), (read_csiq, csiq, "csiq_label.txt")):
        with pytest.raises(DatasetFormatError, match=f"{name}: is not UTF-8 text .*; save it as UTF-8"):
            reader(root)
    (tid / "mos_with_names.txt").write_bytes(b"\xef\xbb\xbf5.5 i01_01_1.bmp\n")  # a byte-order mark is read
    assert read_tid2013(tid).content_ids == ["i01"]


def test_kadid_csv(tmp_path: Path) -> None:
    root = tmp_path / "kadid"
    image(root / "images" / "I01_01_01.png")
    image(root / "images" / "I02_01_01.png")
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.496\nI02_01_01.png,I02.png,2.1,0.3\n")
    ds = read_kadid(root)
    assert ds.higher_is_better and ds.score_kind == "DMOS"
    assert ds.content_ids == ["I01.png", "I02.png"]
    (root / "dmos.csv").write_text("dist_img,ref_img,dmos\nI01_01_01.png,I01.png,high\n")
    with pytest.raises(DatasetFormatError, match="'high' is not a number"):
        read_kadid(root)


def test_generic_csv_and_load_dataset(tmp_path: Path) -> None:
    image(tmp_path / "imgs" / "a.png")
    absolute = image(tmp_path / "elsewhere" / "b.png")
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,score,content_id\nimgs/a.png,1.5,x\n{absolute},2.5,\n")
    ds = load_dataset("CSV", labels, higher_is_better=False, name="mine")
    assert ds.name == "mine" and not ds.higher_is_better
    assert ds.paths == [tmp_path / "imgs" / "a.png", absolute]
    assert ds.content_ids == ["x", str(absolute)]  # an item without an id is its own content
    labels.write_text("file,score\nimgs/a.png,1\n")
    with pytest.raises(DatasetFormatError, match=r"missing column\(s\) \['path'\]"):
        read_csv(labels)
    with pytest.raises(DatasetFormatError, match="unknown dataset 'foo'"):
        load_dataset("foo", tmp_path)
    with pytest.raises(DatasetFormatError, match="only to the generic csv"):
        load_dataset("kadid", tmp_path, higher_is_better=False)
    assert set(DATASETS) == {"koniq", "spaq", "clive", "live", "csiq", "tid2013", "kadid"}


def test_generic_csv_refuses_short_and_long_rows_and_repeated_images(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to(tmp_path / "a.png")
    labels = tmp_path / "labels.csv"
    for text, message in (
        ("score,path\n5\n", "row 2 has fewer values than the header's 2 columns (score, path); fix the row"),
        ("path,score\na.png,1\nb.png,2,extra\n", "row 3 has more values than the header's 2 columns"),
        ("path,score\na.png,1\nb.png,2\na.png,3\n", "rows 2 and 4 list the same image 'a.png': a split could"),
        ("path,score,content_id\na.png,1,\nA.PNG,3,\n", "rows 2 and 3 list the same image 'a.png'"),
        ("path,score\na.png,1\nsub/../a.png,2\n", "rows 2 and 3 list the same image 'a.png'"),  # one file, two names
        # a content id on one row, or different ids, would let a split put the two on either side
        ("path,score,content_id\na.png,1,c0\nb.png,2,c1\na.png,3,c9\n",
         "rows 2 and 4 list the same image 'a.png' with different content ids: a split could"),
        ("path,score,content_id\na.png,1,c0\na.png,3,\n", "rows 2 and 3 list the same image 'a.png' with different"),
        ("path,score,content_id\na.png,1,\na.png,3,c0\n", "rows 2 and 3 list the same image 'a.png' with different"),
        ("path,score,content_id\na.png,1,c0\x00\nb.png,3,c0\n", "row 2: content_id 'c0.x00' holds a control character; write it as printable text"),
        ("path,score\na.png,1e302\nb.png,2\n", "row 2: score '1e302' is beyond .* rescale the scores"),
        ("path,score\nb.png,1\nlink.png,2\na.png,3\n", "rows 3 and 4 list the same image 'a.png'"),
        # the last of two score columns was used; float() read 1_5 as 15, and Arabic-Indic digits as numbers
        ("path,score,score\na.png,1,2\n", "the header names column(s) 'score' more than once; give each column"),
        ("path,score\na.png,1_5\n", "row 2: '1_5' is not a number; write each score as a decimal number"),
        ("path,score\na.png,\u0661\n", "row 2: '\u0661' is not a number"),
        ("path,score\na.png,infinity\n", "row 2: 'infinity' is not a number"),
    ):
        labels.write_text(text)
        with pytest.raises(DatasetFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_csv(labels)
    for text, shown in (("path,score\nsub,1\nb.png,2\n", "(sub (a folder))"), ("path,score\n,1\nb.png,2\n", "(an empty path)")):
        labels.write_text(text)
        with pytest.raises(DatasetFileError, match=r"1 CSV images listed .* or are no files " + re.escape(shown)):
            read_csv(labels)
    labels.write_text("path,score\na.png,1,\nb.png,2\n")  # a trailing comma adds no value
    assert [item.score for item in read_csv(labels).items] == [1.0, 2.0]
    labels.write_text("path,score,content_id\na.png,1,s\nb.png,2,\na.png,3, s \n")  # kept together: allowed
    assert read_csv(labels).content_ids == ["s", str(tmp_path / "b.png"), "s"]  # spaces around an id do not count


def test_a_csv_that_is_not_a_regular_file_says_so(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "labels.csv")
    with pytest.raises(DatasetFileError, match="labels.csv: is not a regular file"):
        read_csv(tmp_path / "labels.csv")  # refused, never opened (a pipe would block)


def test_dataset_round_trip_and_validation(tmp_path: Path) -> None:
    ds = Dataset("d", (Item(tmp_path / "a.png", 1.0, "r1"), Item(tmp_path / "b.png", 2.0, "r1")), "MOS", True, "0..5", tmp_path)
    assert Dataset.from_dict(ds.to_dict()) == ds
    assert ds.summary()["contents"] == 1
    with pytest.raises(DatasetFormatError, match="score_kind"):
        Dataset("d", ds.items, "QoE", True, "", tmp_path)
    with pytest.raises(DatasetFormatError, match="non-finite"):
        Dataset("d", (Item(tmp_path / "a.png", float("nan")),), "MOS", True, "", tmp_path)
