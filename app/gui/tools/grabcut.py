"""Box -> mask helper: OpenCV GrabCut initialised with the box (Qt-free)."""
from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]


def box_to_mask(frame_rgb: np.ndarray, box: Box, iterations: int = 4, margin: int = 16) -> np.ndarray:
    """Segment the object inside ``box``; the result never leaves the box.

    GrabCut runs on a crop around the box (plus ``margin`` pixels of
    background) so it costs the same on a 4K frame as on a small one.  Falls
    back to the filled box when GrabCut finds no foreground, so the person
    always gets something to refine with the brush.
    """
    H, W = frame_rgb.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
    x1, y1 = min(W, int(np.ceil(x + w))), min(H, int(np.ceil(y + h)))
    out = np.zeros((H, W), bool)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(W, x1 + margin), min(H, y1 + margin)
    crop = np.ascontiguousarray(cv2.cvtColor(frame_rgb[cy0:cy1, cx0:cx1], cv2.COLOR_RGB2BGR))
    gc_mask = np.zeros(crop.shape[:2], np.uint8)
    rect = (x0 - cx0, y0 - cy0, x1 - x0, y1 - y0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(crop, gc_mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
        fg = (gc_mask == cv2.GC_FGD) | (gc_mask == cv2.GC_PR_FGD)
    except cv2.error:           # degenerate colour model (flat box): use the box itself
        fg = np.zeros(crop.shape[:2], bool)
    inside = np.zeros_like(fg)
    inside[rect[1]:rect[1] + rect[3], rect[0]:rect[0] + rect[2]] = True
    fg &= inside
    if not fg.any():
        fg = inside
    out[cy0:cy1, cx0:cx1] = fg
    return out
