"""Pixel-wise tracker: ConvLSTM, M-CNN, losses, geometry, and the shipped weights on a synthetic clip."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from trackers.data.synthetic import SyntheticClip
from trackers.ops import crop_square, warp_crop
from trackers.pixelwise import data as D
from trackers.pixelwise.convlstm import ConvLSTM, ConvLSTMCell
from trackers.pixelwise.core import paste_roi, weighted_centroid
from trackers.pixelwise.global_model import (BURN_IN, GlobalModel, global_loss, render_anchor, roi_from_theta,
                                             theta_from_box)
from trackers.pixelwise.core import PixelwiseCore
from trackers.pixelwise.local_model import (FEAT_SIZE, HIDDEN, ROI_SIZE, LocalModel, local_loss, match_maps,
                                            reference_cells, total_variation)
from trackers.pixelwise.weights import DEFAULT_WEIGHTS, PixelwiseNet


def test_convlstm_cell_shapes_and_state_carry():
    torch.manual_seed(0)
    cell = ConvLSTMCell(5, 7, (6, 6))
    x = torch.randn(2, 5, 6, 6)
    h, c = cell(x, cell.zero_state(2))
    assert h.shape == c.shape == (2, 7, 6, 6)
    assert h.abs().max() < 1                          # o * tanh(c)
    # the state carries: the same input after a different history gives a different output
    h2, c2 = cell(x, (h, c))
    h2b, _ = cell(x, cell.zero_state(2))
    assert not torch.allclose(h2, h2b)
    assert torch.allclose(h2b, h)                     # and the cell is a pure function of (x, state)
    with pytest.raises(ValueError):
        cell(torch.randn(1, 5, 7, 7), cell.zero_state(1))
    stack = ConvLSTM(5, 7, (6, 6), layers=2)
    out, state = stack(x, stack.zero_state(2))
    assert out.shape == (2, 7, 6, 6) and len(state) == 2 and torch.equal(out, state[1][0])


def test_mcnn_initial_state_from_a_mask():
    torch.manual_seed(0)
    model = LocalModel()
    feats = torch.randn(2, 112, FEAT_SIZE, FEAT_SIZE) * 3
    mask = torch.zeros(2, 1, ROI_SIZE, ROI_SIZE)
    mask[:, :, 60:130, 50:140] = 1
    state = model.init_state(feats, mask)
    assert len(state.lstm) == 2
    for h, c in state.lstm:
        assert h.shape == c.shape == (2, HIDDEN, FEAT_SIZE, FEAT_SIZE)
        for s in (h, c):
            assert s.min() >= -1 and s.max() <= 1          # tanh output
    # the mask matters: another mask, another memory
    other = model.init_state(feats, torch.roll(mask, 40, dims=-1))
    assert not torch.allclose(state.lstm[1][1], other.lstm[1][1])
    logits, _ = model.step(feats, state)
    assert logits.shape == (2, 1, ROI_SIZE, ROI_SIZE)


def test_fine_local_model_runs_on_the_stride8_grid():
    torch.manual_seed(0)
    model = LocalModel(fine=True)
    feats, fine = torch.randn(2, 112, FEAT_SIZE, FEAT_SIZE), torch.randn(2, 40, 2 * FEAT_SIZE, 2 * FEAT_SIZE)
    mask = torch.zeros(2, 1, ROI_SIZE, ROI_SIZE)
    mask[:, :, 60:130, 50:140] = 1
    state = model.init_state(feats, mask, fine)
    assert state.lstm[0][0].shape == (2, HIDDEN, 2 * FEAT_SIZE, 2 * FEAT_SIZE)
    assert state.fine_ref.shape == (2, 40, 4 * FEAT_SIZE ** 2) and state.fine_fg.any()
    assert model.inputs(feats, state, fine).shape == (2, 8, 2 * FEAT_SIZE, 2 * FEAT_SIZE)
    logits, state2, coarse = model.step(feats, state, coarse=True, fine=fine)
    assert logits.shape == (2, 1, ROI_SIZE, ROI_SIZE) and coarse.shape == (2, 1, 2 * FEAT_SIZE, 2 * FEAT_SIZE)
    assert state2.fine_ref is state.fine_ref
    seq = model(feats, mask, feats[:, None].repeat(1, 3, 1, 1, 1), fine0=fine,
                fine=fine[:, None].repeat(1, 3, 1, 1, 1))
    assert seq.shape == (2, 3, 1, ROI_SIZE, ROI_SIZE)
    # the packed weights say which kind of model they hold
    from trackers.pixelwise.weights import is_fine
    assert is_fine(PixelwiseNet(fine=True).state_dict()) and not is_fine(PixelwiseNet().state_dict())


def test_match_maps_compare_each_cell_with_the_first_rois_object_and_background():
    torch.manual_seed(0)
    ref_feats = torch.randn(1, 112, 4, 4)
    grid = torch.zeros(1, 1, 4, 4)
    grid[..., 1:3, 1:3] = 1.0                      # object on the 4 centre cells
    ref, fg = reference_cells(ref_feats, grid)
    assert fg.sum() == 4 and fg[0, 5] and not fg[0, 0]
    cur = torch.randn(1, 112, 4, 4)
    cur[..., 0, 0] = ref_feats[..., 1, 1] * 3      # an object cell reappears (scaled: cosine ignores it)
    cur[..., 3, 3] = ref_feats[..., 0, 3]          # a background cell reappears
    m = match_maps(cur, ref, fg)
    assert m.shape == (1, 4, 4, 4)
    assert m[0, 0, 0, 0] == pytest.approx(1.0, abs=1e-5) and m[0, 1, 0, 0] < 0.5
    assert m[0, 1, 3, 3] == pytest.approx(1.0, abs=1e-5) and m[0, 0, 3, 3] < 0.5
    # a small object covering no cell by half still has object cells (its best-covered ones)
    small = torch.zeros(1, 1, 4, 4)
    small[..., 2, 2] = 0.3
    assert reference_cells(ref_feats, small)[1].sum() == 1


def test_local_loss_is_eq2():
    logits = torch.zeros(1, 2, 1, 8, 8)
    target = torch.zeros(1, 2, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    loss, parts = local_loss(logits, target, tv_lambda=0.0)
    assert loss.item() == pytest.approx(64 * np.log(2), rel=1e-5)      # summed over pixels, mean over frames
    square = torch.zeros(8, 8)
    square[2:6, 2:6] = 1
    assert total_variation(square).item() == 16                         # perimeter of a 4x4 square
    big = torch.full((1, 1, 1, 8, 8), -30.0)
    big[..., ::2, :] = 30.0                                             # stripes: TV = 7 * 8 = 56
    _, p = local_loss(big, torch.zeros_like(big), tv_lambda=1.0, tv_beta=10.0)
    l1, _ = local_loss(big, torch.zeros_like(big), tv_lambda=1.0, tv_beta=10.0)
    l0, _ = local_loss(big, torch.zeros_like(big), tv_lambda=0.0)
    assert p["tv"] == pytest.approx(56, rel=1e-3) and (l1 - l0).item() == pytest.approx(10.0, rel=1e-4)  # min(beta, V)


def test_theta_geometry_round_trip_and_anchor_render():
    W, H = 640, 360
    box = (300.0, 100.0, 80.0, 50.0)
    th = theta_from_box(box, W, H)
    (cx, cy), side = roi_from_theta(th, W, H)
    assert (cx, cy) == pytest.approx((340, 125), abs=1e-3) and side == pytest.approx(160, rel=1e-4)
    anchor = render_anchor(torch.tensor(th), torch.tensor(W / H), 64).numpy()
    ys, xs = np.nonzero(anchor > 0.5)
    # a square of 80 px: 8 of 64 columns of a 640-wide frame, 14 of 64 rows of a 360-high frame
    assert abs((xs.max() - xs.min() + 1) - 8) <= 1 and abs((ys.max() - ys.min() + 1) - 14) <= 1
    assert abs(xs.mean() - 340 / 10 + 0.5) < 1 and abs(ys.mean() - 125 / (360 / 64) + 0.5) < 1


def test_global_model_shapes_and_loss_counts_after_burn_in():
    torch.manual_seed(0)
    model = GlobalModel()
    maps = torch.rand(2, 6, 1, model.map_size, model.map_size)
    aspect = torch.tensor([1.5, 0.75])
    thetas = model(maps, aspect, warmup=BURN_IN)
    assert thetas.shape == (2, BURN_IN + 6, 3)
    targets = torch.zeros(2, BURN_IN + 6, model.map_size, model.map_size)
    tt = torch.zeros(2, BURN_IN + 6, 3)
    valid = torch.ones(2, BURN_IN + 6, dtype=torch.bool)
    loss, _ = global_loss(thetas, targets, tt, aspect, valid)
    # changing a burn-in prediction does not change the loss; changing a later one does
    early, late = thetas.clone(), thetas.clone()
    early[:, 0] += 5
    late[:, BURN_IN + 2] += 5
    assert global_loss(early, targets, tt, aspect, valid)[0].item() == pytest.approx(loss.item(), rel=1e-6)
    assert global_loss(late, targets, tt, aspect, valid)[0].item() > loss.item() + 0.1


def test_paste_roi_inverts_the_crop_and_centroid_is_eq5():
    mask = np.zeros((120, 200), bool)
    mask[40:70, 90:130] = True
    t = crop_square((110, 55), 80, 64)
    roi = D.crop_mask(mask, t).astype(np.float32)
    back = paste_roi(roi, t, 120, 200) > 0.5
    assert (back & mask).sum() / (back | mask).sum() > 0.9
    cx, cy = weighted_centroid(roi, t)
    assert cx == pytest.approx(110, abs=1.0) and cy == pytest.approx(55, abs=1.0)


def test_step4_replaces_one_roi_with_another_clip_and_zero_target():
    rng = np.random.default_rng(0)

    def seq(value, n=12):
        return {"feats": torch.full((n, 112, FEAT_SIZE, FEAT_SIZE), float(value)).half(),
                "targets": torch.ones(n, ROI_SIZE, ROI_SIZE, dtype=torch.bool),
                "index": torch.tensor([i // 2 for i in range(n)]), "centred": torch.tensor([i % 2 == 1 for i in range(n)])}

    seqs = [seq(1), seq(2)]
    wins = [D.windows(s, 3) for s in seqs]
    assert all(wins)
    f0, m0, fs, ts = D.draw_local_batch(seqs, wins, 6, rng, replace=True)
    assert fs.shape == (6, 3, 112, FEAT_SIZE, FEAT_SIZE) and ts.shape == (6, 3, 1, ROI_SIZE, ROI_SIZE)
    for b in range(6):
        own = f0[b, 0, 0, 0]
        foreign = [t for t in range(3) if fs[b, t, 0, 0, 0] != own]
        assert len(foreign) == 1 and ts[b, foreign[0]].sum() == 0
        assert all(ts[b, t].all() for t in range(3) if t != foreign[0])
    # with the stride-8 features: the same draws, and the fine features swapped with the coarse ones
    for k, s in enumerate(seqs):
        s["feats_fine"] = torch.full((12, 40, 2 * FEAT_SIZE, 2 * FEAT_SIZE), 10.0 + k).half()
    plain = D.draw_local_batch(seqs, wins, 6, np.random.default_rng(1), replace=True)
    f0, m0, fs, ts, g0, gs = D.draw_local_batch(seqs, wins, 6, np.random.default_rng(1), replace=True, fine=True)
    assert torch.equal(fs, plain[2]) and gs.shape == (6, 3, 40, 2 * FEAT_SIZE, 2 * FEAT_SIZE)
    assert torch.equal(gs[:, :, 0, 0, 0] - 10, fs[:, :, 0, 0, 0] - 1) and torch.equal(g0[:, 0, 0, 0] - 10, f0[:, 0, 0, 0] - 1)


class _FakeTrunk:
    def __call__(self, x):
        return {16: torch.zeros(len(x), 112, FEAT_SIZE, FEAT_SIZE)}


def _core_with_local_output(logit: float, **guards):
    """A core whose local model outputs a constant logit over the ROI (no weights needed)."""
    torch.manual_seed(0)
    net = PixelwiseNet().eval()
    net.local.step = lambda feats, state: (torch.full((1, 1, ROI_SIZE, ROI_SIZE), logit), state)
    return PixelwiseCore(net, _FakeTrunk(), "2stage", **guards)


def test_collapse_guard_steers_with_the_last_trusted_map():
    frame = np.full((120, 160, 3), 90, np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[40:80, 60:100] = True
    for collapse, kept in ((0.0, False), (0.3, True)):
        core = _core_with_local_output(-30.0, collapse=collapse)     # the local model loses the object
        core.start(frame, mask)
        first_map = core.prev_map.clone()
        out = core.step(frame)
        assert not out.mask.any()                                   # the empty mask is still reported
        assert torch.equal(core.prev_map, first_map) == kept        # ... but only steers without the guard
    assert core.trusted_area == pytest.approx(mask.sum() * PixelwiseCore.COLLAPSE_DECAY)


def test_min_roi_guard_bounds_the_roi_side_by_the_first_one():
    frame = np.full((240, 320, 3), 90, np.uint8)
    mask = np.zeros((240, 320), bool)
    mask[100:140, 140:180] = True
    core = _core_with_local_output(-30.0, min_roi=0.9)
    core.start(frame, mask)
    core.theta_old[2] -= 3.0                   # as if the previous frames had shrunk the anchor 20-fold
    core.net.global_.step = lambda m, a, s: (torch.tensor(core.theta_old)[None], s)
    out = core.step(frame)
    assert out.roi.out_size / out.roi.scale >= 0.9 * core.fixed_side - 1e-6
    with pytest.raises(ValueError):
        PixelwiseCore(core.net, _FakeTrunk(), "2stage", collapse=1.5)


def test_memory_refresh_replaces_the_memory_at_the_trained_ages():
    frame = np.full((120, 160, 3), 90, np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[40:80, 60:100] = True
    ages = {}
    for refresh, replay in ((0, 0), (2, 1)):
        torch.manual_seed(0)
        core = PixelwiseCore(PixelwiseNet().eval(), _FakeTrunk(), "1stage", refresh=refresh, replay=replay)
        core.start(frame, mask)
        ages[refresh] = []
        for _ in range(7):
            core.step(frame)
            ages[refresh].append(core.memory_age)
    assert ages[0] == [1, 2, 3, 4, 5, 6, 7]
    # a memory makes masks at ages replay + 1 .. replay + refresh (the first one from age 1)
    assert ages[2] == [1, 2, 3, 2, 3, 2, 3]
    with pytest.raises(ValueError):
        PixelwiseCore(core.net, _FakeTrunk(), "1stage", refresh=-1)


def test_check_closed_parses_tracker_parameters():
    from trackers.pixelwise.check import _value
    assert _value("4") == 4 and isinstance(_value("4"), int)
    assert _value("0.7") == 0.7 and _value("8:0.003") == (8, 0.003)


# -- the shipped weights ------------------------------------------------------------------------
def test_shipped_weights_load_strict_with_weights_only():
    state = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    net = PixelwiseNet()
    missing, unexpected = net.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    assert os.path.getsize(DEFAULT_WEIGHTS) < 8e6
    # not random: the trained heads differ from a fresh initialisation
    fresh = PixelwiseNet().state_dict()
    assert not torch.allclose(state["local.fcnn.0.weight"].float(), fresh["local.fcnn.0.weight"])


def _track(name, clip, **init):
    import trackers
    t = trackers.create(name, device="cpu")
    t.init(clip.frame(0), **init)
    ious, results = [], []
    for i in range(1, len(clip)):
        r = t.track(clip.frame(i))
        gt = clip.mask(i)
        u = (r.mask | gt).sum()
        ious.append((r.mask & gt).sum() / u if u else 1.0)
        results.append(r)
    return np.array(ious), results


def test_pixelwise_keeps_a_deforming_objects_mask():
    import trackers
    assert trackers.info("pixelwise").produces_masks and trackers.info("pixelwise-1stage").produces_masks
    clip = SyntheticClip(deform=0.15, num_frames=20, seed=0)
    ious, results = _track("pixelwise", clip, mask=clip.mask(0))
    assert ious.mean() > 0.6, ious
    r = results[-1]
    assert r.mask.dtype == bool and r.mask.shape == clip.mask(0).shape
    assert r.box is not None and 0 <= r.score <= 1
    assert r.maps["roi_probability"].data.shape == (ROI_SIZE, ROI_SIZE)
    assert r.maps["global_attention"].region == (0, 0, 320, 240)
    # the mask lies inside the ROI the tracker reports (nothing is segmented outside it)
    x, y, w, _ = r.maps["roi_probability"].region
    ys, xs = np.nonzero(r.mask)
    assert xs.min() >= np.floor(x) and xs.max() <= np.ceil(x + w)


def test_pixelwise_from_a_box_uses_grabcut_and_reinit_restarts_from_the_mask():
    import trackers
    clip = SyntheticClip(deform=0.15, num_frames=8, seed=1)
    t = trackers.create("pixelwise-1stage", device="cpu")
    t.init(clip.frame(0), box=clip.box(0))
    r = t.track(clip.frame(1))
    assert r.mask.any() and "global_attention" not in r.maps
    t.reinit(clip.frame(4), mask=clip.mask(4))
    r = t.track(clip.frame(5))
    gt = clip.mask(5)
    assert (r.mask & gt).sum() / (r.mask | gt).sum() > 0.5
