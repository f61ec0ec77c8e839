"""wandb-compatible media values: Image, Table, Histogram, Html, Plotly, Audio, Video.

Each class takes wandb's constructor arguments, converts its input to file
bytes when it is built (so later changes to the caller's array do not
matter, as in wandb) and hands ``log()`` the history JSON plus the files to
upload through ``Media._fluoro_encode(key, step)``. The JSON shapes and file
names follow wandb's, so the UI renders values from either client; they are
listed in docs/media.md.

Standard library only: PNG is written with ``zlib`` + ``struct``, WAV with
``wave``, GIF with a small LZW encoder here. numpy, torch, PIL, pandas,
plotly and matplotlib are used only when the caller already imported them
(``sys.modules``), never imported by this module. Encoding is deterministic:
the same input gives the same bytes, hence the same sha256 and file name.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import numbers
import os
import string
import struct
import sys
import warnings
import zlib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ._errors import FluoroWarning
from ._values import json_safe

Files = List[Tuple[str, bytes]]
Encoded = Tuple[Dict[str, Any], Files]

__all__ = [
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "Media",
    "Plotly",
    "Table",
    "Video",
    "coerce",
    "encode_gif",
    "encode_png",
    "encode_sequence",
    "safe_key",
]

_SAFE = frozenset(string.ascii_letters + string.digits + "._-")
_KEY_MAX = 100


def safe_key(key: Any) -> str:
    """The key as it appears in file names: ``[A-Za-z0-9._-]`` only, no leading dot, at most 100 chars."""
    s = "".join(c if c in _SAFE else "_" for c in str(key)[:_KEY_MAX])
    if not s:
        return "_"
    if s[0] == ".":
        s = "_" + s[1:]
    return s


def _name(subdir: str, key: str, step: Any, sha256: str, ext: str) -> str:
    return "%s/%s_%s_%s%s" % (subdir, safe_key(key), safe_key(step), sha256[:20], ext)


def _dumps(obj: Any) -> bytes:
    """Strict, compact, deterministic JSON (non-finite floats as "NaN"/"Infinity" strings)."""
    return json.dumps(json_safe(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _warn(msg: str) -> None:
    warnings.warn(msg, FluoroWarning, stacklevel=4)


MAX_MEDIA_FILE = 256 << 20  # bytes read from one media file (an image, audio or video path)


def _read_path(what: str, path: Any) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > MAX_MEDIA_FILE:
            raise ValueError(
                "%s: %r is %d MiB; media files over %d MiB are not logged (use save() for big files)"
                % (what, str(path), size >> 20, MAX_MEDIA_FILE >> 20)
            )
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError("%s: cannot read %r: %s" % (what, str(path), e.strerror or e)) from None


def _ext(path: Any) -> str:
    return os.path.splitext(str(path))[1][1:].lower()


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _np() -> Any:
    return sys.modules.get("numpy")


def _is_ndarray(x: Any) -> bool:
    np = _np()
    return np is not None and isinstance(x, np.ndarray)


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _check_pixels(w: int, h: int) -> None:
    """Refuse an image too big to log before any pixel is copied or encoded."""
    limit = Image.MAX_PIXELS
    if w * h > limit:
        raise ValueError(
            "Image: %dx%d is %s pixels; at most %s are logged: resize it first "
            "(or raise fluoro.Image.MAX_PIXELS)" % (w, h, format(w * h, ","), format(limit, ","))
        )


def _hw(shape: Sequence[int], chw: bool) -> Tuple[int, int]:
    """(width, height) an array of this shape would make, for the size check."""
    s = list(shape)
    if len(s) == 4 and s[0] == 1:
        s = s[1:]
    if len(s) == 3 and (chw or (s[-1] not in (1, 3, 4) and s[0] in (1, 3, 4))):
        return int(s[2]), int(s[1])
    if len(s) >= 2:
        return int(s[1]), int(s[0])
    return 0, 0


def _tensor_to_host(t: Any) -> Any:
    """A torch tensor as a numpy array when numpy works, else as nested lists."""
    t = t.detach().cpu()
    if t.dtype.is_floating_point and t.element_size() < 4:  # float16/bfloat16: numpy lacks bfloat16
        t = t.float()
    try:
        return t.numpy()
    except Exception:  # torch built or run without numpy
        return t.tolist()


# --- nested lists (the pure-Python path) ------------------------------------


def _shape_flat(what: str, x: Any) -> Tuple[List[int], List[Any]]:
    """Shape and row-major values of a rectangular nested list/tuple of numbers."""
    shape: List[int] = []
    probe = x
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    level: List[Any] = [x]
    for n in shape:
        nxt: List[Any] = []
        for item in level:
            if not isinstance(item, (list, tuple)) or len(item) != n:
                raise ValueError("%s: nested lists are not rectangular (expected length %d)" % (what, n))
            nxt.extend(item)
        level = nxt
    for v in level:
        if isinstance(v, (list, tuple)) or not isinstance(v, numbers.Real):
            raise TypeError("%s: expected numbers, got %s" % (what, type(v).__name__))
    return shape, level


# --- PNG ---------------------------------------------------------------------

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _up_filter(raw: bytes, stride: int) -> bytes:
    """PNG filter "Up" of every row (each byte minus the one above, mod 256; the first row stays).

    A bytewise subtraction done on big ints with the SWAR trick (no borrow
    crosses a byte), so it runs at C speed, not a Python loop per pixel; in
    blocks of about 64 KiB, where CPython's big-int work stays linear.
    """
    n = len(raw)
    rows = max(1, 65536 // max(1, stride))
    out = bytearray()
    for start in range(0, n, rows * stride):
        end = min(n, start + rows * stride)
        size = end - start
        high = int.from_bytes(b"\x80" * size, "big")
        ones = (1 << (8 * size)) - 1
        a = int.from_bytes(raw[start:end], "big")
        above = raw[start - stride : end - stride] if start else bytes(stride) + raw[: end - stride]
        b = int.from_bytes(above, "big")
        out += (((a | high) - (b & (ones ^ high))) ^ ((a ^ (ones ^ b)) & high)).to_bytes(size, "big")
    return bytes(out)


def encode_png(width: int, height: int, channels: int, raw: bytes) -> bytes:
    """An 8-bit PNG of ``raw`` (rows of width*channels bytes, top to bottom).

    Every row uses filter type 2 (Up) and zlib's run-length strategy: about
    2 ms for 224x224 RGB, and as small as zlib level 6 for photos (bigger
    for flat synthetic images, which stay small anyway).
    """
    stride = width * channels
    if len(raw) != stride * height or width < 1 or height < 1:
        raise ValueError("PNG: %d bytes for %dx%dx%d" % (len(raw), width, height, channels))
    np = _np()
    if np is not None:  # the same bytes, faster
        rows = np.frombuffer(raw, np.uint8).reshape(height, stride)
        arr = np.empty((height, stride + 1), np.uint8)
        arr[:, 0] = 2
        arr[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=arr[1:, 1:])
        data = arr.tobytes()
    else:
        filtered = _up_filter(raw, stride)
        buf = bytearray(height * (stride + 1))
        buf[0 :: stride + 1] = b"\x02" * height
        mv = memoryview(filtered)
        for y in range(height):
            o = y * (stride + 1) + 1
            buf[o : o + stride] = mv[y * stride : (y + 1) * stride]
        data = bytes(buf)
    z = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = z.compress(data) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return _PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# --- image files: format and size from the header ----------------------------


def _sniff_image(data: bytes) -> Optional[str]:
    if data.startswith(_PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _image_size(data: bytes, fmt: str) -> Optional[Tuple[int, int]]:
    """(width, height) read from a PNG/GIF/JPEG/BMP header, or None."""
    try:
        if fmt == "png" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if fmt == "gif":
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if fmt == "bmp":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if fmt in ("jpg", "jpeg"):
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    i += 1 if marker == 0xFF else 2
                    continue
                (length,) = struct.unpack(">H", data[i + 2 : i + 4])
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                    return int(w), int(h)
                i += 2 + length
    except struct.error:
        pass
    return None


# --- pixels ------------------------------------------------------------------

_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def _rescale(v: float, lo: float, hi: float) -> int:
    """One value to 0..255 by wandb's rule for the whole array's [lo, hi]."""
    if 0 <= lo and hi <= 1:
        return int(v * 255)
    if -1 <= lo and hi <= 1:
        return int(127.5 * (v + 1))
    return int(min(max(v, 0), 255))


def _pixels_np(arr: Any, chw: bool) -> Tuple[int, int, int, bytes]:
    np = _np()
    if arr.dtype.kind not in "biuf":
        raise TypeError("Image: arrays of dtype %s are not images" % arr.dtype)
    if arr.ndim == 4 and arr.shape[0] == 1:  # a batch of one
        arr = arr[0]
    if arr.ndim == 3 and (chw or (arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4))):
        arr = arr.transpose(1, 2, 0)  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(
            "Image: unsupported shape %s; use HxW, HxWx1, HxWx3 or HxWx4 (numpy) or CxHxW (torch)" % (list(arr.shape),)
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError("Image: empty image of shape %s" % (list(arr.shape),))
    _check_pixels(int(arr.shape[1]), int(arr.shape[0]))
    if arr.dtype == np.uint8:
        u8 = arr
    elif arr.dtype.kind == "b":
        u8 = arr.astype(np.uint8) * np.uint8(255)
    else:
        a = arr
        if a.dtype.kind == "f":  # computed in the array's own dtype, as wandb does
            a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        if 0 <= lo and hi <= 1:
            u8 = (a * 255).astype(np.uint8)
        elif -1 <= lo and hi <= 1:
            u8 = (127.5 * (a + 1)).astype(np.uint8)
        else:
            u8 = np.clip(a, 0, 255).astype(np.uint8)
    h, w = int(u8.shape[0]), int(u8.shape[1])
    c = 1 if u8.ndim == 2 else int(u8.shape[2])
    return w, h, c, np.ascontiguousarray(u8).tobytes()


def _finite(v: float) -> float:
    """NaN -> 0, +inf -> 255, -inf -> 0 (numpy.nan_to_num with the image bounds)."""
    if math.isnan(v):
        return 0.0
    if math.isinf(v):
        return 255.0 if v > 0 else 0.0
    return v


def _pixels_list(x: Any, chw: bool, normalize: bool = True) -> Tuple[int, int, int, bytes]:
    shape, flat = _shape_flat("Image", x)
    _check_pixels(*_hw(shape, chw))
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == 3 and (chw or (shape[-1] not in (1, 3, 4) and shape[0] in (1, 3, 4))):
        c, h, w = shape
        plane = h * w
        flat = [flat[ch * plane + i] for i in range(plane) for ch in range(c)]
        shape = [h, w, c]
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (3, 4)) or 0 in shape:
        raise ValueError("Image: unsupported shape %s; use HxW, HxWx1, HxWx3 or HxWx4" % (shape,))
    vals = [_finite(v) if isinstance(v, float) else v for v in flat]
    if not normalize:
        out = bytes(int(v) % 256 for v in vals)  # numpy's astype(uint8), as wandb with normalize=False
    elif all(type(v) is bool for v in vals):
        out = bytes(255 if v else 0 for v in vals)
    else:
        lo, hi = min(vals), max(vals)
        out = bytes(_rescale(v, lo, hi) for v in vals)
    return shape[1], shape[0], (shape[2] if len(shape) == 3 else 1), out


def _convert(w: int, h: int, c: int, raw: bytes, mode: str) -> Tuple[int, bytes]:
    """raw pixels with c channels converted to a PIL-style mode (L, LA, RGB, RGBA)."""
    want = _MODES[mode]
    if want == c:
        return c, raw
    n = w * h
    # to RGBA first, then down
    rgba = bytearray(n * 4)
    if c in (1, 2):
        for i in range(3):
            rgba[i::4] = raw[0::c]
        rgba[3::4] = raw[1::2] if c == 2 else b"\xff" * n
    else:
        for i in range(3):
            rgba[i::4] = raw[i::c]
        rgba[3::4] = raw[3::4] if c == 4 else b"\xff" * n
    if want == 4:
        return 4, bytes(rgba)
    if want == 3:
        out = bytearray(n * 3)
        for i in range(3):
            out[i::3] = rgba[i::4]
        return 3, bytes(out)
    # ITU-R 601-2 luma, as PIL's convert("L")
    lum = bytes(
        (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16 for r, g, b in zip(rgba[0::4], rgba[1::4], rgba[2::4])
    )
    if want == 1:
        return 1, lum
    out = bytearray(n * 2)
    out[0::2] = lum
    out[1::2] = rgba[3::4]
    return 2, bytes(out)


def _mask_png(what: str, data: Any) -> Tuple[bytes, List[int]]:
    """8-bit grey PNG of a 2-D class-id array, and the ids it contains."""
    if _is_tensor(data):
        data = _tensor_to_host(data)
    if _is_ndarray(data):
        np = _np()
        if data.ndim != 2:
            raise ValueError("%s: mask_data must be a 2-D array, got shape %s" % (what, list(data.shape)))
        if data.dtype.kind not in "biuf":
            raise TypeError("%s: mask_data must hold integer class ids, got dtype %s" % (what, data.dtype))
        if data.size == 0:
            raise ValueError("%s: mask_data is empty" % what)
        if data.dtype.kind == "f" and not bool(np.all(np.isfinite(data)) and np.all(data == np.floor(data))):
            raise ValueError("%s: mask_data must hold integer class ids (0..255)" % what)
        if bool((data < 0).any()) or bool((data > 255).any()):
            raise ValueError("%s: mask_data values must be integers between 0 and 255" % what)
        u8 = np.ascontiguousarray(data.astype(np.uint8))
        ids = sorted(int(v) for v in np.unique(u8))
        return encode_png(int(u8.shape[1]), int(u8.shape[0]), 1, u8.tobytes()), ids
    if not isinstance(data, (list, tuple)):
        raise TypeError("%s: mask_data must be a 2-D array (numpy, torch or nested lists)" % what)
    shape, flat = _shape_flat(what, data)
    if len(shape) != 2 or 0 in shape:
        raise ValueError("%s: mask_data must be a non-empty 2-D array, got shape %s" % (what, shape))
    for v in flat:
        if v != int(v) or not 0 <= v <= 255:
            raise ValueError("%s: mask_data values must be integers between 0 and 255, got %r" % (what, v))
    raw = bytes(int(v) for v in flat)
    return encode_png(shape[1], shape[0], 1, raw), sorted(set(raw))


def _class_labels(what: str, labels: Any) -> Dict[str, str]:
    if not isinstance(labels, Mapping):
        raise TypeError("%s: class_labels must be a dict of class id -> name" % what)
    out: Dict[str, str] = {}
    for k, v in labels.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Number) or not isinstance(v, str):
            raise TypeError("%s: class_labels must map numbers to strings, got %r: %r" % (what, k, v))
        out[str(int(k)) if isinstance(k, numbers.Integral) else str(k)] = v
    return out


def _is_num(d: Mapping[str, Any], k: str) -> bool:
    return k in d and isinstance(d[k], numbers.Number) and not isinstance(d[k], bool)


def _check_boxes(what: str, val: Any) -> Dict[str, Any]:
    """wandb's BoundingBoxes2D validation; returns the dict to write (class_labels always set)."""
    if not isinstance(val, Mapping) or "box_data" not in val:
        raise TypeError('%s: each boxes entry must be a dict with "box_data" (a list of boxes)' % what)
    boxes = json_safe(val["box_data"], nonfinite_as_str=False)  # torch/numpy numbers -> plain
    if not isinstance(boxes, list):
        raise TypeError("%s: box_data must be a list" % what)
    ids = set()
    for box in boxes:
        pos = box.get("position") if isinstance(box, dict) else None
        ok = isinstance(pos, dict) and (
            (
                isinstance(pos.get("middle"), list)
                and len(pos["middle"]) == 2
                and all(isinstance(m, (int, float)) for m in pos["middle"])
                and _is_num(pos, "width")
                and _is_num(pos, "height")
            )
            or all(_is_num(pos, k) for k in ("minX", "maxX", "minY", "maxY"))
        )
        if not ok:
            raise TypeError(
                '%s: each box needs "position" with minX, maxX, minY, maxY or middle [x, y], width, height' % what
            )
        assert isinstance(box, dict)
        if "scores" in box:
            sc = box["scores"]
            if not isinstance(sc, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in sc.values()
            ):
                raise TypeError("%s: box scores must be a dict of name -> number" % what)
        if "class_id" in box and (not isinstance(box["class_id"], int) or isinstance(box["class_id"], bool)):
            raise TypeError("%s: a box's class_id must be an integer" % what)
        if "box_caption" in box and not isinstance(box["box_caption"], str):
            raise TypeError("%s: a box's box_caption must be a string" % what)
        if "domain" in box and box["domain"] not in (None, "pixel"):
            raise ValueError('%s: a box\'s domain must be "pixel" or absent' % what)
        if "class_id" in box:
            ids.add(box["class_id"])
    if "class_labels" in val:
        labels = _class_labels(what, val["class_labels"])
    else:
        labels = {str(c): "class_%d" % c for c in sorted(ids)}
    return {"box_data": boxes, "class_labels": labels}


