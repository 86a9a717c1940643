"""Non-maximum suppression (greedy, the usual definition)."""
from __future__ import annotations

import torch

from .boxes import box_iou


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5,
        max_keep: int | None = None) -> torch.Tensor:
    """Indices of the kept xyxy ``boxes``, highest score first.

    A box is dropped when its IoU with an already kept, higher-scoring box is
    greater than ``iou_threshold``.  Pairwise IoU is computed once (N is small
    for trackers: tens to a few hundred candidates).
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    iou = box_iou(boxes[order], boxes[order])
    n = len(order)
    suppressed = torch.zeros(n, dtype=torch.bool, device=boxes.device)
    keep: list[int] = []
    iou_cpu = iou.cpu()
    suppressed_cpu = suppressed.cpu()
    for i in range(n):
        if suppressed_cpu[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        suppressed_cpu |= iou_cpu[i] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]
