"""A small writer for Triton's ``config.pbtxt`` (protobuf text format) from nested Python values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


MAX_LINE = 100


class Token(str):
    """An enum value written bare (``TYPE_FP32``, ``KIND_CPU``), not as a quoted string."""


def entries(mapping: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A protobuf map field as its repeated ``{key, value}`` entries."""
    return [{"key": key, "value": value} for key, value in mapping.items()]


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Token):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (int, float)):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} to pbtxt")


def is_message(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_message_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(is_message(v) for v in value)


def field(key: str, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"{key}: [ {', '.join(scalar(v) for v in value)} ]"
    return f"{key}: {scalar(value)}"


def block(message: Mapping[str, Any], indent: int) -> str:
    """``{ ... }`` of a message: on one line when it is flat and short, else one field a line."""
    pad = "  " * indent
    if not any(is_message(v) or is_message_list(v) for v in message.values()):
        inline = "{ " + " ".join(field(k, v) for k, v in message.items()) + " }"
        if len(pad) + len(inline) <= MAX_LINE:
            return inline
    return "{\n" + dumps(message, indent + 1) + f"\n{pad}}}"


def dumps(message: Mapping[str, Any], indent: int = 0) -> str:
    """Fields in order; dicts become ``key { ... }``, lists of dicts ``key [ {...}, ... ]``, lists ``key: [a, b]``."""
    pad = "  " * indent
    lines = []
    for key, value in message.items():
        if is_message(value):
            lines.append(f"{pad}{key} {block(value, indent)}")
        elif is_message_list(value):
            items = ",\n".join(f"{pad}  {block(item, indent + 1)}" for item in value)
            lines.append(f"{pad}{key} [\n{items}\n{pad}]")
        else:
            lines.append(pad + field(key, value))
    return "\n".join(lines)
