"""RapidOCR 1.4.4 (same PP-OCRv4 weights) configured with our parameters: the reference for parity and speed.

RapidOCR is a test/benchmark dependency only (``pip install --no-deps rapidocr-onnxruntime==1.4.4``). Its own
defaults differ from PaddleX's (min-736 resize, 0.5/0.5 normalisation, box_thresh 0.5, unclip 1.6, dilation, extra
pre-resizing and letterboxing); here every one of them is set to the value our :class:`OCRConfig` holds, so any
difference left is a difference of implementation.
"""

from __future__ import annotations


import numpy as np

from triton_ocr.config import OCRConfig
from triton_ocr.models.registry import resolve_model
from triton_ocr.stages import OCRLines


class RapidOCRReference:
    """Callable BGR image → :class:`OCRLines`, computed by RapidOCR with ``config``'s parameters (its angle
    classifier on exactly when ``config.use_textline_orientation`` is)."""

    def __init__(self, config: OCRConfig = OCRConfig()) -> None:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det.text_detect import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        det, rec = config.text_det, config.text_rec
        threads = config.runtime.intra_op_threads
        self.engine = RapidOCR(
            det_model_path=str(resolve_model(det.model).onnx_path),
            rec_model_path=str(resolve_model(rec.model).onnx_path),
            det_limit_side_len=det.limit_side_len,
            det_limit_type=det.limit_type,
            det_box_thresh=det.box_thresh,
            det_unclip_ratio=det.unclip_ratio,
            det_use_dilation=det.use_dilation,
            det_score_mode=det.score_mode,
            det_thresh=det.thresh,
            rec_batch_num=rec.batch_size,
            text_score=rec.score_thresh,
            use_cls=config.use_textline_orientation,
            intra_op_num_threads=threads,
            min_height=0,
            width_height_ratio=-1,
            max_side_len=10**9,
            min_side_len=0,
        )
        text_det = self.engine.text_det
        text_det.mean, text_det.std = list(det.mean), list(det.std)
        fixed = DetPreProcess(det.limit_side_len, det.limit_type, text_det.mean, text_det.std)
        # RapidOCR picks 960/1500/2000 by image size for limit_type "max"; PaddleX uses the configured limit.
        text_det.get_preprocess = lambda _max_wh: fixed
        assert isinstance(text_det, TextDetector)

    def __call__(self, image: np.ndarray) -> OCRLines:
        result, _ = self.engine(image)
        if not result:
            return OCRLines(np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32), [], np.zeros((0,), np.float32))
        return OCRLines(
            polys=np.array([r[0] for r in result], dtype=np.float32),
            det_scores=np.ones((len(result),), np.float32),
            texts=[r[1] for r in result],
            rec_scores=np.array([r[2] for r in result], dtype=np.float32),
        )
