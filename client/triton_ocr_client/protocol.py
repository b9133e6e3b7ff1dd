"""What the sync and async clients share: server URLs, request tensors from any input, results from responses.

Encoded images (files, URLs, bytes) go to the ``ocr`` entry as they are; arrays go to ``ocr_raw`` as BGR ``uint8``.
Per-request overrides become the optional inputs listed in :data:`triton_ocr.contract.TUNABLE_INPUTS`. Every
tensor's name and data type comes from :mod:`triton_ocr.contract`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from triton_ocr import contract
from triton_ocr.config import OCRConfig
from triton_ocr.errors import ConfigError
from triton_ocr.result import OCRResult
from triton_ocr.stages import LineWords, OCRLines
from triton_ocr.steps.image_loading import decode_image, fetch_url, is_url, read_file, to_bgr
from triton_ocr_client.errors import InferenceError

log = logging.getLogger("triton_ocr_client")

DEFAULT_PORTS = {"grpc": 8001, "http": 8000}


@dataclass(frozen=True)
class Endpoint:
    """Where the server is: ``protocol`` ``grpc`` or ``http`` and ``host:port`` as tritonclient wants it."""

    protocol: str
    address: str

    @classmethod
    def parse(cls, url: str, protocol: str | None = None) -> Endpoint:
        """``grpc://host:8001``, ``http://host:8000`` or ``host:port`` (then ``protocol``, default grpc)."""
        parts = urlsplit(url if "://" in url else f"//{url}")
        scheme = parts.scheme or protocol or "grpc"
        if protocol is not None and parts.scheme and protocol != scheme:
            raise ConfigError(f"URL {url!r} says {scheme} but protocol={protocol!r}")
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(f"server URL must be grpc://HOST:PORT or http://HOST:PORT, got {url!r}")
        return cls(scheme, f"{parts.hostname}:{parts.port or DEFAULT_PORTS[scheme]}")


def tritonclient_module(protocol: str, asynchronous: bool) -> ModuleType:
    """``tritonclient.grpc``/``http`` or their ``.aio`` variants."""
    import importlib

    return importlib.import_module(f"tritonclient.{protocol}{'.aio' if asynchronous else ''}")


@dataclass(frozen=True)
class Request:
    """One image ready to send: the entry, its input arrays, how to get the image back for drawing, and the
    model set that reads it (``None``: the server's primary set)."""

    input_path: str | None
    entry: contract.Entry
    arrays: dict[str, np.ndarray]
    image: np.ndarray | Callable[[], np.ndarray]
    model_set: str | None = None
    page_index: int | None = None
    """The PDF page this request holds (``None``: an image)."""
    config: OCRConfig | None = None
    """The parameters the result reports (``text_det_params``, ...); ``None``: the defaults."""
    stem: str | None = None
    """The saved files' name for an input without one (an array or bytes)."""

    @property
    def model(self) -> str:
        """The Triton model the request goes to: ``ocr``/``ocr_raw``, or a set's ``ocr.<set>``/``ocr_raw.<set>``."""
        return self.entry.name if self.model_set is None else contract.lane_model(self.entry.name, self.model_set)


@dataclass(frozen=True)
class Reply:
    """A request's answer: the lines as an :class:`OCRResult`, and any extra outputs asked for by name (e.g.
    :data:`triton_ocr.contract.DET_INPUT_SIZE`, the detector's input (h, w))."""

    result: OCRResult
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    attempts: int = 1
    """How many times it was sent: more than 1 when a model it needs was being healed (:mod:`.retry`)."""


