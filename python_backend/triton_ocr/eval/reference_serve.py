"""The request loops of the runners that run INSIDE the reference environment (``.venv-reference``, made by
``scripts/reference_env.sh``): :mod:`rapidocr3_runner` (RapidOCR 3.10.0) and :mod:`faster_paddle_runner`
(faster-paddle 1.0.4). Standard library only: the runners import it as a sibling module when run as scripts there,
and as ``triton_ocr.eval.reference_serve`` when the tests import them.

A runner is a callable ``(path, rec_only) → answer``: ``path`` names an image file, ``rec_only`` asks for the
recogniser alone on the whole image; the answer is a JSON-able dict ``{"path", "polys": [[[x, y] * 4], ...],
"texts", "scores", "seconds", ...}``. :class:`triton_ocr.eval.reference_process.ReferenceProcess` is the other end.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Runner = Callable[[str, bool], dict[str, Any]]


def drop_own_folder(script: str) -> None:
    """Run as a script, ``sys.path[0]`` is the script's folder (``triton_ocr/eval``): drop it, so that nothing of
    ``triton_ocr`` can be imported (as top-level modules) from there on. Call it after the runner's own imports."""
    here = str(Path(script).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]


def _answer(runner: Runner, path: str, rec_only: bool = False) -> tuple[dict[str, Any], bool]:
    """The runner's answer, or ``{"path", "error"}`` (and ``False``) when it raised."""
    try:
        return runner(path, rec_only), True
    except Exception as exc:  # one bad image must not lose the others' results, nor end the process
        return {"path": path, "error": f"{type(exc).__name__}: {exc}"}, False


def _write(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def serve(runner: Runner) -> int:
    """``--serve``: answer ``{"path", "rec_only"}`` requests from stdin, one JSON line each (flushed), until stdin
    ends. Each answer also carries ``cpu_seconds``: this process's CPU time so far (every thread, user + system)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        answer, _ = _answer(runner, request.get("path"), bool(request.get("rec_only", False)))
        answer["cpu_seconds"] = time.process_time()
        _write(answer)
    return 0


def answer_each(runner: Runner, paths: list[str]) -> int:
    """One JSON line per image path; the exit status 1 when any image failed."""
    status = 0
    for path in paths:
        answer, ok = _answer(runner, path)
        status = status if ok else 1
        _write(answer)
    return status
