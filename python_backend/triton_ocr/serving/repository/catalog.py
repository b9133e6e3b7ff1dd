"""Every Triton model of the repository, each declared once: its tensors, its batching and instances per profile,
and the parameters it is given.

The repository render, the serving profiles, the supervisor's reload list and health probe, and (through
:mod:`triton_ocr.contract`) the client all follow from :data:`CATALOG`. Adding a model is one declaration here
plus its own code (an adapter for a python model, a role in :class:`~triton_ocr.models.registry.PipelineModels`
for an inference model).

    ocr / ocr_raw (ensembles): image ──► det_preprocess ──► text_det ──► ocr_postprocess ──► lines
                                   BLS ─► [doc_orientation]                    BLS ─► [textline_orientation]
                                               └─ decoded image, det_input_size, doc_angle ─┘   BLS ─► text_rec
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.models import best_path
from triton_ocr.models.cache import model_home
from triton_ocr.models.registry import ModelFiles, PipelineModels
from triton_ocr.serving.repository import configs
from triton_ocr.serving.repository.configs import tensor
from triton_ocr.serving.repository.settings import BatchedModel, PythonStep, QueuePolicy
from triton_ocr.steps.doc_orientation import ANGLES as PAGE_ANGLES
from triton_ocr.steps.textline_orientation import LABELS as ORIENTATION_LABELS

if TYPE_CHECKING:
    from triton_ocr.serving.repository.plan import OnnxIO, ServingPlan


@dataclass(frozen=True)
class EnsembleModel:
    """A public entry point (:data:`triton_ocr.contract.ENTRIES`): the three steps wired together."""

    entry: contract.Entry

    @property
    def name(self) -> str:
        return self.entry.name

    def names(self, plan: ServingPlan) -> tuple[str, ...]:
        """The primary lane answers at the plain name and at its set's name, every other lane at its set's."""
        qualified = contract.lane_model(self.name, plan.model_set)
        return (self.name, qualified) if plan.primary else (qualified,)

    def config(self, plan: ServingPlan, name: str) -> dict:
        det = plan.io[contract.TEXT_DET]
        return configs.ensemble(self.entry, name, plan.name, det.input, det.output)


@dataclass(frozen=True)
class PythonModel:
    """A python model: ``adapter`` names its class in :mod:`triton_ocr.serving.in_triton.adapter`."""

    name: str
    adapter: str
    inputs: Callable[[ServingPlan], list[dict]]
    outputs: list[dict]
    parameters: Callable[[ServingPlan], dict[str, Any]]
    serving: Mapping[str, PythonStep]
    """Settings by serving profile name."""

    def names(self, plan: ServingPlan) -> tuple[str, ...]:
        return (plan.name(self.name),)

    def config(self, plan: ServingPlan, name: str) -> dict:
        instances = plan.profile.python_models[self.name].instances
        return configs.python_model(name, self.inputs(plan), self.outputs, instances, self.parameters(plan))


@dataclass(frozen=True)
class InferenceModel:
    """An ONNX model, batched by Triton (dynamic batching unless its settings turn it off), on the backend of the
    pipeline's ``runtime.engine``."""

    name: str
    files: Callable[[PipelineModels], ModelFiles | None]
    """The resolved model it serves, ``None`` where the pipeline does not use it (then it is not in the repository)."""
    input_dims: Callable[[OCRConfig], tuple[int, ...]]
    outputs: Callable[[OnnxIO], tuple[contract.TensorSpec, ...]]
    serving: Mapping[str, BatchedModel]
    chunk: Callable[[OCRConfig], int] | None = None
    """For a model fed in pipeline chunks: the chunk size (its batches count in chunks, see BatchedModel)."""
    item_limit: Callable[[ServingPlan], tuple[int, str]] | None = None
    """The most input elements one batch item may hold and the setting that sets it, for inputs whose dims the
    config leaves open: what the pipeline itself can send, so that a client calling the model directly gets no more
    (enforced by this project's runners, :mod:`~triton_ocr.serving.in_triton.model_runner`)."""
    run_limit: Callable[[ServingPlan], int | None] | None = None
    """The most input elements one engine run may hold (larger batches run in parts); ``None``: no bound. See
    :data:`~triton_ocr.serving.repository.configs.MAX_RUN_ELEMENTS`."""
    input_type: str = "FP32"
    """The input's Triton datatype."""

    def batch_sizes(self, config: OCRConfig, settings: BatchedModel) -> tuple[int, tuple[int, ...]]:
        """Triton's ``max_batch_size`` and preferred batch sizes for this model under ``settings``."""
        if self.chunk is None:
            if settings.max_batch_size is None:
                raise ValueError(f"{self.name}: its serving settings need a max_batch_size")
            return settings.max_batch_size, settings.preferred_batch_sizes
        if settings.max_batch_size is not None or settings.preferred_batch_sizes:
            raise ValueError(
                f"{self.name} is fed in pipeline chunks: set chunks_per_batch / preferred_chunks, not batch sizes "
                "(the chunk is the pipeline config's batch_size)"
            )
        size = self.chunk(config)
        return size * settings.chunks_per_batch, tuple(size * n for n in settings.preferred_chunks)

    def names(self, plan: ServingPlan) -> tuple[str, ...]:
        return (plan.name(self.name),)

    def config(self, plan: ServingPlan, name: str) -> dict:
        io, settings = plan.io[self.name], plan.profile.inference_models[self.name]
        inputs = [tensor(contract.TensorSpec(io.input, self.input_type, self.input_dims(plan.config)))]
        outputs = [tensor(spec) for spec in self.outputs(io)]
        return configs.inference_model(
            name,
            settings,
            self.batch_sizes(plan.config, settings),
            plan.profile.kind,
            plan.config.runtime,
            plan.profile.execution_accelerators,
            (inputs, outputs),
            self.item_limit(plan) if self.item_limit else None,
            self.run_limit(plan) if self.run_limit else None,
        )


