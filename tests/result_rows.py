"""Result rows as contrique-score writes them, for the tests of its output (test_output.py) and of
--resume (test_resume.py)."""

from __future__ import annotations

from typing import Any

from contrique_infer.report import ReportHeader

ROWS = [
    {"source": "a.png", "score": 41.5, "width": 40, "height": 30, "error": None, "error_type": None},
    {"source": "bad.png", "score": None, "width": None, "height": None, "error": "truncated file",
     "error_type": "ImageDecodeError"},
    {"source": "c, \"quoted\".png", "score": 0.125, "width": 33, "height": 25, "error": None, "error_type": None},
]
MADE_WITH = ReportHeader("tiny", "fp32", "quality", "nr", "MOS, 0..100", True, apply_exif=False,
                         bundle_digest="0123456789abcdef")
OTHER_SETTINGS = {  # what a resume asks for instead: the fields that differ from MADE_WITH
    "model": {"model": "other"},
    "head": {"head": "level", "score_scale": "level"},
    "variant": {"variant": "int8"},
    "fr": {"head": "fr", "head_kind": "fr", "reference": "ref.png", "reference_digest": "0011223344556677"},
    "direction": {"higher_is_better": False},
    "apply_exif": {"apply_exif": True},
    "bundle": {"bundle_digest": "fedcba9876543210"},
}


def made(rows: list[dict[str, Any]], made_with: ReportHeader = MADE_WITH) -> list[dict[str, Any]]:
    """``rows`` as contrique-score streams them: each with what its score was made with, then its note."""
    return [{**{k: v for k, v in row.items() if k != "note"}, **made_with.to_dict(), "note": row.get("note")}
            for row in rows]
