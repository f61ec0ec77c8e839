"""Media values: the files they write decode back, their JSON has wandb's shape, bad input fails clearly.

PNG, WAV and GIF are decoded here with independent, minimal decoders (zlib,
wave, an LZW decoder below), so the encoders are checked against the
formats, not against themselves. Tests that need numpy are skipped without it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import struct
import time
import wave
import zlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro import _media
from fluoro._errors import FluoroWarning
from fluoro._media import (
    Audio,
    Histogram,
    Html,
    Image,
    Media,
    Plotly,
    Table,
    Video,
    coerce,
    encode_png,
    encode_sequence,
    safe_key,
)

# --- independent decoders ------------------------------------------------------


def png_decode(data: bytes) -> Tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit, non-interlaced PNG; checks CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", b""
    kinds = []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        kinds.append(kind)
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0)
    c = {0: 1, 4: 2, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = w * c
    assert len(raw) == h * (stride + 1)
    out = bytearray()
    prev = bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - c] if i >= c else 0
            b = prev[i]
            cc = prev[i - c] if i >= c else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
                line[i] = (line[i] + pr) & 255
            else:
                assert ft == 0
        out += line
        prev = line
    return w, h, c, bytes(out)


def _lzw_decode(data: bytes, min_size: int) -> bytes:
    clear, eoi = 1 << min_size, (1 << min_size) + 1
    width = min_size + 1
    table: List[bytes] = [bytes([i]) for i in range(clear)] + [b"", b""]
    out = bytearray()
    prev = None
    acc = nbits = pos = 0
    while True:
        while nbits < width:
            acc |= data[pos] << nbits
            pos += 1
            nbits += 8
        code = acc & ((1 << width) - 1)
        acc >>= width
        nbits -= width
        if code == clear:
            table = table[: clear + 2]
            width, prev = min_size + 1, None
            continue
        if code == eoi:
            return bytes(out)
        if prev is None:
            entry = table[code]
        else:
            if code < len(table):
                entry = table[code]
                new = prev + entry[:1]
            else:
                assert code == len(table), "code %d beyond table %d" % (code, len(table))
                new = prev + prev[:1]
                entry = new
            if len(table) < 4096:
                table.append(new)
                if len(table) == 1 << width and width < 12:
                    width += 1
        out += entry
        prev = entry


def gif_decode(data: bytes) -> Dict[str, Any]:
    """Header fields, palette, frames (index bytes) and delays of a GIF with a global palette."""
    assert data[:6] == b"GIF89a"
    w, h, packed, _bg, _aspect = struct.unpack("<HHBBB", data[6:13])
    assert packed & 0x80
    ncolors = 2 << (packed & 7)
    pos = 13 + 3 * ncolors
    palette = data[13:pos]
    frames: List[bytes] = []
    delays: List[int] = []
    loop = False
    while True:
        tag = data[pos]
        if tag == 0x3B:
            break
        if tag == 0x21:
            label = data[pos + 1]
            pos += 2
            blocks = []
            while data[pos]:
                blocks.append(data[pos + 1 : pos + 1 + data[pos]])
                pos += 1 + data[pos]
            pos += 1
            if label == 0xF9:
                delays.append(struct.unpack("<H", blocks[0][1:3])[0])
            elif label == 0xFF and blocks[0] == b"NETSCAPE2.0":
                loop = True
            continue
        assert tag == 0x2C
        x, y, fw, fh, fpacked = struct.unpack("<HHHHB", data[pos + 1 : pos + 10])
        assert (x, y, fw, fh, fpacked) == (0, 0, w, h, 0)
        min_size = data[pos + 10]
        pos += 11
        lzw = bytearray()
        while data[pos]:
            lzw += data[pos + 1 : pos + 1 + data[pos]]
            pos += 1 + data[pos]
        pos += 1
        frame = _lzw_decode(bytes(lzw), min_size)
        assert len(frame) == w * h
        frames.append(frame)
    return {"width": w, "height": h, "palette": palette, "frames": frames, "delays": delays, "loop": loop}


def files_of(encoded: Tuple[Dict[str, Any], List[Tuple[str, bytes]]]) -> Dict[str, bytes]:
    files = dict(encoded[1])
    assert len(files) == len(encoded[1]), "a file name twice"
    return files


def check_file_json(js: Dict[str, Any], files: Dict[str, bytes], pattern: str) -> bytes:
    assert re.fullmatch(pattern, js["path"]), js["path"]
    content = files[js["path"]]
    assert js["sha256"] == hashlib.sha256(content).hexdigest()
    assert js["size"] == len(content)
    assert js["sha256"][:20] in js["path"]
    return content


# --- keys and names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "key, want",
    [
        ("loss", "loss"),
        ("train/examples", "train_examples"),
        ("../../etc/passwd", "_._.._etc_passwd"),
        (".hidden", "_hidden"),
        ("a\x00b\nc", "a_b_c"),
        ("é ü", "___"),
        ("", "_"),
        (7, "7"),
    ],
)
def test_safe_key(key: Any, want: str) -> None:
    assert safe_key(key) == want


def test_safe_key_is_bounded() -> None:
    assert len(safe_key("k" * 1000)) == 100


def test_public_names() -> None:
    for name in ("Image", "Table", "Histogram", "Html", "Plotly", "Audio", "Video"):
        assert getattr(fluoro, name) is getattr(_media, name)
        assert issubclass(getattr(fluoro, name), Media)


# --- PNG and Image -------------------------------------------------------------------


def test_png_encoder_round_trip_all_channel_counts() -> None:
    for c in (1, 2, 3, 4):
        w, h = 7, 5
        raw = bytes((x * 37 + y * 11 + ch * 101) % 256 for y in range(h) for x in range(w) for ch in range(c))
        assert png_decode(encode_png(w, h, c, raw)) == (w, h, c, raw)


def test_png_encoder_rejects_wrong_size() -> None:
    with pytest.raises(ValueError):
        encode_png(2, 2, 3, b"\x00" * 11)


def test_image_from_uint_lists_round_trips() -> None:
    pixels = [[[(x * 40) % 256, (y * 60) % 256, 200] for x in range(6)] for y in range(4)]
    img = Image(pixels, caption="grid")
    js, files = img._fluoro_encode("train/examples", 12)
    f = files_of((js, files))
    content = check_file_json(js, f, r"media/images/train_examples_12_[0-9a-f]{20}\.png")
    assert js["_type"] == "image-file"
    assert (js["format"], js["width"], js["height"], js["caption"]) == ("png", 6, 4, "grid")
    w, h, c, raw = png_decode(content)
    assert (w, h, c) == (6, 4, 3)
    assert raw == bytes(v for row in pixels for px in row for v in px)
    assert set(js) == {"_type", "path", "sha256", "size", "format", "width", "height", "caption"}


def test_image_grey_and_rgba() -> None:
    grey = [[0, 50, 255], [255, 10, 3]]
    _, _, c, raw = png_decode(Image(grey)._bytes)
    assert c == 1 and raw == bytes([0, 50, 255, 255, 10, 3])
    rgba = [[[1, 2, 3, 4], [5, 6, 7, 255]]]
    _, _, c, raw = png_decode(Image(rgba)._bytes)
    assert c == 4 and raw == bytes([1, 2, 3, 4, 5, 6, 7, 255])
    one = [[[9], [200]]]  # HxWx1 is grey
    assert png_decode(Image(one)._bytes)[2:] == (1, bytes([9, 200]))


def test_image_float_scaling_follows_wandb() -> None:
    unit = [[0.0, 0.5, 1.0, 0.999]]  # [0, 1]: times 255, truncated
    assert png_decode(Image(unit)._bytes)[3] == bytes([0, 127, 255, 254])
    signed = [[-1.0, 0.0, 1.0, -0.5]]  # [-1, 1]: -1 -> 0, 1 -> 255
    assert png_decode(Image(signed)._bytes)[3] == bytes([0, 127, 255, 63])
    wide = [[-20.0, 3.7, 300.0, 128.0]]  # otherwise clipped to [0, 255]
    assert png_decode(Image(wide)._bytes)[3] == bytes([0, 3, 255, 128])
    binary = [[0, 1], [1, 0]]  # ints in [0, 1] scale too, as in wandb
    assert png_decode(Image(binary)._bytes)[3] == bytes([0, 255, 255, 0])
    assert png_decode(Image([[True, False]])._bytes)[3] == bytes([255, 0])
    assert png_decode(Image([[math.nan, 1.0]])._bytes)[3] == bytes([0, 255])
    assert png_decode(Image([[math.inf, 0.5]])._bytes)[3] == bytes([255, 0])  # inf -> 255, then clipped
    assert png_decode(Image([[0.5, 300, -2]], normalize=False)._bytes)[3] == bytes([0, 44, 254])


def test_image_chw_lists_with_channels_first() -> None:
    chw = [[[10, 20], [30, 40]], [[50, 60], [70, 80]], [[90, 100], [110, 120]]]  # 3x2x2
    _, _, c, raw = png_decode(Image(chw)._bytes)
    assert c == 3
    assert raw == bytes([10, 50, 90, 20, 60, 100, 30, 70, 110, 40, 80, 120])


def test_image_mode_conversion() -> None:
    rgb = [[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]]
    _, _, c, raw = png_decode(Image(rgb, mode="L")._bytes)
    assert c == 1
    assert list(raw) == [76, 150, 29, 18]  # PIL's convert("L") values
    _, _, c, raw = png_decode(Image([[5, 6]], mode="RGBA")._bytes)
    assert c == 4 and raw == bytes([5, 5, 5, 255, 6, 6, 6, 255])
    _, _, c, raw = png_decode(Image([[[1, 2, 3, 4]]], mode="RGB")._bytes)
    assert c == 3 and raw == bytes([1, 2, 3])


def test_image_is_deterministic() -> None:
    px = [[(x * y) % 256 for x in range(30)] for y in range(20)]
    a, b = Image(px), Image(px)
    assert a._bytes == b._bytes and a == b
    assert a._fluoro_encode("k", 1) == b._fluoro_encode("k", 1)
    assert a._fluoro_encode("k", 1)[0]["path"] != a._fluoro_encode("k", 2)[0]["path"]


def test_image_from_path_and_bytes_keeps_the_file(tmp_path: Any) -> None:
    png = encode_png(3, 2, 3, bytes(range(18)))
    p = tmp_path / "x.png"
    p.write_bytes(png)
    for src in (str(p), p, png, bytearray(png)):
        img = Image(src)
        js, files = img._fluoro_encode("k", 0)
        assert check_file_json(js, files_of((js, files)), r"media/images/k_0_[0-9a-f]{20}\.png") == png
        assert (js["format"], js["width"], js["height"]) == ("png", 3, 2)
    gif = _media.encode_gif([b"\x00" * 6], 3, 2, 4, True)
    g = tmp_path / "a.gif"
    g.write_bytes(gif)
    js, _ = Image(str(g))._fluoro_encode("k", 0)
    assert js["format"] == "gif" and js["path"].endswith(".gif") and (js["width"], js["height"]) == (3, 2)


def test_image_jpeg_header_size() -> None:
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 480, 640) + b"\x03" + b"\x00" * 9
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + b"\xff\xd9"
    js, _ = Image(jpeg)._fluoro_encode("photo", 3)
    assert js["format"] == "jpg" and js["path"].endswith(".jpg")
    assert (js["width"], js["height"]) == (640, 480)


def test_image_copy_constructor() -> None:
    a = Image([[1, 2]], caption="a")
    b = Image(a, caption="b")
    assert b._bytes == a._bytes and b._caption == "b" and b.width == 2


def test_image_masks_and_boxes() -> None:
    mask = [[0, 1, 1], [2, 0, 1]]
    boxes = {
        "box_data": [
            {
                "position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6},
                "class_id": 1,
                "box_caption": "cat",
                "scores": {"acc": 0.9},
            },
            {"position": {"middle": [1, 1], "width": 2, "height": 1}, "domain": "pixel", "class_id": 2},
        ],
        "class_labels": {1: "cat", 2: "dog"},
    }
    img = Image(
        [[0, 0, 0], [0, 0, 0]],
        masks={"predictions": {"mask_data": mask, "class_labels": {0: "bg", 1: "cat", 2: "dog"}}},
        boxes={"predictions": boxes},
    )
    js, flist = img._fluoro_encode("val/seg", 4)
    files = files_of((js, flist))
    assert len(files) == 3
    m = js["masks"]["predictions"]
    assert m["_type"] == "mask"
    assert m["class_labels"] == {"0": "bg", "1": "cat", "2": "dog"}
    content = check_file_json(m, files, r"media/images/mask/val_seg_4_[0-9a-f]{20}\.mask\.png")
    assert png_decode(content) == (3, 2, 1, bytes([0, 1, 1, 2, 0, 1]))
    b = js["boxes"]["predictions"]
    assert b["_type"] == "boxes2D"
    content = check_file_json(b, files, r"media/metadata/boxes2D/val_seg_4_[0-9a-f]{20}\.boxes2D\.json")
    body = json.loads(content)
    assert body["class_labels"] == {"1": "cat", "2": "dog"}
    assert body["box_data"] == boxes["box_data"]


def test_mask_and_box_defaults() -> None:
    img = Image(
        [[1, 2]],
        masks={"gt": {"mask_data": [[3, 0]]}},
        boxes={"gt": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 5}]}},
    )
    js, flist = img._fluoro_encode("k", 0)
    assert js["masks"]["gt"]["class_labels"] == {"0": "class_0", "3": "class_3"}
    assert json.loads(dict(flist)[js["boxes"]["gt"]["path"]])["class_labels"] == {"5": "class_5"}


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"data_or_path": object()}, TypeError, "cannot make an image"),
        ({"data_or_path": [[1, 2], [3]]}, ValueError, "rectangular"),
        ({"data_or_path": [[["a"]]]}, TypeError, "expected numbers"),
        ({"data_or_path": [[[1, 2, 3, 4, 5]] * 6] * 7}, ValueError, "unsupported shape"),
        ({"data_or_path": [[[1, 2]] * 6] * 7}, ValueError, "unsupported shape"),
        ({"data_or_path": [1, 2, 3]}, ValueError, "unsupported shape"),
        ({"data_or_path": []}, ValueError, "unsupported shape"),
        ({"data_or_path": b"not an image"}, ValueError, "not a PNG"),
        ({"data_or_path": "/nonexistent/x.png"}, ValueError, "cannot read"),
        ({"data_or_path": [[1]], "mode": "P"}, ValueError, "mode"),
        ({"data_or_path": [[1]], "file_type": "tiff"}, ValueError, "file_type"),
        ({"data_or_path": [[1]], "masks": {"m": {"mask_data": [[300]]}}}, ValueError, "between 0 and 255"),
        ({"data_or_path": [[1]], "masks": {"m": {"mask_data": [[0.5]]}}}, ValueError, "between 0 and 255"),
        ({"data_or_path": [[1]], "masks": {"m": {"mask_data": [1, 2]}}}, ValueError, "2-D"),
        ({"data_or_path": [[1]], "masks": {"m": {"class_labels": {}}}}, TypeError, "mask_data"),
        (
            {"data_or_path": [[1]], "masks": {"m": {"mask_data": [[1]], "class_labels": {"a": "b"}}}},
            TypeError,
            "numbers",
        ),
        ({"data_or_path": [[1]], "masks": [1]}, ValueError, "masks"),
        ({"data_or_path": [[1]], "boxes": {"b": {"box_data": [{"position": {"minX": 0}}]}}}, TypeError, "position"),
        ({"data_or_path": [[1]], "boxes": {"b": {"box_data": "x"}}}, TypeError, "list"),
        ({"data_or_path": [[1]], "boxes": {"b": [1]}}, TypeError, "box_data"),
        (
            {
                "data_or_path": [[1]],
                "boxes": {
                    "b": {"box_data": [{"position": {"middle": [0, 0], "width": 1, "height": 1}, "class_id": "x"}]}
                },
            },
            TypeError,
            "class_id",
        ),
        (
            {
                "data_or_path": [[1]],
                "boxes": {
                    "b": {"box_data": [{"position": {"middle": [0, 0], "width": 1, "height": 1}, "scores": {"a": "x"}}]}
                },
            },
            TypeError,
            "scores",
        ),
    ],
)
def test_image_bad_input(kwargs: Dict[str, Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        Image(**kwargs)


def test_image_unknown_extension(tmp_path: Any) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hi")
    with pytest.raises(ValueError, match="unsupported file type"):
        Image(str(p))


def test_image_jpg_without_pil_warns_and_writes_png() -> None:
    if "PIL.Image" in __import__("sys").modules:
        pytest.skip("PIL is loaded: jpg is written with it")
    with pytest.warns(FluoroWarning, match="PNG"):
        img = Image([[1, 2]], file_type="jpg")
    assert img.format == "png" and img._bytes.startswith(b"\x89PNG")


# --- Histogram -------------------------------------------------------------------


def test_histogram_pure_python_bins_like_numpy() -> None:
    h = Histogram([1, 2, 3], num_bins=2)
    assert h.bins == [1.0, 2.0, 3.0] and h.histogram == [1, 2]  # the last bin is closed
    js, files = h._fluoro_encode("w", 3)
    assert files == []
    assert js == {"_type": "histogram", "values": [1, 2], "bins": [1.0, 2.0, 3.0]}
    h = Histogram([0.0, 0.1, 0.2, 0.3, 1.0], num_bins=10)
    assert sum(h.histogram) == 5 and len(h.bins) == 11 and h.bins[0] == 0.0 and h.bins[-1] == 1.0
    assert h.histogram[0] == 1 and h.histogram[1] == 1 and h.histogram[-1] == 1


def test_histogram_defaults_and_edge_cases() -> None:
    h = Histogram(list(range(1000)))
    assert len(h.histogram) == 64 and len(h.bins) == 65 and sum(h.histogram) == 1000
    assert Histogram([5, 5, 5], num_bins=4).bins == [4.5, 4.75, 5.0, 5.25, 5.5]
    assert Histogram([5, 5, 5], num_bins=4).histogram == [0, 0, 3, 0]
    empty = Histogram([], num_bins=2)
    assert empty.histogram == [0, 0] and empty.bins == [0.0, 0.5, 1.0]
    h = Histogram([1.0, math.nan, math.inf, 2.0, -math.inf], num_bins=1)  # non-finite values are left out
    assert h.histogram == [2]
    assert Histogram([[1, 2], (3, 4)], num_bins=2).histogram == [2, 2]  # nested sequences are flattened
    assert Histogram(range(10), num_bins=512).histogram.count(1) == 10


def test_histogram_np_histogram_and_errors() -> None:
    h = Histogram(np_histogram=([1, 2, 3], [0, 1, 2, 3]))
    assert h.to_json() == {"_type": "histogram", "values": [1, 2, 3], "bins": [0, 1, 2, 3]}
    with pytest.raises(ValueError, match="len\\(bins\\)"):
        Histogram(np_histogram=([1, 2], [0, 1]))
    with pytest.raises(ValueError, match="pair"):
        Histogram(np_histogram=([1],))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="512"):
        Histogram([1, 2], num_bins=513)
    with pytest.raises(ValueError, match="512"):
        Histogram(np_histogram=([0] * 513, list(range(514))))
    with pytest.raises(ValueError, match="num_bins"):
        Histogram([1], num_bins=0)
    with pytest.raises(ValueError, match="sequence"):
        Histogram()
    with pytest.raises(TypeError, match="numbers"):
        Histogram(["a"])
    with pytest.raises(TypeError, match="sequence"):
        Histogram(object())


# --- Html, Plotly ---------------------------------------------------------------------


def test_html_inject_and_shapes(tmp_path: Any) -> None:
    js, files = Html("<p>hi</p>")._fluoro_encode("report", 2)
    body = check_file_json(js, files_of((js, files)), r"media/html/report_2_[0-9a-f]{20}\.html").decode()
    assert js["_type"] == "html-file"
    assert body.startswith('<base target="_blank">') and body.endswith("<p>hi</p>")
    assert "<head><base" in Html("<html><head><title>t</title></head></html>").html
    assert Html("<html><body>x</body></html>").html.startswith("<html><head><base")
    assert Html("<p>raw</p>", inject=False)._bytes == b"<p>raw</p>"
    p = tmp_path / "r.html"
    p.write_text("<b>file</b>", encoding="utf-8")
    assert Html(str(p), inject=False)._bytes == b"<b>file</b>"
    assert Html(io.StringIO("<i>io</i>"), inject=False)._bytes == b"<i>io</i>"
    with pytest.raises(TypeError, match="Html"):
        Html(123)


class _FakeFigure:
    def __init__(self, fig: Dict[str, Any]) -> None:
        self.fig = fig

    def to_plotly_json(self) -> Dict[str, Any]:
        return self.fig


_FakeFigure.__module__ = "plotly.graph_objs._figure"


def test_plotly() -> None:
    fig = {"data": [{"type": "scatter", "x": [1, 2], "y": [3.0, math.nan]}], "layout": {"title": "t"}}
    for val in (fig, _FakeFigure(fig)):
        js, files = Plotly(val)._fluoro_encode("fig", 0)
        content = check_file_json(js, files_of((js, files)), r"media/plotly/fig_0_[0-9a-f]{20}\.plotly\.json")
        assert js["_type"] == "plotly-file"
        assert json.loads(content) == {
            "data": [{"type": "scatter", "x": [1, 2], "y": [3.0, None]}],  # NaN as plotly writes it
            "layout": {"title": "t"},
        }
    with pytest.raises(TypeError, match="plotly figure"):
        Plotly(5)


def test_coerce() -> None:
    img = Image([[1]])
    assert coerce(img) is img
    p = coerce(_FakeFigure({"data": []}))
    assert isinstance(p, Plotly)
    assert coerce({"a": 1}) is None and coerce(3) is None and coerce("x") is None


# --- Audio ------------------------------------------------------------------------------


def _wav(data: bytes) -> Tuple[wave._wave_params, bytes]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def test_audio_from_floats() -> None:
    samples = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, math.nan]
    a = Audio(samples, sample_rate=8000, caption="beep")
    js, files = a._fluoro_encode("speech", 9)
    content = check_file_json(js, files_of((js, files)), r"media/audio/speech_9_[0-9a-f]{20}\.wav")
    assert js["_type"] == "audio-file" and js["caption"] == "beep"
    assert js["sample_rate"] == 8000 and js["duration"] == 8 / 8000
    params, frames = _wav(content)
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == (1, 2, 8000, 8)
    assert list(struct.unpack("<8h", frames)) == [0, 16384, -16384, 32767, -32767, 32767, -32767, 0]


def test_audio_stereo_ints_and_paths(tmp_path: Any) -> None:
    a = Audio([[1, -1], [300, -300]], sample_rate=100)
    params, frames = _wav(a._bytes)
    assert params.nchannels == 2 and struct.unpack("<4h", frames) == (1, -1, 300, -300)
    p = tmp_path / "x.wav"
    p.write_bytes(a._bytes)
    b = Audio(str(p))
    js, _ = b._fluoro_encode("a", 1)
    assert b._bytes == a._bytes and js["sample_rate"] == 100 and js["duration"] == 0.02
    mp3 = tmp_path / "x.mp3"
    mp3.write_bytes(b"ID3fake")
    js, files = Audio(mp3)._fluoro_encode("a", 1)
    assert js["path"].endswith(".mp3") and dict(files)[js["path"]] == b"ID3fake"
    assert "sample_rate" not in js


def test_audio_bad_input(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        Audio([0.1, 0.2])
    with pytest.raises(ValueError, match="sample_rate"):
        Audio([0.1], sample_rate=0)
    with pytest.raises(ValueError, match="16 bits"):
        Audio([40000], sample_rate=10)
    with pytest.raises(ValueError, match="1-D"):
        Audio([], sample_rate=10)
    with pytest.raises(TypeError, match="Audio"):
        Audio(object(), sample_rate=10)
    with pytest.raises(ValueError, match="transpose"):
        Audio([[0.0] * 100], sample_rate=10)  # (channels, frames)
    with pytest.raises(ValueError, match="unsupported file type"):
        Audio(str(tmp_path / "x.txt"))
    with pytest.raises(ValueError, match="cannot read"):
        Audio(str(tmp_path / "missing.wav"))


# --- Video / GIF ------------------------------------------------------------------------


def test_lzw_round_trip_through_table_resets() -> None:
    import random

    rnd = random.Random(7)
    cases = [
        b"\x00",
        b"\x05\x05",
        bytes(range(256)) * 3,
        bytes(rnd.randrange(256) for _ in range(20000)),  # many clears
        bytes(rnd.choice((0, 1, 2, 3)) for _ in range(30000)),  # long codes
        b"\x07" * 70000,
    ]
    for i in range(250, 270):  # end near the code-width changes
        cases.append(bytes(rnd.randrange(256) for _ in range(i)))
        cases.append(bytes(rnd.randrange(3) for _ in range(i * 4)))
    for data in cases:
        blocks = _media._lzw(data)
        lzw = bytearray()
        pos = 0
        while blocks[pos]:
            assert blocks[pos] <= 255
            lzw += blocks[pos + 1 : pos + 1 + blocks[pos]]
            pos += 1 + blocks[pos]
        assert pos == len(blocks) - 1
        assert _lzw_decode(bytes(lzw), 8) == data


def test_video_from_grey_lists_is_a_gif() -> None:
    frames = [[[[(t * 50 + x + 10 * y) % 256 for x in range(5)] for y in range(4)]] for t in range(3)]  # T,C,H,W
    v = Video(frames, fps=10, caption="c")
    js, files = v._fluoro_encode("rollout", 6)
    content = check_file_json(js, files_of((js, files)), r"media/videos/rollout_6_[0-9a-f]{20}\.gif")
    assert js["_type"] == "video-file" and (js["width"], js["height"], js["caption"]) == (5, 4, "c")
    g = gif_decode(content)
    assert (g["width"], g["height"], g["loop"], g["delays"]) == (5, 4, True, [10, 10, 10])
    assert len(g["frames"]) == 3
    for t in range(3):
        assert g["frames"][t] == bytes(v for row in frames[t][0] for v in row)
        assert all(g["palette"][3 * i : 3 * i + 3] == bytes([i, i, i]) for i in range(256))


def test_video_rgb_palette_and_batch_tiling() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0), (51, 102, 204)]
    # B=3, T=2, C=3, H=1, W=2: tiled into a 2x2 grid (padded to 4 clips) of 1x2 tiles
    batch = [
        [[[[colours[(b + t) % 6][ch]] * 2] for ch in range(3)] for t in range(2)]  # (C, H=1, W=2)
        for b in range(3)
    ]
    v = Video(batch)
    assert (v._width, v._height) == (4, 2)
    g = gif_decode(v._bytes)
    assert g["delays"] == [25, 25]  # fps 4
    pal = g["palette"]
    for t in range(2):
        frame = g["frames"][t]
        rgb = [tuple(pal[3 * i : 3 * i + 3]) for i in frame]
        want_tiles = {0: colours[t % 6], 1: colours[(1 + t) % 6], 2: colours[(2 + t) % 6], 3: (0, 0, 0)}
        for tile, col in want_tiles.items():
            ty, tx = divmod(tile, 2)
            for x in range(2):
                got = rgb[ty * 4 + tx * 2 + x]
                assert max(abs(a - b) for a, b in zip(got, col)) <= 26, (t, tile, got, col)


def test_video_from_path_and_bytes(tmp_path: Any) -> None:
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20
    p = tmp_path / "clip.mp4"
    p.write_bytes(mp4)
    js, files = Video(str(p))._fluoro_encode("v", 1)
    assert js["path"].endswith(".mp4") and dict(files)[js["path"]] == mp4 and "width" not in js
    js, _ = Video(mp4)._fluoro_encode("v", 1)
    assert js["path"].endswith(".mp4")
    js, _ = Video(io.BytesIO(b"\x1a\x45\xdf\xa3rest"))._fluoro_encode("v", 1)
    assert js["path"].endswith(".webm")
    js, _ = Video(b"????", format="ogg")._fluoro_encode("v", 1)
    assert js["path"].endswith(".ogg")
    gif = _media.encode_gif([b"\x01" * 6], 3, 2, 4, True)
    js, _ = Video(gif)._fluoro_encode("v", 1)
    assert js["path"].endswith(".gif") and (js["width"], js["height"]) == (3, 2)


def test_video_bad_input(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="format"):
        Video(b"GIF89a", format="avi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported file type"):
        Video(str(tmp_path / "x.avi"))
    with pytest.raises(ValueError, match="cannot tell"):
        Video(b"????")
    with pytest.raises(ValueError, match="T, C, H, W"):
        Video([[[1, 2]]])
    with pytest.raises(ValueError, match="channels"):
        Video([[[[1]], [[2]]]])  # 2 channels
    with pytest.raises(ValueError, match="fps"):
        Video([[[[1]]]], fps=0)
    with pytest.raises(TypeError, match="Video"):
        Video(object())
    with pytest.warns(FluoroWarning, match="GIF"):
        v = Video([[[[1]]]], format="mp4")
    assert v._bytes.startswith(b"GIF89a")


# --- Table ------------------------------------------------------------------------------------


def test_table_with_media_cells() -> None:
    img = Image([[1, 2], [3, 4]])
    t = Table(columns=["img", "label", "score"], data=[[img, "cat", 0.5]])
    t.add_data(None, "dog", math.nan)
    t.add_data(Image([[9]]), "cow", math.inf)
    js, flist = t._fluoro_encode("eval/preds", 10)
    files = files_of((js, flist))
    assert js["_type"] == "table-file" and (js["ncols"], js["nrows"], js["log_mode"]) == (3, 3, "IMMUTABLE")
    content = check_file_json(js, files, r"media/table/eval_preds_10_[0-9a-f]{20}\.table\.json")
    body = json.loads(content)
    assert body["_type"] == "table" and body["columns"] == ["img", "label", "score"]
    assert (body["ncols"], body["nrows"]) == (3, 3)
    cell = body["data"][0][0]
    assert cell["_type"] == "image-file" and (cell["width"], cell["height"]) == (2, 2)
    assert check_file_json(cell, files, r"media/images/eval_preds_10_[0-9a-f]{20}\.png") == img._bytes
    assert body["data"][1] == [None, "dog", "NaN"]
    assert body["data"][2][2] == "Infinity"
    assert body["data"][2][0]["path"] in files
    assert len(files) == 3
    assert t._fluoro_encode("eval/preds", 10) == (js, flist)  # deterministic


def test_table_api() -> None:
    t = Table()
    assert t.columns == ["Input", "Output", "Expected"]
    t = Table(columns=["a"], rows=[[1], [2]])
    t.add_column("b", ["x", "y"])
    assert t.get_column("b") == ["x", "y"] and t.data == [[1, "x"], [2, "y"]]
    t.add_row(3, "z")
    assert len(t) == 3 and t.get_column("a") == [1, 2, 3]
    e = Table(columns=[])
    e.add_column("only", [1, 2])
    assert e.data == [[1], [2]]
    nested = Table(columns=["h", "l", "d"], data=[[Histogram([1, 2], num_bins=2), [1, 2], {"k": True}]])
    body = json.loads(dict(nested._fluoro_encode("n", 0)[1])[nested._fluoro_encode("n", 0)[0]["path"]])
    assert body["data"][0] == [{"_type": "histogram", "values": [1, 1], "bins": [1.0, 1.5, 2.0]}, [1, 2], {"k": True}]


def test_table_bad_input() -> None:
    t = Table(columns=["a", "b"])
    with pytest.raises(ValueError, match="expects 2 columns"):
        t.add_data(1)
    t.add_data(1, "x")
    with pytest.raises(TypeError, match="allow_mixed_types"):
        t.add_data("one", "y")
    Table(columns=["a"], allow_mixed_types=True, data=[[1], ["one"], [Image([[1]])]])
    with pytest.raises(TypeError, match="optional"):
        Table(columns=["a"], optional=False, data=[[None]])
    with pytest.raises(TypeError, match="expects str"):
        Table(columns=["a"], dtype=str, data=[[1]])
    Table(columns=["a"], dtype=float, data=[[1], [2.5]])
    Table(columns=["s"], optional=False, data=[["x"], [math.nan], ["y"]])  # NaN is pandas' missing value
    with pytest.raises(TypeError, match="columns"):
        Table(columns="ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        Table(columns=["a", "a"])
    with pytest.raises(TypeError, match="rows"):
        Table(columns=["a"], data=5)
    with pytest.raises(ValueError, match="column"):
        t.add_column("a", [1])
    with pytest.raises(ValueError, match="values"):
        t.add_column("c", [1, 2, 3])
    with pytest.raises(ValueError, match="no column"):
        t.get_column("zz")
    with pytest.raises(ValueError, match="log_mode"):
        Table(log_mode="SOMETIMES")


# --- sequences -----------------------------------------------------------------------------


def test_encode_sequence_shapes() -> None:
    imgs = [Image([[1, 2]], caption="a"), Image([[3, 4]], caption="b", masks={"m": {"mask_data": [[0, 1]]}})]
    enc = encode_sequence(imgs, "examples", 3)
    assert enc is not None
    js, flist = enc
    files = files_of(enc)
    assert js["_type"] == "images/separated"
    assert (js["count"], js["width"], js["height"], js["format"]) == (2, 2, 1, "png")
    assert js["captions"] == ["a", "b"]
    assert all(f in files for f in js["filenames"])
    assert js["all_masks"][0] is None and js["all_masks"][1]["m"]["_type"] == "mask"
    assert "all_boxes" not in js
    assert len(files) == 3
    auds = [Audio([0.0], sample_rate=10), Audio([0.0, 0.1], sample_rate=20, caption="x")]
    js, _ = encode_sequence(auds, "a", 0) or ({}, [])
    assert js["_type"] == "audio" and js["count"] == 2 and js["sampleRates"] == [10, 20]
    assert js["durations"] == [0.1, 0.1] and js["captions"] == ["", "x"]
    js, _ = encode_sequence([Html("<p>"), Html("<b>")], "h", 0) or ({}, [])
    assert js["_type"] == "html" and js["count"] == 2 and js["html"][0]["_type"] == "html-file"
    js, _ = encode_sequence([Video(b"GIF89a\x01\x00\x01\x00")], "v", 0) or ({}, [])
    assert js["_type"] == "videos" and js["captions"] is False
    mixed, _ = encode_sequence([Histogram([1]), Image([[1]])], "m", 0) or ({}, [])
    assert isinstance(mixed, list) and mixed[0]["_type"] == "histogram" and mixed[1]["_type"] == "image-file"
    assert encode_sequence([], "k", 0) is None
    assert encode_sequence([1, 2], "k", 0) is None
    many = encode_sequence([Image([[i % 256]]) for i in range(120)], "k", 0)
    assert many is not None and many[0]["count"] == 108


class _FakeDtype:
    is_floating_point = False


class _FakeTensor:
    """Enough of torch.Tensor for the SDK: detach, cpu, dtype, element_size, numpy, tolist."""

    dtype = _FakeDtype()

    def __init__(self, data: Any) -> None:
        self.data = data

    def detach(self) -> "_FakeTensor":
        return self

    def cpu(self) -> "_FakeTensor":
        return self

    def element_size(self) -> int:
        return 1

    def numpy(self) -> Any:
        raise RuntimeError("Numpy is not available")

    def tolist(self) -> Any:
        return self.data


def test_torch_tensors_are_chw_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(Tensor=_FakeTensor))
    chw = [[[10, 20]], [[30, 40]], [[50, 60]]]  # C=3, H=1, W=2
    assert png_decode(Image(_FakeTensor(chw))._bytes) == (2, 1, 3, bytes([10, 30, 50, 20, 40, 60]))
    assert Histogram(_FakeTensor([1, 2, 3]), num_bins=2).histogram == [1, 2]
    params, _ = _wav(Audio(_FakeTensor([0, 1]), sample_rate=5)._bytes)
    assert params.nframes == 2
    mask = {"m": {"mask_data": _FakeTensor([[0, 1]])}}
    js, _ = Image([[1, 2]], masks=mask)._fluoro_encode("k", 0)
    assert js["masks"]["m"]["class_labels"] == {"0": "class_0", "1": "class_1"}


# --- with numpy (skipped without it) ------------------------------------------------------------


def test_numpy_image_rules() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    assert png_decode(Image(u8)._bytes) == (5, 6, 3, u8.tobytes())
    small = np.array([[0, 1], [1, 0]], dtype=np.uint8)  # uint8 is kept as it is
    assert png_decode(Image(small)._bytes)[3] == small.tobytes()
    f = rng.random((4, 3))
    assert png_decode(Image(f)._bytes)[3] == (f * 255).astype(np.uint8).tobytes()
    s = rng.random((4, 3, 4)) * 2 - 1
    assert png_decode(Image(s)._bytes)[3] == (255 * 0.5 * (s + 1)).astype(np.uint8).tobytes()
    f32 = rng.random((5, 5)).astype(np.float32)
    assert png_decode(Image(f32)._bytes)[3] == (f32 * 255).astype(np.uint8).tobytes()
    w = rng.normal(0, 100, (3, 3))
    assert png_decode(Image(w)._bytes)[3] == w.clip(0, 255).astype(np.uint8).tobytes()
    assert png_decode(Image(u8[None])._bytes)[3] == u8.tobytes()  # batch of one
    assert png_decode(Image(u8[:, :, :1])._bytes)[2] == 1
    chw = np.ascontiguousarray(u8.transpose(2, 0, 1))  # numpy CHW is recognised when unambiguous
    assert png_decode(Image(chw)._bytes)[3] == u8.tobytes()
    assert Image(u8)._bytes == Image(u8.copy())._bytes
    lists = Image(f.tolist())
    assert lists._bytes == Image(f)._bytes  # same rules with or without numpy
    with pytest.raises(TypeError, match="dtype"):
        Image(np.array([["a"]]))
    with pytest.raises(ValueError, match="unsupported shape"):
        Image(np.zeros((2, 2, 5)))


def test_numpy_mask_audio_video_histogram() -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(2)
    m = rng.integers(0, 4, (5, 7))
    js, flist = Image(np.zeros((5, 7)), masks={"p": {"mask_data": m}})._fluoro_encode("k", 0)
    assert png_decode(dict(flist)[js["masks"]["p"]["path"]])[3] == m.astype(np.uint8).tobytes()
    with pytest.raises(ValueError, match="between 0 and 255"):
        Image(np.zeros((2, 2)), masks={"p": {"mask_data": np.array([[-1, 0]])}})
    sig = np.sin(np.linspace(0, 20, 400))
    a = Audio(sig, sample_rate=400)
    params, frames = _wav(a._bytes)
    assert params.nframes == 400 and a.duration == 1.0
    assert np.array_equal(np.frombuffer(frames, "<i2"), np.round(sig * 32767).astype(np.int16))
    assert Audio(sig.tolist(), sample_rate=400)._bytes == a._bytes
    vid = rng.integers(0, 256, (3, 1, 6, 4), dtype=np.uint8)
    g = gif_decode(Video(vid)._bytes)
    assert [np.frombuffer(f, np.uint8).reshape(6, 4).tolist() for f in g["frames"]] == vid[:, 0].tolist()
    assert Video(vid)._bytes == Video(vid.tolist())._bytes
    rgb = rng.integers(0, 256, (2, 2, 3, 4, 5), dtype=np.uint8)
    assert Video(rgb)._bytes == Video(rgb.tolist())._bytes
    for data in (rng.normal(size=5001), rng.integers(-5, 5, 999), np.full(4, 3.0), np.array([]), np.arange(7.0)):
        for bins in (1, 10, 64, 512):
            counts, edges = np.histogram(data, bins=bins)
            h = Histogram(data, num_bins=bins)
            assert (h.histogram, h.bins) == (counts.tolist(), edges.tolist())
            p = Histogram(data.tolist(), num_bins=bins)
            assert (p.histogram, p.bins) == (counts.tolist(), edges.tolist())
    f32 = rng.normal(size=1000).astype(np.float32)
    counts, edges = np.histogram(f32, bins=64)
    assert (Histogram(f32).histogram, Histogram(f32).bins) == (counts.tolist(), edges.tolist())
    assert Histogram(np.array([1.0, np.nan, np.inf, 2.0]), num_bins=1).histogram == [2]
    assert Histogram(np.array([True, False, True]), num_bins=2).histogram == [1, 2]
    h = Histogram(np_histogram=np.histogram([1, 2, 3]))
    assert h.histogram == np.histogram([1, 2, 3])[0].tolist()
    t = Table(columns=["x", "y"], data=np.array([[1.0, 2.0], [3.0, np.nan]]))
    body = json.loads(dict(t._fluoro_encode("t", 0)[1])[t._fluoro_encode("t", 0)[0]["path"]])
    assert body["data"] == [[1.0, 2.0], [3.0, "NaN"]]


def test_png_bytes_do_not_depend_on_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(3)
    cases = [(1, 1, 1), (5, 3, 3), (224, 224, 3), (30000, 3, 4), (7, 400, 1)]
    with_np = [encode_png(w, h, c, rng.integers(0, 256, w * h * c, dtype=np.uint8).tobytes()) for w, h, c in cases]
    rng = np.random.default_rng(3)
    raws = [rng.integers(0, 256, w * h * c, dtype=np.uint8).tobytes() for w, h, c in cases]
    monkeypatch.setitem(__import__("sys").modules, "numpy", None)
    for (w, h, c), raw, png in zip(cases, raws, with_np):
        assert encode_png(w, h, c, raw) == png
        assert png_decode(png) == (w, h, c, raw)


def test_pandas_dataframe_table() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for t in (Table(dataframe=df), Table(data=df), coerce(df)):
        assert isinstance(t, Table)
        assert t.columns == ["a", "b"] and t.get_column("b") == ["x", "y"]
        body = json.loads(dict(t._fluoro_encode("df", 0)[1])[t._fluoro_encode("df", 0)[0]["path"]])
        assert body["data"] == [[1, "x"], [2, "y"]]


def test_pil_image() -> None:
    pil = pytest.importorskip("PIL.Image")
    im = pil.new("RGB", (3, 2), (10, 20, 30))
    assert png_decode(Image(im)._bytes) == (3, 2, 3, bytes([10, 20, 30]) * 6)
    p = pil.new("P", (2, 2))
    assert png_decode(Image(p)._bytes)[2] == 3
    assert Image(im, file_type="jpg")._bytes.startswith(b"\xff\xd8")


# --- limits: bad input gets a clear error, never a stalled loop ---------------


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_huge_image_is_refused_before_any_work() -> None:
    # A 50,000 x 50,000 PNG as bytes: a few dozen bytes claiming 2.5G pixels.
    with pytest.raises(ValueError, match=r"50000x50000 is 2,500,000,000 pixels; at most 67,108,864"):
        fluoro.Image(_png_header(50000, 50000))
    fluoro.Image(_png_header(8192, 8192))  # at the limit: fine
    # Nested lists are measured before they are converted.
    with pytest.raises(ValueError, match="raise fluoro.Image.MAX_PIXELS"):
        old = fluoro.Image.MAX_PIXELS
        try:
            fluoro.Image.MAX_PIXELS = 100
            fluoro.Image([[0] * 20] * 20)
        finally:
            fluoro.Image.MAX_PIXELS = old


def test_huge_numpy_image_is_refused_without_copying() -> None:
    np = pytest.importorskip("numpy")
    view = np.broadcast_to(np.uint8(7), (50000, 50000, 3))  # no memory behind it
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="50000x50000"):
        fluoro.Image(view)
    assert time.perf_counter() - t0 < 0.5


def test_media_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fluoro._media as m

    p = tmp_path / "big.png"
    p.write_bytes(_png_header(10, 10) + b"\0" * 4096)
    monkeypatch.setattr(m, "MAX_MEDIA_FILE", 1024)
    with pytest.raises(ValueError, match="use save"):
        fluoro.Image(str(p))


def test_table_of_a_million_rows_is_cut_with_a_warning() -> None:
    t = fluoro.Table(columns=["i"], data=[[i] for i in range(1_000_000)])
    with pytest.warns(Warning, match="only the first 200000 are logged"):
        value, files = t._fluoro_encode("preds", 3)
    assert value["nrows"] == 200_000
    ((name, body),) = files
    assert json.loads(body)["data"][-1] == [199_999]