TritonModel = EnsembleModel | PythonModel | InferenceModel


def with_best_path(rec: ModelFiles) -> ModelFiles:
    """The recogniser with its CTC best path appended to the graph (:mod:`triton_ocr.models.best_path`)."""
    return replace(rec, onnx_path=best_path.best_path_model(rec.onnx_path, model_home() / "best_path"))


def bls_parameters(plan: ServingPlan, role: str, model: InferenceModel) -> dict[str, Any]:
    """Where a python model's BLS calls for ``role`` go: ``<role>_model`` (its Triton name in the lane),
    ``<role>_input`` and ``<role>_outputs`` (comma-separated); nothing where the lane does not serve ``model``."""
    if model.name not in plan.io:
        return {}
    io = plan.io[model.name]
    outputs = ",".join(spec.name for spec in model.outputs(io))
    return {f"{role}_model": plan.name(model.name), f"{role}_input": io.input, f"{role}_outputs": outputs}


def det_item_limit(plan: ServingPlan) -> tuple[int, str]:
    """3 × the largest padded detector input :func:`~triton_ocr.steps.det_resize.det_input_size` can give: at most
    ``max_input_pixels``, each side at most ``max_side_limit`` + 32, then padded to the profile's multiple."""
    det, multiple = plan.config.text_det, plan.profile.det_size_multiple
    pixels = det.max_input_pixels + 2 * multiple * (det.max_side_limit + 32) + multiple**2
    return 3 * pixels, "text_det.max_input_pixels"


def openvino_run_limit(
    item_limit: Callable[[ServingPlan], tuple[int, str]], items: int
) -> Callable[[ServingPlan], int | None]:
    """On OpenVINO, ``items`` batch items of ``item_limit``'s size: the most one run may hold (larger batches run
    in parts). OpenVINO keeps the buffers of the largest run it saw, so the runner allocates them at load and the
    model's memory does not grow with the traffic. Other engines: no bound."""

    def limit(plan: ServingPlan) -> int | None:
        return item_limit(plan)[0] * items if plan.config.runtime.engine == "openvino" else None

    return limit


