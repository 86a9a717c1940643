"""GSTP: SiamRCNN heads, anchors and loss, motion HRNet and its inputs, training pairs, the shipped tracker
(whole-frame re-acquisition after the target leaves the view, absence while away, maps, corrections)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import trackers
from trackers.base import BoxSet, ScoreMap, TrackerError
from trackers.data.synthetic import SyntheticClip
from trackers.gstp.features import STRIDE, FrameGeometry
from trackers.gstp.losses import siamrcnn_loss
from trackers.gstp.model import SiamRCNN
from trackers.gstp.motion import MotionHRNet, gaussian_maps, motion_input
from trackers.gstp.motion_data import SyntheticTrajectories
from trackers.gstp.pairs import PairSampler
from trackers.ops import box_iou, iou_xywh

torch.set_num_threads(1)


# --- geometry and model pieces -------------------------------------------------
def test_frame_geometry_grid_covers_resized_frame_and_boxes_round_trip():
    g = FrameGeometry.of(640, 360, 384)
    assert (g.in_width, g.in_height) == (384, 224) and g.grid == (14, 24)
    assert g.in_width % STRIDE == 0 and g.in_height % STRIDE == 0
    box = np.array([100.0, 50.0, 64.0, 32.0])
    np.testing.assert_allclose(g.to_frame(g.to_input(box)), box, rtol=1e-5)
    portrait = FrameGeometry.of(360, 480, 384)
    assert portrait.in_height == 384 and portrait.in_width == 288


def test_anchors_follow_template_shape_and_cell_centres():
    net = SiamRCNN()
    anchors = net.anchors((3, 4), torch.tensor([[40.0, 20.0]]))
    assert anchors.shape == (1, 3 * 4 * net.num_anchors, 4)
    first_cell = anchors[0, :net.num_anchors]
    centres = (first_cell[:, :2] + first_cell[:, 2:]) / 2
    torch.testing.assert_close(centres, torch.full_like(centres, STRIDE / 2))
    # the middle anchor (scale 1, ratio 1) is the template's own size
    mid = first_cell[net.num_anchors // 2]
    torch.testing.assert_close(mid[2:] - mid[:2], torch.tensor([40.0, 20.0]))


def test_rpn_layout_matches_anchor_order():
    torch.manual_seed(0)
    net = SiamRCNN().eval()
    fused = torch.randn(1, 64, 3, 5)
    cls, reg = net.rpn(fused)
    k = net.num_anchors
    assert cls.shape == (1, 3 * 5 * k, 2) and reg.shape == (1, 3 * 5 * k, 4)
    raw = net.rpn_cls(fused)  # (1, 2k, 3, 5): anchor a of cell (i, j) has channels 2a, 2a+1
    i, j, a = 2, 3, 4
    torch.testing.assert_close(cls[0, (i * 5 + j) * k + a], raw[0, 2 * a:2 * a + 2, i, j])


def test_fusion_responds_to_the_template_object():
    """Correlating with the template's own features peaks near the template position (random heads)."""
    torch.manual_seed(0)
    net = SiamRCNN().eval()
    feats = torch.randn(1, 112, 10, 12) * 0.1
    feats[0, :, 4:7, 6:9] += torch.randn(112, 1, 1).abs() * 3  # a distinctive object
    kernel = net.template_kernel(feats, torch.tensor([[6 * 16.0, 4 * 16.0, 9 * 16.0, 7 * 16.0]]))
    x = net.adjust_search(feats)
    corr = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1)).reshape(1, -1, 12, 14),
                                      kernel.reshape(-1, 1, 3, 3), groups=kernel.shape[1]).sum(1)[0]
    r, c = divmod(int(corr.argmax()), corr.shape[1])
    assert 4 <= r <= 6 and 6 <= c <= 8


def _fake_cache(seed: int, n: int = 12, h: int = 12, w: int = 16) -> dict:
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[40.0 + 5 * i, 50.0, 48.0, 40.0] for i in range(n)])
    boxes[3] = float("nan")  # one absent frame
    return {"feats": torch.randn(n, 112, h, w, generator=g).half(), "feat_index": torch.arange(n),
            "boxes": boxes, "thumbs": torch.zeros(n, 64, 64, 3, dtype=torch.uint8), "size": (w * 16, h * 16)}


