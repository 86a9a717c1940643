"""RoIAlign on top of ``grid_sample`` (no compiled extension needed; any device).

Each output cell is the mean of ``sampling_ratio x sampling_ratio`` bilinear
samples taken at the centres of a regular sub-grid of its bin.  Samples that
fall outside the feature map read zeros (``grid_sample``'s ``zeros`` padding),
i.e. bilinear interpolation where missing neighbours count as 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: int | tuple[int, int],
              spatial_scale: float = 1.0, sampling_ratio: int = 2, aligned: bool = True) -> torch.Tensor:
    """Pool ``(K, C, oh, ow)`` features from ``features`` ``(N, C, H, W)``.

    ``rois`` is ``(K, 5)`` rows ``(batch_index, x0, y0, x1, y1)`` or ``(K, 4)``
    xyxy boxes (then all from batch 0), in input-image coordinates;
    ``spatial_scale`` maps them to feature cells (1 / stride).  With
    ``aligned=True`` a box edge at image coordinate ``x`` is at continuous
    feature coordinate ``x * scale - 0.5`` (cell centres at integers), the
    Detectron2 convention.
    """
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    if rois.ndim != 2 or rois.shape[1] not in (4, 5):
        raise ValueError(f"rois must be (K, 4) or (K, 5), got {tuple(rois.shape)}")
    if rois.shape[1] == 4:
        rois = torch.cat([rois.new_zeros(len(rois), 1), rois], 1)
    k = len(rois)
    n, c, h, w = features.shape
    if k == 0:
        return features.new_zeros(0, c, oh, ow)
    rois = rois.to(features.dtype)
    idx = rois[:, 0].long()
    offset = 0.5 if aligned else 0.0
    x0, y0, x1, y1 = (rois[:, i] * spatial_scale - offset for i in range(1, 5))
    sr = max(int(sampling_ratio), 1)
    # sample positions as fractions of the box: centres of oh*sr (ow*sr) equal steps
    fy = (torch.arange(oh * sr, device=features.device, dtype=features.dtype) + 0.5) / (oh * sr)
    fx = (torch.arange(ow * sr, device=features.device, dtype=features.dtype) + 0.5) / (ow * sr)
    ys = y0[:, None] + fy[None, :] * (y1 - y0)[:, None]     # (K, oh*sr) in cell coordinates
    xs = x0[:, None] + fx[None, :] * (x1 - x0)[:, None]
    # grid_sample(align_corners=False): cell centre i is at normalised (2i + 1) / size - 1
    gy = (2 * ys + 1) / h - 1
    gx = (2 * xs + 1) / w - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)  # (K, oh*sr, ow*sr, 2)
    sampled = F.grid_sample(features[idx], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.avg_pool2d(sampled, sr) if sr > 1 else sampled


def roi_descriptors(features: torch.Tensor, boxes_xyxy: torch.Tensor, spatial_scale: float,
                    size: int = 5) -> torch.Tensor:
    """Unit-length RoIAligned features of boxes on one image's map: ``(N, C*size*size)``.

    The cosine similarity of two rows compares the features' layout inside the boxes.  On the
    frozen ImageNet trunk this ranks candidates for a template better, on targets a tracker was
    not trained on, than heads trained on ~20 sequences (GSTP and SiamTFA, session 4).
    """
    boxes = boxes_xyxy.to(features.dtype).reshape(-1, 4)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], 1)
    return torch.nn.functional.normalize(roi_align(features, rois, size, spatial_scale).flatten(1), dim=1)