def rec_item_limit(plan: ServingPlan) -> tuple[int, str]:
    """One line: 3 × ``image_height`` × ``max_width`` (wider lines are squeezed to it)."""
    rec = plan.config.text_rec
    return 3 * rec.image_height * rec.max_width, "text_rec.max_width"


def det_preprocess_parameters(plan: ServingPlan) -> dict[str, Any]:
    """The pipeline config, the size bucket, and where the page classifier's BLS calls go (when served)."""
    parameters = {"ocr_config": plan.config_json, "det_size_multiple": plan.profile.det_size_multiple}
    return parameters | bls_parameters(plan, "page", DOC_ORIENTATION)


def ocr_postprocess_parameters(plan: ServingPlan) -> dict[str, Any]:
    """The pipeline config, and which models (and tensors) the BLS calls of ``ocr_postprocess`` go to."""
    parameters: dict[str, Any] = {"ocr_config": plan.config_json, "rec_max_inflight": plan.profile.rec_max_inflight}
    parameters |= bls_parameters(plan, "rec", TEXT_REC)
    return parameters | bls_parameters(plan, "cls", TEXTLINE_ORIENTATION)


IMAGE_ARRAY = contract.TensorSpec(contract.IMAGE_ARRAY, "UINT8", (-1, -1, 3))
IMAGE_BYTES = contract.TensorSpec(contract.IMAGE_BYTES, "BYTES", (1,))
DECODED_IMAGE = contract.TensorSpec(contract.DECODED_IMAGE, "UINT8", (-1, -1, 3))
DET_TENSOR = contract.TensorSpec(contract.DET_TENSOR, "UINT8", (1, -1, -1, 3))
PROB_MAP = contract.TensorSpec(contract.PROB_MAP, "FP32", (1, 1, -1, -1))

DET_PREPROCESS = PythonModel(
    name=contract.DET_PREPROCESS,
    adapter="DetPreprocessModel",
    inputs=lambda plan: [
        tensor(IMAGE_BYTES, True), tensor(IMAGE_ARRAY, True), *configs.tunable_inputs(contract.DET_PREPROCESS)
    ],
    outputs=[tensor(DET_TENSOR), tensor(DECODED_IMAGE), tensor(contract.DET_SIZE), tensor(contract.DOC_ANGLE)],
    parameters=det_preprocess_parameters,
    serving={"cpu": PythonStep(instances=1), "gpu": PythonStep(instances=6)},
)

TEXT_DET = InferenceModel(
    name=contract.TEXT_DET,
    files=lambda models: models.pixel_detector(),
    input_dims=lambda config: (-1, -1, 3),
    input_type="UINT8",  # the resized image's pixels, normalised in the graph (models/pixel_input.py)
    outputs=lambda io: (contract.TensorSpec(io.output, "FP32", (1, -1, -1)),),
    item_limit=det_item_limit,
    run_limit=openvino_run_limit(det_item_limit, items=1),  # on 2 cores, batching large inputs saves nothing
    serving={
        "cpu": BatchedModel(
            instances=1, intra_op_threads=2, max_batch_size=4, preferred_batch_sizes=(2, 4),
            max_queue_delay_microseconds=2000, queue=QueuePolicy(max_queue_size=64),
        ),
        "gpu": BatchedModel(
            instances=2, intra_op_threads=0, max_batch_size=8, preferred_batch_sizes=(4, 8),
            max_queue_delay_microseconds=1000, queue=QueuePolicy(max_queue_size=256),
        ),
    },
)

