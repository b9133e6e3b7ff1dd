"""Which optional dependencies (``pyproject.toml`` extras) a measuring command needs: a missing one is named with
the command that installs it, before any work starts (not a traceback halfway through)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping


def missing_extras(command: str, needs: Mapping[str, str]) -> str | None:
    """``needs``: module → the extra that installs it. A message naming what is missing, or ``None``."""
    missing = {module: extra for module, extra in needs.items() if importlib.util.find_spec(module) is None}
    if not missing:
        return None
    extras = ",".join(dict.fromkeys(missing.values()))
    return (f"triton-ocr {command} needs {', '.join(missing)} (the {extras} extra): pip install -e '.[{extras}]' "
            "(scripts/setup.sh --dev installs every extra)")