def tunable_arrays(config: OCRConfig, explicit: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Optional inputs for the fields overridden in this call and the fields ``config`` sets to a non-default value.

    Fields left at their defaults are not sent, so the server's own pipeline config applies to them.
    """
    defaults = OCRConfig()
    arrays = {}
    for tunable in contract.TUNABLE_INPUTS:
        value = tunable.value(config)
        if tunable.given_in(explicit) or value != tunable.value(defaults):
            item = value.encode("utf-8") if isinstance(value, str) else value
            arrays[tunable.name] = np.array([item], dtype=contract.NUMPY_TYPES[tunable.datatype])
    return arrays


def check_overrides(overrides: dict[str, dict[str, Any]]) -> None:
    """Reject per-call overrides the server cannot apply per request."""
    adjustable = {(t.section, t.field) for t in contract.TUNABLE_INPUTS}
    fixed = [
        f"{s}.{f}" if f else s
        for s, fields in overrides.items()
        for f in (fields if isinstance(fields, dict) else [None])  # a top-level flag: the server's config decides
        if (s, f) not in adjustable
    ]
    if fixed:
        allowed = ", ".join(t.path for t in contract.TUNABLE_INPUTS)
        raise ConfigError(f"{', '.join(fixed)} cannot change per request on a server; adjustable: {allowed}")


def warn_server_side_fields(config: OCRConfig) -> None:
    """Say once which fields of a custom client config only the server's own config decides."""
    adjustable = {(t.section, t.field) for t in contract.TUNABLE_INPUTS}
    defaults = OCRConfig().model_dump()
    ignored = [
        f"{section}.{name}"
        for section, fields in config.model_dump().items()
        if isinstance(fields, dict)
        for name, value in fields.items()
        if (section, name) not in adjustable and value != defaults[section][name]
    ]
    if ignored:
        log.warning("the server's pipeline config decides %s; this client's values are not sent", ", ".join(ignored))


def make_request(
    input_path: str | None,
    source: Any,
    config: OCRConfig,
    tunables: dict[str, np.ndarray],
    model_set: str | None = None,
) -> Request:
    """An input from :func:`triton_ocr.inputs.iter_inputs` → a :class:`Request` for ``model_set`` (files and URLs
    read here)."""
    if isinstance(source, np.ndarray):
        image = to_bgr(source)
        entry = contract.OCR_RAW_ENTRY
        return Request(input_path, entry, {entry.image.name: image, **tunables}, image, model_set)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif is_url(source):
        data = fetch_url(str(source), config.image)
    else:
        data = read_file(Path(source), config.image)
    limits = config.image

    def decode() -> np.ndarray:
        return decode_image(data, limits)

    entry = contract.OCR_ENTRY
    arrays = {entry.image.name: np.array([data], dtype=np.object_), **tunables}
    return Request(input_path, entry, arrays, decode, model_set)


def infer_inputs(module: ModuleType, request: Request) -> list[Any]:
    """tritonclient ``InferInput`` objects holding the request's arrays, typed as the contract declares."""
    inputs = []
    for name, array in request.arrays.items():
        tensor = module.InferInput(name, list(array.shape), request.entry.input_spec(name).datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def requested_outputs(module: ModuleType, extra: Sequence[str] = ()) -> list[Any]:
    """The result's outputs (:data:`triton_ocr.contract.RESULT_OUTPUTS`) and ``extra`` ones of
    :data:`contract.OUTPUTS`."""
    known = {spec.name for spec in contract.OUTPUTS}
    unknown = [name for name in extra if name not in known]
    if unknown:
        raise ConfigError(f"unknown output(s) {', '.join(unknown)}: the entries output {', '.join(sorted(known))}")
    lines = [spec.name for spec in contract.RESULT_OUTPUTS]
    return [module.InferRequestedOutput(name) for name in [*lines, *(name for name in extra if name not in lines)]]


def doc_angle(tensor: np.ndarray | None) -> int | None:
    """The ``doc_angle`` output → the page's angle, ``None`` where the page classifier did not run."""
    angle = -1 if tensor is None else int(np.asarray(tensor).reshape(-1)[0])
    return None if angle < 0 else angle


def line_words(response: Any, lines: int) -> list[LineWords]:
    """The word outputs (:data:`triton_ocr.contract.WORD_OUTPUTS`) → each of the ``lines`` lines' words; an
    :class:`~triton_ocr_client.errors.InferenceError` when they do not add up (a server that did not compute them)."""
    counts = response.as_numpy(contract.WORD_COUNTS.name).reshape(-1).astype(np.int64)
    texts = [text.decode("utf-8") for text in response.as_numpy(contract.WORD_TEXTS.name).reshape(-1)]
    polys = response.as_numpy(contract.WORD_POLYS.name).reshape(-1, 4, 2).astype(np.float32)
    if len(counts) != lines or int(counts.sum()) != len(texts) or len(texts) != len(polys):
        raise InferenceError(
            f"the server returned words for {len(counts)} of {lines} lines ({int(counts.sum())} counted, "
            f"{len(texts)} texts, {len(polys)} polygons): does it serve return_word_box?"
        )
    ends = np.cumsum(counts)
    return [LineWords(texts[end - n : end], polys[end - n : end]) for n, end in zip(counts, ends)]


def ran(config: OCRConfig | None, lines: OCRLines) -> OCRConfig | None:
    """The reported config with the orientation flags the server's answer shows it ran with (its own config may
    turn them on where the request left them out): the page's angle says whether the page classifier ran, the
    lines' decisions whether the text-line classifier did (a page without lines leaves that flag as asked)."""
    if config is None:
        return None
    flags = {"use_doc_orientation_classify": lines.doc_angle is not None}
    if len(lines):
        flags["use_textline_orientation"] = lines.angles is not None
    if all(getattr(config, name) == value for name, value in flags.items()):
        return config
    return config.with_overrides(**flags)


def to_reply(request: Request, response: Any, extra: Sequence[str] = (), attempts: int = 1) -> Reply:
    """A server response → the same :class:`OCRResult` the in-process pipeline returns, and the ``extra`` outputs."""
    texts = [text.decode("utf-8") for text in response.as_numpy(contract.TEXTS.name).reshape(-1)]
    angles = response.as_numpy(contract.LINE_ANGLES.name).reshape(-1).astype(np.int64)
    lines = OCRLines(
        polys=response.as_numpy(contract.POLYS.name).reshape(-1, 4, 2).astype(np.float32),
        det_scores=response.as_numpy(contract.DET_SCORES.name).reshape(-1).astype(np.float32),
        texts=texts,
        rec_scores=response.as_numpy(contract.REC_SCORES.name).reshape(-1).astype(np.float32),
        angles=None if (angles < 0).all() else angles,
        words=line_words(response, len(texts)) if request.config and request.config.return_word_box else None,
        doc_angle=doc_angle(response.as_numpy(contract.DOC_ANGLE.name)),
    )
    result = OCRResult(request.input_path, lines, request.image, config=ran(request.config, lines),
                       page_index=request.page_index, stem=request.stem)
    return Reply(result, {name: response.as_numpy(name) for name in extra}, attempts)
