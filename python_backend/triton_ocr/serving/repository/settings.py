"""How one Triton model is run: instances, threads, dynamic batching, queue bounds (values of a serving profile)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueuePolicy(_Section):
    """Triton's ``default_queue_policy``, rendered for every model with a dynamic batcher: bound the queue so
    overload is refused fast instead of timing out. Triton's own default (no bound, no time-outs, no per-request
    override) is refused: under it the dynamic batcher prefetches the next batch while every instance is busy, and
    when the queued requests differ in shape it spins a core doing so (measured in docs/performance.md, eighth
    pass). Any other policy turns the prefetch off; a model fed whole batches can go without a batcher instead
    (:attr:`BatchedModel.dynamic_batching`)."""

    max_queue_size: int = Field(0, ge=0, description="0: unbounded")
    default_timeout_microseconds: int = Field(0, ge=0, description="0: no time-out in the queue")
    allow_timeout_override: bool = True

    @model_validator(mode="after")
    def _not_tritons_default(self) -> QueuePolicy:
        if not self.allow_timeout_override and not self.max_queue_size and not self.default_timeout_microseconds:
            raise ValueError(
                "queue: Triton's default policy (no bound, no time-out, allow_timeout_override false) makes its "
                "dynamic batcher spin a core while every instance is busy: keep allow_timeout_override true, or set "
                "max_queue_size or default_timeout_microseconds"
            )
        return self


class BatchedModel(_Section):
    """An ONNX model served by the backend of the pipeline's ``runtime.engine``, with Triton's dynamic batching
    unless ``dynamic_batching`` is false.

    A model fed in pipeline chunks (``text_rec``: ``text_rec.batch_size`` lines per call) counts its batches in
    chunks: ``max_batch_size`` = chunk × ``chunks_per_batch``, preferred sizes = chunk × ``preferred_chunks``, so the
    pipeline's batch size, declared once, drives both. Other models (``text_det``: one image per call) give
    ``max_batch_size`` and ``preferred_batch_sizes`` directly.
    """

    instances: int = Field(1, ge=1)
    intra_op_threads: int = Field(
        1, ge=0, description="inference threads per instance: ONNX Runtime intra-op, OpenVINO INFERENCE_NUM_THREADS"
    )
    inter_op_threads: int = Field(1, ge=0, description="ONNX Runtime only")
    max_batch_size: int | None = Field(None, ge=1, description="models not fed in pipeline chunks")
    preferred_batch_sizes: tuple[int, ...] = ()
    chunks_per_batch: int = Field(1, ge=1, description="models fed in pipeline chunks: chunks merged at most")
    preferred_chunks: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = Field(2000, ge=0)
    queue: QueuePolicy = QueuePolicy()
    kernel_cache_entries: int | None = Field(
        None, ge=0, description="OpenVINO only: per-shape kernels kept (CPU_RUNTIME_CACHE_CAPACITY); more saves "
        "compiling the kernels of a shape seen before, at the memory they hold; None: the runner's default "
        "(SERVED_RUNTIME_CACHE_ENTRIES)"
    )
    static_shapes: int = Field(
        0, ge=0, description="OpenVINO only: copies of the model compiled for this many input shapes that recur "
        "(each seen twice or more; the detectors run 25-30 % faster on them, each copy holds its own buffers, and "
        "their results can differ from the dynamic model's by bf16 rounding); 0: none"
    )
    dynamic_batching: bool = Field(
        True, description="False: no dynamic batcher; each request runs as it arrives, queued at the instances. For "
        "a model whose callers send whole batches (pipeline chunks, chunks_per_batch 1): there is nothing to merge, "
        "and a free instance takes the next request at once, which the batcher does only under the queue policy "
        "QueuePolicy refuses; with no batcher thread, nothing spins either"
    )

    @model_validator(mode="after")
    def _batcher_fields_need_a_batcher(self) -> BatchedModel:
        if not self.dynamic_batching:
            fields = type(self).model_fields
            unused = [name for name in BATCHER_FIELDS if getattr(self, name) != fields[name].default]
            if unused:
                raise ValueError(
                    f"dynamic_batching false: {', '.join(unused)} set, but only Triton's dynamic batcher uses them"
                )
        return self


BATCHER_FIELDS = (
    "preferred_batch_sizes", "chunks_per_batch", "preferred_chunks", "max_queue_delay_microseconds", "queue"
)
"""The :class:`BatchedModel` fields that configure Triton's dynamic batcher."""


class PythonStep(_Section):
    """A python model of the pipeline (``det_preprocess``, ``ocr_postprocess``)."""

    instances: int = Field(1, ge=1)
