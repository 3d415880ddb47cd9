"""Proxy targets for a bundle's default heads, where no human opinion scores are available.

A proxy set (:mod:`.make`) is training photos, distorted versions of each, and a full-reference
quality of every image against its pristine photo (MDSI mapped to 0..100, or the mean rank of six
full-reference metrics) and its distortion level;
:mod:`.heads` fits a bundle's ``quality`` and ``level`` heads on the bundle's features of such a
set, as ridges on standardised features (:mod:`.fitting`); :mod:`.fade` gives heads fitted without
a fade one, and :mod:`.floor` a floor at the lowest global contrast of the training photos (both
rewrite a bundle's heads through :mod:`.amend`); :mod:`.cli` is the command::

    python -m contrique_training.proxy make --data ../shared/photos/train --out proxy/train
    python -m contrique_training.proxy heads --bundle bundles/default --proxy proxy/train
    python -m contrique_training.proxy fade --bundle bundles/default
    python -m contrique_training.proxy floor --bundle bundles/default --photos ../shared/photos/train

Use training photos only: validation photos must stay unseen by the heads. docs/default-model.md
says how the default model's heads were made this way.
"""

from ..lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "cli": ("PROG", "build_parser", "main"),
    "errors": ("ProxyError",),
    "fitting": ("BLEND_PARTS", "PARTS", "PROXY_ALPHAS", "BlendedFit", "StandardisedFit", "Standardiser", "column_weights",
                "feature_parts", "fit_blend", "fit_standardised", "parse_group_weights", "parse_part_weights"),
    "fade": ("add_fade",),
    "floor": ("CONTRAST_NAME", "add_contrast_floor", "contrast_index"),
    "heads": ("HEAD_NAMES", "LEVEL_SCALE", "QUALITY_SCALE", "add_proxy_heads"),
    "make": ("MDSI_MAX", "METRIC", "MIN_SIDE", "PROXY_FORMAT_VERSION", "PUBLISHED_SRCC", "TARGETS", "ProxyImage", "ProxySet",
             "assignments", "load_proxy_set", "make_proxy_set", "mdsi", "mdsi_to_quality", "prepare_photo",
             "select_photos", "target_csv"),
})
