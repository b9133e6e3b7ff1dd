"""Where the in-process pipeline runs: ``create_pipeline(device=...)`` / ``--device`` onto ``runtime.device``."""

from __future__ import annotations

from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError

GPU_RUNTIME = {"engine": "torch", "precision": "fp16"}
"""What a GPU device implies where the pipeline config leaves the runtime unset: the torch engine (the only one here
with a GPU path) in fp16 (BatchNorm folded first; fp32 fallback per call)."""


def with_device(config: OCRConfig, device: str | None, server: str | None = None) -> OCRConfig:
    """``config`` set to run on ``device`` (``None``: the config's ``runtime.device``).

    A GPU (``gpu`` / ``gpu:N``) fills :data:`GPU_RUNTIME` into the runtime fields the config leaves unset, and is
    checked at once: a GPU this machine does not have is a DeviceUnavailableError naming ``device``. With a
    ``server``, the server's serving profile places the models: any device but ``cpu`` is refused.
    """
    if server is not None:
        if device not in (None, "cpu"):
            raise ConfigError(
                f"device {device!r} applies in-process; a Triton server places its models by its serving profile "
                "(triton-ocr serve --profile gpu): leave device out with server="
            )
        return config
    if device is not None:
        config = config.with_overrides(runtime={"device": device.strip().lower()})
    if config.runtime.device == "cpu":
        return config
    config = config.with_defaults("runtime", GPU_RUNTIME, f"device {config.runtime.device!r}")
    if device is not None and config.runtime.engine == "torch":
        from triton_ocr.engine.torch_engine import torch_device

        torch_device(config.runtime.device, setting="device")
    return config
