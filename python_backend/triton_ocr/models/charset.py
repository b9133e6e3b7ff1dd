"""The recognition charset: from the ONNX metadata key ``character`` or from a dict file (one entry a line)."""

from __future__ import annotations

from pathlib import Path

from triton_ocr.errors import ModelNotFoundError
from triton_ocr.steps.ctc_decode import ctc_charset


def read_dict_file(path: Path) -> list[str]:
    return [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]


def load_charset(
    metadata: dict[str, str], dict_path: Path | None, use_space_char: bool = True, num_classes: int | None = None
) -> list[str]:
    """The full CTC class list (blank + characters [+ space]). A dict file, when given, wins over metadata."""
    if dict_path is not None:
        characters = read_dict_file(dict_path)
    elif "character" in metadata:
        characters = metadata["character"].splitlines()
    else:
        raise ModelNotFoundError(
            "the recognition model has no 'character' metadata: set text_rec.char_dict_path or put "
            "ppocr_keys_v1.txt beside model.onnx"
        )
    charset = ctc_charset(characters, use_space_char)
    if num_classes is not None and num_classes != len(charset):
        raise ModelNotFoundError(
            f"the charset has {len(charset)} classes (with blank{' and space' if use_space_char else ''}) but the model "
            f"outputs {num_classes}"
        )
    return charset
