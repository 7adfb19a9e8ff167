"""The OCR engine: PP-OCRv6 small detection and recognition, through the public API of `rapidocr` (3.10+).

The models sit inside rapidocr's wheel (`rapidocr/models/`: PP-OCRv6_det_small.onnx, PP-OCRv6_rec_small.onnx
and the 0/180-degree line classifier ch_ppocr_mobile_v2.0_cls_mobile.onnx); they are named by path, so nothing
is ever fetched. They run on OpenVINO where `zhclip[openvino]` is installed, else on ONNX Runtime (`runtime`
"auto"; or name one). benchmarks/ocr_quality.py measured this engine against the PP-OCRv4 one of
`rapidocr-onnxruntime` 1.4 that zhclip used before: it reads small text on large photos better (99 of 100
phrases drawn on 1080p photos against 90), at 1.2-1.4x the old engine's CPU time on ONNX Runtime and 0.8-1.0x on
OpenVINO (hence "auto"). docs/ocr.md has the numbers.

RapidOCR's pipeline (`RapidOCR(params)(image)`) reads an image; this engine cuts it for a photo library:
- the image comes at up to `read_side` px; detection sees it with its longest side bounded (`det_side`), and
  RapidOCR crops the lines from the larger image, so small text keeps its pixels for recognition;
- a pre-screen first runs detection alone on a smaller copy (`screen_side`); an image where it finds nothing
  stops there (a text-free photo costs that one small pass), and the full pipeline only reads bands of the
  image around what it found (the whole image when the bands cover most of it, or when a line reaches a
  band's edge). benchmarks/ocr_quality.py reports what the pre-screen stops, text-free and at each text size;
- each line is turned upright by the angle classifier (upside-down text), recognised in batches;
- the runtime gets `threads` threads per model (default 1), so OCR in the decoding workers leaves cores to CLIP;
- lines under `min_confidence`, and lines with fewer than two letters, digits or Chinese characters, are
  dropped as noise (a drawn square reads as 口 at high confidence; one-character queries still find the longer
  lines that hold the character).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UnsupportedError
from ...extras import installed_extras, require

ENGINE_NAME = "rapidocr 3.10 PP-OCRv6 small ch"  # stored in a library's meta: which engine read its text
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
RUNTIMES = ("auto", "onnxruntime", "openvino")
BAND_MARGIN = 64  # rows of detection-size pixels kept above and below what the pre-screen saw
WHOLE_IMAGE_SHARE = 0.6  # bands covering more of the image than this: read the whole image
SCREEN_BOX_THRESHOLD = 0.5  # the pre-screen's box score: RapidOCR's default (0.1 let most photos through)


@dataclass(frozen=True)
class OcrOptions:
    det_side: int = 960  # longest side the detector sees
    screen_side: int = 640  # longest side the pre-screen sees (0: no pre-screen, the whole image read)
    screen_threshold: float = 0.3  # text probability the pre-screen counts as text (DB's own; 0.1 for PP-OCRv4)
    read_side: int = 1920  # longest side of the image lines are cropped from
    min_confidence: float = 0.75  # recognition confidence a line needs to be kept
    min_line_height: int = 8  # px in the read image: smaller boxes are specks
    box_threshold: float = 0.6  # detector box score
    batch: int = 16  # lines per recognition pass
    threads: int = 1  # runtime threads per model
    runtime: str = "auto"  # OpenVINO when zhclip[openvino] is installed, else ONNX Runtime; or name one


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[tuple[int, int], ...]  # 4 corners (clockwise from top-left) in the image's own pixels
    confidence: float


@dataclass(frozen=True)
class _Pipelines:
    screen: object  # RapidOCR: detection alone, at screen_side
    read: object  # RapidOCR: detection at det_side, angle classifier, recognition


class OcrEngine:
    """Reads the text lines of RGB images. Thread-safe: ONNX Runtime sessions run concurrently; OpenVINO's
    one inference request per model is not, so with OpenVINO each thread loads its own models."""

    def __init__(self, options: OcrOptions = OcrOptions()):
        if options.runtime not in RUNTIMES:
            raise UnsupportedError(f"OCR runtime {options.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        self.options = options
        self.runtime = chosen_runtime(options.runtime)
        self._shared = _load_pipelines(options, self.runtime)
        self._local = threading.local()
        self._local.pipelines = self._shared
        self.detector_calls = 0  # detector passes, pre-screen and full (no lock: exact from one thread)

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Text lines of an (H, W, 3) uint8 RGB image, top to bottom, noise dropped."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        pipelines = self._pipelines()
        lines: list[OcrLine] = []
        for top, bottom in self._text_bands(pipelines, bgr):
            found = self._read_rows(pipelines, bgr, top, bottom)
            if any(_reaches_edge(line.box, top, bottom, bgr.shape[0]) for line in found):  # a line cut by the band
                lines = self._read_rows(pipelines, bgr, 0, bgr.shape[0])
                break
            lines += found
        kept = [line for line in lines if is_text(line, self.options) and _height(line) >= self.options.min_line_height]
        return sorted(kept, key=lambda line: (round(line.box[0][1] / 10), line.box[0][0]))

    def _pipelines(self) -> _Pipelines:
        if self.runtime == "onnxruntime":
            return self._shared
        pipelines = getattr(self._local, "pipelines", None)
        if pipelines is None:
            pipelines = self._local.pipelines = _load_pipelines(self.options, self.runtime)
        return pipelines

    def _text_bands(self, pipelines: _Pipelines, bgr: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges of `bgr` where the pre-screen saw text (padded, merged), top to bottom; none: no text."""
        height, side = bgr.shape[0], max(bgr.shape[:2])
        if self.options.screen_side <= 0 or self.options.screen_side >= min(side, self.options.det_side):
            return [(0, height)]  # a pre-screen as large as the detection itself
        self.detector_calls += 1
        boxes = pipelines.screen(bgr).boxes
        if boxes is None or len(boxes) == 0:
            return []
        margin = BAND_MARGIN * max(1.0, side / self.options.det_side)
        bands: list[list[int]] = []
        for box in sorted(boxes, key=lambda b: b[:, 1].min()):
            top, bottom = max(0, int(box[:, 1].min() - margin)), min(height, int(box[:, 1].max() + margin))
            if bands and top <= bands[-1][1]:
                bands[-1][1] = max(bands[-1][1], bottom)
            else:
                bands.append([top, bottom])
        if sum(bottom - top for top, bottom in bands) > WHOLE_IMAGE_SHARE * height:
            return [(0, height)]
        return [(top, bottom) for top, bottom in bands]

    def _read_rows(self, pipelines: _Pipelines, bgr: np.ndarray, top: int, bottom: int) -> list[OcrLine]:
        """The lines RapidOCR reads in rows `top:bottom` of `bgr`, boxes in `bgr`'s pixels."""
        self.detector_calls += 1
        result = pipelines.read(np.ascontiguousarray(bgr[top:bottom]))
        if result.boxes is None or result.txts is None:
            return []
        return [
            OcrLine(text.strip(), tuple((int(round(x)), int(round(y)) + top) for x, y in box), float(score))
            for box, text, score in zip(result.boxes, result.txts, result.scores, strict=True)
        ]


