"""Triton ``config.pbtxt`` contents, as nested values, for each kind of model the catalog declares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from triton_ocr import contract
from triton_ocr.config import RuntimeConfig
from triton_ocr.errors import ConfigError
from triton_ocr.serving.repository.pbtxt import Token, entries
from triton_ocr.serving.repository.settings import BatchedModel

TRITON_TYPES = {
    "FP32": "TYPE_FP32", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64", "UINT8": "TYPE_UINT8", "BYTES": "TYPE_STRING",
    "BOOL": "TYPE_BOOL",
}
MODEL_FILE = "model.onnx"


def tensor(spec: contract.TensorSpec, optional: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": spec.name, "data_type": Token(TRITON_TYPES[spec.datatype]), "dims": spec.dims}
    if optional:
        entry["optional"] = True
    return entry


def string_parameters(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return entries({key: {"string_value": str(value)} for key, value in values.items()})


def tunable_inputs(step: str | None = None) -> list[dict[str, Any]]:
    return [tensor(t.spec, optional=True) for t in contract.TUNABLE_INPUTS if step is None or t.step == step]


def python_model(name: str, inputs: list, outputs: list, instances: int, parameters: Mapping[str, Any]) -> dict:
    return {
        "name": name,
        "backend": "python",
        "max_batch_size": 0,
        "input": inputs,
        "output": outputs,
        "instance_group": [{"count": instances, "kind": Token("KIND_CPU")}],
        "parameters": string_parameters(parameters),
    }


OPENVINO_CPU_PINNING = "NO"
"""OpenVINO pins a compiled model's threads to cores, and every process picks the same first cores: two text_rec
instances of one thread each shared core 0 and ran 19 chunks/s each, unpinned 39 (docs/performance.md, fourth
pass). The served models are processes that share the machine's cores, so the OS schedules their threads. (The
in-process pipeline, one process, keeps OpenVINO's pinning: 1–3 % faster there.)"""


def engine_parameters(engine: str, precision: str, settings: BatchedModel) -> dict[str, Any]:
    """The backend's own parameters: the ONNX Runtime backend's thread counts, the OpenVINO backend's threads
    (not pinned to cores: :data:`OPENVINO_CPU_PINNING`), one latency-hinted stream per instance (instances are the
    parallelism), its kernel cache, copies for recurring input shapes where ``static_shapes`` asks (this project's
    runner only) and ``HINT_BF16`` for bf16, or the python-based ``torch`` backend's precision, CUDA graphs and CPU
    threads."""
    if engine == "torch":
        from triton_ocr.serving.in_triton.torch_runner import torch_parameters

        return torch_parameters(precision, cuda_graphs=True, threads=settings.intra_op_threads)
    if engine == "onnxruntime":
        return {"intra_op_thread_count": settings.intra_op_threads, "inter_op_thread_count": settings.inter_op_threads}
    parameters: dict[str, Any] = {
        "INFERENCE_NUM_THREADS": settings.intra_op_threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": OPENVINO_CPU_PINNING,
    }
    if settings.kernel_cache_entries is not None:
        parameters["CPU_RUNTIME_CACHE_CAPACITY"] = settings.kernel_cache_entries
    if settings.static_shapes:
        parameters[STATIC_SHAPES] = settings.static_shapes
    if precision == "bf16":
        parameters["HINT_BF16"] = "YES"
    return parameters


def dynamic_batching(settings: BatchedModel, preferred: Sequence[int]) -> dict[str, Any]:
    batching: dict[str, Any] = {"max_queue_delay_microseconds": settings.max_queue_delay_microseconds}
    if preferred:
        batching = {"preferred_batch_size": list(preferred), **batching}
    batching["default_queue_policy"] = {
        "timeout_action": Token("REJECT"),
        "default_timeout_microseconds": settings.queue.default_timeout_microseconds,
        "allow_timeout_override": settings.queue.allow_timeout_override,
        "max_queue_size": settings.queue.max_queue_size,
    }
    return batching


MAX_ITEM_ELEMENTS = "max_item_elements"
STATIC_SHAPES = "static_shapes"
"""This project's OpenVINO runner: copies compiled for that many recurring input shapes (native backends ignore it;
:mod:`~triton_ocr.engine.static_shapes`)."""
ITEM_LIMIT_SETTING = "item_limit_setting"
MAX_RUN_ELEMENTS = "max_run_elements"
"""The most input elements one engine run of this project's runners holds; the OpenVINO runner allocates that
run's buffers at load (:mod:`~triton_ocr.serving.in_triton.model_runner`)."""


