"""Checked reading of untrusted annotation files.

Every reader goes through a :class:`Checker` bound to one file, so a bad value
becomes ``FormatError(path, where, problem)`` naming the JSON field path
(``annotations[12].bbox[2]``) or the line (``line 7``) instead of a traceback
from deep inside numpy or pycocotools.

RLE masks are checked here *before* pycocotools sees them: its C decoder
writes past the end of its buffer when the run lengths add up to more than
``h * w``, so a size mismatch must never reach it.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, NoReturn, Optional

import numpy as np

from app.core.errors import FormatError
from app.core.model import HUMAN, INTERPOLATED, Box

# Bounds that keep a hostile file from asking for absurd allocations.
MAX_SIDE = 32768            # pixels per image side (8K video is 7680)
MAX_FRAMES = 10_000_000     # frames per video
MAX_ID = 2 ** 53            # JSON numbers stay exact below this
MAX_COORD = 1e6             # |x|, |y|, w, h of a box, in pixels
MAX_JSON_BYTES = 2 * 1024 ** 3

_MISSING = object()


def item(where: str, index: int) -> str:
    return f"{where}[{index}]"


def field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def load_json(path: str) -> Any:
    """Parse a JSON file; NaN/Infinity literals and broken syntax are FormatErrors."""
    def reject_constant(name: str) -> NoReturn:
        raise ValueError(f"{name} is not allowed in JSON")

    try:
        size = os.path.getsize(path)
        if size > MAX_JSON_BYTES:
            raise FormatError(path, "", f"file is {size} bytes, larger than {MAX_JSON_BYTES}")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FormatError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"byte {exc.start}", "not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}") from None
    except ValueError as exc:  # the NaN/Infinity rejection above (or an integer too long to convert)
        raise FormatError(path, _bare_constant_where(text), f"invalid JSON: {exc}") from None
    except RecursionError:
        raise FormatError(path, "", "invalid JSON: nested too deeply") from None


def _bare_constant_where(text: str) -> str:
    """``line L column C`` of the first NaN/Infinity outside a string (json gives no position for them)."""
    in_string = escaped = False
    for pos, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif text.startswith(("NaN", "Infinity"), pos):
            line = text.count("\n", 0, pos) + 1
            return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"
    return ""


class Checker:
    """Typed access to parsed values, failing with the file and field path."""

    def __init__(self, path: str) -> None:
        self.path = str(path)

    def fail(self, where: str, problem: str) -> NoReturn:
        raise FormatError(self.path, where, problem)

    # -- containers ------------------------------------------------------
    def obj(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def lst(self, value: Any, where: str, length: Optional[int] = None) -> list:
        if not isinstance(value, list):
            self.fail(where, f"expected a list, got {_kind(value)}")
        if length is not None and len(value) != length:
            self.fail(where, f"has {len(value)} entries, expected {length}")
        return value

    def get(self, d: dict, key: str, where: str, default: Any = _MISSING) -> Any:
        """``d[key]``; a missing key is an error unless a default is given (``None`` counts as missing)."""
        value = d.get(key, None)
        if value is None:
            if default is _MISSING:
                self.fail(field(where, key), "missing")
            return default
        return value

    # -- scalars ---------------------------------------------------------
    def integer(self, value: Any, where: str, lo: int = 0, hi: int = MAX_ID) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected an integer, got {_kind(value)}")
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                self.fail(where, f"expected an integer, got {value!r}")
            value = int(value)
        if not lo <= value <= hi:
            self.fail(where, f"{_short(value)} is outside [{lo}, {hi}]")
        return value

    def number(self, value: Any, where: str, lo: float = -MAX_COORD, hi: float = MAX_COORD) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected a number, got {_kind(value)}")
        try:
            value = float(value)
        except OverflowError:
            self.fail(where, "number too large")
        if not math.isfinite(value):
            self.fail(where, f"{value} is not a finite number")
        if not lo <= value <= hi:
            self.fail(where, f"{_short(value)} is outside [{lo:g}, {hi:g}]")
        return value

    def string(self, value: Any, where: str, max_len: int = 4096) -> str:
        if not isinstance(value, str):
            self.fail(where, f"expected a string, got {_kind(value)}")
        if len(value) > max_len:
            self.fail(where, f"string of {len(value)} characters is longer than {max_len}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def score(self, value: Any, where: str) -> Optional[float]:
        return None if value is None else self.number(value, where, 0.0, 1.0)

    def source(self, value: Any, where: str) -> str:
        s = self.string(value, where, 200)
        if s in (HUMAN, INTERPOLATED) or (s.startswith("tracker:") and len(s) > len("tracker:")):
            return s
        self.fail(where, f"unknown source {s!r} (expected 'human', 'interpolated' or 'tracker:<name>')")

    def size(self, width: Any, height: Any, where_w: str, where_h: str) -> tuple[int, int]:
        return self.integer(width, where_w, 1, MAX_SIDE), self.integer(height, where_h, 1, MAX_SIDE)

    # -- geometry --------------------------------------------------------
    def box(self, value: Any, where: str, width: int, height: int) -> Box:
        """``[x, y, w, h]`` with w, h >= 0 that overlaps (or touches) the ``width x height`` image."""
        v = self.lst(value, where, 4)
        x, y = (self.number(v[i], item(where, i)) for i in (0, 1))
        w, h = (self.number(v[i], item(where, i), 0.0) for i in (2, 3))
        check_box_in_image(self, (x, y, w, h), where, width, height)
        return (x, y, w, h)

    def segmentation(self, value: Any, where: str, width: int, height: int) -> dict:
        """COCO segmentation (compressed RLE, uncompressed RLE or polygons) -> compressed RLE with str counts."""
        from pycocotools import mask as mask_utils

        if isinstance(value, dict):
            size = self.lst(self.get(value, "size", where), field(where, "size"), 2)
            h = self.integer(size[0], field(where, "size") + "[0]", 1, MAX_SIDE)
            w = self.integer(size[1], field(where, "size") + "[1]", 1, MAX_SIDE)
            if (h, w) != (height, width):
                self.fail(field(where, "size"), f"mask is {w}x{h} but the frame is {width}x{height}")
            counts = self.get(value, "counts", where)
            if isinstance(counts, list):
                runs = [self.integer(c, item(field(where, "counts"), i), 0, h * w) for i, c in enumerate(counts)]
                check_run_total(self, sum(runs), h * w, field(where, "counts"))
                rle = mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)
                return {"size": [h, w], "counts": rle["counts"].decode("ascii")}
            counts = self.string(counts, field(where, "counts"), max_len=4 * h * w + 16)
            check_run_total(self, compressed_rle_total(self, counts, field(where, "counts")), h * w,
                            field(where, "counts"))
            return {"size": [h, w], "counts": counts}
        polygons = self.lst(value, where)
        if not polygons:
            self.fail(where, "empty segmentation")
        clean = []
        for i, poly in enumerate(polygons):
            pw = item(where, i)
            pts = self.lst(poly, pw)
            if len(pts) < 6 or len(pts) % 2:
                self.fail(pw, f"a polygon needs an even number (>= 6) of coordinates, got {len(pts)}")
            xs = [self.number(p, item(pw, 2 * j), -width, 2.0 * width) for j, p in enumerate(pts[0::2])]
            ys = [self.number(p, item(pw, 2 * j + 1), -height, 2.0 * height) for j, p in enumerate(pts[1::2])]
            # pycocotools rasterises the outline point by point: bound its length, or a hostile
            # zig-zag polygon asks for gigabytes.
            outline = sum(max(abs(xs[j] - xs[j - 1]), abs(ys[j] - ys[j - 1])) for j in range(len(xs)))
            if outline > 100.0 * (width + height):
                self.fail(pw, f"polygon outline of {outline:.0f} pixels is implausibly long for a "
                              f"{width}x{height} frame")
            clean.append([v for xy in zip(xs, ys) for v in xy])
        rle = mask_utils.merge(mask_utils.frPyObjects(clean, height, width))
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def check_box_in_image(checker: Checker, box: Box, where: str, width: int, height: int) -> None:
    """Boxes may be cut by the image border (GOT-10k's cut_by_image) but not lie wholly outside it."""
    x, y, w, h = box
    if x > width or y > height or x + w < 0 or y + h < 0:
        checker.fail(where, f"box {list(box)} lies entirely outside the {width}x{height} frame")


def check_run_total(checker: Checker, total: int, expected: int, where: str) -> None:
    if total != expected:
        checker.fail(where, f"run lengths add up to {total}, but the mask has {expected} pixels (size mismatch)")


def compressed_rle_total(checker: Checker, counts: str, where: str) -> int:
    """Sum of the run lengths in a COCO compressed RLE string, checking its encoding.

    Mirrors ``rleFrString`` in pycocotools' maskApi.c (vectorised: a long
    video holds thousands of masks): each run is a little-endian group of
    6-bit characters (offset 48; bit 5 = more follows; bit 4 of the group's
    last character = sign), and from the fourth run on each value is a
    difference from the run two places earlier.
    """
    try:
        raw = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError as exc:
        checker.fail(where, f"character at {exc.start} is not valid in compressed RLE")
    if raw.size == 0:
        checker.fail(where, "empty compressed RLE")
    bad = np.flatnonzero((raw < 0) | (raw >= 64))
    if bad.size:
        checker.fail(where, f"character {counts[bad[0]]!r} at {bad[0]} is not valid in compressed RLE")
    more = (raw & 0x20) != 0
    if more[-1]:
        checker.fail(where, "compressed RLE ends in the middle of a run")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 8:   # 40 bits: more than any real run; the C decoder would overflow
        checker.fail(where, f"run {int(np.argmax(lengths > 8))} is encoded with too many characters")
    position = np.arange(raw.size) - np.repeat(starts, lengths)      # k: the character's place in its group
    values = np.add.reduceat((raw & 0x1F) << (5 * position), starts)
    values -= ((raw[ends] & 0x10) != 0) * (np.int64(1) << (5 * lengths))   # sign extension
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])   # run m (m > 2) adds run m - 2: two interleaved running sums
    runs[2::2] = np.cumsum(values[2::2])
    negative = np.flatnonzero(runs < 0)
    if negative.size:
        checker.fail(where, f"negative run length at run {negative[0]}")
    if runs.max() > 1 << 40:
        checker.fail(where, "run lengths are absurdly large")
    return int(runs.sum())


def parse_number_text(checker: Checker, text: str, where: str, allow_nan: bool = False) -> float:
    """A number written as text (GOT-10k .txt files)."""
    t = text.strip()
    try:
        value = float(t)
    except ValueError:
        checker.fail(where, f"{_short(t)!s} is not a number")
    if math.isnan(value) and allow_nan:
        return value
    if not math.isfinite(value):
        checker.fail(where, f"{t} is not a finite number")
    if abs(value) > MAX_COORD:
        checker.fail(where, f"{_short(value)} is too large")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f"the string {_short(value)!r}" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    s = str(value)
    return s if len(s) <= 40 else s[:37] + "..."
