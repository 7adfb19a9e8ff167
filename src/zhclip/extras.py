"""Optional dependencies (`pip install 'zhclip[EXTRA]'`): which extra brings which modules, and one check that
stops a feature with a `MissingExtraError` naming the extra before it does any work.

The default install runs every main job (demo, index/search/serve, data tools, evaluation, training, reports);
the extras are heavy or special runtimes only."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from .errors import MissingExtraError


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]  # import names; `require` checks the ones a feature needs
    what: str  # the feature, as the error message names it


EXTRAS = {
    extra.name: extra
    for extra in (
        Extra("onnx", ("onnx", "onnxruntime", "onnxscript"), "ONNX export and the ONNX Runtime path"),
        Extra("openvino", ("openvino",), "the OpenVINO runtime"),
        Extra("ocr", ("rapidocr", "onnxruntime"), "OCR (text in images)"),
        Extra("speech", ("faster_whisper",), "speech search (what is said in videos and audio)"),
        Extra("executorch", ("executorch",), "zhclip export executorch"),
        Extra("mnn", ("MNN", "onnx"), "zhclip export mnn"),
        Extra("coreml", ("coremltools",), "zhclip export coreml"),
        Extra("postgres", ("psycopg", "pgvector"), "a PostgreSQL library (--db postgresql://…)"),
        Extra("modelscope", ("modelscope",), "downloading from ModelScope"),
        Extra("tensorboard", ("tensorboard",), "TensorBoard logging"),
    )
}


def require(extra: str, *modules: str) -> None:
    """Import `modules` (default: every module of `extra`), or raise MissingExtraError naming the extra.

    A module that is installed but fails to import (a broken build) counts as missing too."""
    spec = EXTRAS[extra]
    for module in modules or spec.modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(extra, module, spec.what) from None


def installed_extras() -> dict[str, bool]:
    """Which extras are installed (every module findable), without importing them."""
    return {name: all(_findable(m) for m in extra.modules) for name, extra in EXTRAS.items()}


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-imported module
        return False
