#!/usr/bin/env bash
# Set up triton-ocr on a fresh machine: a virtual environment in .venv, the package and its pinned
# dependencies, then the default model set (and a CJK font) and the Triton server binary fetched into the cache.
#   scripts/setup.sh          runtime: in-process pipeline, Triton launcher, client, HTTP gateway
#   scripts/setup.sh --dev    also the test and benchmark tools (pytest, the RapidOCR reference, ...)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

extras="triton,serve"
if [ "${1:-}" = "--dev" ]; then extras="$extras,dev,deploy,paddle,loadtest"; fi
"${pip[@]}" install -e ".[$extras]"
if [ "${1:-}" = "--dev" ]; then
    # The reference implementation for parity tests and benchmarks. --no-deps: it wants the GUI build of
    # OpenCV, which would clash with opencv-python-headless; everything else it needs is installed above.
    "${pip[@]}" install --no-deps rapidocr-onnxruntime==1.4.4
    # RapidOCR 3.10, the reference for the PP-OCRv5/v6 sets, in a pinned environment of its own (.venv-reference).
    scripts/reference_env.sh
    # The torch engine for its CPU tests (tests/test_torch_engine.py, tests/test_gpu_service.py): the CPU build only
    # (`+cpu` matches no PyPI file, so no multi-GB CUDA build is ever pulled); where this machine has no such wheel,
    # those tests skip and say why. onnx2torch without its torchvision dependency (unused; see pyproject's torch extra).
    if "${pip[@]}" install "torch==2.13.0+cpu"; then
        "${pip[@]}" install --no-deps onnx2torch==1.5.15
    else
        echo "note: no CPU build of torch 2.13.0 here: the torch engine's tests will skip" >&2
    fi
fi
# The default model set; the PP-OCRv5/v6 sets too for the tests (`triton-ocr models fetch --all`).
if [ "${1:-}" = "--dev" ]; then .venv/bin/triton-ocr models fetch --all; else .venv/bin/triton-ocr models fetch; fi
# The Triton server binary (from the pinned nvidia-pytriton wheel) and the python stub's environment.
.venv/bin/triton-ocr serve --install
