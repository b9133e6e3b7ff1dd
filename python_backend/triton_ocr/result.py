"""The result of one image, shaped like PaddleX's ``OCRResult``: a dict with print and save methods."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from triton_ocr.stages import OCRLines

RESULT_KEYS = ("input_path", "dt_polys", "dt_scores", "rec_text", "rec_score")


class OCRResult(dict):
    """``{input_path, dt_polys, dt_scores, rec_text, rec_score}``; all four lists are aligned, one entry a line.

    ``dt_polys`` are (4, 2) float32 arrays in image pixels (tl, tr, br, bl). The BGR image (or a function that
    decodes it on demand) is kept privately for :meth:`save_to_img`.
    """

    def __init__(
        self,
        input_path: str | None,
        lines: OCRLines,
        image: np.ndarray | Callable[[], np.ndarray] | None = None,
    ) -> None:
        super().__init__(
            input_path=input_path,
            dt_polys=list(lines.polys),
            dt_scores=[float(s) for s in lines.det_scores],
            rec_text=list(lines.texts),
            rec_score=[float(s) for s in lines.rec_scores],
        )
        self._image = image

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only (polygons as nested lists of ints)."""
        return {
            "input_path": self["input_path"],
            "dt_polys": [np.asarray(p).round().astype(int).tolist() for p in self["dt_polys"]],
            "dt_scores": self["dt_scores"],
            "rec_text": self["rec_text"],
            "rec_score": self["rec_score"],
        }

    def to_json(self, indent: int | None = 4, ensure_ascii: bool = False) -> str:
        return json.dumps({"res": self.to_json_dict()}, indent=indent, ensure_ascii=ensure_ascii)

    def print(self, format_json: bool = True, indent: int = 4, ensure_ascii: bool = False) -> None:
        print(self.to_json(indent, ensure_ascii) if format_json else str({"res": self.to_json_dict()}))

    def _target(self, save_path: str | Path, suffix: str) -> Path:
        path = Path(save_path)
        if path.suffix.lower() == suffix or (suffix == ".png" and path.suffix.lower() in (".jpg", ".jpeg")):
            path.parent.mkdir(parents=True, exist_ok=True)
            return path
        path.mkdir(parents=True, exist_ok=True)
        stem = Path(self["input_path"]).stem if self["input_path"] and "://" not in self["input_path"] else "result"
        return path / f"{stem}_ocr{suffix}"

    def save_to_json(self, save_path: str | Path, indent: int = 4, ensure_ascii: bool = False) -> Path:
        """Write the JSON to ``save_path`` (a .json file, or a folder: ``<stem>_ocr.json`` inside)."""
        target = self._target(save_path, ".json")
        target.write_text(self.to_json(indent, ensure_ascii) + "\n", encoding="utf-8")
        return target

    def save_to_img(self, save_path: str | Path) -> Path:
        """Draw boxes and texts (a CJK font) beside the image; write ``save_path`` or ``<folder>/<stem>_ocr.png``."""
        from triton_ocr.visualize import draw_ocr_result

        if self._image is None:
            raise ValueError("this result carries no image to draw on")
        image = self._image() if callable(self._image) else self._image
        target = self._target(save_path, ".png")
        picture = draw_ocr_result(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self["dt_polys"], self["rec_text"])
        picture.save(target)
        return target
