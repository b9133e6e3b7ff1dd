"""The in-process OCR pipeline: the stages with local ONNX models (Paddle models converted). No server needed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triton_ocr.config import OCRConfig, RecConfig, TextlineOrientationConfig, load_config
from triton_ocr.engine import InferenceModel, load_model
from triton_ocr.engine.device import with_device
from triton_ocr.errors import ConfigError, ModelNotFoundError
from triton_ocr.inputs import iter_inputs, unnamed_stem
from triton_ocr.models.charset import load_charset
from triton_ocr.models.registry import resolve_model, resolve_pipeline_models
from triton_ocr.paddlex_compat import config_with_params
from triton_ocr.result import OCRResult
from triton_ocr.stages import (
    LineModels,
    ModelCall,
    OCRLines,
    best_path,
    det_input,
    lines_in_original,
    page_input,
    read_crops,
    read_lines,
    run_sync,
    turn_upright,
    upright_page,
)
from triton_ocr.steps.image_loading import load_pages

if TYPE_CHECKING:
    from triton_ocr_client import OCRClient


def as_model_call(
    model: InferenceModel,
    outputs: Callable[[np.ndarray], Any] = lambda output: [output],
    threads: Executor | None = None,
) -> ModelCall:
    """A local model as the orchestration's async :data:`~triton_ocr.stages.ModelCall`; ``outputs`` maps its
    output to the list the call returns. With ``threads``, the model and ``outputs`` run on them, so that calls
    gathered together run at once (a model compiled with as many streams)."""

    def run(batch: np.ndarray) -> list[np.ndarray]:
        return list(outputs(model(batch)))

    async def call(batch: np.ndarray) -> list[np.ndarray]:
        if threads is None:
            return run(batch)
        return await asyncio.get_running_loop().run_in_executor(threads, run, batch)

    return call


CLASSIFIER_FLAGS = {"textline_orientation": "use_textline_orientation", "doc_orientation": "use_doc_orientation_classify"}
"""The classifiers' config sections and the flags that turn them on."""


