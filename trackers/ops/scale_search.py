"""Scale search by template similarity on features a tracker has already computed.

The idea is DSST's (the scale filter CSRT uses): once the target's centre is
found, try the box at a few scales and keep the one that looks most like the
target.  Here "looks like" is the cosine similarity of RoIAligned features of
the frozen ImageNet trunk (:func:`.roi_align.roi_descriptors`) against the boxes
a person gave (the first box and the latest correction), so it costs a
RoIAlign of three boxes on a feature map the tracker computed anyway.

Why a tracker with a box regressor needs it: FCOT's online regressor is a
linear filter fitted on the first frame's crop, where the target always
spans the same part of the crop; on later frames it mostly returns that
size again, with a small bias, and since the next crop scales with the box,
the bias compounds.  Measured on vot2014-sphere: the box drifted to 0.61 of
the true size by frame 100 and stayed there; with the scale check it stays
at 0.97-1.04 (see resources/weights/fcot/PROVENANCE.md, session 7).
"""
from __future__ import annotations

import numpy as np
import torch

from .roi_align import roi_descriptors

POOL = 7   # RoIAlign cells per side


def scale_steps(step: float) -> np.ndarray:
    """The factors tried: ``1 / (1 + step)``, 1 and ``1 + step``."""
    return np.array([1.0 / (1.0 + step), 1.0, 1.0 + step])


def most_similar(features: torch.Tensor, boxes_xyxy: torch.Tensor, templates: list[torch.Tensor],
                 spatial_scale: float) -> tuple[int, torch.Tensor]:
    """Index of the box (rows of ``boxes_xyxy``, in the feature map's image coordinates) whose
    descriptor is most similar to any of ``templates`` (each ``(1, D)`` from :func:`template`), and all
    similarities ``(K,)``."""
    desc = roi_descriptors(features, boxes_xyxy, spatial_scale, POOL)
    sims = torch.stack([desc @ t[0] for t in templates]).amax(0)
    return int(sims.argmax()), sims


def template(features: torch.Tensor, box_xyxy, spatial_scale: float) -> torch.Tensor:
    """The ``(1, D)`` descriptor of one box a person gave."""
    box = torch.as_tensor(np.asarray(box_xyxy, np.float32)).reshape(1, 4)
    return roi_descriptors(features, box, spatial_scale, POOL)

