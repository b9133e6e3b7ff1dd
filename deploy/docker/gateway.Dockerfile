# syntax=docker/dockerfile:1
# The HTTP gateway (POST /ocr, GET /health, GET /health/ready): a stateless client of Triton over gRPC.
#
# Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t REGISTRY/triton-ocr/gateway:0.1.0 .
ARG PYTHON_VERSION=3.11.11

FROM python:${PYTHON_VERSION}-slim-bookworm
# A CJK font for the boxes-and-text picture in the response (found at its Debian path).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gateway
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TRITON_OCR_HOME=/tmp/triton-ocr
WORKDIR /src
COPY pyproject.toml README.md ./
COPY python_backend/ python_backend/
COPY client/ client/
RUN pip install ".[triton,serve]" && rm -rf /src
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["triton-ocr"]
# ASSUMPTION: the gateway CLI (also in the chart's gateway.args and in compose.yaml).
CMD ["gateway", "--engine", "triton", "--triton-url", "grpc://triton:8001", "--port", "8080", "--host", "0.0.0.0"]
