"""Serving settings: how many instances, threads and batches each Triton model gets, per deployment flavour.

Pipeline parameters (thresholds, sizes, model names, the inference engine and its precision) live in
:class:`triton_ocr.config.OCRConfig`; a :class:`ServingProfile` only says how the models are run (the ``gpu``
profile pins the engine to ONNX Runtime, whose CUDA/TensorRT providers the GPU needs). Two named profiles ship:
``cpu`` (the committed ``model_repository/``) and ``gpu``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triton_ocr.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueuePolicy(_Section):
    """Triton's ``default_queue_policy``: bound the queue so overload is refused fast instead of timing out."""

    max_queue_size: int = Field(0, ge=0, description="0: unbounded")
    default_timeout_microseconds: int = Field(0, ge=0, description="0: no time-out in the queue")
    allow_timeout_override: bool = True


class BatchedModel(_Section):
    """An ONNX model served with dynamic batching (``text_det``, ``text_rec``, ``textline_orientation``) by the
    backend of the pipeline's ``runtime.engine``."""

    instances: int = Field(1, ge=1)
    intra_op_threads: int = Field(
        1, ge=0, description="inference threads per instance: ONNX Runtime intra-op, OpenVINO INFERENCE_NUM_THREADS"
    )
    inter_op_threads: int = Field(1, ge=0, description="ONNX Runtime only")
    max_batch_size: int = Field(8, ge=1)
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = Field(2000, ge=0)
    queue: QueuePolicy = QueuePolicy()


class PythonStep(_Section):
    """A python model of the pipeline (``det_preprocess``, ``ocr_postprocess``)."""

    instances: int = Field(1, ge=1)


class ServingProfile(_Section):
    """Everything about running the models that is not a pipeline parameter."""

    name: str
    kind: Literal["KIND_CPU", "KIND_GPU"] = "KIND_CPU"
    det_preprocess: PythonStep = PythonStep()
    ocr_postprocess: PythonStep = PythonStep(instances=2)
    text_det: BatchedModel = BatchedModel()
    text_rec: BatchedModel = BatchedModel()
    textline_orientation: BatchedModel = BatchedModel(max_batch_size=6)
    det_size_multiple: int = Field(
        32, ge=32, description="detector inputs are zero-padded up to a multiple of this (shape buckets); 32 = none"
    )
    rec_max_inflight: int = Field(
        16, ge=1, description="recognition calls one image keeps in flight at once (bounds memory for 2000 lines)"
    )
    execution_accelerators: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict, description="ONNX Runtime optimization.execution_accelerators block (GPU)"
    )
    pipeline_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="OCRConfig fields this flavour changes, e.g. larger recognition batches"
    )


PROFILES: dict[str, ServingProfile] = {
    "cpu": ServingProfile(
        name="cpu",
        det_preprocess=PythonStep(instances=1),
        ocr_postprocess=PythonStep(instances=3),
        text_det=BatchedModel(
            instances=1,
            intra_op_threads=2,
            max_batch_size=4,
            preferred_batch_sizes=(2, 4),
            max_queue_delay_microseconds=2000,
            queue=QueuePolicy(max_queue_size=64),
        ),
        text_rec=BatchedModel(instances=1, intra_op_threads=2, max_batch_size=6, max_queue_delay_microseconds=3000),
        textline_orientation=BatchedModel(instances=1, intra_op_threads=1, max_batch_size=6),
    ),
    "gpu": ServingProfile(
        name="gpu",
        kind="KIND_GPU",
        det_preprocess=PythonStep(instances=4),
        ocr_postprocess=PythonStep(instances=4),
        text_det=BatchedModel(
            instances=1,
            intra_op_threads=0,
            max_batch_size=8,
            preferred_batch_sizes=(4, 8),
            max_queue_delay_microseconds=1000,
            queue=QueuePolicy(max_queue_size=256),
        ),
        text_rec=BatchedModel(
            instances=1,
            intra_op_threads=0,
            max_batch_size=128,
            preferred_batch_sizes=(32, 64, 128),
            max_queue_delay_microseconds=1000,
        ),
        textline_orientation=BatchedModel(
            instances=1, intra_op_threads=0, max_batch_size=64, preferred_batch_sizes=(32, 64),
            max_queue_delay_microseconds=1000,
        ),
        det_size_multiple=128,
        rec_max_inflight=32,
        execution_accelerators={
            "gpu_execution_accelerator": [
                {
                    "name": "tensorrt",
                    "parameters": {"precision_mode": "FP16", "max_workspace_size_bytes": "1073741824"},
                }
            ]
        },
        pipeline_overrides={
            "text_rec": {"batch_size": 32},
            "textline_orientation": {"batch_size": 32},
            "runtime": {"engine": "onnxruntime"},
        },
    ),
}


def get_profile(name: str) -> ServingProfile:
    """The named profile (``cpu`` or ``gpu``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown serving profile {name!r}: use one of {', '.join(PROFILES)}") from None
