"""SiamTFA: temporal shift data movement, adversarial dropout budget, shipped weights, tracking a synthetic clip."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import trackers
from trackers.base import BoxSet, ScoreMap, TrackerError
from trackers.data.synthetic import SyntheticClip
from trackers.ops import iou_xywh
from trackers.ops.temporal_shift import temporal_shift
from trackers.siamtfa.adversarial import adversarial_loss, adversarial_mask, random_mask
from trackers.siamtfa.model import ShiftedLastStage, SiamTFAHeads
from trackers.siamtfa.tracker import WEIGHTS_DIR

VARIANTS = {"siamtfa": "bidirectional", "siamtfa-causal": "causal", "siamtfa-base": "none",
            "siamtfa-tam": "bidirectional"}


def _clip_tensor(frames: int = 3, channels: int = 16) -> torch.Tensor:
    # value = 100 * frame + channel: every element says where it came from
    t = torch.arange(frames, dtype=torch.float32)[:, None] * 100 + torch.arange(channels, dtype=torch.float32)
    return t[:, :, None, None].expand(frames, channels, 2, 3).clone()


def test_bidirectional_shift_moves_exactly_eq1():
    x = _clip_tensor()
    out = temporal_shift(x, "bidirectional")            # K = 16 // 8 = 2
    src = out[:, :, 0, 0]
    # frame 1: channels 0-1 from frame 0, 2-3 from frame 2, the rest its own
    assert src[1].tolist() == [0, 1, 202, 203] + [100 + c for c in range(4, 16)]
    # ends repeat themselves: frame 0 has no past, frame 2 no future
    assert src[0].tolist() == [0, 1, 102, 103] + list(range(4, 16))
    assert src[2].tolist() == [100, 101, 202, 203] + [200 + c for c in range(4, 16)]
    assert torch.equal(out[:, :, 1, 2], src)             # the same movement at every pixel
    assert torch.equal(x, _clip_tensor())                # input untouched


def test_causal_shift_uses_only_the_past():
    x = _clip_tensor()
    src = temporal_shift(x, "causal")[:, :, 0, 0]
    assert src[1].tolist() == [0, 1] + [100 + c for c in range(2, 16)]
    assert src[2].tolist() == [100, 101] + [200 + c for c in range(2, 16)]
    assert src[0].tolist() == list(range(16))
    # batched clips (N, T, C, H, W) shift within each clip only
    batched = torch.stack([x, x + 1000])
    out = temporal_shift(batched, "causal")[:, :, :, 0, 0]
    assert out[1, 1, :2].tolist() == [1000, 1001]
    with pytest.raises(ValueError):
        temporal_shift(x, "sideways")


def test_shift_sits_in_the_residual_branch_only():
    torch.manual_seed(0)
    stage = ShiftedLastStage(pretrained=False).eval()
    still = torch.randn(1, 112, 8, 8).repeat(3, 1, 1, 1)
    moving = torch.randn(3, 112, 8, 8)
    with torch.no_grad():
        plain = stage(still[:1])
        # a still clip: shifting changes nothing
        assert torch.allclose(stage(still, "bidirectional", 3)[1:2], plain, atol=1e-5)
        # a moving clip: the centre frame's features change, and differently in the two forms
        bi, causal = stage(moving, "bidirectional", 3)[1], stage(moving, "causal", 3)[1]
        ref = stage(moving[1:2])[0]
    assert (bi - ref).abs().max() > 1e-3 and (causal - ref).abs().max() > 1e-3 and (bi - causal).abs().max() > 1e-3


def test_adversarial_mask_stays_within_budget_and_raises_divergence():
    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 7 * 7, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 2))
    x = torch.randn(6, 8, 7, 7)
    gen = torch.Generator().manual_seed(1)
    m_s = random_mask(x.shape, 0.2, gen)
    for delta in (0.01, 0.05, 0.2):
        m_adv = adversarial_mask(head, x, m_s, delta, 0.2)
        assert set(m_adv.unique().tolist()) <= {0.0, 1.0}
        changed = (m_adv != m_s).flatten(1).sum(1)
        assert (changed <= int(delta * 8 * 49)).all() and changed.sum() > 0
    m_adv = adversarial_mask(head, x, m_s, 0.05, 0.2)
    # same number of flips at random positions hurts less than the adversarial ones
    flips = (m_adv != m_s).float()
    perm = flips.flatten(1)[:, torch.randperm(flips[0].numel(), generator=gen)].view_as(flips)
    m_rand = torch.where(perm > 0, 1 - m_s, m_s)
    adv = adversarial_loss(head, x, m_s, m_adv, 0.2)
    assert adv > adversarial_loss(head, x, m_s, m_rand, 0.2)
    assert float(adversarial_loss(head, x, m_s, m_s, 0.2).detach()) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shipped_weights_load_strict(name):
    fname = trackers.info(name).defaults["weights"]
    path = os.path.join(WEIGHTS_DIR, fname)
    state = torch.load(path, map_location="cpu", weights_only=True)
    SiamTFAHeads().load_state_dict(state["heads"], strict=True)
    assert state["config"]["shift"] == VARIANTS[name]
    assert os.path.getsize(path) < 4 * 2**20


def test_fine_tuned_stage_is_stored_slim_and_loads_over_the_imagenet_blocks(tmp_path):
    """``--train-stage`` files hold only the last stage's residual blocks; the tracker puts them over the
    ImageNet weights and loads the whole stage strictly.  A key the stage does not have is an error."""
    from trackers.siamtfa.train import trained_stage_state
    stage = ShiftedLastStage()
    stored = trained_stage_state(stage)
    blocks = {int(k.split(".")[1]) for k in stored}
    assert blocks == {i for i, b in enumerate(stage.blocks) if b.residual} and 0 not in blocks
    key = next(k for k in stored if k.endswith("weight"))
    stored[key] = stored[key] + 0.5
    path = tmp_path / "staged.pth"
    torch.save({"config": {"shift": "causal", "train_stage": True},
                "heads": {k: v.half() for k, v in SiamTFAHeads().state_dict().items()}, "stage": stored}, path)
    tracker = trackers.create("siamtfa", device="cpu", weights=str(path))
    loaded = tracker.stage.state_dict()
    assert torch.allclose(loaded[key], stored[key].float())
    first = next(k for k in loaded if k.startswith("blocks.0."))
    assert torch.equal(loaded[first], stage.state_dict()[first])        # not stored: ImageNet's
    stored["blocks.9.nothing"] = torch.zeros(1)
    torch.save({"config": {"shift": "causal"}, "heads": SiamTFAHeads().state_dict(), "stage": stored}, path)
    with pytest.raises(TrackerError, match="staged.pth"):
        trackers.create("siamtfa", device="cpu", weights=str(path))


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(TrackerError, match="nothing.pth"):
        trackers.create("siamtfa", device="cpu", weights=str(tmp_path / "nothing.pth"))


def _follow(tracker, clip, frames: int, look_ahead: bool):
    boxes = clip.boxes()
    tracker.init(clip.frame(0), box=boxes[0])
    ious, results = [], []
    for i in range(1, frames):
        info = {"frame_index": i}
        if look_ahead:
            info["next_frame"] = clip.frame(i + 1)
        r = tracker.track(clip.frame(i), info=info)
        ious.append(iou_xywh(r["box"], boxes[i]))
        results.append(r)
    return np.array(ious), results


def test_bidirectional_tracker_follows_a_synthetic_object():
    clip = SyntheticClip(width=320, height=240, num_frames=20, seed=3, target_size=(44, 34), speed=3.0)
    ious, results = _follow(trackers.create("siamtfa", device="cpu"), clip, 16, look_ahead=True)
    assert ious.mean() > 0.5 and ious[-5:].min() > 0.3
    r = results[-1]
    assert r["shift"] == "bidirectional"
    for level in (8, 16, 32, 64):
        m = r["maps"][f"level_{level}"]
        assert isinstance(m, ScoreMap) and m.data.shape == (256 // level, 256 // level)
        assert 0 <= m.data.min() and m.data.max() <= 1
    assert isinstance(r["maps"]["proposals"], BoxSet) and 0 < len(r["maps"]["proposals"].boxes) <= 16
    ref = r["maps"]["refine_scores"]
    # the reported score is the chosen refined RoI's probability
    assert isinstance(ref, BoxSet) and np.isclose(ref.scores, r["score"], atol=1e-6).any()


def test_causal_fallback_and_reinit():
    clip = SyntheticClip(width=320, height=240, num_frames=20, seed=4, target_size=(40, 40), speed=2.0)
    tracker = trackers.create("siamtfa", device="cpu")
    ious, results = _follow(tracker, clip, 10, look_ahead=False)
    assert {r["shift"] for r in results} == {"causal"}     # no next frame given: causal form
    assert ious.mean() > 0.4
    # a correction far from the current box: the tracker continues from it
    boxes = clip.boxes()
    tracker.reinit(clip.frame(10), box=boxes[10])
    r = tracker.track(clip.frame(11))
    assert iou_xywh(r["box"], boxes[11]) > 0.3


def test_look_ahead_is_declared_exactly_for_the_bidirectional_weights():
    for name in VARIANTS:
        state = torch.load(os.path.join(WEIGHTS_DIR, trackers.info(name).defaults["weights"]), map_location="cpu",
                           weights_only=True)
        assert trackers.info(name).look_ahead == (state["config"]["shift"] == "bidirectional"), name


def test_propagation_runs_the_bidirectional_form_until_the_last_frame():
    from app.core.model import FrameAnnotation
    from app.core.propagation import PropagationRequest, propagate
    from app.core.store import ProjectStore

    clip = SyntheticClip(width=320, height=240, num_frames=6, seed=3, target_size=(44, 34), speed=3.0)

    class Video:   # the two things propagate() needs
        def __len__(self):
            return len(clip)

        def read(self, index, cancel=None):
            return clip.frame(index)

    store = ProjectStore.open(":memory:")
    try:
        tid = store.add_object()
        store.put(tid, 0, FrameAnnotation(box=clip.box(0), source="human"))
        out = list(propagate(Video(), store, PropagationRequest(tid, 0, tracker="siamtfa", device="cpu")))
        assert [r.index for r in out] == [1, 2, 3, 4, 5] and not any(r.error for r in out)
        assert [r.result["shift"] for r in out] == ["bidirectional"] * 4 + ["causal"]   # nothing after frame 5
        assert np.mean([iou_xywh(store.get(tid, i).box, clip.box(i)) for i in range(1, 6)]) > 0.5
    finally:
        store.close()


def test_trunk_appearance_follows_a_synthetic_object_and_keeps_both_templates():
    clip = SyntheticClip(width=320, height=240, num_frames=20, seed=3, target_size=(44, 34), speed=3.0)
    tracker = trackers.create("siamtfa-causal", device="cpu")
    assert tracker.appearance == "trunk" and tracker.lost_threshold == 0.4
    ious, results = _follow(tracker, clip, 12, look_ahead=False)
    assert ious.mean() > 0.5
    ref = results[-1]["maps"]["refine_scores"]
    assert "similarity" in ref.description and np.all((ref.scores >= 0) & (ref.scores <= 1))
    tracker.reinit(clip.frame(12), box=clip.boxes()[12])
    assert len(tracker.descriptors) == 2
    with pytest.raises(TrackerError):
        trackers.create("siamtfa", device="cpu", appearance="colour")
    head = trackers.create("siamtfa-roihead", device="cpu")
    assert head.appearance == "head" and head.lost_threshold == 0.25
