"""csrt-grabcut: CSRT box + GrabCut mask inside the box (the mask baseline)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import trackers
from trackers.baselines.grabcut import grabcut_box
from trackers.data.synthetic import SyntheticClip


def _iou(a, b):
    u = (a | b).sum()
    return (a & b).sum() / u if u else 1.0


def test_grabcut_box_segments_the_blob_inside_its_box():
    clip = SyntheticClip(num_frames=2, seed=3, target_size=(60, 44))
    frame, gt = clip.frame(0), clip.mask(0)
    box = clip.box(0)
    x, y, w, h = box
    loose = (x - 8, y - 8, w + 16, h + 16)
    mask = grabcut_box(frame, loose)
    assert mask.shape == gt.shape and mask.dtype == bool
    ys, xs = np.nonzero(mask)
    assert xs.min() >= int(np.floor(loose[0])) and xs.max() < int(np.ceil(loose[0] + loose[2]))
    assert ys.min() >= int(np.floor(loose[1])) and ys.max() < int(np.ceil(loose[1] + loose[3]))
    box_mask = np.zeros_like(gt)
    box_mask[int(loose[1]):int(loose[1] + loose[3]), int(loose[0]):int(loose[0] + loose[2])] = True
    # better than the box itself: GrabCut really removed background
    assert _iou(mask, gt) > 0.7 and _iou(mask, gt) > _iou(box_mask, gt) + 0.1


def test_grabcut_box_on_a_large_box_works_on_a_shrunk_crop_and_keeps_the_full_size_mask():
    # an ellipse of 360x300 px on a textured background: the crop is shrunk to 100 px
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 90, (420, 520, 3), dtype=np.uint8)
    gt = np.zeros(frame.shape[:2], np.uint8)
    import cv2
    cv2.ellipse(gt, (260, 210), (180, 150), 0, 0, 360, 1, -1)
    frame[gt > 0] = (200, 60, 40)
    gt = gt > 0
    box = (70, 50, 380, 320)
    small = grabcut_box(frame, box, max_side=100)
    assert small.shape == gt.shape
    ys, xs = np.nonzero(small)
    assert xs.min() >= 70 and xs.max() < 450 and ys.min() >= 50 and ys.max() < 370
    assert _iou(small, gt) > 0.9


def test_grabcut_box_on_a_flat_region_falls_back_to_the_box():
    frame = np.full((60, 80, 3), 128, np.uint8)
    mask = grabcut_box(frame, (10, 10, 20, 15))
    assert mask.sum() == 20 * 15 and mask[10:25, 10:30].all()


def test_csrt_grabcut_tracks_a_synthetic_clip_with_masks_inside_its_box():
    assert trackers.info("csrt-grabcut").produces_masks
    clip = SyntheticClip(num_frames=25, seed=5, deform=0.1, target_size=(56, 42))
    t = trackers.create("csrt-grabcut", device="cpu")
    assert t.produces_masks
    t.init(clip.frame(0), box=clip.box(0))
    ious = []
    for i in range(1, len(clip)):
        r = t.track(clip.frame(i))
        assert r.mask is not None and r.mask.shape == clip.mask(i).shape
        x, y, w, h = r.box
        ys, xs = np.nonzero(r.mask)
        assert xs.min() >= np.floor(x) and xs.max() < np.ceil(x + w) + 1
        assert ys.min() >= np.floor(y) and ys.max() < np.ceil(y + h) + 1
        assert "grabcut" in r.maps
        ious.append(_iou(r.mask, clip.mask(i)))
    assert np.mean(ious) > 0.6
