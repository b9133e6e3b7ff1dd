"""The documents state the defaults the code has: every sentence of README.md and docs/ that names the default
inference precision names :class:`~triton_ocr.config.RuntimeConfig`'s."""

from __future__ import annotations

import re
from pathlib import Path

from triton_ocr.config import RuntimeConfig

ROOT = Path(__file__).resolve().parents[1]
PRECISION = r"(fp32|bf16|fp16|bfloat16|float32|float16)"
CLAIMS = [
    re.compile(rf"OpenVINO {PRECISION}\s*(?:\(default\)|= the default|, the default)"),
    re.compile(rf"`precision: {PRECISION}` \(the default\)"),
    re.compile(rf"\(default\), `precision: {PRECISION}`"),
    re.compile(rf"default `openvino`(?:,| in) {PRECISION}"),
    re.compile(rf"in {PRECISION} by default"),
    re.compile(rf"OpenVINO {PRECISION} is the default"),
]
SPELLINGS = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16"}


def default_precision_claims() -> list[tuple[str, str]]:
    """(where, precision) for each claim about the default precision in README.md and docs/*.md."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = " ".join(path.read_text(encoding="utf-8").split())  # claims may wrap across lines
        for pattern in CLAIMS:
            for match in pattern.finditer(text):
                found.append((f"{path.name}: {match.group(0)}", SPELLINGS.get(match.group(1), match.group(1))))
    return found


def test_docs_name_the_default_precision_the_config_has():
    claims = default_precision_claims()
    assert len(claims) >= 5, claims
    wrong = [where for where, precision in claims if precision != RuntimeConfig().precision]
    assert wrong == [], f"the default precision is {RuntimeConfig().precision}"
