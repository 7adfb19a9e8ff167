"""Step 3 of indexing (and of every query): turn pixels and texts into L2-normalised vectors.

`MediaEncoder` is the only way search code reaches a model, and each of its model calls runs on the compute
thread (see `compute`), whoever calls it: the indexer, a server's rescan thread, or a query.
"""

from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..models.device import device_type
from ..models.model import ClipModel
from ..runtime import load as load_model
from ..runtime.loader import load_at_once
from ..runtime.memory import release_memory
from .compute import on_compute_thread
from .decode import DecodeOptions, decode_image
from .meta import ModelIdentity
from .query_cache import QueryCache

if TYPE_CHECKING:
    import torch

_image_loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhclip-load")
log = logging.getLogger(__name__)


def model_identity(model: ClipModel) -> ModelIdentity:
    local = Path(model.source).expanduser()
    source = str(local.absolute()) if local.exists() else model.source  # a hub id stays as it is
    return ModelIdentity(tuple(model.fingerprint), source, model.arch, model.embed_dim)


class MediaEncoder:
    """Batched encoding of library media and queries with one model, always on the compute thread. On CUDA,
    batches go through one reusable page-locked buffer in the model's half precision and are copied to the GPU
    without blocking (`staged`; it runs on CPU too)."""

    def __init__(self, model: ClipModel, batch_size: int = 32, staged: bool | None = None):
        self._model = model
        self.batch_size = batch_size
        self.identity = model_identity(model)
        self.image_size = model.image_size
        self.device = getattr(model, "device", "cpu")
        self.staged = self.on_cuda if staged is None else staged
        self.pixel_dtype = _pixel_dtype(model, self.on_cuda)
        self._buffer: torch.Tensor | None = None
        self._texts = QueryCache()
        self._image_model: Future[ClipModel] | None = None  # the full model, while it loads (`image_later`)
        self._faster: Future[ClipModel | None] | None = None  # the prepared paths, while a child prepares them

    @classmethod
    def load(
        cls,
        source: str | Path,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        towers: tuple[str, ...] = ("image", "text"),
        runtime: str = "auto",
        image_later: bool = False,
    ):
        """Load `source` (on the compute thread: the model's first use sets up its threads there).

        A model whose `auto` paths are not converted and timed yet runs on PyTorch fp32 at once while a child
        process prepares them (`runtime.load_at_once`); once they have loaded, the encoder switches to them
        between two batches or queries (on the compute thread) and releases the PyTorch weights.

        `image_later` (a server): open the text tower first, from its cached conversion where there is one, so
        text queries are answered at once; the full model then loads on a thread of its own, and image work (an
        uploaded image, a rescan) waits for it."""
        options = {"device": device, "precision": precision, "runtime": runtime}
        first = ("text",) if image_later else towers
        model, preparation = on_compute_thread(lambda: load_at_once(source, towers=first, **options))
        encoder = cls(model, batch_size)
        if preparation is not None:
            encoder._faster = _in_background(_when_prepared, preparation, source, towers, options)
            encoder._faster.add_done_callback(lambda _: on_compute_thread(encoder._current))  # switch when idle too
        elif image_later and "image" not in model.paths:
            encoder._image_model = _image_loader.submit(load_model, source, towers=towers, **options)
        return encoder

    @property
    def paths(self) -> dict[str, str]:
        """Tower -> the path that runs it now (e.g. `torch-fp32` until the prepared paths take over)."""
        return dict(self._model.paths)

    @property
    def on_cuda(self) -> bool:
        return device_type(self.device) == "cuda"

    def _current(self) -> ClipModel:
        """The model to encode with (on the compute thread): the prepared one once it has loaded."""
        if self._faster is not None and self._faster.done():
            faster, self._faster = self._faster, None
            self._switch_to(faster)
        return self._model

    def _switch_to(self, faster: Future[ClipModel | None]) -> None:
        try:
            model = faster.result()
        except Exception as exc:  # any runtime's failure to open: the PyTorch model goes on serving
            log.warning("zhclip: the prepared paths did not open (%s); staying on PyTorch fp32", exc)
            return
        if model is None or not model_identity(model).matches(self.identity):
            return
        log.info("zhclip: switched to %s", ", ".join(f"{t} {p}" for t, p in model.paths.items()))
        self._model = model
        release_memory()

    def _with_image_tower(self) -> ClipModel:
        self._current()
        if self._image_model is not None:
            self._model = self._image_model.result()
            self._image_model = None
        return self._model

    @property
    def to_array(self):
        """PIL image -> (3, S, S) pixels: the model's preprocessing, run by the decoding threads or processes."""
        to_array = self._model.transform.to_array
        return to_array if self.pixel_dtype == np.float32 else AsDtype(to_array, self.pixel_dtype)

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 -> (N, D) float32, in batches of `batch_size`."""
        return on_compute_thread(self._encode_pixels, pixels)

    def encode_text(self, text: str) -> np.ndarray:
        """The query's vector (read-only), from the LRU cache when the text was asked before."""
        return self._texts.get(self.identity.source, text, self._encode_text)

    def _encode_text(self, text: str) -> np.ndarray:
        return on_compute_thread(lambda: self._current().encode_texts([text])[0])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) float32, in batches."""
        return on_compute_thread(lambda: self._current().encode_texts(texts))

    def encode_image(self, image) -> np.ndarray:
        return self.encode_pixels(self.to_array(image)[None])[0]

    def encode_image_bytes(self, data: bytes, name: str) -> np.ndarray:
        """An image given as bytes (upload, paste) -> its vector; pixel limits as for indexing."""
        _, pixels = decode_image(io.BytesIO(data), self.to_array, DecodeOptions(self.image_size, min_side=1), name)
        return self.encode_pixels(pixels[None])[0]

    def encode_image_file(self, path: str | Path) -> np.ndarray:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(path, f"cannot read image: {exc.strerror or exc}") from None
        return self.encode_image_bytes(data, str(path))

    def _encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        model = self._with_image_tower()
        chunks = [
            self._encode_batch(model, pixels[i : i + self.batch_size]) for i in range(0, len(pixels), self.batch_size)
        ]
        return np.concatenate(chunks)

    def _encode_batch(self, model: ClipModel, pixels: np.ndarray) -> np.ndarray:
        if not self.staged:
            return model.encode_pixel_array(pixels)  # a runtime that takes arrays needs no PyTorch
        return model.encode_pixels(self._staged(pixels))

    def _staged(self, pixels: np.ndarray) -> torch.Tensor:
        import torch

        if self._buffer is None or self._buffer.shape[1:] != pixels.shape[1:]:
            shape = (self.batch_size, *pixels.shape[1:])
            dtype = torch.from_numpy(np.empty(0, self.pixel_dtype)).dtype
            self._buffer = torch.empty(shape, dtype=dtype, pin_memory=torch.cuda.is_available())
        batch = self._buffer[: len(pixels)]
        batch.copy_(torch.from_numpy(pixels))
        # The copy may still run when this returns; the buffer is refilled only after the model has returned
        # this batch's vectors to the CPU, which waits for it.
        return batch.to(self.device, non_blocking=True)


def _when_prepared(preparation, source: str | Path, towers: tuple[str, ...], options: dict) -> ClipModel | None:
    """The model on its prepared paths once the child is done (None if it failed: see its log)."""
    if preparation.wait() is False:
        return None
    return load_model(source, towers=towers, **options)


def _in_background(fn, *args) -> Future:
    """`fn(*args)` on a daemon thread: a command that ends first does not wait for it (as it would for an
    executor's thread), and leaves the child it waits for at work."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever reads the future
            future.set_exception(exc)

    threading.Thread(target=run, name="zhclip-prepared", daemon=True).start()
    return future


def _pixel_dtype(model: ClipModel, on_cuda: bool) -> np.dtype:
    """float16 for a half-precision model on CUDA (half the bytes to decode, pin and copy), else float32."""
    if not on_cuda:
        return np.dtype(np.float32)
    import torch

    network_dtype = getattr(getattr(model, "network", None), "dtype", torch.float32)
    return np.dtype(np.float16 if network_dtype in (torch.float16, torch.bfloat16) else np.float32)


class AsDtype:
    """`to_array` whose arrays are cast to `dtype`. A class, so that worker processes can receive it."""

    def __init__(self, to_array, dtype: np.dtype):
        self.to_array = to_array
        self.dtype = np.dtype(dtype)

    def __call__(self, image) -> np.ndarray:
        return self.to_array(image).astype(self.dtype, copy=False)
