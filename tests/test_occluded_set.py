"""The occluded set: real sequences with occluders painted in front of the target."""
import numpy as np

from trackers.data import occluded_set
from trackers.data.synthetic import SyntheticClip
from trackers.eval.dataset import load_sequence, read_frame


def test_occluders_hide_the_target_and_the_labels_say_how_much(tmp_path):
    src = tmp_path / "src"
    for seed in (1, 2):
        SyntheticClip(width=160, height=120, num_frames=70, seed=seed, target_size=(30, 24)).write_got10k(
            str(src), f"clip{seed}")
    out = tmp_path / "out"
    occluded_set.main([str(src), str(out), "--sequences", "clip1,clip2", "--period", "30", "--first", "5"])
    for name in ("clip1", "clip2"):
        orig, occ = load_sequence(str(src), name), load_sequence(str(out), f"{name}-occ")
        assert len(occ) == len(orig)
        assert np.allclose(occ.boxes[orig.present], orig.boxes[orig.present], atol=0.01)   # boxes unchanged
        cover = np.loadtxt(out / f"{name}-occ" / "cover.label", dtype=int)
        flagged = occ.attributes["occlusion"]
        assert flagged.sum() >= 10 and (cover[flagged] < 8).all() and (cover[~flagged] == 8).all()
        # fully hidden frames count as absent (nothing to draw), exactly where the cover is 0
        assert np.array_equal(occ.absent, orig.absent | (cover == 0))
        # pixels change only on occluded frames, and there inside a band around the target
        for i in range(len(occ)):
            diff = np.abs(read_frame(occ.frame_files[i]).astype(int) - read_frame(orig.frame_files[i]).astype(int))
            changed = diff.max(axis=2) > 40
            if not flagged[i]:
                assert changed.sum() < 0.01 * changed.size, i          # JPEG re-encoding only
                continue
            x, y, w, h = orig.boxes[i]
            ys, xs = np.nonzero(changed)
            if cover[i] <= 6:       # at least a quarter hidden: much of it visibly repainted
                assert len(xs) > 0.3 * w * h * (1 - cover[i] / 8), i
            assert ys.min() >= y - 0.1 * h - 2 and ys.max() <= y + 1.1 * h + 2, i


def test_walls_hide_a_moving_target_for_a_spell_and_stand_still(tmp_path):
    src = tmp_path / "src"
    for seed in (1, 2):
        SyntheticClip(width=320, height=240, num_frames=120, seed=seed, target_size=(30, 24), speed=3.0).write_got10k(
            str(src), f"clip{seed}")
    out = tmp_path / "out"
    occluded_set.main([str(src), str(out), "--sequences", "clip1,clip2", "--period", "40", "--first", "5",
                       "--kind", "wall"])
    spells = 0
    for name in ("clip1", "clip2"):
        orig, occ = load_sequence(str(src), name), load_sequence(str(out), f"{name}-occ")
        cover = np.loadtxt(out / f"{name}-occ" / "cover.label", dtype=int)
        hidden = np.nonzero(cover == 0)[0]
        assert np.array_equal(occ.absent, orig.absent | (cover == 0))
        # every wall hides the target for a spell of at least 5 consecutive frames (longer where it dawdles
        # behind it), during which the target moves on
        runs = [r for r in np.split(hidden, np.nonzero(np.diff(hidden) > 1)[0] + 1) if len(r) >= 5] if len(hidden) else []
        for run in runs:
            moved = np.abs(orig.boxes[run[-1], :2] - orig.boxes[run[0], :2]).max()
            assert moved >= 3.0
            # the wall does not move: the painted pixels of the spell's first and last frame agree
            a, b = (read_frame(occ.frame_files[i]).astype(int) for i in (run[0], run[-1]))
            x, y, w, h = orig.boxes[run[0]]
            assert np.abs(a[int(y):int(y + h), int(x):int(x + w)] - b[int(y):int(y + h), int(x):int(x + w)]).mean() < 6
            spells += 1
    assert spells >= 2