# --- media -------------------------------------------------------------------


class Media:
    """Base class of the values ``log()`` stores as media (and of Histogram, which has no file)."""

    _log_type = ""
    _subdir = ""

    def __init__(self, caption: Optional[str] = None) -> None:
        self._caption = None if caption is None else str(caption)

    def _fluoro_encode(self, key: str, step: int) -> Encoded:
        """Return the JSON value to store in history at (key, step) and the files to upload.

        Files are (run-relative name, content); names follow wandb's layout,
        e.g. ``media/images/{key}_{step}_{sha256[:20]}.png``, with the key made
        file-safe by :func:`safe_key`. The JSON carries ``_type``, ``path``,
        ``sha256``, ``size`` and the type's own fields (docs/media.md).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self._log_type)


class _FileMedia(Media):
    """Media backed by one file whose bytes are known at construction."""

    _bytes = b""
    _suffix = ""  # file extension with the dot
    _sha256 = ""

    def _set_bytes(self, data: bytes, suffix: str) -> None:
        self._bytes = bytes(data)
        self._suffix = suffix
        self._sha256 = hashlib.sha256(self._bytes).hexdigest()

    def _extra(self) -> Dict[str, Any]:
        return {}

    def _file_json(self, key: str, step: Any) -> Encoded:
        path = _name(self._subdir, key, step, self._sha256, self._suffix)
        js: Dict[str, Any] = {"_type": self._log_type, "path": path, "sha256": self._sha256, "size": len(self._bytes)}
        if self._caption is not None:
            js["caption"] = self._caption
        js.update(self._extra())
        return js, [(path, self._bytes)]

    def _fluoro_encode(self, key: str, step: int) -> Encoded:
        return self._file_json(key, step)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, _FileMedia) and other._sha256 == self._sha256

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._sha256))


class _Mask(_FileMedia):
    _log_type = "mask"
    _subdir = "media/images/mask"

    def __init__(self, what: str, val: Any) -> None:
        super().__init__()
        if not isinstance(val, Mapping):
            raise TypeError('%s: each masks entry must be a dict with "mask_data" (a 2-D array of class ids)' % what)
        if "mask_data" in val:
            png, ids = _mask_png(what, val["mask_data"])
        elif "path" in val:
            png, ids = _read_path(what, val["path"]), []
            if not png.startswith(_PNG_SIG):
                raise ValueError("%s: a mask file must be a PNG" % what)
        else:
            raise TypeError('%s: missing key "mask_data": a 2-D array of class ids per pixel' % what)
        if "class_labels" in val:
            self._labels = _class_labels(what, val["class_labels"])
        else:
            self._labels = {str(c): "class_%d" % c for c in ids}
        self._set_bytes(png, ".mask.png")

    def _extra(self) -> Dict[str, Any]:
        return {"class_labels": dict(self._labels)}


class _Boxes(_FileMedia):
    _log_type = "boxes2D"
    _subdir = "media/metadata/boxes2D"

    def __init__(self, what: str, val: Any) -> None:
        super().__init__()
        self._val = _check_boxes(what, val)
        self._set_bytes(_dumps(self._val), ".boxes2D.json")


ImageData = Any


class Image(_FileMedia):
    """An image: a numpy array (HxW, HxWx1/3/4), a torch tensor (CxHxW), a PIL image,
    a matplotlib figure, nested lists of numbers, a path to a png/jpg/gif/bmp/webp
    file, or the file's bytes.

    Arrays are stored as PNG. Floats in [0, 1] are scaled by 255, in [-1, 1]
    mapped to 0..255, anything else clipped to 0..255 (wandb's rules; uint8 is
    kept as it is). ``masks`` and ``boxes`` take wandb's dicts. Images over
    ``MAX_PIXELS`` (8192 x 8192) are refused with a ValueError before any
    pixel is copied: a browser cannot show them, and encoding one would
    stall the training loop.
    """

    MAX_ITEMS = 108
    MAX_PIXELS = 1 << 26
    _log_type = "image-file"
    _subdir = "media/images"

    def __init__(
        self,
        data_or_path: ImageData,
        mode: Optional[str] = None,
        caption: Optional[str] = None,
        grouping: Optional[int] = None,
        classes: Optional[Sequence[Mapping[str, Any]]] = None,
        boxes: Optional[Mapping[str, Any]] = None,
        masks: Optional[Mapping[str, Any]] = None,
        file_type: Optional[str] = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(caption)
        self.format = "png"
        self._width: Optional[int] = None
        self._height: Optional[int] = None
        self._grouping = grouping
        self._masks: Dict[str, _Mask] = {}
        self._boxes: Dict[str, _Boxes] = {}
        self._classes: Optional[List[Dict[str, Any]]] = None
        if mode is not None and mode not in _MODES:
            raise ValueError("Image: mode must be one of %s, got %r" % (", ".join(_MODES), mode))
        if file_type is not None and file_type not in ("png", "jpg", "jpeg", "bmp"):
            raise ValueError("Image: file_type must be one of png, jpg, jpeg, bmp; got %r" % (file_type,))
        if isinstance(data_or_path, Image):
            self._copy(data_or_path)
        elif _is_path(data_or_path):
            ext = _ext(data_or_path)
            data = _read_path("Image", data_or_path)
            if ext not in ("png", "jpg", "jpeg", "gif", "bmp", "webp"):
                raise ValueError("Image: unsupported file type %r; use png, jpg, jpeg, gif, bmp or webp" % ext)
            self._from_file_bytes(data, ext)
        elif isinstance(data_or_path, (bytes, bytearray, memoryview)):
            data = bytes(data_or_path)
            ext_or_none = _sniff_image(data)
            if ext_or_none is None:
                raise ValueError("Image: bytes are not a PNG, JPEG, GIF, BMP or WebP file")
            self._from_file_bytes(data, ext_or_none)
        else:
            self._from_data(data_or_path, mode, file_type, normalize)
        self._set_meta(classes, boxes, masks)

    def _copy(self, other: "Image") -> None:
        self._set_bytes(other._bytes, other._suffix)
        self.format = other.format
        self._width, self._height = other._width, other._height
        if self._caption is None:
            self._caption = other._caption
        if self._grouping is None:
            self._grouping = other._grouping

    def _from_file_bytes(self, data: bytes, ext: str) -> None:
        self.format = ext
        size = _image_size(data, ext)
        if size is not None:
            _check_pixels(*size)  # a small file can claim a huge image (a decompression bomb for the browser)
            self._width, self._height = size
        self._set_bytes(data, "." + ext)

    def _from_data(self, data: Any, mode: Optional[str], file_type: Optional[str], normalize: bool) -> None:
        pil = sys.modules.get("PIL.Image")
        if pil is not None and isinstance(data, pil.Image):
            w, h, c, raw = _pixels_pil(data)
        elif _is_matplotlib(data):
            png = _matplotlib_png(data)
            self._from_file_bytes(png, "png")
            return
        else:
            chw = False
            if _is_tensor(data):
                if getattr(data, "shape", None) is not None:
                    _check_pixels(*_hw(tuple(data.shape), True))  # before the copy to the host
                data = _tensor_to_host(data)
                chw = True
            elif hasattr(data, "numpy") and not _is_ndarray(data) and not isinstance(data, (list, tuple)):
                data = data.numpy()  # TF eager tensors, as wandb
            if _is_ndarray(data):
                if not normalize:
                    data = data.astype(_np().uint8)
                w, h, c, raw = _pixels_np(data, chw)
            elif isinstance(data, (list, tuple)):
                w, h, c, raw = _pixels_list(data, chw, normalize)
            else:
                raise TypeError(
                    "Image: cannot make an image from %s; pass a numpy array, torch tensor, PIL image, "
                    "path or bytes" % type(data).__name__
                )
        if mode is not None:
            c, raw = _convert(w, h, c, raw, mode)
        self._width, self._height = w, h
        ft = file_type or "png"
        if ft != "png":
            encoded = _pil_encode(w, h, c, raw, ft)
            if encoded is not None:
                self.format = ft
                self._set_bytes(encoded, "." + ft)
                return
            _warn("Image: file_type=%r needs PIL (not imported); saved as PNG" % ft)
        self.format = "png"
        self._set_bytes(encode_png(w, h, c, raw), ".png")

    def _set_meta(self, classes: Any, boxes: Any, masks: Any) -> None:
        if boxes:
            if not isinstance(boxes, Mapping):
                raise ValueError('Image: "boxes" must be a dict of name -> {"box_data": [...], "class_labels": {...}}')
            self._boxes = {str(k): _Boxes("Image boxes[%r]" % k, v) for k, v in boxes.items()}
        if masks:
            if not isinstance(masks, Mapping):
                raise ValueError('Image: "masks" must be a dict of name -> {"mask_data": array, "class_labels": {...}}')
            self._masks = {str(k): _Mask("Image masks[%r]" % k, v) for k, v in masks.items()}
        if classes is not None:
            cs = getattr(classes, "_class_set", classes)
            try:
                self._classes = [{"id": c["id"], "name": c["name"]} for c in cs]
            except (TypeError, KeyError):
                raise TypeError('Image: classes must be a list of {"id": ..., "name": ...} dicts') from None

    @property
    def width(self) -> Optional[int]:
        return self._width

    @property
    def height(self) -> Optional[int]:
        return self._height

    def _extra(self) -> Dict[str, Any]:
        js: Dict[str, Any] = {"format": self.format}
        if self._width is not None:
            js["width"] = self._width
        if self._height is not None:
            js["height"] = self._height
        if self._grouping:
            js["grouping"] = self._grouping
        return js

    def _fluoro_encode(self, key: str, step: int) -> Encoded:
        js, files = self._file_json(key, step)
        for attr, field in (("_boxes", "boxes"), ("_masks", "masks")):
            group: Dict[str, _FileMedia] = getattr(self, attr)
            if group:
                js[field] = {}
                for name, item in group.items():
                    sub, sub_files = item._file_json(key, step)
                    js[field][name] = sub
                    files.extend(f for f in sub_files if f not in files)  # equal layers share one file
        return js, files


def _pixels_pil(im: Any) -> Tuple[int, int, int, bytes]:
    if im.mode not in _MODES:
        has_alpha = "A" in im.mode or "transparency" in getattr(im, "info", {})
        im = im.convert("RGBA" if has_alpha else "RGB")
    w, h = im.size
    _check_pixels(int(w), int(h))
    return int(w), int(h), _MODES[im.mode], im.tobytes()


def _pil_encode(w: int, h: int, c: int, raw: bytes, ft: str) -> Optional[bytes]:
    pil = sys.modules.get("PIL.Image")
    if pil is None:
        return None
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    im = pil.frombytes(mode, (w, h), raw)
    if ft in ("jpg", "jpeg") and c in (2, 4):
        im = im.convert("RGB" if c == 4 else "L")
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if ft in ("jpg", "jpeg") else "BMP")
    return buf.getvalue()


def _is_matplotlib(x: Any) -> bool:
    mod = type(x).__module__ or ""
    if mod.startswith("matplotlib."):
        return hasattr(x, "savefig") or hasattr(x, "get_figure")
    return getattr(x, "__name__", None) == "matplotlib.pyplot"


def _matplotlib_png(x: Any) -> bytes:
    fig = x
    if getattr(x, "__name__", None) == "matplotlib.pyplot":
        fig = x.gcf()
    elif not hasattr(fig, "savefig"):
        fig = fig.get_figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# --- Histogram ---------------------------------------------------------------


class Histogram(Media):
    """A histogram stored inline in history: 64 equal bins by default, at most 512.

    ``Histogram(sequence)`` bins like ``numpy.histogram(sequence, bins=num_bins)``
    (with numpy when the input is a numpy array or torch tensor, in pure Python
    otherwise, same edges and counts); non-finite values are left out.
    ``Histogram(np_histogram=(counts, edges))`` takes a precomputed one.
    """

    MAX_LENGTH = 512
    _log_type = "histogram"

    def __init__(
        self,
        sequence: Optional[Any] = None,
        np_histogram: Optional[Tuple[Any, Any]] = None,
        num_bins: int = 64,
    ) -> None:
        super().__init__()
        if np_histogram is not None:
            if not isinstance(np_histogram, (tuple, list)) or len(np_histogram) != 2:
                raise ValueError("Histogram: np_histogram must be a (values, bin_edges) pair")
            counts, edges = np_histogram
            self.histogram: List[Any] = json_safe(counts.tolist() if hasattr(counts, "tolist") else list(counts))
            self.bins: List[Any] = json_safe(edges.tolist() if hasattr(edges, "tolist") else list(edges))
        elif sequence is None:
            raise ValueError("Histogram: pass a sequence of numbers or np_histogram=(values, bin_edges)")
        else:
            if isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) or num_bins < 1:
                raise ValueError("Histogram: num_bins must be a positive integer, got %r" % (num_bins,))
            if num_bins > self.MAX_LENGTH:
                raise ValueError("Histogram: the maximum number of bins is %d, got %d" % (self.MAX_LENGTH, num_bins))
            self.histogram, self.bins = _histogram(sequence, int(num_bins))
        if len(self.histogram) > self.MAX_LENGTH:
            raise ValueError("Histogram: the maximum length of a histogram is %d" % self.MAX_LENGTH)
        if len(self.histogram) + 1 != len(self.bins):
            raise ValueError("Histogram: len(bins) must be len(values) + 1")

    def to_json(self) -> Dict[str, Any]:
        return {"_type": "histogram", "values": list(self.histogram), "bins": list(self.bins)}

    def _fluoro_encode(self, key: str, step: int) -> Encoded:
        return self.to_json(), []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Histogram) and (other.histogram, other.bins) == (self.histogram, self.bins)

    __hash__ = None  # type: ignore[assignment]


def _histogram(seq: Any, n: int) -> Tuple[List[int], List[float]]:
    if _is_tensor(seq):
        seq = _tensor_to_host(seq)
    np = _np()
    if np is not None and _is_ndarray(seq):
        if seq.dtype.kind not in "biuf":
            raise TypeError("Histogram: arrays of dtype %s cannot be binned" % seq.dtype)
        a = seq.ravel()  # binned in its own dtype, as wandb's np.histogram(sequence) does
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        elif a.dtype.kind == "f":
            a = a[np.isfinite(a)]
        counts, edges = np.histogram(a, bins=n)
        return [int(c) for c in counts.tolist()], [float(e) for e in edges.tolist()]
    xs = _flatten_numbers(seq)
    if xs:
        first, last = float(min(xs)), float(max(xs))
    else:
        first, last = 0.0, 1.0
    if first == last:
        first, last = first - 0.5, last + 0.5
    step = (last - first) / n
    edges = [i * step + first for i in range(n)] + [last]
    counts = [0] * n
    denom = last - first
    top = n - 1
    for x in xs:  # numpy's uniform-bins rule: estimate the bin, then correct it against the edges
        i = int(((x - first) / denom) * n)
        if i == n:
            i = top
        if x < edges[i]:
            i -= 1
        elif i != top and x >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return counts, edges


def _flatten_numbers(seq: Any) -> List[float]:
    if isinstance(seq, (list, tuple)) and all(type(x) is float or type(x) is int for x in seq):
        isfinite = math.isfinite
        return [float(x) for x in seq if isfinite(x)]
    out: List[float] = []
    stack: List[Any] = [seq]
    while stack:
        x = stack.pop()
        if isinstance(x, (str, bytes)):
            raise TypeError("Histogram: expected numbers, got %s" % type(x).__name__)
        if isinstance(x, numbers.Real):
            f = float(x)
            if math.isfinite(f):
                out.append(f)
        elif hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
            stack.append(x.item())
        elif isinstance(x, Iterable):
            stack.extend(reversed(list(x)))
        else:
            raise TypeError("Histogram: expected a sequence of numbers, got %s" % type(x).__name__)
    return out


# --- Html, Plotly ------------------------------------------------------------

_INJECT = '<base target="_blank"><link rel="stylesheet" type="text/css" href="https://app.wandb.ai/normalize.css" />'


class Html(_FileMedia):
    """HTML: literal markup, a path to a .html file, or a file-like object.

    With ``inject=True`` (default, as wandb) a ``<base target="_blank">`` and
    wandb's stylesheet link are put into ``<head>``.
    """

    _log_type = "html-file"
    _subdir = "media/html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        super().__init__()
        if not data_is_not_path and _is_path(data) and _ext(data) in ("html", "htm") and os.path.isfile(data):
            html = _read_path("Html", data).decode("utf-8", "replace")
        elif isinstance(data, str):
            html = data
        elif isinstance(data, (bytes, bytearray)):
            html = bytes(data).decode("utf-8", "replace")
        elif hasattr(data, "read"):
            if hasattr(data, "seek"):
                try:
                    data.seek(0)
                except Exception:
                    pass
            got = data.read()
            html = got.decode("utf-8", "replace") if isinstance(got, (bytes, bytearray)) else str(got)
        else:
            raise TypeError("Html: data must be a string, a path to a .html file or a file-like object")
        if inject:
            html = _inject_head(html)
        self.html = html
        self._set_bytes(html.encode("utf-8"), ".html")


def _inject_head(html: str) -> str:
    if "<head>" in html:
        a, b = html.split("<head>", 1)
        return (a + "<head>" + _INJECT + b).strip()
    if "<html>" in html:
        a, b = html.split("<html>", 1)
        return (a + "<html><head>" + _INJECT + "</head>" + b).strip()
    return (_INJECT + html).strip()


def _nan_to_none(v: Any) -> Any:
    """Non-finite floats become null, as plotly's own JSON encoder writes them."""
    if type(v) is float:
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return v


