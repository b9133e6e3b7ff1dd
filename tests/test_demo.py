"""The README's first command: ``triton-ocr demo`` renders its image, reads every line of it and saves the files."""

from __future__ import annotations

import json

from triton_ocr.cli import main
from triton_ocr.demo import DEMO_LINES


def test_demo_reads_its_lines_and_saves_json_and_picture(tmp_path, capsys):
    assert main(["demo", "--save_path", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "demo_ocr.json").read_text(encoding="utf-8"))["res"]
    assert saved["rec_texts"] == list(DEMO_LINES)
    assert (tmp_path / "demo_ocr.png").stat().st_size > 0
    assert "saved" in capsys.readouterr().out
