"""The within-dataset and cross-dataset protocols on synthetic features."""

from __future__ import annotations

import numpy as np
import pytest

from contrique_training.evaluation.errors import ProtocolError
from contrique_training.evaluation.protocol import (
    ProtocolConfig,
    content_splits,
    cross_dataset,
    fit_final,
    run_protocol,
)
from contrique_training.evaluation.ridge import fit_ridge

CONFIG = ProtocolConfig(splits=6, alphas=(0.01, 0.1, 1.0, 10.0), seed=3)


def synthetic(n_contents: int = 30, per_content: int = 5, d: int = 20, noise: float = 0.3, seed: int = 0):
    """Features whose score is linear plus a per-content offset (what content separation guards against)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    x = rng.standard_normal((n_contents * per_content, d))
    content = np.repeat(np.arange(n_contents), per_content)
    y = x @ w + 0.5 * rng.standard_normal(n_contents)[content] + noise * rng.standard_normal(len(content))
    return x, y, [f"ref{c:02d}" for c in content], w


def test_splits_are_content_separated_and_seeded() -> None:
    groups = [f"r{i % 25}" for i in range(250)]
    splits = content_splits(groups, 10, 0.8, seed=5)
    assert len(splits) == 10
    for train, test in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        assert len({groups[i] for i in train}) == 20 and len({groups[i] for i in test}) == 5
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(250))
    again = content_splits(groups, 3, 0.8, seed=5)  # split i does not depend on the number of splits
    for (a, b), (c, d) in zip(splits[:3], again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    other = content_splits(groups, 10, 0.8, seed=6)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(splits, other))
    assert len({tuple(t) for _, t in splits}) > 1  # the splits differ from each other
    with pytest.raises(ProtocolError, match="leaves one side empty"):
        content_splits(["a", "a", "a"], 1, 0.8, seed=0)
    with pytest.raises(ProtocolError, match=r"split of 10 contents \(10 items\) leaves 2 item\(s\) to test on, and a "
                                            "correlation needs at least 3"):
        content_splits([f"r{i}" for i in range(10)], 1, 0.8, seed=0)  # was: "arrays of >= 3 values, got 2 and 2"


def test_protocol_recovers_a_linear_relation() -> None:
    x, y, groups, _ = synthetic()
    result = run_protocol(x, y, groups, CONFIG)
    assert len(result.splits) == 6 and result.content_separated and result.contents == 30
    for s in result.splits:
        assert not {groups[i] for i in s.train} & {groups[i] for i in s.test}
        assert s.selection.alpha in CONFIG.alphas
        pred = fit_ridge(x[s.train], y[s.train], s.selection.alpha).predict(x[s.test])
        np.testing.assert_allclose(s.predictions, pred)
    summary = result.summary()
    srcc = result.metric("srcc")
    assert summary["srcc"]["median"] == pytest.approx(np.median(srcc))
    assert summary["srcc"]["median"] > 0.95 and summary["plcc"]["median"] > 0.95
    assert result.median_split.correlation.srcc == np.sort(srcc)[2]  # lower middle of 6
    d = result.to_dict()
    assert d["summary"]["srcc"]["median"] == summary["srcc"]["median"] and len(d["splits"]) == 6


def test_protocol_on_noise_is_near_chance() -> None:
    rng = np.random.default_rng(4)
    result = run_protocol(rng.standard_normal((150, 10)), rng.standard_normal(150), None, CONFIG)
    assert not result.content_separated and result.contents == 150
    assert abs(result.summary()["srcc"]["median"]) < 0.3


def test_final_fit_and_cross_dataset_with_flip() -> None:
    x, y, groups, w = synthetic(seed=1)
    model, selection = fit_final(x, y, groups, CONFIG)
    np.testing.assert_allclose(model.coef, fit_ridge(x, y, selection.alpha).coef)
    assert np.corrcoef(model.coef, w)[0, 1] > 0.99
    x2 = np.random.default_rng(9).standard_normal((50, w.size))  # another "dataset", same relation
    y2 = x2 @ w
    same = cross_dataset(x, y, x2, y2, train_content_ids=groups, config=CONFIG)
    assert same.correlation.srcc > 0.95 and not same.flipped
    dmos = cross_dataset(x, y, x2, -y2, train_content_ids=groups, flip=True, config=CONFIG)
    assert dmos.correlation.srcc == pytest.approx(same.correlation.srcc) and dmos.flipped
    with pytest.raises(ProtocolError, match="dimensions"):
        cross_dataset(x, y, x2[:, :5], y2, config=CONFIG)


def test_config_validation_and_round_trip() -> None:
    assert ProtocolConfig.from_dict(CONFIG.to_dict()) == CONFIG
    for bad, message in (({"splits": 0}, "splits must be 1 to 10,000"), ({"splits": 2_000_000_000}, "splits"),
                         ({"train_fraction": 1.0}, "train_fraction"), ({"folds": 1}, "folds"),
                         ({"alphas": (0.0,)}, "alphas must be numbers from 1e-08 to 1e\\+12"),
                         ({"alphas": (1.0, 1e-300)}, "alphas"), ({"alphas": (1e300,)}, "alphas"), ({"alphas": ()}, "alphas")):
        with pytest.raises(ProtocolError, match=message):  # 2e9 splits filled the memory; 1e-300 overflowed the solve
            ProtocolConfig(**bad)
    assert ProtocolConfig(splits=10_000, alphas=(1e-8, 1e12)).splits == 10_000
    with pytest.raises(ProtocolError, match="finite"):
        run_protocol(np.full((10, 2), np.nan), np.arange(10.0), None, CONFIG)