def _is_plotly(x: Any) -> bool:
    return (type(x).__module__ or "").startswith("plotly.") and hasattr(x, "to_plotly_json")


class Plotly(_FileMedia):
    """A plotly figure (anything with ``to_plotly_json()``) or its dict, stored as .plotly.json."""

    _log_type = "plotly-file"
    _subdir = "media/plotly"

    def __init__(self, val: Any) -> None:
        super().__init__()
        if hasattr(val, "to_plotly_json"):
            fig = val.to_plotly_json()
        elif isinstance(val, Mapping):
            fig = val
        elif hasattr(val, "to_json") and callable(val.to_json):
            fig = json.loads(val.to_json())
        elif _is_matplotlib(val):
            raise TypeError("Plotly: matplotlib figures are not converted; log the figure directly or use Image(fig)")
        else:
            raise TypeError("Plotly: expected a plotly figure or a dict, got %s" % type(val).__name__)
        if not isinstance(fig, Mapping):
            raise TypeError("Plotly: the figure's JSON is not an object")
        self._set_bytes(_dumps(_nan_to_none(json_safe(fig, nonfinite_as_str=False))), ".plotly.json")


# --- Audio -------------------------------------------------------------------

_AUDIO_EXTS = ("wav", "mp3", "ogg", "oga", "flac", "m4a", "aac", "opus")


