"""The model card (:mod:`contrique_export.card`): values from the checkpoint and the head files are plain
text in it (the tiny bundle, no torch)."""

from __future__ import annotations

import dataclasses

from contrique_export.card import plain, render_card
from contrique_infer.manifest import Manifest

HOSTILE = "x\x1b[31mRED\n" * 2 + "<script>alert(1)</script> [click](http://evil) | *bold* `code` &amp;"


def test_plain_text_keeps_ordinary_text_readable():
    assert plain("photos of shared/photos/train (CC0 and others), 2026-11-26: 13 photos.") == (
        "photos of shared/photos/train (CC0 and others), 2026-11-26: 13 photos.")
    assert plain("Apache-2.0") == "Apache-2.0"
    assert plain("a\n\nb\tc\r\n") == "a b c"


def test_values_from_the_checkpoint_cannot_add_lines_links_or_html(tiny_bundle_dir):
    # the checkpoint's data description and licence were copied raw: ESC sequences, line breaks
    # and a <script> ended up in README.md
    manifest = Manifest.load(tiny_bundle_dir)
    manifest = dataclasses.replace(manifest, name="evil\n# Heading", provenance=dataclasses.replace(
        manifest.provenance, training_data=HOSTILE, license="<script>alert(1)</script>",
        source_checkpoint="run`\n<b>.pt"))
    card = render_card(manifest, tiny_bundle_dir, image_sets={})
    assert "\x1b" not in card and "<script>" not in card and "<b>" not in card and "[click]" not in card
    assert "\n# Heading" not in card
    assert ("- Training data: x\\\\x1b\\[31mRED x\\\\x1b\\[31mRED &lt;script&gt;alert(1)&lt;/script&gt; "
            "\\[click\\](http://evil) \\| \\*bold\\* \\`code\\` &amp;amp;\n") in card
    assert "- Licence: &lt;script&gt;alert(1)&lt;/script&gt;\n" in card
    assert "- Source checkpoint: run\\` &lt;b&gt;.pt (sha256 `" in card
    assert card.startswith("---\n") and "\n# evil # Heading\n" in card
    assert 'from_pretrained("your-org/evil\\n# Heading")' in card  # in a code block: the line break escaped
