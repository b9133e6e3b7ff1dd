"""The bodies of the repository's two python models: their input tensors → their output tensors, plain numpy.

No Triton import here: the recogniser and the classifier are injected coroutines (BLS calls inside Triton, local
models in tests), and everything after detection is the in-process pipeline's own orchestration
(:func:`triton_ocr.stages.read_lines`), so each body runs and is tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError, ImageTooLargeError, InvalidImageError, InvalidModelInputError
from triton_ocr.models.charset import load_charset
from triton_ocr.models.registry import resolve_model
from triton_ocr.stages import (
    LineModels,
    ModelCall,
    OCRLines,
    det_input,
    lines_in_original,
    page_input,
    read_lines,
    upright_page,
)
from triton_ocr.steps.det_padding import pad_det_input, unpad_prob_map
from triton_ocr.steps.image_loading import decode_image, load_image

Tensors = Mapping[str, np.ndarray]


def extra_line_tensors(lines: OCRLines) -> dict[str, np.ndarray]:
    """``line_angles`` int32 (N,) (-1 each where the text-line classifier did not run) and the words:
    ``word_counts`` int32 (N,), ``word_texts`` object (W,) of UTF-8 bytes, ``word_polys`` float32 (W, 4, 2); the
    three empty where ``lines.words`` is ``None`` (not asked for)."""
    angles = np.full(len(lines), -1, np.int32) if lines.angles is None else np.asarray(lines.angles, np.int32)
    words = lines.words or []
    texts = [text.encode("utf-8") for line in words for text in line.texts]
    polys = [line.polys.reshape(-1, 4, 2) for line in words] or [np.zeros((0, 4, 2), np.float32)]
    return {
        contract.LINE_ANGLES.name: angles.reshape(-1),
        contract.WORD_COUNTS.name: np.array([len(line.texts) for line in words], np.int32),
        contract.WORD_TEXTS.name: np.array(texts, dtype=np.object_).reshape(-1),
        contract.WORD_POLYS.name: np.concatenate(polys).astype(np.float32),
    }

def request_config(base: OCRConfig, inputs: Tensors, tunables: Sequence[contract.TunableInput]) -> OCRConfig:
    """``base`` with the optional per-request inputs present in ``inputs`` applied (raises ConfigError if invalid)."""
    overrides: dict[str, object] = {}
    for tunable in tunables:
        tensor = inputs.get(tunable.name)
        if tensor is None:
            continue
        for key, value in tunable.override(scalar(tensor, tunable.name)).items():
            if isinstance(value, dict):
                overrides[key] = {**overrides.get(key, {}), **value}  # type: ignore[dict-item]
            else:
                overrides[key] = value
    return base.with_overrides(**overrides) if overrides else base


def scalar(tensor: np.ndarray, name: str = "input") -> object:
    """The first element as a Python value; float32 is read as its shortest decimal (0.3, not 0.30000001).
    ConfigError for an empty tensor or bytes that are not UTF-8."""
    flat = np.asarray(tensor).reshape(-1)
    if flat.size == 0:
        raise ConfigError(f"{name} is empty: one value expected")
    value = flat[0]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if isinstance(value, np.floating):
        return float(str(value))
    return value.item()


class DetPreprocess:
    """Image → detector input. Inputs: ``image_bytes`` BYTES [1] or ``image_array`` UINT8 (H, W, 3), optional
    tunables. Outputs: ``det_tensor`` uint8 (1, H, W, 3) — the image resized for detection, padded to
    ``size_multiple`` —, ``decoded_image`` BGR uint8
    (H, W, 3) — turned upright with ``use_doc_orientation_classify`` —, ``det_input_size`` int32 (2,) = the
    unpadded (h, w), ``doc_angle`` int32 (1,): the page's angle, -1 where the page classifier did not run.
    ``classify_page``: the page classifier (float32 (1, 3, S, S) → [softmax (1, 4)]), where it is served."""

    tunables = contract.tunables_for(contract.DET_PREPROCESS)

    def __init__(self, config: OCRConfig, size_multiple: int, classify_page: ModelCall | None = None) -> None:
        if config.use_doc_orientation_classify and classify_page is None:
            raise ConfigError("use_doc_orientation_classify needs the page classifier (doc_orientation) served")
        self.config = config
        self.size_multiple = size_multiple
        self.classify_page = classify_page

    async def upright(self, image: np.ndarray, cfg: OCRConfig) -> tuple[np.ndarray, int]:
        """The page turned upright and its angle; (``image``, -1) without document orientation."""
        if not cfg.use_doc_orientation_classify:
            return image, -1
        if self.classify_page is None:
            raise ConfigError(f"use_doc_orientation_classify: this server does not serve the page classifier "
                              f"({cfg.doc_orientation.model}): run `triton-ocr models fetch "
                              f"{cfg.doc_orientation.model}` where it runs and restart it")
        probs = (await self.classify_page(page_input(image, cfg.doc_orientation)))[0]
        return upright_page(image, probs, cfg.doc_orientation)

    def image(self, inputs: Tensors, cfg: OCRConfig) -> np.ndarray:
        encoded = inputs.get(contract.IMAGE_BYTES)
        if encoded is not None:
            if encoded.size != 1:
                raise InvalidImageError(f"send one encoded image per request, got {encoded.size}")
            return decode_image(bytes(encoded.reshape(-1)[0]), cfg.image)
        array = inputs.get(contract.IMAGE_ARRAY)
        if array is None:
            raise InvalidImageError("the request carries no image")
        return load_image(array, cfg.image)

    async def __call__(self, inputs: Tensors) -> dict[str, np.ndarray]:
        cfg = request_config(self.config, inputs, self.tunables)
        image, angle = await self.upright(self.image(inputs, cfg), cfg)
        pixels = det_input(image, cfg.text_det)
        return {
            contract.DET_TENSOR: pad_det_input(pixels, self.size_multiple, cfg.text_det.mean),
            contract.DECODED_IMAGE: image,
            contract.DET_INPUT_SIZE: np.array(pixels.shape[1:3], dtype=np.int32),
            contract.DOC_ANGLE.name: np.array([angle], dtype=np.int32),
        }


class OCRPostprocess:
    """Probability map → recognised lines. Inputs: ``prob_map`` float32 (1, 1, H, W), ``decoded_image`` BGR uint8
    (H, W, 3), ``det_input_size`` int32 (2,), ``doc_angle`` int32 (1,) (the image is the page turned upright by
    it; -1: not turned), optional tunables. Outputs, in the input image's pixels: ``polys`` float32 (N, 4, 2),
    ``det_scores`` float32 (N,), ``texts`` object (N,) of UTF-8 bytes, ``rec_scores`` float32 (N,), and
    :func:`extra_line_tensors` (the classifier's decisions; the words, with ``return_word_box``).

    :func:`triton_ocr.stages.read_lines` over ``models``: crops (turned upright with ``use_textline_orientation``),
    recognised in width-sorted chunks of ``text_rec.batch_size`` sent costliest first, at most ``models.max_inflight``
    calls at a time.
    """

    tunables = contract.tunables_for(contract.OCR_POSTPROCESS)

    def __init__(self, config: OCRConfig, models: LineModels) -> None:
        self.config = config
        self.models = models

    @staticmethod
    def charset_of(rec_model_dir: Path, use_space_char: bool = True) -> list[str]:
        """The CTC classes of the recogniser in ``rec_model_dir`` (``model.onnx`` + optional charset file)."""
        import onnxruntime

        files = resolve_model(str(rec_model_dir))
        session = onnxruntime.InferenceSession(str(files.onnx_path), providers=["CPUExecutionProvider"])
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        return load_charset(metadata, files.charset_path, use_space_char)

    @staticmethod
    def checked(inputs: Tensors, cfg: OCRConfig) -> tuple[np.ndarray, np.ndarray]:
        """(the probability map cut to ``det_input_size``, the image), or InvalidModelInputError /
        ImageTooLargeError for inputs the ensemble never sends: a client may call this model directly, and gets
        no more than ``text_det.max_input_pixels`` of map and ``image.max_pixels`` of image."""
        prob_map, image = inputs[contract.PROB_MAP], inputs[contract.DECODED_IMAGE]
        size = inputs[contract.DET_INPUT_SIZE].reshape(-1)
        if size.size != 2 or not all(1 <= int(v) <= limit for v, limit in zip(size, prob_map.shape[-2:])):
            raise InvalidModelInputError(
                f"{contract.DET_INPUT_SIZE} must be two sizes within the {contract.PROB_MAP} shape "
                f"{list(prob_map.shape)}, got {size.tolist()[:4]}"
            )
        if int(size[0]) * int(size[1]) > cfg.text_det.max_input_pixels:
            raise ImageTooLargeError(f"{contract.DET_INPUT_SIZE} {size.tolist()} is over text_det.max_input_pixels "
                                     f"({cfg.text_det.max_input_pixels})")
        load_image(image, cfg.image)  # the size limits: raises without copying a valid BGR image
        return unpad_prob_map(prob_map, (int(size[0]), int(size[1]))), image

    async def __call__(self, inputs: Tensors) -> dict[str, np.ndarray]:
        cfg = request_config(self.config, inputs, self.tunables)
        prob_map, image = self.checked(inputs, cfg)
        lines = await read_lines(image, prob_map, cfg, self.models)
        angle = int(scalar(inputs.get(contract.DOC_ANGLE.name, np.array([-1])), contract.DOC_ANGLE.name))
        if angle >= 0:  # the image is the page turned upright: lines go back to the input image's pixels
            lines = lines_in_original(lines, angle, image.shape[:2][:: 1 if angle % 180 == 0 else -1])
        return {
            contract.POLYS.name: lines.polys.astype(np.float32),
            contract.DET_SCORES.name: lines.det_scores.astype(np.float32),
            contract.TEXTS.name: np.array([text.encode("utf-8") for text in lines.texts], dtype=np.object_),
            contract.REC_SCORES.name: lines.rec_scores.astype(np.float32),
            **extra_line_tensors(lines),
        }