class Audio(_FileMedia):
    """Audio: a numpy/torch array or list of samples (mono, or frames x channels)
    with ``sample_rate``, written as 16-bit PCM WAV; or a path to a wav/mp3/ogg/flac file.

    Float samples are clipped to [-1, 1] and scaled by 32767; int16 samples are kept.
    """

    _log_type = "audio-file"
    _subdir = "media/audio"

    def __init__(self, data_or_path: Any, sample_rate: Optional[int] = None, caption: Optional[str] = None) -> None:
        super().__init__(caption)
        self._sample_rate: Optional[int] = None
        self._duration: Optional[float] = None
        if _is_path(data_or_path):
            ext = _ext(data_or_path)
            if ext not in _AUDIO_EXTS:
                raise ValueError("Audio: unsupported file type %r; use %s" % (ext, ", ".join(_AUDIO_EXTS)))
            data = _read_path("Audio", data_or_path)
            if ext == "wav":
                self._wav_info(data)
            if self._sample_rate is None and sample_rate is not None:
                self._sample_rate = int(sample_rate)
            self._set_bytes(data, "." + ext)
            return
        if sample_rate is None:
            raise ValueError('Audio: "sample_rate" is required with raw audio data')
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral) or not sample_rate > 0:
            raise ValueError("Audio: sample_rate must be a positive integer, got %r" % (sample_rate,))
        frames, channels, pcm = _pcm16(data_or_path)
        import wave

        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm)
        self._sample_rate = int(sample_rate)
        self._duration = frames / float(sample_rate)
        self._set_bytes(buf.getvalue(), ".wav")

    def _wav_info(self, data: bytes) -> None:
        import wave

        try:
            with wave.open(io.BytesIO(data), "rb") as w:
                self._sample_rate = w.getframerate()
                self._duration = w.getnframes() / float(w.getframerate())
        except Exception:  # not PCM (e.g. float WAV): leave unknown
            pass

    @property
    def sample_rate(self) -> Optional[int]:
        return self._sample_rate

    @property
    def duration(self) -> Optional[float]:
        return self._duration

    def _extra(self) -> Dict[str, Any]:
        js: Dict[str, Any] = {}
        if self._sample_rate is not None:
            js["sample_rate"] = self._sample_rate
        if self._duration is not None:
            js["duration"] = self._duration
        return js