TEXT_REC = InferenceModel(
    name=contract.TEXT_REC,
    files=lambda models: with_best_path(models.rec),
    input_dims=lambda config: (3, config.text_rec.image_height, -1),
    outputs=lambda io: (
        contract.TensorSpec(best_path.CLASSES, "INT64", (-1,)),
        contract.TensorSpec(best_path.CONFIDENCES, "FP32", (-1,)),
    ),
    chunk=lambda config: config.text_rec.batch_size,
    item_limit=rec_item_limit,
    run_limit=openvino_run_limit(rec_item_limit, items=2),  # a v6 chunk of 2 lines runs whole at any width, 6
    # PP-OCRv4 lines of ≤ 1066 px; wide lines cost the same CPU per line alone as batched (one 3200 px line 113 ms,
    # six 125 ms each; docs/performance.md)
    serving={
        # Two instances of one thread: the v6 sets' chunks of two lines ran 10-15 % less CPU per line than on one
        # instance of two threads, as the in-process pipeline's two streams do (docs/performance.md, fourth pass).
        # 256 kernels: recognition shapes recur (64-px width buckets), and compiling a shape's kernels again cost
        # ~9 CPU ms per chunk; memory flat after ~500 random chunks, +95 MiB over 32 (1024: +250 MiB and still
        # rising; docs/performance.md). No dynamic batcher: a chunk is a whole batch here, and without the batcher
        # a free instance takes the next chunk at once (+7 % images/s at c=4) and nothing can make it spin
        # (docs/performance.md, eleventh pass)
        "cpu": BatchedModel(instances=2, intra_op_threads=1, kernel_cache_entries=256, dynamic_batching=False),
        "gpu": BatchedModel(
            instances=2, intra_op_threads=0, chunks_per_batch=4, preferred_chunks=(1, 2, 4),
            max_queue_delay_microseconds=1000,
        ),
    },
)

TEXTLINE_ORIENTATION = InferenceModel(
    name=contract.TEXTLINE_ORIENTATION,
    files=lambda models: models.orientation,
    input_dims=lambda config: (3, config.textline_orientation.image_height, config.textline_orientation.image_width),
    outputs=lambda io: (contract.TensorSpec(io.output, "FP32", (len(ORIENTATION_LABELS),)),),
    chunk=lambda config: config.textline_orientation.batch_size,
    serving={
        "cpu": BatchedModel(instances=1, intra_op_threads=1),
        "gpu": BatchedModel(
            instances=1, intra_op_threads=0, chunks_per_batch=2, preferred_chunks=(1, 2),
            max_queue_delay_microseconds=1000,
        ),
    },
)

DOC_ORIENTATION = InferenceModel(
    name=contract.DOC_ORIENTATION,
    files=lambda models: models.doc_orientation,
    input_dims=lambda config: (3, config.doc_orientation.crop_size, config.doc_orientation.crop_size),
    outputs=lambda io: (contract.TensorSpec(io.output, "FP32", (len(PAGE_ANGLES),)),),
    serving={
        "cpu": BatchedModel(instances=1, intra_op_threads=1, max_batch_size=4, max_queue_delay_microseconds=1000),
        "gpu": BatchedModel(instances=1, intra_op_threads=0, max_batch_size=16, max_queue_delay_microseconds=500),
    },
)

OCR_POSTPROCESS = PythonModel(
    name=contract.OCR_POSTPROCESS,
    adapter="OCRPostprocessModel",
    inputs=lambda plan: [
        tensor(PROB_MAP), tensor(DECODED_IMAGE), tensor(contract.DET_SIZE), tensor(contract.DOC_ANGLE),
        *configs.tunable_inputs(contract.OCR_POSTPROCESS),
    ],
    outputs=[tensor(spec) for spec in contract.LINE_OUTPUTS],
    parameters=ocr_postprocess_parameters,
    serving={"cpu": PythonStep(instances=3), "gpu": PythonStep(instances=8)},
)

CATALOG: tuple[TritonModel, ...] = (
    *(EnsembleModel(entry) for entry in contract.ENTRIES),
    DET_PREPROCESS,
    TEXT_DET,
    TEXT_REC,
    TEXTLINE_ORIENTATION,
    DOC_ORIENTATION,
    OCR_POSTPROCESS,
)
"""In render order."""

INFERENCE_MODELS = tuple(model for model in CATALOG if isinstance(model, InferenceModel))
PYTHON_MODELS = tuple(model for model in CATALOG if isinstance(model, PythonModel))
