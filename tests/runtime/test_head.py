"""Linear heads (contrique_infer.head): the arithmetic, the file format and its validation."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import CHANNELS, make_heads

from contrique_infer.errors import HeadError
from contrique_infer.head import Floor, Head
from contrique_infer.manifest import HeadInfo


def test_scores_and_file_round_trip(tmp_path: Path) -> None:
    head = make_heads()[0]
    features = np.random.default_rng(3).standard_normal((4, 2 * CHANNELS)).astype(np.float32)
    expected = features.astype(np.float64) @ head.coef + head.intercept
    assert head(features).tolist() == expected.tolist() and head(features[1]) == expected[1]
    path = head.save(tmp_path / "heads" / "q.json")
    again = Head.from_dict(json.loads(path.read_text()), path, head.info.file)
    assert again.info == head.info and (again.intercept, again.alpha) == (head.intercept, head.alpha)
    assert again.coef.tobytes() == head.coef.tobytes()  # float64 coefficients survive the file exactly


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": 0.0, "coef": []}, "non-empty"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": 0.0, "coef": ["a"]}, "numbers"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "intercept": float("nan"), "coef": [1.0]}, "finite"),
        ({"format_version": 1, "name": "x", "kind": "nr", "dataset": "d", "score_scale": "s", "higher_is_better": True, "coef": [1.0]}, "intercept"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_heads(data, message: str) -> None:
    with pytest.raises(HeadError, match=message):
        Head.from_dict(data, "h.json", "h.json")


def test_head_ranges_clip_features_and_scores(tmp_path: Path) -> None:
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-100", True, "")
    head = Head(info, np.array([2.0, -1.0]), 10.0, feature_range=(np.array([0.0, 0.0]), np.array([1.0, 5.0])),
                score_range=(0.0, 100.0))
    assert head.format_version == 2 and Head(info, head.coef, 1.0).format_version == 1
    assert float(head(np.array([0.5, 1.0]))) == 10.0  # inside the ranges: the plain product
    assert float(head(np.array([-50.0, 1.0]))) == 9.0  # feature 0 clipped to 0
    assert float(head(np.array([1e9, -1e9]))) == 12.0  # both clipped: 2 + 0 + 10
    big = Head(info, np.array([100.0, 0.0]), 10.0, score_range=(0.0, 100.0))
    assert float(big(np.array([5.0, 0.0]))) == 100.0 and np.isnan(big(np.array([np.nan, 0.0])))
    assert np.isinf(Head(info, np.array([1e308, 1e308]), 0.0, score_range=(0.0, 1.0))(np.array([1e10, 1e10])))
    path = head.save(tmp_path / "q.json")
    again = Head.from_dict(json.loads(path.read_text()), path, "heads/q.json")
    assert json.loads(path.read_text())["format_version"] == 2
    assert again.score_range == (0.0, 100.0) and np.array_equal(again.feature_range[1], [1.0, 5.0])
    for edit, message in ((lambda d: d.update(feature_min=[0.0]), "list of 2 numbers, one per value of 'coef'; got 1 "),
                          (lambda d: d.update(coef=[1.0] * 10), "'feature_min' must be a list of 10 numbers, one per "
                                                                 "value of 'coef'; got 2 values"),
                          (lambda d: d.update(feature_max=[1.0, "x"]), "got values that are not all numbers"),
                          (lambda d: d.update(feature_min=[2.0, 0.0]), "must not exceed"),
                          (lambda d: d.update(score_min=200.0), "must not exceed"),
                          (lambda d: d.update(format_version=6), "format_version 6 is not supported"),
                          (lambda d: d.update(format_version=1),  # its clipping would be silently dropped
                           "format_version 1 heads have no ranges, yet this one holds feature_min, feature_max, "
                           "score_min, score_max: set format_version 2")):
        data = json.loads(path.read_text())
        edit(data)
        with pytest.raises(HeadError, match=message):
            Head.from_dict(data, path, "heads/q.json")


def test_ray_clipping_keeps_the_proportions_of_a_feature_outside_the_range(tmp_path: Path) -> None:
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-100", True, "")
    low, high = np.array([0.0, 0.0, 2.0]), np.array([2.0, 4.0, 2.0])  # centre (1, 2, 2); the last value constant
    ray = Head(info, np.array([1.0, 1.0, 0.0]), 0.0, feature_range=(low, high), feature_clip="ray")
    box = replace(ray, feature_clip="box")
    inside = np.array([[0.5, 3.0, 2.0]])
    assert ray(inside)[0] == box(inside)[0] == 3.5  # inside: both leave it
    far = np.array([5.0, 3.0, 9.0])  # 4 from the centre where the half-width is 1: a quarter of the way
    assert float(ray(far)) == pytest.approx(2.0 + 2.25)  # (1 + 4/4, 2 + 1/4), the constant value clipped
    assert float(box(far)) == 5.0  # (2, 3): the first value alone moved, to its bound
    rows = np.array([[5.0, 2.0, 2.0], [1.0, 10.0, 2.0], [np.nan, 0.0, 2.0]])
    got = ray(rows)
    assert got[0] == pytest.approx(4.0) and got[1] == pytest.approx(1.0 + 4.0) and np.isnan(got[2])  # row by row
    assert ray.format_version == 3 and box.format_version == 2
    path = ray.save(tmp_path / "q.json")
    data = json.loads(path.read_text())
    assert data["format_version"] == 3 and data["feature_clip"] == "ray"
    assert Head.from_dict(data, path, "heads/q.json").feature_clip == "ray"
    assert "feature_clip" not in json.loads(box.save(tmp_path / "b.json").read_text())
    for edit, message in ((lambda d: d.update(feature_clip="sphere"), "feature_clip"),
                          (lambda d: d.update(format_version=2), "format_version 2 heads have no 'feature_clip'"),
                          (lambda d: [d.pop("feature_min"), d.pop("feature_max")],
                           "feature_clip 'ray' needs a feature range to clip into \\(feature_range: the fields "
                           "'feature_min' and 'feature_max'\\)")):
        bad = json.loads(path.read_text())
        edit(bad)
        with pytest.raises(HeadError, match=message):
            Head.from_dict(bad, path, "heads/q.json")
    with pytest.raises(ValueError, match="feature_clip must be one of box, ray"):
        replace(ray, feature_clip="sphere")
    with pytest.raises(ValueError, match="feature_clip 'ray' needs a feature range"):
        replace(ray, feature_range=None)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_fade_moves_the_score_towards_the_worst_end_far_outside_the_range(tmp_path: Path, higher_is_better: bool) -> None:
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-10", higher_is_better, "")
    low, high = np.array([0.0, 0.0, 3.0]), np.array([2.0, 4.0, 3.0])  # centre (1, 2, 3), half-widths 1, 2; the last constant
    head = Head(info, np.array([1.0, 1.0, 0.0]), 4.0, feature_range=(low, high), score_range=(0.0, 10.0), fade=(2.0, 2.0))
    worst = 0.0 if higher_is_better else 10.0
    rows = np.array([[1.5, 3.0, 3.0],   # inside: distance 0.5, score 8.5
                     [3.0, 2.0, 9.0],   # distance 2 (the constant value does not count): box-clipped 2 + 2 + 4
                     [5.0, 2.0, 3.0],   # distance 4: box-clipped 8, keeping (2 / 4)^2 of its way from the worst
                     [1e6, 2.0, 3.0],   # far: all but the worst
                     [np.nan, 2.0, 3.0]])
    assert head.range_distance(rows)[:4].tolist() == [0.5, 2.0, 4.0, 999999.0] and np.isnan(head.range_distance(rows)[4])
    got = head(rows)
    assert got[:3].tolist() == [8.5, 8.0, worst + (8.0 - worst) / 4] and np.isnan(got[4])
    assert got[3] == pytest.approx(worst, abs=1e-9) and got[3] != worst  # never the worst itself: orders are kept
    assert float(head(rows[2])) == got[2]  # one feature as one row
    scores, distances = head.scores_and_distances(rows)  # what the call measured on the way, for the scorer's note
    np.testing.assert_array_equal(scores, got)
    np.testing.assert_array_equal(distances, head.range_distance(rows))
    assert replace(head, fade=None).scores_and_distances(rows)[1] is None  # a box head without a fade measures none
    assert float(replace(head, fade=None)(rows[3])) == 8.0  # without the fade: the box-clipped score
    skew = np.array([4.0, 5.0, 3.0])  # distance 3; box-clipped (2, 4): 10, along the ray (2, 3): 9
    assert float(head(skew)) == pytest.approx(worst + (10.0 - worst) * 4 / 9)
    assert float(replace(head, feature_clip="ray")(skew)) == pytest.approx(worst + (9.0 - worst) * 4 / 9)
    assert float(head(np.array([1.0, 2.0, 3.0]))) == 7.0  # at the centre (distance 0): unchanged
    assert head.format_version == 4
    path = head.save(tmp_path / "q.json")
    data = json.loads(path.read_text())
    assert (data["format_version"], data["fade_from"], data["fade_power"]) == (4, 2.0, 2.0)
    assert Head.from_dict(data, path, "heads/q.json").fade == (2.0, 2.0)
    assert "fade_from" not in json.loads(replace(head, fade=None).save(tmp_path / "b.json").read_text())
    for edit, message in ((lambda d: d.update(format_version=3), "format_version 3 heads have no fade"),
                          (lambda d: d.update(fade_from=0.5), "start at a finite range distance of at least 1 "
                                                              r"\(the range's edge\); got 0.5"),
                          (lambda d: d.update(fade_power=0), "power must be a finite number above 0; got 0"),
                          (lambda d: d.pop("fade_power"), "fade_power"),
                          (lambda d: [d.pop("score_min"), d.pop("score_max")],
                           "the fade needs a feature range to measure the distance from and a score range to fade into")):
        bad = json.loads(path.read_text())
        edit(bad)
        with pytest.raises(HeadError, match=message):
            Head.from_dict(bad, path, "heads/q.json")
    with pytest.raises(ValueError, match="the fade needs a feature range .* and a score range"):
        replace(head, score_range=None)
    with pytest.raises(ValueError, match="at least 1"):
        replace(head, fade=(0.0, 1.0))
    with pytest.raises(ValueError, match="records no feature range"):
        Head(info, np.array([1.0, 1.0, 0.0]), 0.0).range_distance(rows)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_floor_fades_the_score_below_one_value_and_multiplies_with_the_range_fade(tmp_path: Path,
                                                                                   higher_is_better: bool) -> None:
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-10", higher_is_better, "")
    low, high = np.array([0.0, -4.0]), np.array([2.0, 0.0])  # centres 1, -2; half-widths 1, 2
    floor = Floor(1, -3.0, 2.0, "global contrast")
    head = Head(info, np.array([1.0, 1.0]), 6.0, feature_range=(low, high), score_range=(0.0, 10.0),
                fade=(2.0, 2.0), floor=floor)
    worst = 0.0 if higher_is_better else 10.0
    rows = np.array([[1.0, -2.0],    # above the floor: 1 - 2 + 6 = 5, unchanged
                     [1.0, -3.0],    # at the floor: 1 - 3 + 6 = 4, unchanged
                     [1.0, -3.5],    # half a unit below: keeps exp(-1) of its way (1 - 3.5 + 6 = 3.5)
                     [1.0, -4.5],    # below the range too (clipped to -4: score 3), keeps exp(-3); distance 1.25
                     [5.0, -4.5],    # also at range distance 4: clipped 2 - 4 + 6 = 4, keeps exp(-3) * (2 / 4)^2
                     [1.0, np.nan]])
    got = head(rows)
    assert got[:2].tolist() == [5.0, 4.0] and np.isnan(got[5])
    assert got[2:5] == pytest.approx([worst + (3.5 - worst) * np.exp(-1.0), worst + (3.0 - worst) * np.exp(-3.0),
                                      worst + (4.0 - worst) * np.exp(-3.0) / 4])
    assert floor.share(rows[:5]).tolist() == pytest.approx([1.0, 1.0, np.exp(-1.0), np.exp(-3.0), np.exp(-3.0)])
    scores, distances = head.scores_and_distances(rows)  # the distances are the range fade's alone
    np.testing.assert_array_equal(distances, head.range_distance(rows))
    assert float(head(rows[2])) == got[2]  # one feature as one row
    assert float(replace(head, fade=None)(rows[4])) == pytest.approx(worst + (4.0 - worst) * np.exp(-3.0))
    flat = np.array([1.0, np.log(1e-10)])  # a flat frame's log contrast: the worst, to within rounding
    assert float(head(flat)) == pytest.approx(worst, abs=1e-12)
    assert head.format_version == 5
    path = head.save(tmp_path / "q.json")
    data = json.loads(path.read_text())
    assert (data["format_version"], data["floor_index"], data["floor_value"], data["floor_rate"], data["floor_name"]) == (
        5, 1, -3.0, 2.0, "global contrast")
    again = Head.from_dict(data, path, "heads/q.json")
    assert again.floor == floor and again(rows)[:5].tolist() == got[:5].tolist()
    assert "floor_index" not in json.loads(replace(head, floor=None).save(tmp_path / "b.json").read_text())
    for edit, message in ((lambda d: d.update(format_version=4), "format_version 4 heads have no floor, yet this one "
                                                                 "holds floor_index, floor_value, floor_rate, floor_name"),
                          (lambda d: d.update(floor_index=2), "index must be a value of the feature, 0 to 1; got 2"),
                          (lambda d: d.update(floor_rate=0), "rate must be a finite number above 0; got 0"),
                          (lambda d: d.update(floor_name=" "), "the floor needs a name"),
                          (lambda d: d.pop("floor_value"), "floor_value"),
                          (lambda d: [d.pop("score_min"), d.pop("score_max"), d.pop("fade_from"), d.pop("fade_power")],
                           "the floor needs a score range to fade into \\(score_range: the fields "
                           "'score_min' and 'score_max'\\)")):
        bad = json.loads(path.read_text())
        edit(bad)
        with pytest.raises(HeadError, match=message):
            Head.from_dict(bad, path, "heads/q.json")
    with pytest.raises(ValueError, match="the floor needs a score range to fade into"):
        Head(info, np.array([1.0, 1.0]), 6.0, floor=floor)
    with pytest.raises(ValueError, match="rate must be a finite number above 0"):
        replace(head, floor=replace(floor, rate=float("inf")))


@pytest.mark.parametrize("feature_clip", ["box", "ray"])
def test_range_distance_holds_at_the_ends_of_float64(feature_clip: str) -> None:
    """A head file's ranges may hold any finite float64: a width too small to halve (5e-324) counts as none,
    instead of ``0 / 0`` making every score NaN (or ``x / 0`` every score the worst); bounds near the float64
    limit keep their centre, instead of ``(low + high) / 2`` overflowing to an infinite distance (the worst
    score, or NaN along the ray); and numpy warns of nothing (contrique-score would print it)."""
    info = HeadInfo("q", "heads/q.json", "nr", "d", "0-100", True, "")
    low, high = np.array([0.0, 0.0, 1e308]), np.array([5e-324, 2.0, 1.7e308])  # centres 0, 1, 1.35e308
    head = Head(info, np.array([0.0, 1.0, 0.0]), 50.0, feature_range=(low, high), score_range=(0.0, 100.0),
                feature_clip=feature_clip, fade=(2.0, 1.0))
    rows = np.array([[0.0, 1.5, 1.35e308],   # at the subnormal range's centre: distance 0.5 from the second value
                     [1e-30, 1.5, 1.35e308],  # past its edge by far less than any real width
                     [0.0, 1.5, 0.0]])        # 1.35e308 below the last centre, 0.35e308 its half-width
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distance = head.range_distance(rows)
        scores = head(rows)
    far = 1.35 / 0.35
    assert distance.tolist() == [0.5, 0.5, pytest.approx(far)]
    assert scores[:2].tolist() == [51.5, 51.5]
    moved = 1.5 if feature_clip == "box" else 1 + 0.5 / far  # the ray takes the whole feature towards the centre
    assert scores[2] == pytest.approx((50 + moved) * 2 / far)  # faded, keeping the share 2 / distance