class OCRPipeline:
    """Detection (+ orientation) + recognition with models loaded in this process; a classifier whose flag is off
    loads when a call turns it on.

    ``predict(x)`` yields one :class:`OCRResult` per image; ``ocr(image)`` runs one decoded BGR image. ``config``
    becomes :attr:`config` with the settings of the models' ``inference.yml`` files applied where it keeps defaults.
    Everything after detection is :func:`triton_ocr.stages.read_lines`, the code the Triton python model runs.
    """

    def __init__(self, config: OCRConfig) -> None:
        self.user_config = config
        """The config as given; :attr:`config` is it with the models' settings applied."""
        self._other_sets: dict[str, OCRPipeline] = {}
        models = resolve_pipeline_models(config, optional_classifiers=True)
        self.models = models
        self.config = models.config
        self.det_model: InferenceModel = load_model(
            models.pixel_detector().onnx_path, config.runtime, static_shapes=config.runtime.det_static_shapes
        )
        streams = config.runtime.recognition_streams
        self.rec_model: InferenceModel = load_model(models.rec.onnx_path, config.runtime, streams)
        self._rec_threads = ThreadPoolExecutor(streams, thread_name_prefix="ocr-rec") if streams > 1 else None
        self.charset = load_charset(
            self.rec_model.metadata(), models.rec.charset_path, self.config.text_rec.use_space_char
        )
        self._classifiers: dict[str, InferenceModel] = {}
        self._loading = threading.Lock()
        self.line_models = LineModels(
            recognise=as_model_call(self.rec_model, best_path, self._rec_threads),
            charset=self.charset,
            classify=self._classify_lines,
            max_inflight=streams,
        )
        for section, flag in CLASSIFIER_FLAGS.items():  # the config's own switches: loaded now, not on a call
            if getattr(self.config, flag):
                self.classifier(section)

    def classifier(self, section: str) -> InferenceModel:
        """The classifier of ``section`` (``textline_orientation`` or ``doc_orientation``), loaded on first use:
        a call may turn on what the pipeline was created without. Not installed: :class:`ConfigError` naming the
        command that fetches it."""
        with self._loading:
            if section not in self._classifiers:
                files = self.models.orientation if section == "textline_orientation" else self.models.doc_orientation
                try:
                    files = files or resolve_model(getattr(self.config, section).model)  # raises: how to fetch it
                except ModelNotFoundError as exc:
                    raise ConfigError(f"{CLASSIFIER_FLAGS[section]}: {exc}") from None
                self._classifiers[section] = load_model(files.onnx_path, self.user_config.runtime)
            return self._classifiers[section]

    async def _classify_lines(self, batch: np.ndarray) -> list[np.ndarray]:
        return [self.classifier("textline_orientation")(batch)]

    def ocr(self, image: np.ndarray, config: OCRConfig | None = None) -> OCRLines:
        """BGR uint8 (H, W, 3) → recognised lines in reading order (with ``use_doc_orientation_classify``: read on
        the page turned upright, polygons in ``image``'s pixels, ``doc_angle`` set)."""
        cfg = config or self.config
        if not cfg.use_doc_orientation_classify:
            return self._read_page(image, cfg)
        probs = self.classifier("doc_orientation")(page_input(image, cfg.doc_orientation))  # (1, 4)
        upright, angle = upright_page(image, probs, cfg.doc_orientation)
        return lines_in_original(self._read_page(upright, cfg), angle, image.shape[:2])

    def _read_page(self, image: np.ndarray, cfg: OCRConfig) -> OCRLines:
        """BGR uint8 (H, W, 3) → its lines: detection, then :func:`~triton_ocr.stages.read_lines`."""
        prob_map = self.det_model(det_input(image, cfg.text_det))
        return run_sync(read_lines(image, prob_map, cfg, self.line_models))

    def read(self, crops: list[np.ndarray], cfg: RecConfig) -> list[tuple[str, float]]:
        """Upright BGR line crops → (text, score) each, in the crops' order (no score filter)."""
        return run_sync(read_crops(crops, cfg, self.line_models))

    def orient(self, crops: list[np.ndarray], cfg: TextlineOrientationConfig) -> list[np.ndarray]:
        """BGR line crops → the same crops, those the angle classifier finds upside down rotated by 180°."""
        return run_sync(turn_upright(crops, cfg, self.line_models))

    def with_model_set(self, name: str | None) -> OCRPipeline:
        """The pipeline reading with the model set ``name`` and this one's other settings (loaded on first use
        and kept); ``None`` or this pipeline's own set: this pipeline."""
        if name is None or name == self.config.model_set:
            return self
        if name not in self._other_sets:
            self._other_sets[name] = OCRPipeline(self.user_config.for_model_set(name))
        return self._other_sets[name]

    def predict(self, input: Any, model_set: str | None = None, **params: Any) -> Iterator[OCRResult]:  # noqa: A002
        """Yield a result per image or PDF page of ``input`` (PaddleX's name): an array, bytes, a path, a URL, a
        directory, ``{"img": ...}`` or a list of these.

        ``params`` change the parameters for this call: PaddleX 3.x's names (``text_det_thresh=0.2``,
        ``use_textline_orientation=False``, ``return_word_box=True``, ...: :data:`~triton_ocr.paddlex_compat.
        PREDICT_PARAMS`) or config sections (``text_det={"box_thresh": 0.5}``). An unknown name is a TypeError.
        ``model_set`` reads with another set (e.g. ``"PP-OCRv4_mobile"``; loaded on first use).
        """
        pipeline = self.with_model_set(model_set)
        cfg = config_with_params(pipeline.config, params, per_call=True, where="predict()")  # raises here, not lazily
        return pipeline._results(input, cfg)

    def _results(self, x: Any, cfg: OCRConfig) -> Iterator[OCRResult]:
        for input_path, source in iter_inputs(x):
            stem = unnamed_stem(source)
            for page_index, image in load_pages(source, cfg.image, input_path):
                yield OCRResult(input_path, self.ocr(image, cfg), image, config=cfg, page_index=page_index, stem=stem)

    __call__ = predict


def create_pipeline(
    pipeline: str | Path | OCRConfig = "OCR",
    device: str | None = None,
    server: str | None = None,
    model_set: str | None = None,
    **params: Any,
) -> OCRPipeline | OCRClient:
    """PaddleX-style factory: ``create_pipeline("OCR")``, ``create_pipeline("path/OCR.yaml")`` (this package's
    YAML or a PaddleX pipeline file); ``model_set`` (e.g. ``"PP-OCRv6_small"``) replaces the config's.

    ``params``: PaddleX 3.x's constructor parameters (``text_detection_model_name``, ``text_det_limit_side_len``,
    ``use_textline_orientation``, ``return_word_box``, ...: :data:`~triton_ocr.paddlex_compat.PIPELINE_PARAMS`),
    applied over the pipeline config; an unknown name is a TypeError naming the close matches.

    ``device``: ``cpu``, ``gpu`` or ``gpu:N`` (PaddleX's); ``None`` keeps the config's ``runtime.device``. A GPU
    runs the torch engine (fp16 unless the config sets the runtime; :func:`~triton_ocr.engine.device.with_device`).

    With ``server="grpc://host:8001"`` (or ``http://host:8000``) the returned object runs on a Triton server
    through the client library and has the same ``predict``.
    """
    config = config_with_params(load_config(pipeline), params, per_call=False, where="create_pipeline()")
    if model_set is not None:
        config = config.with_overrides(model_set=model_set)
    config = with_device(config, device, server)
    if server is not None:
        from triton_ocr_client import OCRClient

        return OCRClient.from_url(server, config=config)
    return OCRPipeline(config)
