"""Run faster-paddle 1.0.4 (Rust + ONNX Runtime 1.28 linked in, PP-OCRv6 tiny and small bundled in its wheel, MIT)
on encoded image files and print one JSON line per image: a peer for the benchmark and the evaluation.

This file runs INSIDE the reference environment that ``scripts/reference_env.sh`` builds (``.venv-reference``), as a
subprocess; it imports nothing but the standard library, its sibling :mod:`reference_serve` and ``faster_paddle``
(only in :class:`Runner`, so importing this module elsewhere costs nothing), never the rest of ``triton_ocr``.

    .venv-reference/bin/python python_backend/triton_ocr/eval/faster_paddle_runner.py [--model-size tiny] IMAGE...
    .venv-reference/bin/python python_backend/triton_ocr/eval/faster_paddle_runner.py --serve --threads 2

faster-paddle runs with its own defaults (detector short side ≥ 736 and long side ≤ 1600, recognition crops padded
to ≥ 96 px for small and 64 for tiny) and decodes the files itself: it takes encoded bytes (jpeg, png, webp, bmp,
tiff, gif), never arrays. ``--threads``: its whole CPU budget (detector, recognition workers and its image pool).

``--serve``: after loading, answer ``{"path": PATH}`` requests one JSON line each until stdin ends
(:func:`reference_serve.serve`; each answer also carries ``cpu_seconds``, this process's CPU time so far, every
thread). It has no recogniser-alone call: a ``rec_only`` request is answered with an error.

Output, one line per image: ``{"path", "polys": [[[x, y] * 4], ...], "texts", "scores", "seconds"}`` — its lines in
its order (reading order), each axis-aligned box as the polygon (tl, tr, br, bl), in the file's pixels; ``seconds``:
the ``OcrEngine.ocr`` call on the file's bytes (decoding included), models already loaded. An image that fails gives
``{"path", "error"}`` and the exit status 1 at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

if __package__:  # imported as part of triton_ocr (the tests)
    from triton_ocr.eval.reference_serve import answer_each, drop_own_folder, serve
else:  # run as a script in .venv-reference: this folder is sys.path[0]
    from reference_serve import answer_each, drop_own_folder, serve

MODEL_SIZES = ("small", "tiny")
"""The sizes bundled in the wheel (``medium`` would be downloaded on first use: not offered)."""


def to_lines(result: Dict[str, Any]) -> Dict[str, List[Any]]:
    """faster-paddle's result (``{"text", "structured_text", "bounds": {i: {"topLeftCoord": (x1, y1),
    "bottomRightCoord": (x2, y2), "text", "confidence"}}}``) → ``{"polys": [[[x, y] * 4], ...], "texts",
    "scores"}`` in the order of ``i`` (its reading order; keys may arrive as strings), each box as the polygon
    (x1, y1), (x2, y1), (x2, y2), (x1, y2)."""
    bounds = result.get("bounds") or {}
    polys, texts, scores = [], [], []
    for key in sorted(bounds, key=int):
        line = bounds[key]
        (x1, y1), (x2, y2) = line["topLeftCoord"], line["bottomRightCoord"]
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        polys.append([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        texts.append(str(line["text"]))
        scores.append(float(line["confidence"]))
    return {"polys": polys, "texts": texts, "scores": scores}


class Runner:
    """One ``OcrEngine`` (models loaded once), called on files."""

    def __init__(self, model_size: str = "small", threads: Optional[int] = None) -> None:
        from faster_paddle import OcrEngine

        if model_size not in MODEL_SIZES:
            raise ValueError(f"model size {model_size!r}: one of {', '.join(MODEL_SIZES)}")
        start = time.perf_counter()
        self.engine = OcrEngine(model_size=model_size, threads=threads)
        self.load_seconds = time.perf_counter() - start

    def __call__(self, path: str, rec_only: bool = False) -> Dict[str, Any]:
        if rec_only:
            raise ValueError("faster-paddle has no recogniser-alone call")
        data = Path(path).read_bytes()
        started = time.perf_counter()
        result = self.engine.ocr(data)
        return {"path": path, **to_lines(result), "seconds": time.perf_counter() - started}


def main(argv: Optional[List[str]] = None) -> int:
    drop_own_folder(__file__)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="encoded image files")
    parser.add_argument("--model-size", choices=MODEL_SIZES, default="small")
    parser.add_argument("--threads", type=int, help="its CPU budget (default: its own, the available cores)")
    parser.add_argument("--serve", action="store_true", help="answer JSON requests from stdin line by line")
    args = parser.parse_args(argv)
    runner = Runner(args.model_size, args.threads)
    print(f"faster_paddle_runner: {args.model_size} loaded in {runner.load_seconds:.2f}s, "
          f"{runner.engine.config}", file=sys.stderr)
    return serve(runner) if args.serve else answer_each(runner, args.images)


if __name__ == "__main__":
    sys.exit(main())
