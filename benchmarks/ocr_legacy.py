"""The OCR engine zhclip used before rapidocr 3.10 (PP-OCRv4 Chinese detection and recognition, the models inside
`rapidocr-onnxruntime` 1.4, reached through its internals), kept so that benchmarks/ocr_quality.py measures the
engine against it in the same run. Same cuts as `zhclip.search.ocr.engine`: a 640 px pre-screen on the detector's
probability map, full detection on the bands it passes, lines cropped from the larger image; unsure lines read
again turned round (its angle classifier called 180-degree lines upright). Needs `rapidocr-onnxruntime>=1.4,<1.5`.
"""

from __future__ import annotations

import numpy as np

from zhclip.search.ocr.engine import BAND_MARGIN, WHOLE_IMAGE_SHARE, OcrLine, OcrOptions, is_text

ENGINE_NAME = "rapidocr-onnxruntime 1.4 PP-OCRv4 ch"
RECHECK_BELOW = 0.9  # lines less sure than this are read turned round as well
SCREEN_THRESHOLD = 0.1  # text probability that sends a row to full detection (tuned for PP-OCRv4)


class LegacyOcrEngine:
    """Reads the text lines of RGB images with PP-OCRv4, as zhclip did up to rapidocr 3.10's engine."""

    def __init__(self, options: OcrOptions | None = None):
        self.options = options or OcrOptions()
        self._detector, self._recognizer = _load_models(self.options)
        self.detector_calls = 0  # detector passes, pre-screen and full detection (no lock: exact from one thread)

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
        scale = min(1.0, self.options.det_side / max(bgr.shape[:2]))
        small = _resized(bgr, scale)
        found = []
        for top, bottom in self._text_bands(small):
            boxes = self._boxes_in_band(small, top, bottom)
            if any(_reaches_edge(box, top, bottom, small.shape[0]) for box in boxes):  # a line cut by the band
                found = self._boxes_in_band(small, 0, small.shape[0])
                break
            found += boxes
        boxes = [box / scale for box in found]
        tall = [b for b in boxes if _height(b) >= self.options.min_line_height]
        return sorted(tall, key=lambda b: (round(b[0][1] / 10), b[0][0]))

    def _text_bands(self, small: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges of `small` where the pre-screen saw text probability (padded, merged), top to bottom."""
        height = small.shape[0]
        ratio = self.options.screen_side / max(small.shape[:2])
        if ratio >= 1 or self.options.screen_side <= 0:  # a pre-screen as large as the detection itself
            return [(0, height)]
        rows = np.flatnonzero((self._probability(_resized(small, ratio)) > SCREEN_THRESHOLD).any(axis=1))
        bands: list[list[int]] = []
        for row in rows:
            top = max(0, int(row / ratio) - BAND_MARGIN)
            bottom = min(height, int((row + 1) / ratio) + BAND_MARGIN)
            if bands and top <= bands[-1][1]:
                bands[-1][1] = bottom
            else:
                bands.append([top, bottom])
        if sum(bottom - top for top, bottom in bands) > WHOLE_IMAGE_SHARE * height:
            return [(0, height)]
        return [(top, bottom) for top, bottom in bands]

    def _probability(self, bgr: np.ndarray) -> np.ndarray:
        """The detector's text probability map of `bgr` (same size)."""
        h, w = bgr.shape[:2]
        padded = _padded(bgr, -h % 32, -w % 32)
        pixels = (padded.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        self.detector_calls += 1
        return self._detector.infer(np.ascontiguousarray(pixels))[0][0, 0, :h, :w]

    def _boxes_in_band(self, small: np.ndarray, top: int, bottom: int) -> list[np.ndarray]:
        """Text boxes in rows `top:bottom` of `small`, in `small`'s pixels."""
        band = small[top:bottom]
        probability = self._probability(band)
        # The detector's parts, called one by one: its __call__ keeps per-call state on itself (not thread-safe).
        found, _ = self._detector.postprocess_op(probability[None, None], band.shape[:2])
        if len(found) == 0:
            return []
        found = [np.asarray(box, np.float32) + [0, top] for box in found]
        found = self._detector.filter_tag_det_res(found, small.shape[:2])
        return list(found)

    def _recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        results = [(text, float(score)) for text, score, *_ in self._recognizer(crops)[0]]
        unsure = [i for i, (_, score) in enumerate(results) if score < RECHECK_BELOW]
        if unsure:  # perhaps upside down: read turned round too, keep the surer reading
            turned = self._recognizer([np.ascontiguousarray(crops[i][::-1, ::-1]) for i in unsure])[0]
            for i, (text, score, *_) in zip(unsure, turned, strict=True):
                if score > results[i][1]:
                    results[i] = (text, float(score))
        return results


def _load_models(options: OcrOptions):
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        raise SystemExit(
            "the old engine needs rapidocr-onnxruntime: pip install 'rapidocr-onnxruntime>=1.4,<1.5'"
        ) from None
    from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    config = update_model_path(read_yaml(DEFAULT_CFG_PATH))
    for part in ("Det", "Rec"):
        config[part].update(intra_op_num_threads=options.threads, inter_op_num_threads=1)
    config["Det"].update(limit_type="max", limit_side_len=options.det_side, box_thresh=options.box_threshold)
    config["Rec"]["rec_batch_num"] = options.batch
    return TextDetector(config["Det"]), TextRecognizer(config["Rec"])


def _resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if scale >= 1.0:
        return bgr
    h, w = bgr.shape[:2]
    return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _padded(bgr: np.ndarray, bottom: int, right: int) -> np.ndarray:
    """`bgr` with its last rows and columns repeated, `bottom` and `right` more (the detector wants sides of 32k)."""
    import cv2

    if not bottom and not right:
        return bgr
    return cv2.copyMakeBorder(bgr, 0, bottom, 0, right, cv2.BORDER_REPLICATE)


def _reaches_edge(box: np.ndarray, top: int, bottom: int, height: int) -> bool:
    """Whether `box` touches the top or bottom of band `top:bottom` where the band is not the image's edge."""
    ys = box[:, 1]
    return bool((top > 0 and ys.min() <= top + 1) or (bottom < height and ys.max() >= bottom - 2))


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