def _pcm16(data: Any) -> Tuple[int, int, bytes]:
    """(frames, channels, little-endian int16 bytes) of samples shaped (n,) or (n, channels)."""
    if _is_tensor(data):
        data = _tensor_to_host(data)
    np = _np()
    if np is not None and _is_ndarray(data):
        if data.dtype.kind not in "biuf":
            raise TypeError("Audio: arrays of dtype %s are not audio" % data.dtype)
        if data.ndim not in (1, 2) or data.size == 0:
            raise ValueError("Audio: samples must be a non-empty 1-D (mono) or 2-D (frames x channels) array")
        if data.dtype.kind == "f":
            a = np.nan_to_num(data.astype(np.float64), nan=0.0)
            pcm = np.round(np.clip(a, -1.0, 1.0) * 32767.0).astype("<i2")
        else:
            if bool((data < -32768).any()) or bool((data > 32767).any()):
                raise ValueError("Audio: integer samples must fit in 16 bits (-32768..32767)")
            pcm = data.astype("<i2")
        channels = 1 if data.ndim == 1 else int(data.shape[1])
        _check_channels(channels)
        return int(data.shape[0]), channels, np.ascontiguousarray(pcm).tobytes()
    if not isinstance(data, (list, tuple)):
        raise TypeError("Audio: expected a path, a numpy array or a list of samples, got %s" % type(data).__name__)
    shape, flat = _shape_flat("Audio", data)
    if len(shape) not in (1, 2) or 0 in shape:
        raise ValueError("Audio: samples must be a non-empty 1-D (mono) or 2-D (frames x channels) list")
    ints: List[int] = []
    for v in flat:
        if isinstance(v, float) or not isinstance(v, numbers.Integral):
            f = float(v)
            f = 0.0 if math.isnan(f) else min(max(f, -1.0), 1.0)
            ints.append(int(round(f * 32767.0)))
        else:
            if not -32768 <= int(v) <= 32767:
                raise ValueError("Audio: integer samples must fit in 16 bits (-32768..32767)")
            ints.append(int(v))
    channels = shape[1] if len(shape) == 2 else 1
    _check_channels(channels)
    return shape[0], channels, struct.pack("<%dh" % len(ints), *ints)


