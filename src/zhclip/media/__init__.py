"""The one place zhclip opens images and videos, for models, data, evaluation, search and the web page alike.

Images: size limits checked before any pixel is decoded, EXIF orientation and facts, HEIC/HEIF through
pillow-heif (registered here, explicitly), JPEG draft decoding near a target size, and conversion of any mode
to 8-bit RGB. Videos (PyAV): frames sampled by time or shot by shot (shot boundaries found on the way), one
frame at a time, segments copied out. Every file that cannot be decoded raises `zhclip.errors.DecodeError`
naming the file and the reason. The optional decoders (pillow-heif, PyAV) are imported only when a file needs
them."""

from .files import (
    DEFAULT_LIMITS,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    Limits,
    MediaInfo,
    check_size,
    media_kind,
    read_bytes,
)
from .images import LoadedImage, load_image, open_image, register_heif, to_rgb
from .shots import DEFAULT_SHOTS, ShotOptions
from .thumbnails import jpeg_bytes, thumbnail
from .video import cut_clip, detect_shots, read_video_frames, video_frame, write_video

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_SHOTS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Limits",
    "LoadedImage",
    "MediaInfo",
    "ShotOptions",
    "check_size",
    "cut_clip",
    "detect_shots",
    "jpeg_bytes",
    "load_image",
    "media_kind",
    "open_image",
    "read_bytes",
    "read_video_frames",
    "register_heif",
    "thumbnail",
    "to_rgb",
    "video_frame",
    "write_video",
]
