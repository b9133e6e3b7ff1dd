"""Repositories on disk: a plan's render written out, and the weights linked in for a server to load."""

from __future__ import annotations

import shutil
from pathlib import Path

from triton_ocr import contract
from triton_ocr.models.registry import CHARSET_FILES
from triton_ocr.serving.repository.configs import MODEL_FILE
from triton_ocr.serving.repository.plan import RepositoryPlan
from triton_ocr.serving.repository.render import render_repository


def write_render(target: Path, plan: RepositoryPlan) -> Path:
    """Write the plan's render into ``target`` (files of the render are replaced, others left alone)."""
    for relative, text in render_repository(plan).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def link_weights(repository: Path, plan: RepositoryPlan) -> None:
    """Link each inference model's ONNX file (and each recogniser's charset file) into ``<model>/1/``."""
    links = {repository / name / "1" / MODEL_FILE: model.onnx_path for name, model in plan.files.items()}
    for lane in plan.lanes:
        rec = lane.files[contract.TEXT_REC]
        if rec.charset_path is not None:
            name = rec.charset_path.name if rec.charset_path.name in CHARSET_FILES else CHARSET_FILES[1]
            links[repository / lane.name(contract.TEXT_REC) / "1" / name] = rec.charset_path
    for link, source in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(source.resolve())


def assemble_repository(target: Path, plan: RepositoryPlan, source: Path | None = None) -> Path:
    """A loadable repository in ``target``: ``source``'s configs (default: the plan's render) plus the weights."""
    if source is not None:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.onnx", "__pycache__"), dirs_exist_ok=True)
    else:
        write_render(target, plan)
    link_weights(target, plan)
    return target
