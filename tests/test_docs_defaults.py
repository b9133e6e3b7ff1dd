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


def test_every_gateway_setting_is_in_the_http_api_table_with_its_default():
    """Each :class:`GatewaySettings` field is named in docs/http_api.md's settings table, and where the table gives
    a plain number as its default, it is the field's."""
    from triton_ocr.gateway.settings import GatewaySettings

    text = (ROOT / "docs" / "http_api.md").read_text(encoding="utf-8")
    table = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    fields = GatewaySettings.model_fields
    assert [name for name in fields if f"`{name}`" not in table] == []
    numbers = re.findall(r"^\| `(\w+)`[^|]*\| ([0-9][0-9 ]*(?:\.[0-9]+)?) \|", table, re.M)
    assert len(numbers) >= 10, numbers
    wrong = [(name, default) for name, default in numbers
             if float(default.replace(" ", "")) != float(fields[name].default)]
    assert wrong == []