def test_pairs_keep_target_in_crop_and_loss_trains():
    sampler = PairSampler([_fake_cache(0), _fake_cache(1)], crop=10, seed=0)
    batch = sampler.batch(8)
    assert batch.search.shape == (8, 112, 10, 10) and batch.template.shape == (8, 112, 10, 10)
    present = torch.isfinite(batch.search_box).all(1)
    assert present.any()
    centres = (batch.search_box[present, :2] + batch.search_box[present, 2:]) / 2
    assert (centres >= 0).all() and (centres <= 160).all()
    torch.manual_seed(0)
    net = SiamRCNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    fixed = sampler.batch(4)
    for _ in range(25):
        loss, parts = siamrcnn_loss(net, fixed, gen)
        assert torch.isfinite(loss) and set(parts) == {"rpn_cls", "rpn_reg", "roi_cls", "roi_reg"}
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.75 * np.mean(losses[:3])


# --- motion model ------------------------------------------------------------------
def test_gaussian_maps_peak_where_asked_and_blank_for_unknown():
    maps = gaussian_maps(np.array([[10.5, 20.5], [np.nan, np.nan]]), 64)
    assert maps.shape == (2, 64, 64)
    assert np.unravel_index(maps[0].argmax(), maps[0].shape) == (20, 10) and maps[0].max() == pytest.approx(1.0)
    assert maps[1].max() == 0
    x = motion_input(np.zeros((64, 64, 3), np.uint8), np.array([[5, 5], [6, 6], [7, 7]], np.float32))
    assert x.shape == (6, 64, 64) and np.allclose(x[:3], -1.0)


def test_motion_hrnet_shapes_and_all_branches_matter():
    torch.manual_seed(0)
    net = MotionHRNet(history=4).eval()
    x = torch.randn(2, 7, 64, 64)
    with torch.no_grad():
        out = net(x)
        assert out.shape == (2, 64, 64)
        # the history channels reach the output
        x2 = x.clone()
        x2[:, 3:] = 0
        assert not torch.allclose(net(x2), out)


@pytest.mark.parametrize("kind", SyntheticTrajectories.KINDS)
def test_synthetic_trajectories_target_is_the_current_position(kind):
    s = SyntheticTrajectories(history=8, seed=3)
    x, y = s.sample(kind)
    assert x.shape == (11, 64, 64) and y.shape == (64, 64) and y.max() > 0.9
    known = [k for k in range(8) if x[3 + k].max() > 0.5]
    assert len(known) >= (1 if kind == "gap" else 8)
    # the last known past position is close to the current one (motion is smooth)
    last = np.unravel_index(x[3 + known[-1]].argmax(), (64, 64))
    now = np.unravel_index(y.argmax(), (64, 64))
    assert np.hypot(last[0] - now[0], last[1] - now[1]) < 20


# --- the shipped tracker -----------------------------------------------------------------
def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(TrackerError, match="siamrcnn.pth"):
        trackers.create("gstp", device="cpu", weights=str(tmp_path))


def _reentry_clip() -> SyntheticClip:
    # the target leaves the view for 30 frames (20..49) and comes back ~120 px further along its path
    return SyntheticClip(width=320, height=240, num_frames=66, seed=11, target_size=(44, 34), speed=4.0,
                         exit_frames=(20, 50))


@pytest.fixture(scope="module")
def reentry_run():
    clip = _reentry_clip()
    tracker = trackers.create("gstp", device="cpu")
    tracker.init(clip.frame(0), box=clip.box(0))
    results = {i: tracker.track(clip.frame(i)) for i in range(1, len(clip))}
    return clip, tracker, results


def test_reacquires_target_within_five_frames_of_its_return(reentry_run):
    clip, _, results = reentry_run
    before = [iou_xywh(results[i].box, clip.box(i)) if results[i].box else 0.0 for i in range(1, 20)]
    assert np.mean(before) > 0.5
    assert clip.box(49) is None and clip.box(50) is not None
    back = [i for i in range(50, len(clip)) if results[i].box and iou_xywh(results[i].box, clip.box(i)) > 0.5]
    assert back and back[0] - 50 < 5
    after = [iou_xywh(results[i].box, clip.box(i)) if results[i].box else 0.0 for i in range(back[0], len(clip))]
    assert np.mean(after) > 0.5


def test_reports_absence_while_the_target_is_away(reentry_run):
    clip, _, results = reentry_run
    away = [results[i] for i in range(20, 50)]
    assert all(clip.box(i) is None for i in range(20, 50))
    assert all(r.score < 0.2 for r in away)
    assert sum(r.box is None for r in away) >= 0.9 * len(away)
    present = [results[i].score for i in range(1, 20)]
    assert np.median(present) > 0.5


