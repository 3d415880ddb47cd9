"""ModelConfig (exact types and ranges of its fields) and which columns of a feature are what (:func:`contrique_export.model_config.feature_groups`)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from contrique_export.errors import ModelConfigError
from contrique_export.model_config import FEATURE_GROUPS, NSS_DIM, NSS_PAIRS, ModelConfig, feature_groups


def test_feature_groups_split_every_block_into_learned_statistics_squares_and_products() -> None:
    config = ModelConfig(arch="mobilenet_v3_small", stages=3, nss=True, nss_pairs=True)
    per = config.feature_dim  # 48 channels + 25 statistics + 325 products
    groups = feature_groups(config.name, per, 2)
    assert {name: groups[name].size for name in FEATURE_GROUPS} == {
        "learned": 96, "statistics": 50, "squares": 50, "products": 2 * (NSS_PAIRS - NSS_DIM)}
    assert np.array_equal(np.sort(np.concatenate(list(groups.values()))), np.arange(2 * per))  # a partition
    i, j = np.triu_indices(NSS_DIM)  # the graph's order of the products (contrique_export.nss)
    square = 48 + NSS_DIM + np.flatnonzero(i == j)
    assert np.array_equal(groups["squares"], np.concatenate([square, per + square]))
    assert groups["squares"][:3].tolist() == [73, 98, 122]  # z0*z0, z1*z1, z2*z2
    assert groups["products"][:2].tolist() == [74, 75]  # z0*z1, z0*z2
    assert groups["statistics"].tolist() == [*range(48, 73), *range(per + 48, per + 73)]


def test_feature_groups_without_products_or_statistics() -> None:
    groups = feature_groups("resnet18-3stages+nss", 281, 2)
    assert groups["statistics"].tolist() == [*range(256, 281), *range(537, 562)]
    assert groups["squares"].size == groups["products"].size == 0
    groups = feature_groups("resnet50", 2048, 2)
    assert groups["learned"].tolist() == list(range(4096)) and groups["statistics"].size == 0


def test_feature_groups_refuse_a_block_narrower_than_the_statistics() -> None:
    with pytest.raises(ModelConfigError, match="350 statistics per scale"):
        feature_groups("mobilenet_v3_small-3stages+nss2", 100, 2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nss", "false", "nss must be true or false, got 'false' (str)"),  # was read as True (bool("false"))
        ("nss_pairs", 1, "nss_pairs must be true or false, got 1 (int)"),
        ("projection_dim", 128.9, "projection_dim must be an integer, got 128.9 (float)"),  # was cut to 128
        ("projection_dim", "128", "projection_dim must be an integer, got '128' (str)"),
        ("projection_dim", True, "projection_dim must be an integer, got True (bool)"),
        ("projection_dim", 10**30, f"projection_dim must be 1..16384, got {10**30}"),  # was a TypeError in torch
        ("projection_dim", 10**11, "projection_dim must be 1..16384"),  # would allocate terabytes
        ("stages", 2.0, "stages must be an integer, got 2.0 (float)"),
        ("arch", ["resnet18"], "arch must be a string, got ['resnet18'] (list)"),
    ],
)
def test_config_values_must_have_their_exact_type_and_range(field, value, message) -> None:
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        ModelConfig.from_dict({"arch": "resnet18", field: value})


def test_config_from_dict_takes_defaults_and_values_as_they_are() -> None:
    assert ModelConfig.from_dict({}) == ModelConfig()
    config = ModelConfig.from_dict({"arch": "resnet18", "projection_dim": 16384, "stages": 2, "nss": True,
                                    "nss_pairs": False, "ignored": 1})
    assert config == ModelConfig("resnet18", 16384, 2, True, False)
