"""Small, device-agnostic tensor ops shared by the deep trackers.

* :mod:`.boxes` - xywh/xyxy/cxcywh conversion, anchor deltas, ltrb side distances, IoU
* :mod:`.roi_align` - RoIAlign on ``grid_sample``, and unit-length RoI descriptors
* :mod:`.nms` - greedy non-maximum suppression
* :mod:`.xcorr` - depth-wise (and plain) cross-correlation
* :mod:`.labels` - Gaussian label maps
* :mod:`.crop` - square context crops with the transform back to frame pixels
* :mod:`.scale_search` - pick a box's scale by similarity to the boxes a person gave
"""
from .boxes import (box_iou, boxes_from_ltrb, cxcywh_to_xyxy, decode_deltas, encode_deltas, iou_xywh,
                    ltrb_distances, xywh_to_xyxy, xyxy_to_cxcywh, xyxy_to_xywh)
from .crop import CropTransform, context_side, crop_and_resize, crop_square, warp_crop
from .labels import gaussian_label
from .nms import nms
from .roi_align import roi_align, roi_descriptors
from . import scale_search
from .xcorr import dw_xcorr, xcorr

__all__ = ["CropTransform", "box_iou", "boxes_from_ltrb", "context_side", "crop_and_resize", "crop_square",
           "cxcywh_to_xyxy", "decode_deltas", "dw_xcorr", "encode_deltas", "gaussian_label", "iou_xywh",
           "ltrb_distances", "nms", "roi_align", "roi_descriptors", "scale_search", "warp_crop", "xcorr", "xywh_to_xyxy",
           "xyxy_to_cxcywh", "xyxy_to_xywh"]
