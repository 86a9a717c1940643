"""ROLO: LSTM shapes/state and anchors, heatmap<->box, §II-B assignment, shipped weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trackers.data.synthetic import SyntheticClip
from trackers.rolo.assignment import DetectionAssigner
from trackers.rolo.geometry import box_to_heatmap, heatmap_to_box
from trackers.rolo.kalman import ConstantVelocityKalman
from trackers.rolo.lstm import RoloLSTM, location_input, paint_heatmaps
from trackers.rolo.weights import default_path, load_weights

torch.set_num_threads(1)


# --- LSTM ------------------------------------------------------------------
@pytest.mark.parametrize("variant,out_dim", [("coords", 4), ("heatmap", 1024)])
def test_lstm_shapes_and_state_carry(variant, out_dim):
    torch.manual_seed(0)
    model = RoloLSTM(variant, feature_dim=256, hidden=32).eval()
    torch.nn.init.normal_(model.head.weight, std=0.5)  # the coordinate head starts at zero (output = prev)
    batch, steps = 3, 6
    feats = torch.randn(batch, steps, 256)
    det = torch.rand(batch, steps, 4) * 0.5 + 0.25
    prev = torch.rand(batch, steps, 4) * 0.5 + 0.25
    has = torch.tensor([[1, 1, 0, 0, 1, 0]] * batch, dtype=torch.float32)
    loc = location_input(variant, det, has, torch.full((batch, steps), 0.9), prev)
    with torch.no_grad():
        out = model(feats, loc, prev)
        assert out.shape == (batch, steps, out_dim)
        # stepping with a carried state gives exactly the window's outputs
        state = model.zero_state(batch)
        full_loc = model.with_motion(loc, prev)
        for t in range(steps):
            step_out, state = model.step(feats[:, t], full_loc[:, t], prev[:, t], state)
            torch.testing.assert_close(step_out, out[:, t])
        # the state really carries information: a different history changes the last output
        other = model(feats.flip(1), loc, prev)
        assert not torch.allclose(other[:, -1], out[:, -1])


@pytest.mark.parametrize("carry,expected_x", [("hold", 0.44), ("velocity", 0.48), ("predict", 0.48)])
def test_coordinate_lstm_anchor_without_detection(carry, expected_x):
    """An untrained head (zero) shows the anchor: with no detection, 'hold' keeps the previous
    output, 'velocity' moves it on by its last motion; a detection overrides both."""
    model = RoloLSTM("coords", feature_dim=8, hidden=8, carry=carry).eval()
    prev = torch.tensor([[[0.36, 0.5, 0.1, 0.1], [0.40, 0.5, 0.1, 0.1], [0.44, 0.5, 0.1, 0.1]]])
    det = torch.tensor([[[0.40, 0.5, 0.1, 0.1], [0.44, 0.5, 0.1, 0.1], [0.2, 0.3, 0.1, 0.1]]])
    for has, x in ((torch.tensor([[1.0, 1.0, 0.0]]), expected_x), (torch.ones(1, 3), 0.2)):
        loc = location_input("coords", det, has, torch.full((1, 3), 0.9), prev)
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 8), loc, prev)[0, -1]
        assert float(out[0]) == pytest.approx(x, abs=1e-5)
        torch.testing.assert_close(out[2:], torch.tensor([0.1, 0.1]))


def test_predict_carry_uses_the_window_mean_motion():
    """'predict' extrapolates with the window's mean motion, not the last (jittery) step, and the
    detection still overrides the anchor."""
    prev = torch.tensor([[[0.36, 0.5, 0.1, 0.1], [0.42, 0.5, 0.1, 0.1], [0.44, 0.5, 0.1, 0.1]]])
    det = torch.tensor([[[0.40, 0.5, 0.1, 0.1], [0.44, 0.5, 0.1, 0.1], [0.2, 0.3, 0.1, 0.1]]])
    expected = {"velocity": 0.46, "predict": 0.48}
    for carry, x in expected.items():
        model = RoloLSTM("coords", feature_dim=8, hidden=8, carry=carry).eval()
        for has, want in ((torch.tensor([[1.0, 1.0, 0.0]]), x), (torch.ones(1, 3), 0.2)):
            loc = location_input("coords", det, has, torch.full((1, 3), 0.9), prev)
            with torch.no_grad():
                out = model(torch.zeros(1, 3, 8), loc, prev)[0, -1]
            assert float(out[0]) == pytest.approx(want, abs=1e-5)
            assert float(out[1]) == pytest.approx(0.5 if has[0, -1] == 0 else 0.3, abs=1e-5)
    # 'filter' is always anchored on the prediction: an untrained head ignores even a detection
    model = RoloLSTM("coords", feature_dim=8, hidden=8, carry="filter").eval()
    for has in (torch.tensor([[1.0, 1.0, 0.0]]), torch.ones(1, 3)):
        loc = location_input("coords", det, has, torch.full((1, 3), 0.9), prev)
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 8), loc, prev)[0, -1]
        assert float(out[0]) == pytest.approx(0.48, abs=1e-5) and float(out[1]) == pytest.approx(0.5, abs=1e-5)


def test_fit_motion_fits_the_detections_and_freezes_in_a_gap():
    """The coast carry's velocity: a least-squares line through the detections' centres, refitted
    only on frames with a detection, so a gap keeps the velocity the track had."""
    from trackers.rolo.motion import MOTION_SPAN, fit_motion
    t = torch.arange(8, dtype=torch.float32)
    det = torch.stack([0.2 + 0.01 * t, 0.5 - 0.005 * t, torch.full_like(t, 0.1), torch.full_like(t, 0.1)], -1)[None]
    det[0, 3, 0] += 0.02  # one noisy detection: a residual, the slope barely moves
    motion = fit_motion(det, torch.ones(1, 8), torch.zeros(1, 4), offset_scale=10.0)[0]
    assert float(motion[0]) == pytest.approx(0.1, abs=0.01) and float(motion[1]) == pytest.approx(-0.05, abs=1e-4)
    assert float(motion[2]) > 0.01 and float(motion[3]) == 0.0
    # no detection this frame (or too few in the span): the previous motion is kept, the gap counted
    previous = torch.tensor([[0.3, 0.0, 0.2, 0.0]])
    gap = torch.tensor([[1.0] * 5 + [0.0] * 3])
    held = fit_motion(det, gap, previous, offset_scale=10.0)[0]
    torch.testing.assert_close(held, torch.tensor([0.3, 0.0, 0.2, 3 / MOTION_SPAN]))
    sparse = torch.tensor([[0.0] * 6 + [1.0, 1.0]])
    torch.testing.assert_close(fit_motion(det, sparse, previous, 10.0)[0, :3], previous[0, :3])


def _scripted_core(monkeypatch, script, **core_kwargs):
    """RoloCore whose detector returns the scripted (candidates, scores) frame after frame, with an
    untrained (zero-correction) coast-carry LSTM: what it outputs is the carry itself."""
    import trackers.rolo.core as core_module
    from trackers.rolo.detector import TemplateDetector

    detector = TemplateDetector()
    monkeypatch.setattr(detector, "template", lambda feats, box: torch.zeros(1))
    monkeypatch.setattr(detector, "forward", lambda feats, kernel: script.pop(0))
    monkeypatch.setattr(core_module, "candidates", lambda raw, wh, top_k: raw)
    monkeypatch.setattr(core_module, "frame_vector", lambda feats, raw: torch.zeros(1, 256))
    lstm = RoloLSTM("coords", feature_dim=256, hidden=8, carry="coast")
    return core_module.RoloCore(detector, lstm, step=6, **core_kwargs)


def test_coast_carry_keeps_the_fitted_velocity_through_a_gap(monkeypatch):
    """RoloCore with the coast carry and an untrained (zero) head: after detections of a target
    moving 0.01 of the frame per frame, the box keeps moving at that speed with no detection."""
    script = []  # one (candidates, scores) per frame; empty = the detector misses (the target is hidden)
    core = _scripted_core(monkeypatch, script)
    boxes = [np.array([0.2 + 0.01 * i, 0.5, 0.1, 0.1], np.float32) for i in range(30)]
    core.start(torch.zeros(1, 8, 4, 4), boxes[0])
    for i in range(1, 30):
        visible = i < 12
        script.append((torch.as_tensor(boxes[i])[None], torch.tensor([0.9])) if visible
                      else (torch.zeros(0, 4), torch.zeros(0)))
        x = float(core.update(torch.zeros(1, 8, 4, 4)).nbox[0])
    # 18 frames without a detection: the box is where the target is (within a tenth of its width)
    assert x == pytest.approx(float(boxes[29][0]), abs=0.01)


@pytest.mark.parametrize("gate", [0.0, 0.5])
def test_confidence_gate_keeps_partial_detections_out_of_the_carry(monkeypatch, gate):
    """The occlusion goal clip's failure, scripted: a target moving 0.01 of the frame per frame slides
    behind a wall; for 4 frames the detector still fires on its visible part (weak, stuck at the wall's
    edge), then not at all.  With the gate those weak detections count as misses and the carried box
    is on the target 14 frames later; without it, it starts behind and too slow."""
    script = []
    core = _scripted_core(monkeypatch, script, gate=gate)
    boxes = [np.array([0.2 + 0.01 * i, 0.5, 0.1, 0.1], np.float32) for i in range(30)]
    core.start(torch.zeros(1, 8, 4, 4), boxes[0])
    for i in range(1, 30):
        if i < 12:
            script.append((torch.as_tensor(boxes[i])[None], torch.tensor([0.9])))
        elif i < 16:  # the visible part: confidence falls, the box stays at the wall's edge
            script.append((torch.as_tensor(boxes[11])[None], torch.tensor([0.4 - 0.1 * (i - 12)])))
        else:
            script.append((torch.zeros(0, 4), torch.zeros(0)))
        x = float(core.update(torch.zeros(1, 8, 4, 4)).nbox[0])
    error = abs(x - float(boxes[29][0]))
    if gate:
        assert error < 0.01
    else:
        assert error > 0.03


def test_confidence_gate_reference_is_the_best_recent_confidence():
    from trackers.rolo.gate import GATE_SPAN, ConfidenceGate, gate_sequence

    gate = ConfidenceGate(0.5)
    assert gate.update(0.2)                  # nothing to compare with: accepted
    assert gate.update(0.8) and gate.update(0.45)
    assert not gate.update(0.39)             # < 0.5 x 0.8
    assert not gate.update(None)             # no detection is never accepted
    for _ in range(GATE_SPAN - 3):           # 0.8 leaves the span after GATE_SPAN frames
        gate.update(None)
    assert gate.reference() == pytest.approx(0.45)
    gate.update(None)
    assert gate.reference() is None and gate.update(0.05)  # a changed look is accepted again
    det = np.array([[0.5, 0.5, 0.1, 0.1]] * 4 + [[np.nan] * 4])
    gated = gate_sequence(det, np.array([0.8, 0.7, 0.3, 0.6, 0.0]), 0.5)
    assert np.isnan(gated[[2, 4]]).all() and np.isfinite(gated[[0, 1, 3]]).all()
    np.testing.assert_array_equal(gate_sequence(det, np.zeros(5), 0.0), det)
    with pytest.raises(ValueError):
        ConfidenceGate(1.0)


def test_assignment_match_does_not_record_until_validated():
    a = DetectionAssigner(iou_min=0.3, history=3)
    a.reset((0, 0, 40, 40))
    index, _ = a.match(np.array([[10, 0, 40, 40]], float))
    assert index == 0
    np.testing.assert_allclose(a.reference(), (0, 0, 40, 40))  # refused by the caller: not in the history
    a.validate((10, 0, 40, 40))
    np.testing.assert_allclose(a.reference(), (10, 0, 40, 40))


def test_visual_input_options_hide_what_they_say():
    """visual='response' ignores the pooled trunk features; blind_gaps ignores the whole frame vector
    on frames without a detection (and only there)."""
    from trackers.rolo.detector import FRAME_VECTOR_DIM, RESPONSE_GRID
    torch.manual_seed(0)
    pooled = FRAME_VECTOR_DIM - RESPONSE_GRID ** 2
    prev = torch.full((1, 4, 4), 0.3)
    det = torch.full((1, 4, 4), 0.32)
    has = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loc = location_input("coords", det, has, torch.full((1, 4), 0.8), prev)
    feats = torch.randn(1, 4, FRAME_VECTOR_DIM)
    other_pooled = feats.clone()
    other_pooled[..., :pooled] = torch.randn(1, 4, pooled)
    for visual, same in (("all", False), ("response", True)):
        model = RoloLSTM("coords", feature_dim=FRAME_VECTOR_DIM, hidden=16, visual=visual).eval()
        torch.nn.init.normal_(model.head.weight, std=0.5)
        with torch.no_grad():
            a, b = model(feats, loc, prev), model(other_pooled, loc, prev)
        assert torch.allclose(a, b) == same, visual
    blind = RoloLSTM("coords", feature_dim=FRAME_VECTOR_DIM, hidden=16, blind_gaps=True).eval()
    torch.nn.init.normal_(blind.head.weight, std=0.5)
    last_changed = feats.clone()
    last_changed[:, -1] = torch.randn(FRAME_VECTOR_DIM)
    first_changed = feats.clone()
    first_changed[:, 0] = torch.randn(FRAME_VECTOR_DIM)
    with torch.no_grad():
        base = blind(feats, loc, prev)
        assert torch.allclose(base, blind(last_changed, loc, prev))        # no detection on the last frame
        assert not torch.allclose(base, blind(first_changed, loc, prev))   # a detection on the first
    with pytest.raises(ValueError, match="visual"):
        RoloLSTM("coords", visual="vgg")


def test_location_input_hides_missing_detection():
    det = torch.tensor([0.2, 0.3, 0.1, 0.1])
    prev = torch.tensor([0.7, 0.6, 0.2, 0.2])
    with_det = location_input("coords", det, torch.tensor(1.0), torch.tensor(0.8), prev)
    without = location_input("coords", det, torch.tensor(0.0), torch.tensor(0.8), prev)
    assert with_det[-2] == 1 and without[-2] == 0 and without[-1] == 0
    assert torch.all(without[2:6] == 0) and not torch.all(with_det[2:6] == 0)
    # heatmap variant paints the previous output when the detector missed
    heat = location_input("heatmap", det, torch.tensor(0.0), torch.tensor(0.0), prev)[:1024].reshape(32, 32)
    assert heat[int(0.6 * 32), int(0.7 * 32)] == 1 and heat[int(0.3 * 32), int(0.2 * 32)] == 0


# --- heatmap <-> box ---------------------------------------------------------
@pytest.mark.parametrize("box", [(0.3, 0.4, 0.2, 0.1), (0.5, 0.5, 0.07, 0.5), (0.88, 0.12, 0.15, 0.2),
                                 (0.41, 0.63, 0.33, 0.27)])
def test_heatmap_box_round_trip(box):
    heat = box_to_heatmap(box)
    assert heat.shape == (32, 32) and heat.max() == pytest.approx(1.0)
    back, conf = heatmap_to_box(heat)
    np.testing.assert_allclose(back, box, atol=0.1 / 32)  # a tenth of a cell
    assert conf == pytest.approx(1.0)
    # the torch painter used in training paints the same map
    np.testing.assert_allclose(paint_heatmaps(torch.tensor(box, dtype=torch.float64)).numpy().reshape(32, 32),
                               heat, atol=1e-6)


def test_heatmap_to_box_ignores_noise_and_reports_it():
    rng = np.random.default_rng(0)
    clean = box_to_heatmap((0.5, 0.5, 0.25, 0.25))
    noisy = np.clip(clean + rng.uniform(0, 0.15, clean.shape), 0, 1)
    box, conf = heatmap_to_box(noisy)
    np.testing.assert_allclose(box[:2], (0.5, 0.5), atol=0.02)
    np.testing.assert_allclose(box[2:], (0.25, 0.25), atol=0.08)
    assert conf < heatmap_to_box(clean)[1]


# --- §II-B assignment ----------------------------------------------------------
def test_first_frame_uses_given_box_and_rejects_below_iou_min():
    a = DetectionAssigner(iou_min=0.3, history=3)
    a.reset((100, 100, 40, 40))
    dets = np.array([[300, 300, 40, 40], [104, 102, 40, 40], [160, 100, 40, 40]], float)
    index, overlap = a.assign(dets)
    assert index == 1 and overlap > 0.7
    index, overlap = a.assign(np.array([[150, 100, 40, 40]], float))  # IoU with history mean < 0.3
    assert index is None and overlap < 0.3


def test_assignment_compares_with_mean_of_validated_history():
    a = DetectionAssigner(iou_min=0.3, history=3)
    a.reset((0, 0, 40, 40))
    for x in (10, 20, 30):  # three validated detections moving right
        assert a.assign(np.array([[x, 0, 40, 40]], float))[0] == 0
    np.testing.assert_allclose(a.reference(), (20, 0, 40, 40))  # mean of the last 3
    # a candidate at x=45 overlaps the mean (x=20) by IoU 15/65 < 0.3 -> rejected, although it
    # overlaps the last detection (x=30) well: the reference really is the mean
    assert a.assign(np.array([[45, 0, 40, 40]], float))[0] is None
    index, _ = a.assign(np.array([[90, 0, 40, 40], [25, 2, 40, 40]], float))
    assert index == 1
    with pytest.raises(ValueError):
        DetectionAssigner(iou_min=1.5)


def test_kalman_coasts_on_velocity():
    kf = ConstantVelocityKalman((0, 0, 20, 20))
    for t in range(1, 8):
        kf.predict()
        kf.update((5 * t, 0, 20, 20))
    coasted = [kf.predict()[0] for _ in range(3)]
    assert coasted[0] > 35 and coasted[2] > coasted[1] > coasted[0]  # keeps moving right


# --- shipped weights + behaviour --------------------------------------------------
@pytest.mark.parametrize("variant", ["coords", "heatmap"])
def test_shipped_weights_load_strictly(variant):
    path = default_path(variant)
    state = torch.load(path, weights_only=True)
    assert set(state) == {"config", "detector", "lstm"}
    detector, lstm, config = load_weights(path)  # rebuilds the modules, strict=True
    assert lstm.variant == variant and config["step"] >= 1
    # the weights are trained, not the initialisation: the detector head moved away from it
    assert float(state["detector"]["head.2.bias"][0]) != pytest.approx(-3.0, abs=1e-3)
    lstm.load_state_dict(state["lstm"], strict=True)
    with pytest.raises(RuntimeError):
        lstm.load_state_dict({**state["lstm"], "unexpected": torch.zeros(1)}, strict=True)



def test_wall_clip_hides_a_target_that_keeps_moving():
    from trackers.rolo.wall_clips import LinearWallClip, training_wall_clip

    clip = LinearWallClip(start=(40.0, 96.0), velocity=(4.0, 0.0), wall_x=160, wall_width=62, width=352,
                          height=192, num_frames=48, seed=3, target_size=(32, 26), scale_amplitude=0.0)
    hidden = clip.hidden_frames()
    assert hidden == list(range(hidden[0], hidden[0] + 10))  # one spell of 10 frames
    xs = [clip.truth(i)[0] for i in range(hidden[0] - 3, hidden[-1] + 3)]
    assert np.allclose(np.diff(xs), 4.0, atol=1.0)  # the full box moves on behind the wall
    frame = clip.frame(hidden[4])
    wall = frame[:, 165:215].astype(float)
    assert wall.std(axis=(0, 1)).max() < 40 and clip.box(hidden[0] - 1) is not None
    # training clips: in the frame throughout, hidden for a spell in the middle
    train = training_wall_clip(3)
    assert all(train.truth(i) is not None for i in range(len(train)))
    assert 3 <= len(train.hidden_frames()) <= 30


def test_rollout_correction_penalty_adds_the_mean_squared_correction():
    """--correction-penalty: the rollout loss grows by exactly the penalty times the mean squared
    correction the LSTM made to its anchors over the rollout."""
    from trackers.rolo.train_lstm import Segment
    from trackers.rolo.train_rollout import rollout_loss, rollout_outputs, sample_rollouts
    n = 40
    gt = np.stack([np.linspace(0.2, 0.6, n), np.full(n, 0.5), np.full(n, 0.1), np.full(n, 0.1)], 1)
    det = gt.copy()
    det[20:28] = np.nan
    seg = Segment(torch.rand(n, 256, generator=torch.Generator().manual_seed(0)), gt, det,
                  np.where(np.isfinite(det).all(1), 0.8, 0.0), np.full((n, 4), np.nan))
    rollouts = sample_rollouts([seg], np.random.default_rng(0), batch=3, step=6, gap_range=(3, 5))
    torch.manual_seed(0)
    model = RoloLSTM("coords", feature_dim=256, hidden=16, carry="coast")
    torch.nn.init.normal_(model.head.weight, std=0.5)
    with torch.no_grad():
        *_, corrections = rollout_outputs(model, rollouts[0], rollouts[1], 6)
        plain = rollout_loss(model, 6, *rollouts)
        penalised = rollout_loss(model, 6, *rollouts, correction_penalty=2.0)
    assert corrections.shape == (3, 6 + rollouts[1].shape[1], 4) and float(corrections.abs().sum()) > 0
    torch.testing.assert_close(penalised - plain, 2.0 * (corrections ** 2).sum(-1).mean())


def test_rollouts_without_simulated_gaps_keep_the_real_detections():
    """--real-gaps-only: the gap frames of a rollout carry the detections the detector really made
    (none inside a real miss); by default every gap frame is without one."""
    from trackers.rolo.train_lstm import Segment
    from trackers.rolo.train_rollout import sample_rollouts
    n = 60
    gt = np.stack([np.linspace(0.2, 0.6, n), np.full(n, 0.5), np.full(n, 0.1), np.full(n, 0.1)], 1)
    det = gt.copy()
    det[30:36] = np.nan  # a real miss
    seg = Segment(torch.zeros(n, 256), gt, det, np.where(np.isfinite(det).all(1), 0.8, 0.0),
                  np.full((n, 4), np.nan))
    for simulated in (True, False):
        *_, (gap_det, gap_has, gap_conf) = sample_rollouts([seg], np.random.default_rng(1), batch=16, step=6,
                                                           gap_range=(8, 8), simulated_gaps=simulated)
        if simulated:
            assert float(gap_has.sum()) == 0
        else:
            # every gap frame outside the real miss has its detection, exactly where the segment has it
            seen = gap_has > 0
            assert 0 < float(seen.float().mean()) < 1
            xs = gap_det[..., 0][seen].numpy()
            assert np.all(np.min(np.abs(xs[:, None] - gt[np.isfinite(det).all(1), 0][None]), 1) < 1e-6)
            assert torch.all(gap_conf[seen] == 0.8) and torch.all(gap_conf[~seen] == 0)


def test_mirrored_segment_moves_boxes_and_response_grid_together():
    from trackers.rolo.detector import FRAME_VECTOR_DIM, RESPONSE_GRID
    from trackers.rolo.train_lstm import Segment, mirror_segment, with_mirrors

    vectors = torch.zeros(2, FRAME_VECTOR_DIM)
    vectors[:, :5] = 1.0                                   # pooled trunk features: kept
    grid_start = FRAME_VECTOR_DIM - RESPONSE_GRID ** 2
    vectors[:, grid_start + 2 * RESPONSE_GRID + 1] = 1.0   # response peak at row 2, column 1
    box = np.array([[0.2, 0.3, 0.1, 0.2], [np.nan] * 4])
    seg = Segment(vectors, box, box.copy(), np.array([0.9, 0.0]), box.copy())
    mx = mirror_segment(seg, "x")
    np.testing.assert_allclose(mx.gt[0], [0.8, 0.3, 0.1, 0.2])
    assert np.isnan(mx.det[1]).all()
    peak = int(mx.vectors[0, grid_start:].argmax())
    assert divmod(peak, RESPONSE_GRID) == (2, RESPONSE_GRID - 2)
    assert torch.equal(mx.vectors[:, :5], vectors[:, :5])
    my = mirror_segment(seg, "y")
    assert divmod(int(my.vectors[0, grid_start:].argmax()), RESPONSE_GRID) == (RESPONSE_GRID - 3, 1)
    np.testing.assert_allclose(my.gt[0], [0.2, 0.7, 0.1, 0.2])
    twice = mirror_segment(mx, "x")
    assert torch.equal(twice.vectors, seg.vectors) and np.allclose(twice.gt[0], seg.gt[0])
    assert len(with_mirrors([seg], "xy")) == 4 and len(with_mirrors([seg], "")) == 1


def test_injected_wrong_detections_are_ones_the_assigner_would_take():
    """--assignable-wrong: training's wrong-detection augmentation only uses a distractor that overlaps the
    previous true box by IoU 0.3, as the assigner would; a far one would never reach the velocity fit."""
    from trackers.rolo.train_lstm import Segment, augmented_window

    n = 400
    gt = np.tile([0.3, 0.5, 0.1, 0.1], (n, 1))
    near, far = np.array([0.33, 0.5, 0.1, 0.1]), np.array([0.8, 0.5, 0.1, 0.1])
    for alt, expect_wrong in ((far, False), (near, True)):
        seg = Segment(torch.zeros(n, 8), gt, gt.copy(), np.full(n, 0.9), np.tile(alt, (n, 1)))
        rng = np.random.default_rng(0)
        seen = np.concatenate([augmented_window(seg, s, 12, rng, max_burst=2, prev_noise=0.0,
                                                assignable_wrong=True)["det"][:, 0].numpy()
                               for s in range(1, n - 12, 12)])
        # box noise moves a detection by a few thousandths; a wrong one sits at the distractor
        wrong = np.abs(seen - alt[0]) < 0.01
        assert wrong.any() == expect_wrong
    # the default (run 4's recipe) injects the far one too
    rng = np.random.default_rng(0)
    seg = Segment(torch.zeros(n, 8), gt, gt.copy(), np.full(n, 0.9), np.tile(far, (n, 1)))
    seen = np.concatenate([augmented_window(seg, s, 12, rng, max_burst=2, prev_noise=0.0)["det"][:, 0].numpy()
                           for s in range(1, n - 12, 12)])
    assert (np.abs(seen - far[0]) < 0.01).any()


def test_scaled_rollout_error_is_in_box_sizes_and_capped():
    from trackers.rolo.train_rollout import SCALED_ERROR_CAP, frame_errors

    target = torch.tensor([[0.5, 0.5, 0.1, 0.2], [0.5, 0.5, 0.4, 0.4]])
    out = target.clone()
    out[:, 0] += 0.1                       # one box width off for the first, a quarter for the second
    torch.testing.assert_close(frame_errors(out, target, scaled=True), torch.tensor([1.0, 0.0625]))
    torch.testing.assert_close(frame_errors(out, target, scaled=False), torch.tensor([0.01, 0.01]))
    lost = target.clone()
    lost[:, 1] += 0.9
    assert torch.all(frame_errors(lost, target, scaled=True) == SCALED_ERROR_CAP)


def test_simulated_gaps_hide_the_response_grid_only_when_asked():
    from trackers.rolo.train_lstm import Segment
    from trackers.rolo.train_rollout import RESPONSE_DIMS, sample_rollouts
    n = 60
    gt = np.stack([np.linspace(0.2, 0.6, n), np.full(n, 0.5), np.full(n, 0.1), np.full(n, 0.1)], 1)
    seg = Segment(torch.ones(n, 256), gt, gt.copy(), np.full(n, 0.8), np.full((n, 4), np.nan))
    hidden = []
    for hide in (True, False):
        _, gap_feats, *_ = sample_rollouts([seg], np.random.default_rng(0), batch=32, step=6, gap_range=(5, 5),
                                           hide_response=hide)
        zeroed = (gap_feats[..., RESPONSE_DIMS] == 0).all(-1).all(-1)
        assert torch.all(gap_feats[..., : RESPONSE_DIMS.start] == 1)  # pooled features untouched
        hidden.append(float(zeroed.float().mean()))
    assert 0.2 < hidden[0] < 0.8 and hidden[1] == 0.0


def test_gap_policy_fits_the_velocity_and_finds_the_detector_gaps():
    """trackers.rolo.gap_policy (the hold-or-coast analysis of the training data): the fitted velocity of
    detections moving at a constant speed is that speed, gaps are runs without a detection after one,
    and coasting at the right velocity scores 0 where holding does not."""
    from trackers.rolo.gap_policy import centre_error, fitted_velocity, gaps_after_detection
    from trackers.rolo.train_lstm import Segment

    t = np.arange(20.0)
    det = np.stack([0.1 + 0.01 * t, 0.5 - 0.002 * t, np.full(20, 0.1), np.full(20, 0.2)], 1)
    gt = det.copy()
    has = np.ones(20, bool)
    has[[3, 8, 9, 10, 11, 15, 16]] = False
    gt[16] = np.nan                                   # target absent
    seg = Segment(torch.zeros(20, 4), gt, np.where(has[:, None], det, np.nan), np.ones(20), np.full((20, 4), np.nan))
    assert np.allclose(fitted_velocity(det, has, 7, 10), [0.01, -0.002])
    assert fitted_velocity(det, has, 1, 10) is None   # fewer than three detections
    assert gaps_after_detection(seg) == [(8, 12)]     # the 1-frame and absent-target runs are not gaps
    coast = det[7, :2] + 4 * fitted_velocity(det, has, 7, 10)
    assert centre_error(coast, det[11]) == pytest.approx(0.0, abs=1e-12)
    assert centre_error(det[7, :2], det[11]) > 0.1
