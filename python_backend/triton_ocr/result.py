"""The result of one image (or one PDF page), shaped like PaddleX's ``OCRResult``: a dict with print and save
methods, ``.json`` and ``.img``, carrying PaddleX 3.x's keys and the 3.0-beta ones side by side."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from triton_ocr.config import OCRConfig
from triton_ocr.stages import OCRLines

BETA_KEYS = ("input_path", "dt_polys", "dt_scores", "rec_text", "rec_score")
"""PaddleX 3.0-beta's result keys."""
V3_KEYS = (
    "input_path", "page_index", "model_settings", "dt_polys", "dt_scores", "text_det_params", "text_type",
    "textline_orientation_angles", "text_rec_score_thresh", "rec_texts", "rec_scores", "rec_polys", "rec_boxes",
)
"""PaddleX 3.x's result keys (``return_word_box`` adds :data:`WORD_KEYS`)."""
RESULT_KEYS = (*V3_KEYS, "rec_text", "rec_score")
WORD_KEYS = ("text_word", "text_word_region", "text_word_boxes")
"""PaddleX 3.x's per-line word keys: the words, their polygons (k, 4, 2) and their int boxes (k, 4)."""


def det_params(config: OCRConfig) -> dict[str, Any]:
    """PaddleX 3.x ``text_det_params``: the detection settings the result was computed with."""
    det = config.text_det
    return {
        "limit_side_len": det.limit_side_len, "limit_type": det.limit_type, "thresh": det.thresh,
        "max_side_limit": det.max_side_limit, "box_thresh": det.box_thresh, "unclip_ratio": det.unclip_ratio,
    }


def axis_boxes(polys: list[np.ndarray]) -> np.ndarray:
    """Polygons (N × (4, 2)) → int (N, 4) axis-aligned boxes ``[x_min, y_min, x_max, y_max]`` (``rec_boxes``)."""
    if not polys:
        return np.zeros((0, 4), np.int64)
    stacked = np.asarray(polys, np.float32)
    return np.concatenate([stacked.min(axis=1), stacked.max(axis=1)], axis=1).round().astype(np.int64)


