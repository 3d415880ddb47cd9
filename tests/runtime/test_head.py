"""Linear heads (contrique_infer.head): the arithmetic, the file format and its validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import CHANNELS, make_heads

from contrique_infer.errors import HeadError
from contrique_infer.head import Head


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