def inference_model(
    name: str,
    settings: BatchedModel,
    batch: tuple[int, Sequence[int]],
    kind: str,
    runtime: RuntimeConfig,
    accelerators: Mapping[str, list[dict[str, Any]]],
    io: tuple[list, list],
    item_limit: tuple[int, str] | None = None,
    run_limit: int | None = None,
) -> dict:
    """A standard config of the ``runtime.engine`` backend (``onnxruntime`` or ``openvino``) for ``model.onnx``:
    served by the native backends on NGC images, by this project's python-based ones here (``torch``: python-based
    only). ``batch``: the max and preferred batch sizes; ``io``: the input and output tensor entries;
    ``item_limit``: the most input elements per batch item and the setting that sets it (parameters
    :data:`MAX_ITEM_ELEMENTS` and :data:`ITEM_LIMIT_SETTING`, which native backends ignore); ``run_limit``: the
    most per engine run (:data:`MAX_RUN_ELEMENTS`, ignored by them as well). On GPUs,
    ``runtime.device`` ``gpu:N`` pins the instances to GPU N (``gpu``: every GPU gets the instances)."""
    if runtime.engine == "openvino" and kind != "KIND_CPU":
        raise ConfigError(f"{name} runs on {kind}: the openvino engine serves CPUs only")
    if settings.static_shapes and runtime.engine != "openvino":
        raise ConfigError(f"{name}.static_shapes {settings.static_shapes}: only the openvino engine compiles copies "
                          f"for input shapes, not {runtime.engine}")
    group: dict[str, Any] = {"count": settings.instances, "kind": Token(kind)}
    if kind == "KIND_GPU" and runtime.device.startswith("gpu:"):
        group["gpus"] = [int(runtime.device.split(":", 1)[1])]
    config: dict[str, Any] = {"name": name, "backend": runtime.engine}
    if runtime.engine == "openvino":
        config["default_model_filename"] = MODEL_FILE  # the native backend's default is model.xml
    config |= {
        "max_batch_size": batch[0],
        "input": io[0],
        "output": io[1],
        "instance_group": [group],
        **({"dynamic_batching": dynamic_batching(settings, batch[1])} if settings.dynamic_batching else {}),
        "parameters": string_parameters(
            engine_parameters(runtime.engine, runtime.precision, settings)
            | ({MAX_ITEM_ELEMENTS: item_limit[0], ITEM_LIMIT_SETTING: item_limit[1]} if item_limit else {})
            | ({MAX_RUN_ELEMENTS: run_limit} if run_limit else {})
        ),
    }
    if accelerators and runtime.engine == "onnxruntime":
        config["optimization"] = {
            "execution_accelerators": {
                kind: [{"name": acc["name"], "parameters": entries(acc.get("parameters", {}))} for acc in listed]
                for kind, listed in accelerators.items()
            }
        }
    return config


def ensemble(
    entry: contract.Entry, name: str, step_name: Callable[[str], str], det_input: str, det_output: str
) -> dict:
    """The public entry ``name``: its ``image`` goes to ``det_preprocess`` as ``entry.image_key``; outputs
    :data:`contract.OUTPUTS`. ``step_name``: a step's Triton name in the entry's lane; ``det_input``/``det_output``:
    the detector's ONNX tensor names."""
    det_tunables = {t.name: t.name for t in contract.tunables_for(contract.DET_PREPROCESS)}
    post_tunables = {t.name: t.name for t in contract.tunables_for(contract.OCR_POSTPROCESS)}
    handoff = {name: name for name in (contract.DECODED_IMAGE, contract.DET_INPUT_SIZE, contract.DOC_ANGLE.name)}
    lines = {spec.name: spec.name for spec in contract.LINE_OUTPUTS}
    steps = [
        (
            contract.DET_PREPROCESS,
            {entry.image_key: entry.image.name, **det_tunables},
            {contract.DET_TENSOR: contract.DET_TENSOR, **handoff},
        ),
        (contract.TEXT_DET, {det_input: contract.DET_TENSOR}, {det_output: contract.PROB_MAP}),
        (contract.OCR_POSTPROCESS, {contract.PROB_MAP: contract.PROB_MAP, **handoff, **post_tunables}, lines),
    ]
    return {
        "name": name,
        "platform": "ensemble",
        "max_batch_size": 0,
        "input": [tensor(entry.image), *tunable_inputs()],
        "output": [tensor(spec) for spec in contract.OUTPUTS],
        "ensemble_scheduling": {
            "step": [
                {"model_name": step_name(model), "model_version": -1, "input_map": entries(inputs), "output_map": entries(outputs)}
                for model, inputs, outputs in steps
            ]
        },
    }
