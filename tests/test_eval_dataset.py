"""The GOT-10k-style reader: absence rules, lazy frames, clear errors."""
import os

import numpy as np
import pytest

from trackers.data.synthetic import SyntheticClip
from trackers.eval.dataset import DatasetError, load_dataset, load_sequence, read_name_list


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ds"))
    SyntheticClip(width=96, height=64, num_frames=8, seed=4, target_size=(20, 16), exit_frames=(3, 5)) \
        .write_got10k(root, "gone", masks=True)
    return root


def test_absent_from_nan_absence_and_cover(root, tmp_path):
    seq = load_sequence(root, "gone")
    assert len(seq) == 8 and seq.size == (96, 64) and seq.has_masks
    assert seq.absent.tolist() == [False, False, False, True, True, False, False, False]
    frame = next(seq.frames())
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8
    assert seq.gt_mask(0).dtype == bool and seq.gt_mask(0).any()
    # cover 0 alone also marks a frame absent
    with open(os.path.join(root, "gone", "cover.label")) as f:
        covers = f.read().split()
    covers[6] = "0"
    with open(os.path.join(root, "gone", "cover.label"), "w") as f:
        f.write("\n".join(covers) + "\n")
    assert load_sequence(root, "gone").absent[6]
    assert len(seq.truncated(4)) == 4 and seq.truncated(4).absent.tolist() == [False, False, False, True]


def test_bad_groundtruth_names_file_and_line(tmp_path):
    root = str(tmp_path)
    SyntheticClip(width=96, height=64, num_frames=4, seed=1, target_size=(20, 16)).write_got10k(root, "s")
    gt = os.path.join(root, "s", "groundtruth.txt")
    lines = open(gt).read().splitlines()
    with open(gt, "w") as f:
        f.write("\n".join(lines[:2] + ["1,2,3"] + lines[3:]) + "\n")
    with pytest.raises(DatasetError, match=r"groundtruth.txt: line 3: expected 4 values"):
        load_sequence(root, "s")
    with open(gt, "w") as f:
        f.write("\n".join(lines[:3]) + "\n")
    with pytest.raises(DatasetError, match="has 3 boxes but the folder has 4 frames"):
        load_sequence(root, "s")
    with pytest.raises(DatasetError, match="no sequence named nope"):
        load_dataset(root, ["nope"])


def test_name_lists_allow_comments_and_commas(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("a, b  # trained on these\n\nc\n")
    assert read_name_list(str(p)) == ["a", "b", "c"]