def compact_json(value: Any, indent: int = 4, ensure_ascii: bool = False, level: int = 0) -> str:
    """``value`` (plain JSON types) as JSON text: objects and long nested arrays one item per line, an array of at
    most two levels without objects (a polygon, a list of scores or texts) on one line."""
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key, ensure_ascii=ensure_ascii)}: "
                 f"{compact_json(item, indent, ensure_ascii, level + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and not inline(value):
        items = [f"{inner}{compact_json(item, indent, ensure_ascii, level + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=ensure_ascii)


def inline(items: list[Any], depth: int = 2) -> bool:
    """Whether an array holds no objects and nests at most ``depth`` levels."""
    return depth > 0 and all(
        not isinstance(item, dict) and (not isinstance(item, list) or inline(item, depth - 1)) for item in items
    )


def json_value(value: Any) -> Any:
    """Plain JSON types: arrays become (nested) lists, polygons rounded to ints."""
    if isinstance(value, np.ndarray):
        return value.round().astype(int).tolist() if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


class OCRResult(dict):
    """One image's (or PDF page's) lines, aligned one entry a line, in reading order.

    PaddleX 3.x keys: ``rec_texts``, ``rec_scores``, ``rec_polys`` ((4, 2) float32 arrays, tl, tr, br, bl, in image
    pixels), ``rec_boxes`` (int (N, 4)), ``dt_polys``, ``dt_scores``, ``textline_orientation_angles`` (-1 each when
    orientation did not run), ``text_det_params``, ``text_type``, ``text_rec_score_thresh``, ``model_settings``,
    ``page_index`` (``None`` for an image); with ``return_word_box`` also, per line, ``text_word`` (its words),
    ``text_word_region`` (their float32 (k, 4, 2) polygons) and ``text_word_boxes`` (int (k, 4) boxes);
    with ``use_doc_orientation_classify`` also ``doc_preprocessor_res`` (``angle``: 0, 90, 180 or 270).
    PaddleX 3.0-beta keys: ``rec_text``, ``rec_score``. ``dt_polys`` / ``dt_scores`` list the kept lines (3.0-beta's
    meaning), so they equal ``rec_polys`` here. The BGR image (or a function that decodes it) is kept for
    :meth:`save_to_img` and :attr:`img`; ``stem`` names the saved files.
    """

    def __init__(
        self,
        input_path: str | None,
        lines: OCRLines,
        image: np.ndarray | Callable[[], np.ndarray] | None = None,
        *,
        config: OCRConfig | None = None,
        page_index: int | None = None,
        stem: str | None = None,
    ) -> None:
        cfg = config or OCRConfig()
        polys = list(lines.polys)
        texts, scores = list(lines.texts), [float(s) for s in lines.rec_scores]
        angles = [-1] * len(texts) if lines.angles is None else [int(a) for a in lines.angles]
        super().__init__(
            input_path=input_path,
            page_index=page_index,
            model_settings={
                "use_doc_preprocessor": cfg.use_doc_orientation_classify,
                "use_textline_orientation": cfg.use_textline_orientation,
            },
            dt_polys=polys,
            dt_scores=[float(s) for s in lines.det_scores],
            text_det_params=det_params(cfg),
            text_type="general",
            textline_orientation_angles=angles,
            text_rec_score_thresh=cfg.text_rec.score_thresh,
            rec_texts=texts,
            rec_scores=scores,
            rec_polys=polys,
            rec_boxes=axis_boxes(polys),
            rec_text=texts,
            rec_score=scores,
        )
        if lines.doc_angle is not None:  # PaddleX 3.x's doc preprocessor result; polygons stay in the input's pixels
            self["doc_preprocessor_res"] = {
                "model_settings": {"use_doc_orientation_classify": True, "use_doc_unwarping": False},
                "angle": lines.doc_angle,
            }
        if cfg.return_word_box:
            words = lines.words or []
            self["text_word"] = [line.texts for line in words]
            self["text_word_region"] = [line.polys for line in words]
            self["text_word_boxes"] = [axis_boxes(list(line.polys)) for line in words]
        self._image = image
        self.stem = stem

    def source_image(self) -> np.ndarray:
        """The BGR uint8 image (H, W, 3) the result was read from."""
        if self._image is None:
            raise ValueError("this result carries no image to draw on")
        return self._image() if callable(self._image) else self._image

    def for_page(self, page_index: int | None, image: np.ndarray | None) -> OCRResult:
        """This result as page ``page_index`` of a document, read from ``image`` (BGR); returns itself."""
        self["page_index"] = page_index
        self._image = image if image is not None else self._image
        return self

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only (polygons and boxes as nested lists of ints)."""
        return {key: json_value(value) for key, value in self.items()}

    @property
    def json(self) -> dict[str, Any]:
        """PaddleX 3.x's ``res.json``: ``{"res": {...}}`` in plain JSON types."""
        return {"res": self.to_json_dict()}

    def to_json(self, indent: int | None = 4, ensure_ascii: bool = False) -> str:
        return json.dumps(self.json, indent=indent, ensure_ascii=ensure_ascii)

    @property
    def str(self) -> str:
        """What :meth:`print` prints by default: the JSON with every array of numbers or strings on one line (a
        polygon per line)."""
        return compact_json(self.json)

    def print(self, json_format: bool = False, indent: int = 4, ensure_ascii: bool = False, *,
              format_json: bool | None = None) -> None:
        """PaddleX 3.x's ``print``: the compact JSON (:attr:`str`, indented by ``indent``), or with
        ``json_format=True`` the JSON fully indented. ``format_json``: this package's older name of
        ``json_format``."""
        if format_json is not None:
            json_format = format_json
        text = self.to_json(indent, ensure_ascii) if json_format else compact_json(self.json, indent, ensure_ascii)
        print(text)

    def file_stem(self) -> str:
        """The saved files' name: ``stem`` if given, else the input's file name (a URL's too); a PDF page adds
        ``_<page_index>``."""
        path = self["input_path"]
        stem = self.stem or (Path(path.split("?", 1)[0].rstrip("/")).stem if path else "") or "result"
        return stem if self["page_index"] is None else f"{stem}_{self['page_index']}"

    def _target(self, save_path: str | Path, suffix: str) -> Path:
        path = Path(save_path)
        if path.suffix.lower() == suffix or (suffix == ".png" and path.suffix.lower() in (".jpg", ".jpeg")):
            path.parent.mkdir(parents=True, exist_ok=True)
            return path
        path.mkdir(parents=True, exist_ok=True)
        return path / f"{self.file_stem()}_ocr{suffix}"

    def save_to_json(self, save_path: str | Path, indent: int = 4, ensure_ascii: bool = False) -> Path:
        """Write the JSON to ``save_path`` (a .json file, or a folder: ``<stem>_ocr.json`` inside)."""
        target = self._target(save_path, ".json")
        target.write_text(self.to_json(indent, ensure_ascii) + "\n", encoding="utf-8")
        return target

    @property
    def img(self) -> dict[str, Any]:
        """PaddleX 3.x's ``res.img``: ``{"ocr_res_img": PIL.Image}`` (boxes on the image, texts beside it)."""
        from triton_ocr.visualize import draw_ocr_result

        image = self.source_image()
        return {"ocr_res_img": draw_ocr_result(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), self["rec_polys"],
                                               self["rec_texts"])}

    def save_to_img(self, save_path: str | Path) -> Path:
        """Draw boxes and texts (a CJK font) beside the image; write ``save_path`` or ``<folder>/<stem>_ocr.png``."""
        picture = self.img["ocr_res_img"]
        target = self._target(save_path, ".png")
        picture.save(target)
        return target
