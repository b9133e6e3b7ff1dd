"""RapidOCR 3.10.0, the reference for the PP-OCRv5/v6 sets, run in its own environment (``.venv-reference``, made
by ``scripts/reference_env.sh``) through :mod:`rapidocr3_runner`, with our pipeline's settings or its own defaults."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triton_ocr.config import OCRConfig
from triton_ocr.eval.reference_process import PYTHON, lines_of, require_reference_env
from triton_ocr.models.registry import resolve_pipeline_models
from triton_ocr.stages import OCRLines

RUNNER = Path(__file__).with_name("rapidocr3_runner.py")


def reference_params(config: OCRConfig) -> dict[str, Any]:
    """RapidOCR 3.10 parameters (its dotted config names) that run our ``config``'s models with our settings; its
    extras (pre-resize, vertical padding, the angle classifier) off. RapidOCR's detector has no long-side cap (its
    pre-resize shrinks the image itself, crops included) and no short-side floor: compare with
    ``max_side_limit`` / ``min_side_len`` set where they do not act on the images."""
    models = resolve_pipeline_models(config)
    det, rec = models.config.text_det, models.config.text_rec
    params: dict[str, Any] = {
        "Det.model_path": str(models.det.onnx_path),
        "Det.limit_side_len": det.limit_side_len,
        "Det.limit_type": det.limit_type,
        "Det.mean": list(det.mean),
        "Det.std": list(det.std),
        "Det.thresh": det.thresh,
        "Det.box_thresh": det.box_thresh,
        "Det.unclip_ratio": det.unclip_ratio,
        "Det.max_candidates": det.max_candidates,
        "Det.use_dilation": det.use_dilation,
        "Det.score_mode": det.score_mode,
        "Rec.model_path": str(models.rec.onnx_path),
        "Rec.rec_img_shape": [3, rec.image_height, rec.min_width],
        "Rec.rec_batch_num": rec.batch_size,
        "Global.text_score": rec.score_thresh,
        "Global.use_cls": False,
        "Global.use_preprocess_img": False,
        "Global.use_vertical_padding": False,
    }
    if models.rec.charset_path is not None:
        params["Rec.rec_keys_path"] = str(models.rec.charset_path)
    return params


def run_reference(images: Sequence[str], params: dict[str, Any] | None, threads: int = 2) -> dict[str, OCRLines]:
    """RapidOCR 3.10 on ``images`` (paths) with ``params`` (``None``: its own defaults): lines by path."""
    require_reference_env()
    request = {"params": params or {}, "images": list(images), "threads": threads, "force_rec_keys": params is not None}
    done = subprocess.run(
        [str(PYTHON), str(RUNNER)], input=json.dumps(request), capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"the RapidOCR 3.10 runner failed ({done.returncode}):\n{done.stderr[-3000:]}")
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    return {answer["path"]: lines_of(answer) for answer in answers}
