"""The OCR engine: PP-OCRv4 Chinese detection and recognition (the models inside `rapidocr-onnxruntime`).

RapidOCR's own pipeline runs every stage on every image; this one is cut for a photo library:
- detection sees the image with its longest side bounded (`det_side`), while the text lines are cropped
  from the larger image, so small text keeps its pixels for recognition;
- an image where detection finds no box stops there (a text-free photo costs one detector pass);
- recognition runs all lines of an image in batches of similar width;
- the angle classifier (0/180 degrees) only looks at lines recognition was unsure of, and an upside-down
  line is recognised again turned round;
- ONNX Runtime gets `threads` threads (default 1), so OCR in the decoding workers leaves cores to CLIP;
- lines under `min_confidence`, and lines with fewer than two letters, digits or Chinese characters, are
  dropped as noise (a drawn square reads as 口 at 0.99, a flag's star and stripe as "★K" at 0.81;
  one-character queries still find the longer lines that hold the character).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...extras import require

ENGINE_NAME = "rapidocr-onnxruntime PP-OCRv4 ch"


@dataclass(frozen=True)
class OcrOptions:
    det_side: int = 960  # longest side the detector sees
    read_side: int = 1920  # longest side of the image lines are cropped from
    min_confidence: float = 0.75  # recognition confidence a line needs to be kept
    min_line_height: int = 8  # px in the read image: smaller boxes are specks
    box_threshold: float = 0.6  # detector box score
    recheck_below: float = 0.9  # lines less sure than this go through the angle classifier
    batch: int = 16  # lines per recognition pass
    threads: int = 1  # ONNX Runtime threads per model


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[tuple[int, int], ...]  # 4 corners (clockwise from top-left) in the image's own pixels
    confidence: float


class OcrEngine:
    """Reads the text lines of RGB images. Thread-safe: ONNX Runtime sessions run concurrently."""

    def __init__(self, options: OcrOptions = OcrOptions()):
        self.options = options
        self._detector, self._classifier, self._recognizer = _load_models(options)
        self._det_input = _det_preprocess(options.det_side)

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Text lines of an (H, W, 3) uint8 RGB image, top to bottom, noise dropped."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        boxes = self._detect(bgr)
        if not boxes:
            return []
        crops = [_crop(bgr, box) for box in boxes]
        texts = self._recognise(crops)
        lines = [
            OcrLine(text.strip(), tuple((int(round(x)), int(round(y))) for x, y in box), float(score))
            for box, (text, score) in zip(boxes, texts, strict=True)
        ]
        return [line for line in lines if is_text(line, self.options)]

    def _detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Text boxes in `bgr`'s pixels, found on a copy whose longest side is at most `det_side`."""
        import cv2

        h, w = bgr.shape[:2]
        scale = min(1.0, self.options.det_side / max(h, w))
        small = bgr if scale == 1.0 else cv2.resize(bgr, (round(w * scale), round(h * scale)), cv2.INTER_AREA)
        # The detector's parts, called one by one: its __call__ keeps per-call state on itself (not thread-safe).
        scores = self._detector.infer(self._det_input(small))[0]
        found, _ = self._detector.postprocess_op(scores, small.shape[:2])
        found = self._detector.filter_tag_det_res(found, small.shape[:2])
        if len(found) == 0:
            return []
        boxes = [np.asarray(box, np.float32) / scale for box in found]
        tall = [b for b in boxes if _height(b) >= self.options.min_line_height]
        return sorted(tall, key=lambda b: (round(b[0][1] / 10), b[0][0]))

    def _recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        results = list(self._recognizer(crops)[0])
        unsure = [i for i, (_, score) in enumerate(results) if score < self.options.recheck_below]
        if unsure:
            _, angles, _ = self._classifier([crops[i] for i in unsure])
            # The classifier's guess is enough: a turned line replaces the first reading only if it reads surer.
            flipped = [i for i, (label, _) in zip(unsure, angles, strict=True) if "180" in label]
            if flipped:
                again = self._recognizer([np.ascontiguousarray(crops[i][::-1, ::-1]) for i in flipped])[0]
                for i, result in zip(flipped, again, strict=True):
                    if result[1] > results[i][1]:
                        results[i] = result
        return [(text, float(score)) for text, score, *_ in results]


def is_text(line: OcrLine, options: OcrOptions) -> bool:
    """Whether a recognised line is kept: confident enough, with two letters, digits or Chinese characters."""
    return line.confidence >= options.min_confidence and sum(c.isalnum() for c in line.text) >= 2


def _load_models(options: OcrOptions):
    require("ocr")
    from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    for part in ("Det", "Cls", "Rec"):
        config[part].update(intra_op_num_threads=options.threads, inter_op_num_threads=1)
    config["Det"].update(limit_type="max", limit_side_len=options.det_side, box_thresh=options.box_threshold)
    config["Rec"]["rec_batch_num"] = options.batch
    config["Cls"]["cls_batch_num"] = options.batch
    return TextDetector(config["Det"]), TextClassifier(config["Cls"]), TextRecognizer(config["Rec"])


def _det_preprocess(side: int):
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    return DetPreProcess(side, "max", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])


def _height(box: np.ndarray) -> float:
    return float(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))


def _crop(bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The line inside `box`, straightened; a tall narrow line (vertical text) is turned on its side."""
    import cv2

    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(_height(box))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if height >= 1.5 * width:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop
