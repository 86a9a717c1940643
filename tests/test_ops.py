"""trackers.ops checked against straightforward reference computations."""
import math

import numpy as np
import pytest
import torch

from trackers import ops


def _bilinear_zero_pad(fmap: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Reference bilinear sample of (C, H, W) at continuous cell coords; missing neighbours are 0."""
    c, h, w = fmap.shape
    y0, x0 = math.floor(y), math.floor(x)
    out = torch.zeros(c, dtype=torch.float64)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * fmap[:, yy, xx].double()
    return out


def _roi_align_loop(features, rois, out, scale, sr):
    k = len(rois)
    c = features.shape[1]
    res = torch.zeros(k, c, out, out, dtype=torch.float64)
    for r in range(k):
        b, x0, y0, x1, y1 = rois[r].tolist()
        x0, y0, x1, y1 = (v * scale - 0.5 for v in (x0, y0, x1, y1))
        bw, bh = (x1 - x0) / out, (y1 - y0) / out
        for i in range(out):
            for j in range(out):
                acc = torch.zeros(c, dtype=torch.float64)
                for a in range(sr):
                    for s in range(sr):
                        y = y0 + (i + (a + 0.5) / sr) * bh
                        x = x0 + (j + (s + 0.5) / sr) * bw
                        acc += _bilinear_zero_pad(features[int(b)], y, x)
                res[r, :, i, j] = acc / sr ** 2
    return res


def test_roi_align_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 9, 11, generator=g)
    rois = torch.tensor([[0, 4.0, 4.0, 30.0, 20.0],      # inside
                         [1, -6.0, -3.0, 12.0, 14.0],    # partly outside: zero padding
                         [1, 10.3, 7.7, 13.1, 30.9]])    # thin, crosses the bottom edge
    got = ops.roi_align(feats, rois, 4, spatial_scale=0.25, sampling_ratio=2)
    want = _roi_align_loop(feats, rois, 4, 0.25, 2)
    assert got.shape == (3, 3, 4, 4)
    assert torch.allclose(got.double(), want, atol=1e-5)


def test_roi_align_constant_map_and_xyxy_rows():
    feats = torch.full((1, 2, 8, 8), 3.0)
    rois = torch.tensor([[8.0, 8.0, 24.0, 24.0]])   # (K, 4): batch 0, well inside
    assert torch.allclose(ops.roi_align(feats, rois, 3, spatial_scale=0.25), torch.full((1, 2, 3, 3), 3.0))


def _nms_brute(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    keep = []
    for i in order:
        if all(float(ops.box_iou(boxes[i:i + 1], boxes[k:k + 1])) <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (40, 2))
    wh = rng.uniform(5, 30, (40, 2))
    boxes = torch.tensor(np.concatenate([xy, xy + wh], 1), dtype=torch.float32)
    scores = torch.tensor(rng.random(40), dtype=torch.float32)
    keep = ops.nms(boxes, scores, 0.4).tolist()
    assert keep == _nms_brute(boxes, scores, 0.4)
    assert 1 < len(keep) < 40


def test_box_conversions_round_trip():
    xywh = torch.tensor([[10.0, 20.0, 30.0, 40.0], [0.5, 1.5, 2.0, 3.0]])
    xyxy = ops.xywh_to_xyxy(xywh)
    assert torch.equal(xyxy[0], torch.tensor([10.0, 20.0, 40.0, 60.0]))
    assert torch.allclose(ops.xyxy_to_xywh(xyxy), xywh)
    assert torch.allclose(ops.cxcywh_to_xyxy(ops.xyxy_to_cxcywh(xyxy)), xyxy)


def test_anchor_deltas_round_trip_and_identity():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 50.0, 30.0]])
    boxes = torch.tensor([[2.0, -1.0, 14.0, 25.0], [7.0, 9.0, 40.0, 33.0]])
    deltas = ops.encode_deltas(boxes, anchors, weights=(10, 10, 5, 5))
    assert torch.allclose(ops.decode_deltas(deltas, anchors, weights=(10, 10, 5, 5)), boxes, atol=1e-4)
    assert torch.allclose(ops.encode_deltas(anchors, anchors), torch.zeros(2, 4))


def test_ltrb_distances_round_trip():
    points = torch.tensor([[15.0, 25.0], [0.0, 0.0]])
    box = torch.tensor([[10.0, 20.0, 40.0, 60.0]])
    ltrb = ops.ltrb_distances(points, box)
    assert torch.equal(ltrb[0], torch.tensor([5.0, 5.0, 25.0, 35.0]))
    assert (ltrb[1, :2] < 0).all()          # a point outside the box has negative distances
    assert torch.allclose(ops.boxes_from_ltrb(points, ltrb), box.expand(2, 4))


def test_box_iou_and_iou_xywh():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    assert torch.allclose(ops.box_iou(a, b), torch.tensor([[50 / 150, 0.0]]))
    assert ops.iou_xywh((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_dw_xcorr_matches_loop():
    g = torch.Generator().manual_seed(1)
    search = torch.randn(2, 3, 7, 8, generator=g)
    kernel = torch.randn(2, 3, 3, 2, generator=g)
    got = ops.dw_xcorr(search, kernel)
    want = torch.zeros(2, 3, 5, 7)
    for n in range(2):
        for c in range(3):
            for i in range(5):
                for j in range(7):
                    want[n, c, i, j] = (search[n, c, i:i + 3, j:j + 2] * kernel[n, c]).sum()
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(ops.xcorr(search, kernel), want.sum(1, keepdim=True), atol=1e-5)


def test_gaussian_label_peak_and_width():
    lab = ops.gaussian_label((9, 11), torch.tensor([18.0, 10.0]), sigma=4.0, stride=4.0, offset=2.0)
    assert lab.shape == (9, 11)
    i, j = np.unravel_index(int(lab.argmax()), lab.shape)
    assert (2 + 4 * j, 2 + 4 * i) == (18, 10)
    assert float(lab.max()) == pytest.approx(1.0)
    # one cell (4 px = one sigma) away the value is exp(-1/2)
    assert float(lab[i, j + 1]) == pytest.approx(math.exp(-0.5), rel=1e-5)
    batch = ops.gaussian_label((5, 5), torch.tensor([[0.0, 0.0], [4.0, 4.0]]), sigma=1.0)
    assert batch.shape == (2, 5, 5) and float(batch[1, 4, 4]) == pytest.approx(1.0)


def _checker_frame(h=120, w=160):
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.zeros((h, w, 3), np.uint8)
    frame[..., 0] = (xx * 1.5).astype(np.uint8)
    frame[..., 1] = (yy * 2).astype(np.uint8)
    frame[..., 2] = ((xx // 8 + yy // 8) % 2 * 200).astype(np.uint8)
    return frame


def test_crop_and_resize_maps_back_to_frame():
    frame = _checker_frame()
    box = (60.0, 40.0, 20.0, 20.0)
    patch, t = ops.crop_and_resize(frame, box, context=2.0, out_size=80)
    assert patch.shape == (80, 80, 3)
    assert t.region == pytest.approx((50.0, 30.0, 40.0, 40.0))
    # scale 2: patch pixel centre (2j + 1.5) ... check the box maps to patch and back
    pbox = t.box_to_patch(box)
    assert pbox == pytest.approx((20.0, 20.0, 40.0, 40.0))
    assert t.box_to_frame(pbox) == pytest.approx(box)
    # pixel content: patch pixel (row 41, col 21) covers frame point (50 + 21.5/2, 30 + 41.5/2)
    fx, fy = t.points_to_frame(np.array([21.5, 41.5]))
    assert (fx, fy) == pytest.approx((60.75, 50.75))
    assert abs(int(patch[41, 21, 0]) - 1.5 * (fx - 0.5)) <= 1.5   # the red ramp is 1.5 * column index
    assert abs(int(patch[41, 21, 1]) - 2.0 * (fy - 0.5)) <= 1.5


def test_crop_outside_frame_is_padded_and_shrink_path_is_aligned():
    frame = _checker_frame()
    patch, t = ops.crop_and_resize(frame, (-30.0, -30.0, 20.0, 20.0), context=2.0, out_size=40,
                                   pad_value=(7, 7, 7))
    assert (patch[:5, :5] == 7).all()            # the top-left lies outside the frame
    # a large crop shrunk 4x: uses the pre-shrink path; the ramps must still line up
    patch, t = ops.crop_and_resize(frame, (40.0, 20.0, 80.0, 80.0), context=1.0, out_size=20)
    fx, fy = t.points_to_frame(np.array([10.5, 10.5]))
    assert abs(int(patch[10, 10, 1]) - 2.0 * (fy - 0.5)) <= 3
    assert abs(int(patch[10, 10, 0]) - 1.5 * (fx - 0.5)) <= 3


def test_clip_to_frame_keeps_a_pixel_inside():
    from trackers.ops.boxes import clip_to_frame

    assert clip_to_frame((-5, -5, 20, 10), 100, 50) == (0.0, 0.0, 15.0, 5.0)
    assert clip_to_frame((200, 10, 30, 30), 100, 50) == (99.0, 10.0, 1.0, 30.0)
    assert clip_to_frame((10, 10, 5, 5), 100, 50) == (10.0, 10.0, 5.0, 5.0)


def test_roi_descriptors_are_unit_rows_of_roi_align():
    from trackers.ops import roi_align, roi_descriptors

    feats = torch.rand(1, 6, 12, 16)
    boxes = torch.tensor([[8.0, 8.0, 40.0, 56.0], [64.0, 16.0, 120.0, 80.0]])
    d = roi_descriptors(feats, boxes, 1.0 / 8, size=3)
    assert d.shape == (2, 6 * 9)
    torch.testing.assert_close(d.norm(dim=1), torch.ones(2))
    rois = torch.cat([torch.zeros(2, 1), boxes], 1)
    raw = roi_align(feats, rois, 3, 1.0 / 8).flatten(1)
    torch.testing.assert_close(d, raw / raw.norm(dim=1, keepdim=True))
    assert float(d[0] @ d[0]) == pytest.approx(1.0) and float(d[0] @ d[1]) < 1.0
