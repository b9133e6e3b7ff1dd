#!/usr/bin/env bash
# A separate, pinned virtual environment with RapidOCR 3.10.0 (it ships PP-OCRv6 small det/rec and the
# ch_ppocr_mobile_v2.0 cls weights inside the wheel): the reference implementation that parity tests and
# benchmarks run as a subprocess (python_backend/triton_ocr/eval/rapidocr3_runner.py), never imported by triton_ocr.
# Beside it the peer faster-paddle 1.0.4 (MIT; Rust with ONNX Runtime 1.28 linked in, PP-OCRv6 tiny and small in its
# wheel, no Python dependencies), which `triton-ocr bench` and `triton-ocr eval` run the same way
# (python_backend/triton_ocr/eval/faster_paddle_runner.py).
#
#   scripts/reference_env.sh            create .venv-reference in the repo root (skipped if it already has
#                                       rapidocr 3.10.0 and faster-paddle 1.0.4; an older one is rebuilt)
#   scripts/reference_env.sh --force    delete it and build it again
#   PYTHON=/usr/bin/python3.11 scripts/reference_env.sh   another interpreter (default: python3, 3.10-3.12)
#
# rapidocr 3.10.0 itself names no inference engine (onnxruntime is looked up at run time), so the engine and
# everything below it is pinned here. onnxruntime, numpy and opencv-python-headless are the versions the project's
# own pyproject.toml pins, so a parity difference is one of pipeline code, not of kernels or resize routines.
# rapidocr asks for opencv-python-headless (not the GUI build), so no OpenCV clash either.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-reference
python=${PYTHON:-python3}

if [ "${1:-}" = "--force" ]; then
    rm -rf "$venv"
fi

if [ -x "$venv/bin/python" ] && "$venv/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as md, sys
sys.exit(0 if md.version("rapidocr") == "3.10.0" and md.version("faster-paddle") == "1.0.4" else 1)
EOF
then
    echo "$venv already has rapidocr 3.10.0 and faster-paddle 1.0.4: nothing to do (--force rebuilds it)"
    exit 0
fi

# Exact pins of everything that gets installed (rapidocr's requirements, onnxruntime's, requests'; faster-paddle
# has none: its ONNX Runtime is inside its extension, so the onnxruntime pin below is RapidOCR's alone).
pins=(
    rapidocr==3.10.0
    faster-paddle==1.0.4
    onnxruntime==1.23.2
    numpy==2.2.6
    opencv-python-headless==4.12.0.88
    pyclipper==1.3.0.post6
    shapely==2.1.2
    pyyaml==6.0.3
    omegaconf==2.4.0
    colorlog==6.12.0
    tqdm==4.67.1
    pillow==11.3.0
    six==1.17.0
    requests==2.34.2
    charset-normalizer==3.5.3
    idna==3.20
    urllib3==2.8.0
    certifi==2026.10.19.post1
    coloredlogs==15.0.1
    humanfriendly==10.0
    flatbuffers==25.12.19
    packaging==26.4
    protobuf==5.29.6
    sympy==1.14.0
    mpmath==1.3.0
)

rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# No source builds. Every pin has a wheel for CPython 3.10-3.12 on manylinux x86_64/aarch64, macOS and Windows,
# except faster-paddle 1.0.4: it has wheels for Linux x86_64 with glibc >= 2.34 (manylinux_2_34), macOS arm64 and
# Windows x86_64 only (checked with pip download --platform), so this environment cannot be built on Linux aarch64,
# older glibc or Intel macOS.
"${pip[@]}" install --only-binary=:all: "${pins[@]}"
"${pip[@]}" check

"$venv/bin/python" - <<'EOF'
import importlib.metadata as md
from pathlib import Path

import faster_paddle
import onnxruntime
import rapidocr

models = Path(rapidocr.__file__).parent / "models"
for name in ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx"):
    assert (models / name).is_file(), f"missing shipped model {name}"
print(f"rapidocr {md.version('rapidocr')}, onnxruntime {onnxruntime.__version__}, models in {models}")
print(f"faster-paddle {faster_paddle.__version__} ({faster_paddle.__runtime_build__.split(',')[0]})")
EOF
echo "reference environment ready: $venv"
