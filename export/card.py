"""The model card: a ``README.md`` with Hugging Face metadata, written into every bundle.

Values the card takes from the checkpoint, the head files, the command line and (``--from-bundle``)
the source bundle's manifest (the bundle's name, the architecture, the source file's name, the
training data, the licence, the provenance's notes and creator, the heads' names and descriptions,
the image folders' names) are written as plain text (:func:`plain`) or in code spans (:func:`code`):
line breaks become spaces, other control characters are shown escaped (``\x1b``), and Markdown and
HTML characters are escaped, so that no such value can add a line, a link or HTML (a ``<script>``)
to the card. ``card_notes`` are the one Markdown the card takes as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from contrique_infer.commands import printable
from contrique_infer.manifest import Fidelity, Manifest

from .model_config import NSS_DIM, statistics_dim

CARD_NAME = "README.md"
TAGS = ("image-quality-assessment", "onnx", "contrique")
_LICENSE_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_MARKDOWN = re.compile(r"[\\`*_\[\]|~]")  # what makes emphasis, code, links and table cells inline
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def hub_license(license_: str) -> tuple[str, str | None]:
    """The Hub ``license`` field for a licence string, and ``license_name`` when it is ``other``."""
    lowered = license_.strip().lower()
    if _LICENSE_ID.match(lowered):
        return lowered, None
    return "other", re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "custom"


def plain(value: str) -> str:
    """``value`` as plain text in Markdown: runs of white space (line breaks too) as one space, other
    control characters escaped (:func:`~contrique_infer.commands.printable`), Markdown's and HTML's
    characters escaped."""
    text = _MARKDOWN.sub(lambda m: "\\" + m[0], printable(" ".join(value.split())))
    return "".join(_HTML.get(c, c) for c in text)


def code(value: str, *, cell: bool = False) -> str:
    """``value`` as a Markdown code span that it cannot end: fenced by more backticks than it holds in a row,
    white space and control characters as in :func:`plain` (HTML and links are not read in a code span).

    Args:
        value: Any text (a file or folder name).
        cell: The span is in a table cell, whose ``|`` must be escaped even in a code span.

    Returns:
        The code span.
    """
    text = printable(" ".join(value.split()))
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_card(manifest: Manifest, folder: Path, *, image_sets: dict[str, str], notes: str = "") -> str:
    """The card's Markdown for a finished bundle folder.

    Args:
        manifest: The bundle's manifest (variants with their fidelity, heads, parity, provenance).
        folder: The bundle folder (for file sizes).
        image_sets: What the parity, calibration and fidelity images were, by those keys (Markdown, with
            any folder name in a :func:`code` span).
        notes: Markdown placed after the introduction (how the model was made, what it measured).

    Returns:
        The text of ``README.md``.
    """
    lic, lic_name = hub_license(manifest.provenance.license)
    meta = ["---", "library_name: contrique-infer", f"license: {lic}"]
    if lic_name:
        meta.append(f"license_name: {lic_name}")
    meta += ["tags:"] + [f"- {t}" for t in TAGS] + ["---", ""]
    p = manifest.provenance
    parity = manifest.parity
    name = printable(manifest.name)  # in code blocks, where only a line break could do harm
    lines = [
        f"# {plain(manifest.name)}",
        "",
        "CONTRIQUE image quality assessment (Madhusudana et al., *Image Quality Assessment using Contrastive "
        "Learning*, IEEE TIP 2022) as an ONNX model bundle for contrique-infer: no torch needed to score images.",
        "",
        f"The encoder ({plain(manifest.architecture)}) maps an RGB image to a {manifest.feature.per_scale_dim}-d "
        + _feature_words(statistics_dim(manifest.architecture))
        + f"; it runs on {_scales(manifest)} "
        f"(PIL bicubic), giving a {manifest.feature.dim}-d feature that linear heads map to a quality score. "
        f"Images must be at least {manifest.input.min_size} pixels on each side.",
        "",
        *([notes.strip(), ""] if notes.strip() else []),
        "## Usage",
        "",
        "```python",
        "from contrique_infer import QualityScorer",
        "",
        f'scorer = QualityScorer.from_pretrained("your-org/{name}")  # or the path of this folder',
        'print(scorer.score("photo.jpg"))  # default head'
        + (f" ({printable(manifest.default_head)})" if manifest.default_head else ""),
        "```",
        "",
        "```bash",
        "pip install 'contrique-infer[cpu]'",
        f"contrique-score --model your-org/{name} photo.jpg",
        f"hf upload your-org/{name} .  # publish this folder (run inside it) as a Hub model repository",
        "```",
        "",
        "## Heads",
        "",
    ]
    if manifest.heads:
        lines += ["| head | kind | dataset | score scale | better | default |", "| --- | --- | --- | --- | --- | --- |"]
        for h in manifest.heads:
            lines.append(
                f"| {plain(h.name)} | {'full-reference' if h.kind == 'fr' else 'no-reference'} | {plain(h.dataset)} | "
                f"{plain(h.score_scale)} | {'higher' if h.higher_is_better else 'lower'} | "
                f"{'yes' if h.name == manifest.default_head else ''} |"
            )
    else:
        lines.append("This bundle has no heads: use `QualityScorer.features` and fit your own.")
    lines += ["", "## Variants", "", "| variant | file | size | fidelity vs fp32 |", "| --- | --- | --- | --- |"]
    for v in manifest.variants.values():
        size = (folder / v.file).stat().st_size / 1e6
        lines.append(f"| {plain(v.name)} | {code(v.file, cell=True)} | {size:.1f} MB | {_fidelity(v.fidelity)} |")
    lines += ["", "Parity was not checked at export." if parity is None else (
        f"Parity (checked at export): the fp32 graph under onnxruntime ({plain(parity.provider)}) and "
        f"{plain(parity.reference)} agree to a maximum absolute feature difference of {parity.max_abs_diff:.2e} over "
        f"{parity.inputs} inputs ({parity.images} images at every scale; tolerance {parity.tolerance:g}). "
        f"Parity images: {image_sets.get('parity', 'not recorded')}."
    )]
    if "calibration" in image_sets:
        lines.append("")
        lines.append(f"int8 calibration images: {image_sets['calibration']}.")
    if "fidelity" in image_sets:
        lines.append("")
        lines.append(f"Fidelity images (none used for calibration): {image_sets['fidelity']}.")
    lines += [
        "",
        "## Provenance",
        "",
        f"- Source checkpoint: {plain(p.source_checkpoint)} (sha256 {code(p.source_checkpoint_sha256)})",
        f"- Training data: {plain(p.training_data)}",
        f"- Licence: {plain(p.license)}",
        f"- Created by: {plain(p.created_by)}",
    ]
    if p.notes:
        lines.append(f"- Notes: {plain(p.notes)}")
    lines += [
        "",
        "Every file's sha256 is in `contrique.json`; contrique-infer verifies them when it loads the bundle.",
        "",
        "## Citation",
        "",
        "P. C. Madhusudana, N. Birkbeck, Y. Wang, B. Adsumilli and A. C. Bovik, \"Image Quality Assessment using "
        "Contrastive Learning,\" IEEE Transactions on Image Processing, vol. 31, pp. 4149-4161, 2022, "
        "doi:10.1109/TIP.2022.3181496.",
        "",
    ]
    return "\n".join(meta + lines)


def _feature_words(statistics: int) -> str:
    """The card's words for a per-scale feature with ``statistics`` natural-scene values at its end."""
    if not statistics:
        return "L2-normalised feature"
    pairs = (f", and their {statistics - NSS_DIM} standardised pairwise products, so that a linear head is a "
             "quadratic function of them") if statistics > NSS_DIM else ""
    return (f"feature (the L2-normalised pooled CNN feature, then {NSS_DIM} natural-scene statistics: MSCN moments, "
            f"brightness, contrast and exposure{pairs})")


def _fidelity(fidelity: Fidelity | None) -> str:
    if fidelity is None:
        return "reference"
    parts = [f"cosine mean {fidelity.cosine_mean:.5f}, min {fidelity.cosine_min:.5f}"]
    parts += [f"Spearman {plain(head)} {rho:.4f}" for head, rho in fidelity.spearman.items()]
    parts.append(f"{fidelity.images} images")
    return "; ".join(parts)


def write_card(manifest: Manifest, folder: Path, *, image_sets: dict[str, str], notes: str = "") -> Path:
    """Write ``folder/README.md`` (see :func:`render_card`) and return its path."""
    path = folder / CARD_NAME
    path.write_text(render_card(manifest, folder, image_sets=image_sets, notes=notes), encoding="utf-8")
    return path


def _scales(manifest: Manifest) -> str:
    """The card's words for the input scales, e.g. ``the full image and on the image resized to half size``
    or ``... to half, quarter and eighth size``."""
    names = [plain(s.name) for s in manifest.input.scales[1:]]
    if not names:
        return "the full image"
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"the full image and on the image resized to {listed} size"