def is_text(line: OcrLine, options: OcrOptions) -> bool:
    """Whether a recognised line is kept: confident enough, with two letters, digits or Chinese characters."""
    return line.confidence >= options.min_confidence and sum(c.isalnum() for c in line.text) >= 2


def chosen_runtime(runtime: str) -> str:
    """The runtime "auto" stands for here: OpenVINO when its extra is installed (faster for these models)."""
    if runtime != "auto":
        return runtime
    return "openvino" if installed_extras()["openvino"] else "onnxruntime"


def model_dir() -> Path:
    """Where rapidocr's wheel keeps its models."""
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


def _share_openvino_core() -> None:
    """rapidocr makes an OpenVINO Core per model; Cores released in this process leave threads on unmapped
    signal stacks, and the next child exit kills it (see `runtime.openvino.shared_core`: it crashed the test
    suite's workers). rapidocr's OpenVINO sessions get the process's one Core instead."""
    from rapidocr.inference_engine.openvino import main as rapidocr_openvino

    from ...runtime.openvino import shared_core

    rapidocr_openvino.Core = shared_core


def _load_pipelines(options: OcrOptions, runtime: str) -> _Pipelines:
    require("ocr")
    if runtime == "openvino":
        require("openvino")
        _share_openvino_core()
    from rapidocr import EngineType, RapidOCR

    folder = model_dir()
    missing = [name for name in MODEL_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise UnsupportedError(f"{folder} lacks {', '.join(missing)}: zhclip[ocr] needs rapidocr 3.10 or later")
    threads = {
        "onnxruntime": {"intra_op_num_threads": options.threads, "inter_op_num_threads": 1},
        "openvino": {"inference_num_threads": options.threads},
    }[runtime]
    common = {
        "Global.log_level": "error",
        "Global.text_score": 0.0,  # is_text decides
        "Global.max_side_len": options.read_side,
        "Global.use_vertical_padding": False,  # bands are wide: padding them would only add rows to detect
        **{f"EngineConfig.{runtime}.{key}": value for key, value in threads.items()},
        **{f"{part}.engine_type": EngineType(runtime) for part in MODEL_FILES},
        **{f"{part}.model_path": str(folder / name) for part, name in MODEL_FILES.items()},
        "Det.limit_type": "max",
        "Det.box_thresh": options.box_threshold,
        "Rec.rec_batch_num": options.batch,
    }
    screen = {
        "Global.use_cls": False,
        "Global.use_rec": False,
        "Det.limit_side_len": options.screen_side,
        "Det.thresh": options.screen_threshold,
        "Det.box_thresh": SCREEN_BOX_THRESHOLD,
    }
    return _Pipelines(
        screen=RapidOCR(params={**common, **screen}),
        read=RapidOCR(params={**common, "Det.limit_side_len": options.det_side}),
    )


def _reaches_edge(box: tuple[tuple[int, int], ...], top: int, bottom: int, height: int) -> bool:
    """Whether `box` touches the top or bottom of band `top:bottom` where the band is not the image's edge."""
    ys = [y for _, y in box]
    return (top > 0 and min(ys) <= top + 1) or (bottom < height and max(ys) >= bottom - 2)


def _height(line: OcrLine) -> float:
    corners = np.asarray(line.box, np.float32)
    return float(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2])))
