"""The model card (:mod:`contrique_export.card`): values from the checkpoint and the head files are plain
text in it (the tiny bundle, no torch)."""

from __future__ import annotations

import dataclasses

from tiny_bundle import write_photos

from contrique_export.card import code, plain, render_card
from contrique_export.images import image_sets
from contrique_infer.manifest import Fidelity, InputContract, Manifest

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


def test_values_from_a_hand_edited_manifest_cannot_add_html_or_links(tiny_bundle_dir):
    # was: --from-bundle copied the manifest's architecture, creator and notes, the fidelity's head names and the
    # variants' file names into README.md as they were (an <iframe>, an <img onerror>, a <script>, a javascript: link)
    manifest = Manifest.load(tiny_bundle_dir)
    fp32 = manifest.variants["fp32"]
    manifest = dataclasses.replace(
        manifest, architecture="resnet50<iframe src=//evil>",
        variants={"fp32": dataclasses.replace(fp32, fidelity=Fidelity(3, 1.0, 1.0, 0.0, {"<b>q</b>": 1.0}))},
        provenance=dataclasses.replace(manifest.provenance, created_by="me\n\n<img src=x onerror=alert(1)>",
                                       notes="ok <script>x</script> [click](javascript:alert(1))"))
    card = render_card(manifest, tiny_bundle_dir, image_sets={})
    for raw in ("<iframe", "<img", "<script>", "<b>", "[click]"):
        assert raw not in card
    assert "The encoder (resnet50&lt;iframe src=//evil&gt;) maps" in card
    assert "- Created by: me &lt;img src=x onerror=alert(1)&gt;\n" in card
    assert "- Notes: ok &lt;script&gt;x&lt;/script&gt; \\[click\\](javascript:alert(1))\n" in card
    assert "Spearman &lt;b&gt;q&lt;/b&gt; 1.0000" in card


def test_a_code_span_cannot_be_ended_by_its_value():
    # was: a --parity-images folder named "<img src=x onerror=alert(9)>`" ended the card's code span
    assert code("photos/") == "`photos/`"
    assert code("<img src=x onerror=alert(9)>`/") == "``<img src=x onerror=alert(9)>`/``"
    assert code("`a``\nb") == "``` `a`` b ```"
    assert code("a|b", cell=True) == "`a\\|b`"


def test_image_folder_names_are_code_spans_in_the_card(tmp_path):
    folder = tmp_path / "<img src=x onerror=alert(9)>`"
    write_photos(folder, 2, 1)
    _, _, _, described = image_sets(["fp32"], InputContract(min_size=32), folder, None)
    assert described["parity"].endswith("the 2 images of ``<img src=x onerror=alert(9)>`/``")