def _check_channels(channels: int) -> None:
    if channels > 16:
        raise ValueError(
            "Audio: %d channels; samples must be shaped (frames,) or (frames, channels): "
            "transpose a (channels, frames) array" % channels
        )


# --- Video -------------------------------------------------------------------

_VIDEO_EXTS = ("gif", "mp4", "webm", "ogg")


def _sniff_video(data: bytes) -> Optional[str]:
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if data.startswith(b"OggS"):
        return "ogg"
    return None


class Video(_FileMedia):
    """Video: a path or bytes (gif/mp4/webm/ogg), or frames as a numpy array
    (T, C, H, W) or (B, T, C, H, W) of 0..255 values, written as an animated GIF.

    Like wandb, array values are cast to uint8 (clipped here, not wrapped) and
    a batch is tiled into a grid. fluoro encodes arrays as GIF only (256-colour
    palette: exact for grey videos, 6x7x6 levels for colour); ``format="mp4"``
    etc. with an array warns and writes a GIF.
    """

    _log_type = "video-file"
    _subdir = "media/videos"
    EXTS = _VIDEO_EXTS

    def __init__(
        self,
        data_or_path: Any,
        caption: Optional[str] = None,
        fps: Optional[int] = None,
        format: Optional[str] = None,
    ) -> None:
        super().__init__(caption)
        self._width: Optional[int] = None
        self._height: Optional[int] = None
        if format is not None and format not in _VIDEO_EXTS:
            raise ValueError("Video: format must be one of %s, got %r" % (", ".join(_VIDEO_EXTS), format))
        if _is_path(data_or_path):
            ext = _ext(data_or_path)
            if ext not in _VIDEO_EXTS:
                raise ValueError("Video: unsupported file type %r; use %s" % (ext, ", ".join(_VIDEO_EXTS)))
            self._from_bytes(_read_path("Video", data_or_path), ext)
            return
        if isinstance(data_or_path, (bytes, bytearray, memoryview)) or (
            hasattr(data_or_path, "read") and not _is_ndarray(data_or_path)
        ):
            raw = data_or_path.read() if hasattr(data_or_path, "read") else data_or_path
            if not isinstance(raw, (bytes, bytearray, memoryview)):
                raise TypeError("Video: a file-like object must be opened in binary mode")
            raw = bytes(raw)
            fmt = format or _sniff_video(raw)
            if fmt is None:
                raise ValueError("Video: cannot tell the format of these bytes; pass format='gif'|'mp4'|'webm'|'ogg'")
            self._from_bytes(raw, fmt)
            return
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0):
            raise ValueError("Video: fps must be a positive number, got %r" % (fps,))
        if format not in (None, "gif"):
            _warn("Video: fluoro encodes arrays as GIF only; format=%r ignored" % format)
        frames, w, h, grey = _video_frames(data_or_path)
        if w > 65535 or h > 65535:
            raise ValueError("Video: %dx%d is too large for a GIF (65535 at most)" % (w, h))
        self._width, self._height = w, h
        self._set_bytes(encode_gif(frames, w, h, fps or 4, grey), ".gif")

    def _from_bytes(self, data: bytes, fmt: str) -> None:
        if fmt == "gif":
            size = _image_size(data, "gif")
            if size is not None:
                self._width, self._height = size
        self._set_bytes(data, "." + fmt)

    def _extra(self) -> Dict[str, Any]:
        js: Dict[str, Any] = {}
        if self._width is not None:
            js["width"] = self._width
        if self._height is not None:
            js["height"] = self._height
        return js


