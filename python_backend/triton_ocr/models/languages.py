"""PaddleOCR's ``lang`` and ``ocr_version`` → the model set that reads them.

PaddleOCR 3.x picks a recogniser per language code; here a code names a script (:data:`SCRIPTS`) and the shipped
set of the asked version that reads it (:attr:`~triton_ocr.models.model_sets.ModelSet.scripts`). A language no
shipped set reads (Korean, Cyrillic, Arabic, Devanagari, Thai, Greek, ...) is refused, naming the languages that are
read and how to bring a recogniser of one's own (a local model folder).
"""

from __future__ import annotations

from triton_ocr.config import DEFAULT_MODEL_SET
from triton_ocr.errors import ConfigError, shown
from triton_ocr.models.model_sets import MODEL_SETS

LATIN = (
    "af", "az", "bs", "ca", "cs", "cy", "da", "de", "es", "et", "eu", "fi", "fr", "french", "ga", "german", "gl",
    "hr", "hu", "id", "is", "it", "ku", "la", "lb", "lt", "lv", "mi", "ms", "mt", "nl", "no", "oc", "pi", "pl", "pt",
    "qu", "rm", "ro", "rs_latin", "sk", "sl", "sq", "sv", "sw", "tl", "tr", "uz", "vi",
)
"""PaddleOCR's Latin-script language codes."""

SCRIPTS: dict[str, str] = {
    "ch": "chinese", "chinese_cht": "traditional", "en": "english", "japan": "japanese",
    **{code: "latin" for code in LATIN},
}
"""Language code (PaddleOCR's) → the script a model set must read for it."""

OCR_VERSIONS = {"PP-OCRv6": DEFAULT_MODEL_SET, "PP-OCRv5": "PP-OCRv5_mobile", "PP-OCRv4": "PP-OCRv4_mobile"}
"""PaddleOCR's ``ocr_version`` → the shipped set of that generation (PP-OCRv6 tiny by name:
``text_detection_model_name="PP-OCRv6_tiny_det"``)."""


def read_languages() -> str:
    """The language codes some shipped set reads, for messages."""
    return f"ch, chinese_cht, en, japan and the Latin-script languages ({', '.join(LATIN)})"


def model_set_for(lang: str | None, ocr_version: str | None) -> str:
    """The set that reads ``lang`` (default ``ch``) in ``ocr_version`` (default: the default set's); a
    :class:`ConfigError` names what is read otherwise."""
    if ocr_version is not None and ocr_version not in OCR_VERSIONS:
        raise ConfigError(f"ocr_version {shown(ocr_version)}: use one of {', '.join(OCR_VERSIONS)} (PP-OCRv3 models "
                          "do not ship here)")
    chosen = OCR_VERSIONS[ocr_version] if ocr_version else DEFAULT_MODEL_SET
    check_language("ch" if lang is None else lang, chosen, f" with ocr_version {ocr_version}" if ocr_version else "")
    return chosen


def check_language(lang: str, model_set: str, context: str = "") -> None:
    """A :class:`ConfigError` unless ``model_set`` reads ``lang``: naming the languages read and how to bring a
    recogniser where no set reads it, the sets that read it otherwise."""
    script = SCRIPTS.get(lang)
    if script is None:
        raise ConfigError(
            f"lang {shown(lang)}: no model set here reads it. Read: {read_languages()}. For another language bring "
            "its recogniser as a local model folder (a PaddleX inference model or model.onnx, with its dictionary): "
            "text_recognition_model_dir='path/to/korean_PP-OCRv5_mobile_rec'"
        )
    if model_set in MODEL_SETS and script not in MODEL_SETS[model_set].scripts:  # an unknown set: refused elsewhere
        readers = [s.name for s in MODEL_SETS.values() if script in s.scripts]
        raise ConfigError(f"lang {shown(lang)}{context}: {model_set} does not read it; {', '.join(readers)} do")