def test_maps_cover_the_whole_frame(reentry_run):
    clip, _, results = reentry_run
    maps = results[10].maps
    assert {"rpn_objectness", "proposals", "motion_heatmap", "fused"} <= set(maps)
    for name in ("rpn_objectness", "motion_heatmap"):
        assert isinstance(maps[name], ScoreMap) and maps[name].region == (0, 0, clip.spec.width, clip.spec.height)
    assert isinstance(maps["proposals"], BoxSet) and isinstance(maps["fused"], BoxSet)
    assert len(maps["proposals"].boxes) == len(maps["fused"].boxes) > 0
    # the motion heatmap peaks near the target (it has a trajectory by frame 10)
    heat = maps["motion_heatmap"].data
    r, c = np.unravel_index(heat.argmax(), heat.shape)
    x, y, w, h = clip.box(10)
    assert abs((c + 0.5) * clip.spec.width / 64 - (x + w / 2)) < 40
    assert abs((r + 0.5) * clip.spec.height / 64 - (y + h / 2)) < 40


def test_reinit_keeps_first_template_and_resets_history(reentry_run):
    clip, tracker, _ = reentry_run
    first = tracker.templates[0]
    tracker.reinit(clip.frame(60), box=clip.box(60))
    assert len(tracker.templates) == 2 and tracker.templates[0] is first
    assert len(tracker.history) == 1
    r = tracker.track(clip.frame(61))
    assert r.box is not None and iou_xywh(r.box, clip.box(61)) > 0.5


def test_nomotion_variant_has_no_motion_map():
    clip = _reentry_clip()
    tracker = trackers.create("gstp-nomotion", device="cpu")
    tracker.init(clip.frame(0), box=clip.box(0))
    for i in range(1, 4):
        r = tracker.track(clip.frame(i))
    assert "motion_heatmap" not in r.maps and r.box is not None
    assert iou_xywh(r.box, clip.box(3)) > 0.5


def test_trunk_appearance_scores_the_template_box_highest_and_roihead_ablation_tracks():
    """The default appearance score is the trunk similarity to the templates: the template box on its
    own frame scores ~1, a box elsewhere less; the paper's RoI-head scoring stays available."""
    from trackers.gstp.tracker import trunk_descriptors

    clip = _reentry_clip()
    tracker = trackers.create("gstp", device="cpu")
    frame = clip.frame(0)
    tracker.init(frame, box=clip.box(0))
    assert tracker.appearance == "trunk" and len(tracker.descriptors) == 1
    g = tracker.encoder.geometry(frame)
    feats = tracker.encoder(frame)
    x, y, w, h = clip.box(0)
    boxes = torch.from_numpy(g.to_input(np.array([[x, y, w, h], [x + 3 * w, y, w, h]], np.float32)))
    sims = (trunk_descriptors(feats, boxes) @ tracker.descriptors[0].T)[:, 0]
    assert float(sims[0]) == pytest.approx(1.0, abs=1e-4) and float(sims[1]) < 0.95
    r = tracker.track(clip.frame(1))
    assert "similarity" in r.maps["proposals"].description
    assert np.all((r.maps["proposals"].scores >= 0) & (r.maps["proposals"].scores <= 1))

    head = trackers.create("gstp-roihead", device="cpu")
    assert head.appearance == "head" and head.absent_threshold == 0.5
    head.init(frame, box=clip.box(0))
    for i in range(1, 4):
        r = head.track(clip.frame(i))
    assert "RoI-head" in r.maps["proposals"].description
    assert r.box is not None and iou_xywh(r.box, clip.box(3)) > 0.5
    with pytest.raises(TrackerError):
        trackers.create("gstp", device="cpu", appearance="colour")


def test_small_targets_get_a_larger_working_resolution_kept_through_corrections():
    tracker = trackers.create("gstp", device="cpu")
    frame = np.zeros((272, 640, 3), np.uint8)
    assert tracker.working_long_side(frame, (300, 100, 120, 80)) == 384          # big enough at 384
    # 43x27 px (vot2014-car's size): enlarged so its mean side is ~32 input px, capped at the frame's own size
    side = tracker.working_long_side(frame, (6, 166, 43, 27))
    assert 560 < side <= 640
    assert tracker.working_long_side(frame, (6, 166, 4, 3)) == 640
    frames = np.random.default_rng(0).integers(0, 255, (2, 480, 640, 3), dtype=np.uint8)
    tracker.init(frames[0], box=(100.0, 100.0, 24.0, 20.0))
    enlarged = tracker.encoder.long_side
    assert enlarged > 384
    tracker.reinit(frames[1], box=(100.0, 100.0, 120.0, 100.0))
    assert tracker.encoder.long_side == enlarged        # the first template's scale stays
    tracker.init(frames[1], box=(100.0, 100.0, 120.0, 100.0))
    assert tracker.encoder.long_side == 384


def test_sharpness_must_be_positive():
    with pytest.raises(TrackerError, match="sharpness"):
        trackers.create("gstp", device="cpu", sharpness=0.0)