def _video_frames(data: Any) -> Tuple[List[bytes], int, int, bool]:
    """Frames as palette-index bytes (one per pixel), width, height, and whether grey."""
    if _is_tensor(data):
        data = _tensor_to_host(data)
    elif hasattr(data, "numpy") and not _is_ndarray(data) and not isinstance(data, (list, tuple)):
        data = data.numpy()
    np = _np()
    if np is not None and _is_ndarray(data):
        if data.dtype.kind not in "biuf":
            raise TypeError("Video: arrays of dtype %s are not video" % data.dtype)
        if data.ndim not in (4, 5):
            raise ValueError("Video: expected (T, C, H, W) or (B, T, C, H, W), got shape %s" % (list(data.shape),))
        v = data if data.ndim == 5 else data[None]
        b, t, c, h, w = (int(s) for s in v.shape)
        if c not in (1, 3, 4) or 0 in (b, t, h, w):
            raise ValueError("Video: need 1, 3 or 4 channels and non-empty frames, got shape %s" % (list(data.shape),))
        if v.dtype != np.uint8:
            v = np.clip(np.nan_to_num(v.astype(np.float64)), 0, 255).astype(np.uint8)
        rows, cols = _grid(b)
        if rows * cols > b:
            v = np.concatenate([v, np.zeros((rows * cols - b, t, c, h, w), np.uint8)])
        v = v.reshape(rows, cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3).reshape(t, rows * h, cols * w, c)
        if c == 1:
            idx = v[..., 0]
        else:
            q = v[..., :3].astype(np.uint16)
            r6 = (q[..., 0] * 5 + 127) // 255
            g7 = (q[..., 1] * 6 + 127) // 255
            b6 = (q[..., 2] * 5 + 127) // 255
            idx = (r6 * 42 + g7 * 6 + b6).astype(np.uint8)
        idx = np.ascontiguousarray(idx)
        return [idx[i].tobytes() for i in range(t)], cols * w, rows * h, c == 1
    if not isinstance(data, (list, tuple)):
        raise TypeError("Video: expected a path, bytes or a (T, C, H, W) array, got %s" % type(data).__name__)
    shape, flat = _shape_flat("Video", data)
    if len(shape) == 4:
        shape = [1] + shape
    if len(shape) != 5 or shape[2] not in (1, 3, 4) or 0 in shape:
        raise ValueError("Video: expected (T, C, H, W) or (B, T, C, H, W) with 1, 3 or 4 channels, got %s" % (shape,))
    b, t, c, h, w = shape
    px = [int(min(max(0.0 if (isinstance(x, float) and math.isnan(x)) else x, 0), 255)) for x in flat]
    rows, cols = _grid(b)
    W, H = cols * w, rows * h
    plane = h * w
    frames: List[bytes] = []
    for ti in range(t):
        out = bytearray(W * H)
        for bi in range(b):
            base = (bi * t + ti) * c * plane
            oy, ox = (bi // cols) * h, (bi % cols) * w
            for y in range(h):
                for x in range(w):
                    o = base + y * w + x
                    if c == 1:
                        v = px[o]
                    else:
                        r, g, bl = px[o], px[o + plane], px[o + 2 * plane]
                        v = ((r * 5 + 127) // 255) * 42 + ((g * 6 + 127) // 255) * 6 + (bl * 5 + 127) // 255
                    out[(oy + y) * W + ox + x] = v
        frames.append(bytes(out))
    return frames, W, H, c == 1


def _grid(b: int) -> Tuple[int, int]:
    """wandb's tiling of a batch: padded to a power of two, about square."""
    n = 1 << (b - 1).bit_length() if b > 1 else 1
    rows = 2 ** ((n.bit_length() - 1) // 2)
    return rows, n // rows


def _palette(grey: bool) -> bytes:
    if grey:
        return bytes(v for i in range(256) for v in (i, i, i))
    pal = bytearray()
    for r in range(6):
        for g in range(7):
            for b in range(6):
                pal += bytes((round(r * 255 / 5), round(g * 255 / 6), round(b * 255 / 5)))
    return bytes(pal) + b"\x00" * (768 - len(pal))


def _lzw(data: bytes) -> bytes:
    """GIF LZW of 8-bit indices (min code size 8), as data sub-blocks."""
    clear, eoi = 256, 257
    out = bytearray()
    acc, nbits, width, nxt = clear, 9, 9, 258
    table: Dict[int, int] = {}
    it = iter(data)
    prefix = next(it)
    for b in it:
        k = (prefix << 8) | b
        code = table.get(k)
        if code is not None:
            prefix = code
            continue
        acc |= prefix << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
        if nxt < 4096:
            table[k] = nxt
            if nxt == 1 << width:
                width += 1
            nxt += 1
        else:  # table full: clear and start over
            acc |= clear << nbits
            nbits += width
            table.clear()
            width, nxt = 9, 258
        prefix = b
    for code in (prefix, eoi):
        acc |= code << nbits
        nbits += width
        if code == prefix and nxt < 4096 and nxt == 1 << width:
            width += 1  # the decoder adds an entry on reading `prefix`, so it widens too
    while nbits > 0:
        out.append(acc & 0xFF)
        acc >>= 8
        nbits -= 8
    blocks = bytearray()
    for i in range(0, len(out), 255):
        part = out[i : i + 255]
        blocks.append(len(part))
        blocks += part
    return bytes(blocks) + b"\x00"


def encode_gif(frames: Sequence[bytes], width: int, height: int, fps: float, grey: bool) -> bytes:
    """A looping GIF89a of palette-index frames (one byte per pixel)."""
    delay = max(2, int(round(100.0 / fps)))
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", width, height, 0xF7, 0, 0)
    out += _palette(grey)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for f in frames:
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        out += b"\x08" + _lzw(f)
    out += b"\x3b"
    return bytes(out)


# --- Table -------------------------------------------------------------------


_PLAIN_CELLS = (int, float, str, bool)


def _kind(v: Any) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, numbers.Number):
        return "number"
    if isinstance(v, str):
        return "str"
    if isinstance(v, Media):
        return type(v).__name__
    np = _np()
    if np is not None and isinstance(v, np.generic):
        return _kind(v.item())
    if isinstance(v, (list, tuple)) or _is_ndarray(v):
        return "list"
    if isinstance(v, Mapping):
        return "dict"
    return type(v).__name__


class Table(Media):
    """A table of rows: numbers, strings, booleans, None/NaN, lists, dicts, or media cells.

    Media cells (Image, Audio, Html, ...) are written as their own files and
    the cell holds their JSON, as wandb does. Like wandb, a column keeps the
    type of its first non-None value unless ``allow_mixed_types=True``, and a
    column rejects None when ``optional=False``.
    """

    MAX_ROWS = 10000
    MAX_ARTIFACT_ROWS = 200000
    _log_type = "table-file"
    _subdir = "media/table"

    def __init__(
        self,
        columns: Optional[Sequence[Any]] = None,
        data: Optional[Any] = None,
        rows: Optional[Any] = None,
        dataframe: Optional[Any] = None,
        dtype: Optional[Any] = None,
        optional: Union[bool, Sequence[bool]] = True,
        allow_mixed_types: bool = False,
        log_mode: Optional[str] = "IMMUTABLE",
    ) -> None:
        super().__init__()
        if log_mode not in ("IMMUTABLE", "MUTABLE", "INCREMENTAL"):
            raise ValueError("Table: log_mode must be IMMUTABLE, MUTABLE or INCREMENTAL, got %r" % (log_mode,))
        self.log_mode = log_mode
        self._allow_mixed = bool(allow_mixed_types)
        self.data: List[List[Any]] = []
        if dataframe is None and _is_dataframe(data):
            dataframe, data = data, None
        if dataframe is not None:
            if not _is_dataframe(dataframe):
                raise TypeError("Table: dataframe must be a pandas DataFrame")
            columns = [c.item() if hasattr(c, "item") else c for c in dataframe.columns]
        elif columns is None:
            columns = ["Input", "Output", "Expected"]
        if not isinstance(columns, (list, tuple)) or not all(type(c) in (str, int) for c in columns):
            raise TypeError("Table: columns must be a list of strings or ints")
        if len(set(columns)) != len(columns):
            raise ValueError("Table: column names must be unique, got %r" % (list(columns),))
        self.columns: List[Any] = list(columns)
        self._optional = self._per_column(optional, "optional")
        self._dtype = self._per_column(dtype, "dtype")
        self._kinds: List[Optional[str]] = [None] * len(self.columns)
        # Per column, a plain type (int, float, str, bool) whose cells need no
        # more checks once one passed: a million-row table is built in ~1 s.
        self._fast: List[Optional[type]] = [None] * len(self.columns)
        if dataframe is not None:
            cols = [dataframe[c].values for c in self.columns]
            for i in range(len(dataframe)):
                self.add_data(*(col[i] for col in cols))
        else:
            src = data if data is not None else rows
            if src is not None:
                if isinstance(src, (str, bytes)) or not isinstance(src, Iterable):
                    raise TypeError("Table: data must be a list of rows (lists), a 2-D numpy array or a DataFrame")
                add = self.add_data
                for row in src:
                    if type(row) is not list and type(row) is not tuple:
                        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
                            raise TypeError("Table: each row must be a list of cells, got %s" % type(row).__name__)
                    add(*row)

    def _per_column(self, value: Any, what: str) -> List[Any]:
        if isinstance(value, list):
            if len(value) != len(self.columns):
                raise ValueError("Table: %s has %d entries for %d columns" % (what, len(value), len(self.columns)))
            return list(value)
        return [value] * len(self.columns)

    def _check(self, ndx: int, v: Any) -> None:
        col = self.columns[ndx]
        if v is None:
            if not self._optional[ndx]:
                raise TypeError("Table: column %r does not allow None (optional=False)" % (col,))
            return
        np = _np()
        if np is not None and isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return  # a missing value (pandas writes NaN for them): fits any column
        dt = self._dtype[ndx]
        if isinstance(dt, type) and not self._allow_mixed:
            ok = isinstance(v, dt) or (dt is float and isinstance(v, numbers.Real) and not isinstance(v, bool))
            if not ok:
                raise TypeError("Table: column %r expects %s, got %s" % (col, dt.__name__, type(v).__name__))
        if self._allow_mixed:
            return
        k = _kind(v)
        have = self._kinds[ndx]
        if have is None:
            self._kinds[ndx] = k
        elif k != have:
            raise TypeError(
                "Table: column %r holds %s values, got %s %r (pass allow_mixed_types=True to allow this)"
                % (col, have, k, v)
            )

    def add_data(self, *data: Any) -> None:
        """Append one row; it must have one cell per column."""
        if len(data) != len(self.columns):
            raise ValueError(
                "Table: this table expects %d columns %r, got %d" % (len(self.columns), self.columns, len(data))
            )
        fast = self._fast
        for i, v in enumerate(data):
            t = type(v)
            if t is not fast[i]:
                self._check(i, v)
                if t in _PLAIN_CELLS and fast[i] is None and self._dtype[i] is None and not self._allow_mixed:
                    fast[i] = t
        self.data.append(list(data))

    def add_row(self, *row: Any) -> None:
        """Deprecated alias of add_data (as in wandb)."""
        self.add_data(*row)

    def add_column(self, name: Any, data: Any, optional: bool = False) -> None:
        """Add a column; it must have one value per existing row (any length for the first column)."""
        if type(name) not in (str, int) or name in self.columns:
            raise ValueError("Table: column name must be a new string, got %r" % (name,))
        values = list(data.tolist() if _is_ndarray(data) else data)
        first = not self.columns
        if not first and len(values) != len(self.data):
            raise ValueError("Table: column %r has %d values, expected %d" % (name, len(values), len(self.data)))
        self.columns.append(name)
        self._optional.append(optional)
        self._dtype.append(None)
        self._kinds.append(None)
        self._fast.append(None)
        try:
            for v in values:
                self._check(len(self.columns) - 1, v)
        except TypeError:
            for lst in (self.columns, self._optional, self._dtype, self._kinds, self._fast):
                lst.pop()
            raise
        if first:
            self.data = [[v] for v in values]
        else:
            for row, v in zip(self.data, values):
                row.append(v)

    def get_column(self, name: Any, convert_to: Optional[str] = None) -> Any:
        """The values of one column, as a list (or a numpy array with convert_to="numpy")."""
        if name not in self.columns:
            raise ValueError("Table: no column %r (columns: %r)" % (name, self.columns))
        i = self.columns.index(name)
        col = [row[i] for row in self.data]
        if convert_to == "numpy":
            return importlib.import_module("numpy").array(col)
        if convert_to is not None:
            raise ValueError('Table: convert_to must be None or "numpy"')
        return col

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (needs pandas)."""
        pd = importlib.import_module("pandas")
        return pd.DataFrame.from_records(self.data, columns=self.columns)

    def _fluoro_encode(self, key: str, step: int) -> Encoded:
        rows = self.data
        if len(rows) > self.MAX_ARTIFACT_ROWS:
            _warn("Table: %d rows; only the first %d are logged" % (len(rows), self.MAX_ARTIFACT_ROWS))
            rows = rows[: self.MAX_ARTIFACT_ROWS]
        files: Dict[str, bytes] = {}
        out_rows = [[_cell(v, key, step, files) for v in row] for row in rows]
        body = {
            "_type": "table",
            "columns": self.columns,
            "data": out_rows,
            "ncols": len(self.columns),
            "nrows": len(out_rows),
        }
        content = _dumps(body)
        sha = hashlib.sha256(content).hexdigest()
        path = _name(self._subdir, key, step, sha, ".table.json")
        js = {
            "_type": "table-file",
            "path": path,
            "sha256": sha,
            "size": len(content),
            "ncols": len(self.columns),
            "nrows": len(out_rows),
            "log_mode": self.log_mode,
        }
        return js, [(path, content)] + sorted(files.items())

    def __len__(self) -> int:
        return len(self.data)


def _cell(v: Any, key: str, step: Any, files: Dict[str, bytes]) -> Any:
    if isinstance(v, Media):
        js, fs = v._fluoro_encode(key, step)
        for name, content in fs:
            files[name] = content
        return js
    if isinstance(v, (list, tuple)) and any(isinstance(x, Media) for x in v):
        return [_cell(x, key, step, files) for x in v]
    return json_safe(v)


def _is_dataframe(x: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, pd.DataFrame)


# --- helpers for log() ---------------------------------------------------------


def coerce(value: Any) -> Optional[Media]:
    """The Media that ``log()`` should store for a value that is not one already, or None.

    Like wandb's ``val_to_json``: a plotly figure becomes ``Plotly``, a pandas
    DataFrame a ``Table``. A matplotlib figure (or Axes, or the ``pyplot``
    module) becomes an ``Image`` of the rendered figure (wandb converts it to
    plotly when that works and to an image otherwise; a PNG is always faithful).
    Never imports anything; may raise ValueError/TypeError for a broken object.
    """
    if isinstance(value, Media):
        return value
    if _is_plotly(value):
        return Plotly(value)
    if _is_dataframe(value):
        return Table(dataframe=value)
    if _is_matplotlib(value):
        return Image(value)
    return None


def encode_sequence(items: Sequence[Any], key: str, step: int) -> Optional[Tuple[Any, Files]]:
    """wandb's JSON for a list of media at one key, or None when ``items`` is not all Media.

    Images become ``images/separated`` (at most 108), Audio ``audio``, Video
    ``videos``, Html ``html``; other media (and mixed lists) a JSON list of
    their values.
    """
    if not items or not all(isinstance(x, Media) for x in items):
        return None
    files: Dict[str, bytes] = {}
    first = type(items[0])
    same = all(type(x) is first for x in items)
    if same and first is Image:
        imgs: List[Image] = [x for x in items if isinstance(x, Image)][: Image.MAX_ITEMS]
        jsons = [_collect(x, key, step, files) for x in imgs]
        meta: Dict[str, Any] = {
            "_type": "images/separated",
            "width": imgs[0]._width,
            "height": imgs[0]._height,
            "format": imgs[0].format,
            "count": len(imgs),
            "filenames": [j["path"] for j in jsons],
        }
        if imgs[0]._caption is not None:
            meta["captions"] = [x._caption for x in imgs]
        if any("masks" in j for j in jsons):
            meta["all_masks"] = [j.get("masks") for j in jsons]
        if any("boxes" in j for j in jsons):
            meta["all_boxes"] = [j.get("boxes") for j in jsons]
        return meta, sorted(files.items())
    if same and first is Audio:
        auds: List[Audio] = [x for x in items if isinstance(x, Audio)]
        meta = {"_type": "audio", "count": len(auds), "audio": [_collect(x, key, step, files) for x in auds]}
        meta["sampleRates"] = [x._sample_rate for x in auds]
        meta["durations"] = [x._duration for x in auds]
        if any(x._caption is not None for x in auds):
            meta["captions"] = ["" if x._caption is None else x._caption for x in auds]
        return meta, sorted(files.items())
    if same and first is Video:
        vids = list(items)
        caps: Any = [x._caption for x in vids] if vids[0]._caption is not None else False
        meta = {
            "_type": "videos",
            "count": len(vids),
            "videos": [_collect(x, key, step, files) for x in vids],
            "captions": caps,
        }
        return meta, sorted(files.items())
    if same and first is Html:
        meta = {"_type": "html", "count": len(items), "html": [_collect(x, key, step, files) for x in items]}
        return meta, sorted(files.items())
    return [_collect(x, key, step, files) for x in items], sorted(files.items())


def _collect(m: Media, key: str, step: Any, files: Dict[str, bytes]) -> Dict[str, Any]:
    js, fs = m._fluoro_encode(key, step)
    for name, content in fs:
        files[name] = content
    return js
